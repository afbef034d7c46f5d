//! SSH for the browser: `POST /api/v1/ssh/certificate` (a certificate for one
//! connection) and `GET /api/v1/nodes/{node}/ssh?login=…`, the WebSocket that carries
//! the browser's SSH connection. Access is decided by the [`Gatehouse`], for the
//! certificate and again for the socket; a live session is then checked again every half
//! second ([`crate::sessions`]) and ends when its identity goes. In recorded mode (the
//! default) the socket's bytes go to the proxy's own SSH server, which bridges to the
//! node and records ([`crate::ssh::bridge`]); in direct mode they are relayed to the
//! node's sshd untouched (the browser's SSH runs end to end, and nothing is recorded).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use gatehouse_proto::api;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::ApiError;
use super::request::{ApiJson, SignedIn};
use super::state::AppState;
use super::ws::{self, CLOSE_LIMIT, close, fit, refuse};
use crate::access::Refusal;
use crate::access::rbac::SshMode;
use crate::audit::Kind;
use crate::gate::{AdmittedSsh, Gatehouse};
use crate::sessions::Registration;
use crate::ssh::certificate::{browser_key, certify};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// SSH packets are at most ~35 KB; nothing legitimate needs more in one frame.
const MAX_FRAME: usize = 256 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route("/ssh/certificate", post(certificate)).route("/nodes/{node}/ssh", get(connect))
}

#[derive(Deserialize)]
pub struct SshQuery {
    login: Option<String>,
    /// The ticket from a passed session check, where the roles require one.
    mfa: Option<String>,
    /// The page's own name for this tab, so it can find the session others join.
    tab: Option<String>,
}

pub async fn connect(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(node): Path<String>,
    Query(query): Query<SshQuery>,
    headers: HeaderMap,
    signed_in: Result<SignedIn, ApiError>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match ws::upgrade(&state, peer, &headers, upgrade, "SSH", Kind::SshDenied, MAX_FRAME) {
        Ok(upgrade) => upgrade,
        Err(err) => return err.into_response(),
    };
    let login = query.login.as_deref().unwrap_or("");
    let decision =
        ws::admission(&signed_in, |session| state.admit_ssh(session, peer.ip(), &node, login, query.mfa.as_deref()));
    let owner_roles = signed_in.as_ref().map(|s| s.session.user.roles.clone()).unwrap_or_default();
    let tab = query.tab.filter(|t| t.len() <= 64);
    upgrade.on_upgrade(move |socket| async move {
        let gatehouse = state.gatehouse().clone();
        match decision {
            Err((code, reason)) => refuse(socket, code, reason).await,
            Ok(admitted) if admitted.grant.mode == SshMode::Recorded => {
                recorded(gatehouse, peer, socket, admitted, &owner_roles, tab).await
            }
            Ok(admitted) => relay(&gatehouse, peer, socket, admitted).await,
        }
    })
}

/// `POST /api/v1/ssh/certificate`: the browser's key certified for one connection, right
/// before it opens the socket (see [`crate::ssh::certificate`]). Only Ed25519 keys are
/// certified.
pub async fn certificate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    ApiJson(request): ApiJson<api::SshCertificateRequest>,
) -> Result<Json<api::SshCertificate>, ApiError> {
    let user = &signed_in.session.user;
    let key = browser_key(&request.public_key)?;
    let grant = state.ssh_grant(user, &request.node, &request.login).inspect_err(|refusal| {
        state.audit.record(Kind::SshCertDenied, Some(&user.name), Some(peer.ip()), refusal.sentence());
    })?;
    if let Some(check) = crate::access::session_check(grant.session_mfa, grant.device_trust) {
        return Err(Refusal::MfaRequired(crate::access::check_sentence(check, grant.node.name.as_str())).into());
    }
    let (certificate, expires_at) = certify(&state, peer.ip(), &grant, &key).await?;
    Ok(Json(api::SshCertificate {
        certificate,
        node: grant.node.name.to_string(),
        login: grant.login.clone(),
        expires_at,
        host_ca_fingerprint: state.cas.host.fingerprint().to_string(),
        recorded: grant.mode == SshMode::Recorded,
        file_transfer: grant.file_transfer.as_str().to_string(),
    }))
}

/// Recorded mode: connect to the node first (so a dead or untrusted node is reported on
/// the socket, before any SSH starts), then run our SSH server on the socket's bytes.
async fn recorded(
    state: Arc<Gatehouse>,
    peer: SocketAddr,
    socket: WebSocket,
    admitted: AdmittedSsh,
    owner_roles: &[String],
    tab: Option<String>,
) {
    let AdmittedSsh { grant, registration } = admitted;
    let bridge_target = crate::ssh::Target {
        user: grant.user.clone(),
        node: grant.node.name.to_string(),
        addr: grant.node.addr.clone(),
        login: grant.login.clone(),
        source_addresses: state.ssh_source_addresses.clone(),
        file_transfer: grant.file_transfer,
    };
    let node = match crate::ssh::node::connect_node(&state.cas, &bridge_target).await {
        Ok(node) => node,
        Err(reason) => {
            tracing::warn!(node = %grant.node.name, %reason, "recorded session: cannot connect to the node");
            let detail = format!("node {} as {}: {reason}", grant.node.name, grant.login);
            state.audit.record(Kind::SshNodeFailed, Some(&grant.user), Some(peer.ip()), &detail);
            return refuse(socket, close::NODE_UNREACHABLE, reason).await;
        }
    };
    let config = match crate::ssh::front::front_config(&state.cas, &bridge_target.node) {
        Ok(config) => Arc::new(config),
        Err(err) => {
            tracing::error!(%err, "recorded session: no server configuration");
            return refuse(socket, close::NOT_AVAILABLE, "The proxy cannot start its SSH server; see its log.".into())
                .await;
        }
    };
    let audit = {
        let state = state.clone();
        let user = grant.user.clone();
        Arc::new(move |kind: Kind, detail: &str| state.audit.record(kind, Some(&user), Some(peer.ip()), detail))
    };
    let (mut front, outcome) =
        crate::ssh::front::Front::new(state.clone(), bridge_target, node, audit, registration.ended.clone());
    // Listed for others to join while it runs (and to wait for its moderator).
    let moderators = crate::access::join::moderators(&state.roles, owner_roles, &grant.node);
    let (listed, typed) = state.shared.list(crate::sessions::shared::Opened {
        owner: grant.user.clone(),
        node: grant.node.name.to_string(),
        login: grant.login.clone(),
        tab,
        started_at: crate::auth::now(),
        moderators: moderators.clone(),
        end: registration.ender(),
    });
    if !moderators.is_empty() {
        let (audit_state, user) = (state.clone(), grant.user.clone());
        let grace_ms = state.limits.moderator_grace_secs.saturating_mul(1000);
        tokio::spawn(crate::sessions::shared::watch_moderation(
            Arc::downgrade(&listed.session),
            grace_ms,
            move |session, reason| {
                let detail = format!("session {} of {user} on {}: {reason}", session.id, session.opened.node);
                audit_state.audit.record(Kind::SessionModeratorEnded, Some(&user), None, &detail);
            },
        ));
    }
    front.shared = Some((listed.session.clone(), typed));
    let detail = format!("node {} as {}, recorded{}", grant.node.name, grant.login, registration.device_note());
    state.audit.record(Kind::SshStart, Some(&grant.user), Some(peer.ip()), &detail);
    let started = std::time::Instant::now();
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    // run_stream waits for the browser's SSH version line, so the pump must already run.
    let serve = async move {
        match russh::server::run_stream(config, ours, front).await {
            Ok(session) => session.await,
            Err(err) => Err(err),
        }
    };
    let ((up, down, end), served) = tokio::join!(pump(socket, theirs, &registration), serve);
    if let Err(err) = served {
        tracing::debug!(%err, "recorded session: the browser's SSH connection ended with an error");
    }
    // The bridge finishes the recording after the browser's side has gone; wait for it.
    let outcome =
        tokio::time::timeout(Duration::from_secs(10), outcome).await.ok().and_then(Result::ok).unwrap_or_default();
    let recording = outcome.recording.as_deref().unwrap_or("none");
    let session_end = if outcome.end.is_empty() { end } else { outcome.end };
    listed.close(&format!("{}'s session ended: {session_end}", grant.user));
    let kind = if registration.why_ended().is_some() { Kind::SshTerminated } else { Kind::SshEnd };
    state.audit.record(
        kind,
        Some(&grant.user),
        Some(peer.ip()),
        &format!(
            "{detail}; recording {recording}; {up} bytes up, {down} down, {} s; {session_end}",
            started.elapsed().as_secs()
        ),
    );
}

async fn relay(state: &Gatehouse, peer: SocketAddr, socket: WebSocket, admitted: AdmittedSsh) {
    let AdmittedSsh { grant, registration } = admitted;
    let node = &grant.node;
    let certified = registration.logins().join(", ");
    let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&node.addr)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(err)) => {
            tracing::warn!(node = %node.name, addr = %node.addr, %err, "cannot reach node");
            let reason =
                format!("Cannot reach {} ({}): {err}. The node may be down; try again later.", node.name, node.addr);
            return refuse(socket, close::NODE_UNREACHABLE, reason).await;
        }
        Err(_) => {
            let reason = format!("{} ({}) did not answer within 10 s. The node may be down.", node.name, node.addr);
            return refuse(socket, close::NODE_UNREACHABLE, reason).await;
        }
    };
    let _ = tcp.set_nodelay(true);
    let detail = format!(
        "node {} as {}, direct (certified lately: {certified}){}",
        node.name,
        grant.login,
        registration.device_note()
    );
    state.audit.record(Kind::SshStart, Some(&grant.user), Some(peer.ip()), &detail);
    let started = std::time::Instant::now();
    let (up, down, end) = pump(socket, tcp, &registration).await;
    let kind = if registration.why_ended().is_some() { Kind::SshTerminated } else { Kind::SshEnd };
    state.audit.record(
        kind,
        Some(&grant.user),
        Some(peer.ip()),
        &format!("{detail}; {up} bytes up, {down} down, {} s; {end}", started.elapsed().as_secs()),
    );
}

/// Copies WebSocket binary frames to a byte stream (the node's TCP connection, or our own
/// SSH server) and the stream's bytes back, until either side ends. Awaiting each write
/// is the back-pressure: a slow browser slows the node. The two directions run side by
/// side: with our in-process SSH server on the other end, waiting to write the browser's
/// bytes while not reading the server's would stop both (the server waits to write too).
///
/// When the session is ended from outside (`registration`), the socket closes with
/// [`close::ENDED`] and the reason.
async fn pump(
    socket: WebSocket,
    stream: impl AsyncRead + AsyncWrite,
    registration: &Registration,
) -> (u64, u64, String) {
    let (mut ws_tx, mut ws_rx) = socket.split();
    let (mut tcp_rx, mut tcp_tx) = tokio::io::split(stream);
    let up = std::sync::atomic::AtomicU64::new(0);
    let down = std::sync::atomic::AtomicU64::new(0);
    let (up_metric, down_metric) = (
        crate::metrics::relay_counter(crate::metrics::Relay::SshFromBrowser),
        crate::metrics::relay_counter(crate::metrics::Relay::SshToBrowser),
    );
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
                    up_metric.inc_by(data.len() as u64);
                    if tcp_tx.write_all(&data).await.is_err() {
                        break Ending::Quiet("node closed".to_string());
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    let frame =
                        CloseFrame { code: close::BAD_FRAME, reason: "SSH travels in binary frames only.".into() };
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
                    down_metric.inc_by(n as u64);
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
    let ended = async {
        let reason = registration.wait_ended().await;
        Ending::Close(CloseFrame { code: close::ENDED, reason: fit(reason.clone()).into() }, reason)
    };
    let ending = tokio::select! {
        biased;
        ending = ended => ending,
        ending = upward => ending,
        ending = downward => ending,
    };
    // The node's side first: a browser that stopped reading must not keep it open.
    let _ = tokio::time::timeout(CLOSE_LIMIT, tcp_tx.shutdown()).await;
    let end = match ending {
        Ending::Quiet(end) => end,
        Ending::Close(frame, end) => {
            let _ = tokio::time::timeout(CLOSE_LIMIT, ws_tx.send(Message::Close(Some(frame)))).await;
            end
        }
    };
    (up.into_inner(), down.into_inner(), end)
}
