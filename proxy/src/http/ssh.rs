//! `GET /api/v1/nodes/{node}/ssh?login=…`: the WebSocket that carries a browser's SSH
//! connection. Access is decided here, on the proxy, for every connection. In recorded
//! mode (the default) the socket's bytes go to the proxy's own SSH server, which bridges
//! to the node and records ([`crate::bridge`]); in direct mode they are relayed to the
//! node's sshd untouched (the browser's SSH runs end to end, and nothing is recorded).
//!
//! Browsers cannot read the HTTP status of a refused WebSocket, so a refusal is an
//! accepted socket closed at once with a code and a sentence a person can act on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::AppState;
use super::api::SignedIn;
use super::error::ApiError;
use crate::nodes::{self, NodeName};
use crate::rbac::{self, SshMode};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// SSH packets are at most ~35 KB; nothing legitimate needs more in one frame.
const MAX_FRAME: usize = 256 * 1024;

/// Close codes (4000–4999 are the application's own).
pub mod close {
    pub const NOT_SIGNED_IN: u16 = 4401;
    pub const DENIED: u16 = 4403;
    pub const NO_SUCH_NODE: u16 = 4404;
    pub const BAD_FRAME: u16 = 4400;
    /// The proxy cannot record a session that must be recorded.
    pub const NOT_AVAILABLE: u16 = 4501;
    pub const NODE_UNREACHABLE: u16 = 4502;
    /// The roles ask for a passkey check before this session: do it, then reconnect.
    pub const MFA_REQUIRED: u16 = 4428;
}

#[derive(Deserialize)]
pub struct SshQuery {
    login: Option<String>,
    /// The ticket from a passed session check, where the roles require one.
    mfa: Option<String>,
}

/// Why a connection is refused: the close code and the sentence for the tab.
struct Refusal(u16, String);

pub async fn connect(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(node): Path<String>,
    Query(query): Query<SshQuery>,
    headers: HeaderMap,
    signed_in: Result<SignedIn, ApiError>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "websocket_expected",
            "This endpoint carries SSH over a WebSocket; open it with a WebSocket client.",
        )
        .into_response();
    };
    // Cross-site WebSocket hijacking: a page elsewhere must not open this socket with
    // our cookie. (SameSite=Strict already withholds it; this is the second lock.)
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin.is_some_and(|o| o != state.public_url) {
        state.audit.record("ssh.denied", None, Some(peer.ip()), &format!("foreign Origin {origin:?}"));
        return ApiError::new(StatusCode::FORBIDDEN, "origin", "WebSockets are only accepted from Gatehouse's own pages.")
            .into_response();
    }
    let upgrade = upgrade.max_message_size(MAX_FRAME).max_frame_size(MAX_FRAME);
    let decision = decide(&state, peer, &node, query.login.as_deref(), query.mfa.as_deref(), signed_in);
    upgrade.on_upgrade(move |socket| async move {
        match decision {
            Err(Refusal(code, reason)) => refuse(socket, code, reason).await,
            Ok(target) if target.mode == SshMode::Recorded => recorded(state, peer, socket, target).await,
            Ok(target) => relay(state, peer, socket, target).await,
        }
    })
}

struct Target {
    user: String,
    node: nodes::Node,
    login: String,
    mode: SshMode,
}

fn decide(
    state: &AppState,
    peer: SocketAddr,
    node: &str,
    login: Option<&str>,
    mfa: Option<&str>,
    signed_in: Result<SignedIn, ApiError>,
) -> Result<Target, Refusal> {
    let signed_in = signed_in.map_err(|_| {
        Refusal(close::NOT_SIGNED_IN, "You are not signed in, or your session has ended. Sign in again.".into())
    })?;
    let user = signed_in.session.user;
    let deny = |what: String| {
        state.audit.record("ssh.denied", Some(&user.name), Some(peer.ip()), &what);
        Refusal(close::DENIED, what)
    };
    let name = NodeName::parse(node).map_err(|_| Refusal(close::NO_SUCH_NODE, format!("There is no node named {node:?}.")))?;
    let all = nodes::merge(&state.config_nodes, state.store.list_nodes().unwrap_or_default());
    let Some(node) = all.into_iter().find(|n| n.name == name) else {
        return Err(Refusal(close::NO_SUCH_NODE, format!("There is no node named {name}.")));
    };
    let Some(login) = login.filter(|l| !l.is_empty()) else {
        return Err(deny(format!("Choose a login for {name}.")));
    };
    let Some(access) = rbac::node_access(&state.roles, &user.roles, &node) else {
        return Err(deny(format!("Your roles do not give you access to {name}.")));
    };
    if !access.logins.contains(login) {
        let allowed = access.logins.iter().cloned().collect::<Vec<_>>().join(", ");
        return Err(deny(format!("You may not log in to {name} as {login}; your roles allow: {allowed}.")));
    }
    if access.session_mfa {
        // One use: the ticket leaves the table whatever it says.
        let ticket = mfa.and_then(|t| state.mfa_tickets.lock().unwrap_or_else(|p| p.into_inner()).remove(t));
        let valid = ticket.is_some_and(|t| {
            t.user == user.name && t.node == name.as_str() && t.login == login && t.expires_at >= crate::auth::now()
        });
        if !valid {
            let why = if mfa.is_some() { "an invalid or used passkey ticket" } else { "no passkey check" };
            state.audit.record("ssh.denied", Some(&user.name), Some(peer.ip()), &format!("node {name} as {login}: {why}"));
            return Err(Refusal(close::MFA_REQUIRED, format!("{name} asks for your passkey before each session.")));
        }
    }
    Ok(Target { user: user.name, node, login: login.to_string(), mode: access.mode })
}

pub(super) async fn refuse(mut socket: WebSocket, code: u16, reason: String) {
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: fit(reason).into() }))).await;
}

/// Close reasons may hold at most 123 bytes.
pub(super) fn fit(mut reason: String) -> String {
    if reason.len() > 123 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    reason
}

/// Recorded mode: connect to the node first (so a dead or untrusted node is reported on
/// the socket, before any SSH starts), then run our SSH server on the socket's bytes.
async fn recorded(state: AppState, peer: SocketAddr, socket: WebSocket, target: Target) {
    let bridge_target = crate::bridge::Target {
        user: target.user.clone(),
        node: target.node.name.to_string(),
        addr: target.node.addr.clone(),
        login: target.login.clone(),
    };
    let node = match crate::bridge::connect_node(&state.cas, &bridge_target).await {
        Ok(node) => node,
        Err(reason) => {
            tracing::warn!(node = %target.node.name, %reason, "recorded session: cannot connect to the node");
            let detail = format!("node {} as {}: {reason}", target.node.name, target.login);
            state.audit.record("ssh.node_failed", Some(&target.user), Some(peer.ip()), &detail);
            return refuse(socket, close::NODE_UNREACHABLE, reason).await;
        }
    };
    let config = match crate::bridge::front_config(&state.cas, &bridge_target.node) {
        Ok(config) => Arc::new(config),
        Err(err) => {
            tracing::error!(%err, "recorded session: no server configuration");
            return refuse(socket, close::NOT_AVAILABLE, "The proxy cannot start its SSH server; see its log.".into()).await;
        }
    };
    let audit = {
        let state = state.clone();
        let user = target.user.clone();
        Arc::new(move |kind: &str, detail: &str| state.audit.record(kind, Some(&user), Some(peer.ip()), detail))
    };
    let (front, outcome) = crate::bridge::Front::new(state.clone(), bridge_target, node, audit);
    let detail = format!("node {} as {}, recorded", target.node.name, target.login);
    state.audit.record("ssh.start", Some(&target.user), Some(peer.ip()), &detail);
    let started = std::time::Instant::now();
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    // run_stream waits for the browser's SSH version line, so the pump must already run.
    let serve = async move {
        match russh::server::run_stream(config, ours, front).await {
            Ok(session) => session.await,
            Err(err) => Err(err),
        }
    };
    let ((up, down, end), served) = tokio::join!(pump(socket, theirs), serve);
    if let Err(err) = served {
        tracing::debug!(%err, "recorded session: the browser's SSH connection ended with an error");
    }
    // The bridge finishes the recording after the browser's side has gone; wait for it.
    let outcome = tokio::time::timeout(Duration::from_secs(10), outcome).await.ok().and_then(Result::ok).unwrap_or_default();
    let recording = outcome.recording.as_deref().unwrap_or("none");
    let session_end = if outcome.end.is_empty() { end } else { outcome.end };
    state.audit.record(
        "ssh.end",
        Some(&target.user),
        Some(peer.ip()),
        &format!("{detail}; recording {recording}; {up} bytes up, {down} down, {} s; {session_end}", started.elapsed().as_secs()),
    );
}

async fn relay(state: AppState, peer: SocketAddr, socket: WebSocket, target: Target) {
    let Target { user, node, login, .. } = target;
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&node.addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(err)) => {
            tracing::warn!(node = %node.name, addr = %node.addr, %err, "cannot reach node");
            let reason = format!("Cannot reach {} ({}): {err}. The node may be down; try again later.", node.name, node.addr);
            return refuse(socket, close::NODE_UNREACHABLE, reason).await;
        }
        Err(_) => {
            let reason = format!("{} ({}) did not answer within 10 s. The node may be down.", node.name, node.addr);
            return refuse(socket, close::NODE_UNREACHABLE, reason).await;
        }
    };
    let _ = tcp.set_nodelay(true);
    let detail = format!("node {} as {login}, direct", node.name);
    state.audit.record("ssh.start", Some(&user), Some(peer.ip()), &detail);
    let started = std::time::Instant::now();
    let (up, down, end) = pump(socket, tcp).await;
    state.audit.record(
        "ssh.end",
        Some(&user),
        Some(peer.ip()),
        &format!("{detail}; {up} bytes up, {down} down, {} s; {end}", started.elapsed().as_secs()),
    );
}

/// Copies WebSocket binary frames to a byte stream (the node's TCP connection, or our own
/// SSH server) and the stream's bytes back, until either side ends. Awaiting each write
/// is the back-pressure: a slow browser slows the node. The two directions run side by
/// side: with our in-process SSH server on the other end, waiting to write the browser's
/// bytes while not reading the server's would stop both (the server waits to write too).
async fn pump(socket: WebSocket, stream: impl AsyncRead + AsyncWrite) -> (u64, u64, String) {
    let (mut ws_tx, mut ws_rx) = socket.split();
    let (mut tcp_rx, mut tcp_tx) = tokio::io::split(stream);
    let up = std::sync::atomic::AtomicU64::new(0);
    let down = std::sync::atomic::AtomicU64::new(0);
    // What the upward loop wants said to the browser as it ends (it does not own the sink).
    enum Ending {
        Quiet(String),
        Close(CloseFrame, String),
    }
    let upward = async {
        loop {
            match ws_rx.next().await {
                Some(Ok(Message::Binary(data))) => {
                    up.fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    if tcp_tx.write_all(&data).await.is_err() {
                        break Ending::Quiet("node closed".to_string());
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    let frame = CloseFrame { code: close::BAD_FRAME, reason: "SSH travels in binary frames only.".into() };
                    break Ending::Close(frame, "text frame from browser".to_string());
                }
                Some(Ok(Message::Close(_))) | None => break Ending::Quiet("browser closed".to_string()),
                Some(Err(err)) => break Ending::Quiet(format!("browser error: {err}")),
            }
        }
    };
    let downward = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match tcp_rx.read(&mut buf).await {
                Ok(0) => {
                    let frame = CloseFrame { code: 1000, reason: "The node closed the connection.".into() };
                    break Ending::Close(frame, "node closed".to_string());
                }
                Ok(n) => {
                    down.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                    if ws_tx.send(Message::Binary(buf[..n].to_vec().into())).await.is_err() {
                        break Ending::Quiet("browser gone".to_string());
                    }
                }
                Err(err) => {
                    let reason = fit(format!("The connection to the node failed: {err}."));
                    let frame = CloseFrame { code: close::NODE_UNREACHABLE, reason: reason.into() };
                    break Ending::Close(frame, format!("node error: {err}"));
                }
            }
        }
    };
    let ending = tokio::select! {
        ending = upward => ending,
        ending = downward => ending,
    };
    let end = match ending {
        Ending::Quiet(end) => end,
        Ending::Close(frame, end) => {
            let _ = ws_tx.send(Message::Close(Some(frame))).await;
            end
        }
    };
    let _ = tcp_tx.shutdown().await;
    (up.into_inner(), down.into_inner(), end)
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn close_reasons_fit_in_123_bytes_on_a_char_boundary() {
        assert_eq!(fit("short".into()), "short");
        let long = "é".repeat(100);
        let fitted = fit(long);
        assert!(fitted.len() <= 123, "{}", fitted.len());
        assert!(fitted.ends_with('…'));
    }
}
