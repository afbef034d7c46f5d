//! SSH for the browser: `POST /api/v1/ssh/certificate` (a certificate for one
//! connection) and `GET /api/v1/nodes/{node}/ssh?login=…`, the WebSocket that carries
//! the browser's SSH connection. Access is decided on the proxy, by [`crate::access`],
//! for the certificate and again for the socket; a live session is then checked again
//! every half second ([`crate::sessions`]) and ends when its identity goes. In recorded
//! mode (the default) the socket's bytes go to the proxy's own SSH server, which bridges
//! to the node and records ([`crate::ssh::bridge`]); in direct mode they are relayed to the
//! node's sshd untouched (the browser's SSH runs end to end, and nothing is recorded).
//!
//! Browsers cannot read the HTTP status of a refused WebSocket, so a refusal is an
//! accepted socket closed at once with a code and a sentence a person can act on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use gatehouse_proto::api;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::AppState;
use super::api::SignedIn;
use super::error::ApiError;
use crate::access::SshGrant;
use crate::access::rbac::SshMode;
use crate::inventory::nodes;
use crate::sessions::{Kind, LiveSession, Registration};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a close may wait on a peer that stopped reading.
pub(super) const CLOSE_LIMIT: Duration = Duration::from_secs(2);
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
    /// An admin's lock stops it.
    pub const LOCKED: u16 = 4423;
    /// The user already has as many sessions open as allowed.
    pub const TOO_MANY: u16 = 4429;
    /// The session was ended from outside: sign-out, expiry, a reset, a role taken
    /// away, a lock, a full disk. The reason says which.
    pub const ENDED: u16 = 4410;
}

#[derive(Deserialize)]
pub struct SshQuery {
    login: Option<String>,
    /// The ticket from a passed session check, where the roles require one.
    mfa: Option<String>,
}

/// Why a connection is refused: the close code and the sentence for the tab.
pub(super) struct Refusal(pub u16, pub String);

impl From<crate::access::Refusal> for Refusal {
    fn from(refusal: crate::access::Refusal) -> Refusal {
        let code = match &refusal {
            crate::access::Refusal::Missing(_) => close::NO_SUCH_NODE,
            crate::access::Refusal::Denied(_) => close::DENIED,
            crate::access::Refusal::Locked(_) => close::LOCKED,
        };
        Refusal(code, refusal.sentence().to_string())
    }
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
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "origin",
            "WebSockets are only accepted from Gatehouse's own pages.",
        )
        .into_response();
    }
    let upgrade = upgrade.max_message_size(MAX_FRAME).max_frame_size(MAX_FRAME);
    let decision = decide(&state, peer, &node, query.login.as_deref(), query.mfa.as_deref(), signed_in);
    upgrade.on_upgrade(move |socket| async move {
        match decision {
            Err(Refusal(code, reason)) => refuse(socket, code, reason).await,
            Ok(target) if target.grant.mode == SshMode::Recorded => recorded(state, peer, socket, target).await,
            Ok(target) => relay(state, peer, socket, target).await,
        }
    })
}

/// An accepted connection: what it may do, and its place among the live sessions.
struct Target {
    grant: SshGrant,
    registration: Registration,
}

/// The access decision for one connection (the same one its certificate was signed
/// for), then the checks that only opening a session makes: the passkey ticket, the
/// disk, the user's number of open sessions.
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
    let session = signed_in.session;
    let user = &session.user;
    let login = login.unwrap_or("");
    let grant = match ssh_grant(state, user, node, login) {
        Ok(grant) => grant,
        Err(refusal) => {
            if !matches!(refusal, crate::access::Refusal::Missing(_)) {
                state.audit.record("ssh.denied", Some(&user.name), Some(peer.ip()), refusal.sentence());
            }
            return Err(refusal.into());
        }
    };
    if grant.session_mfa {
        // One use: the ticket leaves the table whatever it says.
        let ticket = mfa.and_then(|t| state.mfa_tickets.lock().unwrap_or_else(|p| p.into_inner()).remove(t));
        let valid = ticket.is_some_and(|t| {
            t.user == user.name
                && t.node == grant.node.name.as_str()
                && t.login == login
                && t.expires_at >= crate::auth::now()
        });
        if !valid {
            let why = if mfa.is_some() { "an invalid or used passkey ticket" } else { "no passkey check" };
            let detail = format!("node {} as {login}: {why}", grant.node.name);
            state.audit.record("ssh.denied", Some(&user.name), Some(peer.ip()), &detail);
            return Err(Refusal(
                close::MFA_REQUIRED,
                format!("{} asks for your passkey before each session.", grant.node.name),
            ));
        }
    }
    let recorded = grant.mode == SshMode::Recorded;
    // In direct mode the proxy cannot see which certificate signs in: the session answers
    // for every login this user was certified for on this node lately.
    let mut logins = vec![login.to_string()];
    if !recorded {
        for other in state.certified_logins(&user.name, grant.node.name.as_str(), crate::auth::now()) {
            if !logins.contains(&other) {
                logins.push(other);
            }
        }
    }
    // What the certificates of all those logins may forward, as decided now.
    let mut grants = vec![grant.clone()];
    for other in &logins[1..] {
        match ssh_grant(state, user, grant.node.name.as_str(), other) {
            Ok(other) => grants.push(other),
            Err(refusal) => return Err(refusal.into()),
        }
    }
    let extensions = crate::sessions::union(&grants);
    if recorded && state.disk_low() {
        state.audit.record(
            "ssh.denied",
            Some(&user.name),
            Some(peer.ip()),
            "the disk under the recordings is nearly full",
        );
        return Err(Refusal(close::NOT_AVAILABLE, DISK_LOW.into()));
    }
    let live = LiveSession {
        kind: Kind::Ssh,
        user: user.name.clone(),
        web_session: session.token_hash.clone(),
        web_session_expires: session.expires_at,
        target: grant.node.name.to_string(),
        logins,
        ssh: Some((grant.mode, extensions)),
        recorded,
    };
    let registration = state.live.register(live, state.limits.ssh_sessions_per_user).map_err(|why| {
        state.audit.record("ssh.denied", Some(&user.name), Some(peer.ip()), &why);
        Refusal(close::TOO_MANY, why)
    })?;
    Ok(Target { grant, registration })
}

/// Why a recorded session cannot start when the disk is nearly full.
pub(super) const DISK_LOW: &str =
    "The proxy's disk is almost full, so it cannot record new sessions and will not start one. Tell an admin.";

/// The access decision for `login` on `node`, over the inventory and locks as they are now.
pub(super) fn ssh_grant(
    state: &AppState,
    user: &crate::store::User,
    node: &str,
    login: &str,
) -> Result<SshGrant, crate::access::Refusal> {
    let now = crate::auth::now();
    let locks = state.store.active_locks(now).unwrap_or_else(|err| {
        // Fail closed: with no locks to go by, a lock cannot be honoured.
        tracing::error!(%err, "cannot read locks");
        vec![crate::access::locks::Lock {
            id: 0,
            target: crate::access::locks::LockTarget::User(user.name.clone()),
            reason: "the proxy cannot read its locks right now; try again shortly".into(),
            created_at: now,
            expires_at: None,
        }]
    });
    let nodes = nodes::merge(&state.config_nodes, state.store.list_nodes().unwrap_or_default());
    crate::access::ssh(&state.roles, user, &nodes, &locks, node, login)
}

/// `POST /api/v1/ssh/certificate`: the browser's key certified for one connection, right
/// before it opens the socket: one node, one login, a minute either side of now. In
/// direct mode the certificate is from the user CA the node trusts, for `login@node`,
/// from the proxy's egress address only, with forwarding only if a role grants it; in
/// recorded mode it is from the session CA, which only the proxy's own SSH server
/// accepts. Only Ed25519 keys are certified.
pub async fn certificate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    super::api::ApiJson(request): super::api::ApiJson<api::SshCertificateRequest>,
) -> Result<Json<api::SshCertificate>, ApiError> {
    let user = &signed_in.session.user;
    let key = ed25519_key(&request.public_key)?;
    let grant = ssh_grant(&state, user, &request.node, &request.login).map_err(|refusal| {
        state.audit.record("ssh.cert_denied", Some(&user.name), Some(peer.ip()), refusal.sentence());
        refusal_error(refusal)
    })?;
    if grant.session_mfa {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            api::MFA_REQUIRED,
            format!("{} asks for your passkey before each session.", grant.node.name),
        ));
    }
    let (certificate, expires_at) = certify(&state, peer, &grant, &key).await?;
    Ok(Json(api::SshCertificate {
        certificate,
        node: grant.node.name.to_string(),
        login: grant.login.clone(),
        expires_at,
        host_ca_fingerprint: state.cas.host.fingerprint().to_string(),
        recorded: grant.mode == SshMode::Recorded,
    }))
}

/// A refusal as an API answer.
pub(super) fn refusal_error(refusal: crate::access::Refusal) -> ApiError {
    match refusal {
        crate::access::Refusal::Missing(s) => ApiError::new(StatusCode::NOT_FOUND, "no_such_node", s),
        crate::access::Refusal::Denied(s) => ApiError::new(StatusCode::FORBIDDEN, "denied", s),
        crate::access::Refusal::Locked(s) => ApiError::new(StatusCode::LOCKED, "locked", s),
    }
}

/// An OpenSSH Ed25519 public key from the browser, or a clear error.
pub(super) fn ed25519_key(text: &str) -> Result<russh::keys::ssh_key::PublicKey, ApiError> {
    let key = russh::keys::ssh_key::PublicKey::from_openssh(text.trim()).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_key",
            "The public key is not an OpenSSH public key (ssh-ed25519 AAAA…).",
        )
    })?;
    if key.algorithm() != russh::keys::ssh_key::Algorithm::Ed25519 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_key", "Only Ed25519 keys are certified."));
    }
    Ok(key)
}

/// Signs `key` for `grant` (see [`certificate`]); the certificate and when it stops
/// working. Audited with its scope.
pub(super) async fn certify(
    state: &AppState,
    peer: SocketAddr,
    grant: &SshGrant,
    key: &russh::keys::ssh_key::PublicKey,
) -> Result<(String, u64), ApiError> {
    let node = grant.node.name.to_string();
    let (ca, source_address) = match grant.mode {
        SshMode::Recorded => (&state.cas.session, None),
        SshMode::Direct => {
            let source = match &state.ssh_source_addresses {
                Some(configured) => configured.clone(),
                None => route_source(&grant.node.addr).await.ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_GATEWAY,
                        "node_unreachable",
                        format!(
                            "The proxy has no route to {node} ({}); the node may be down or misnamed.",
                            grant.node.addr
                        ),
                    )
                })?,
            };
            (&state.cas.user, Some(source))
        }
    };
    let now = crate::auth::now();
    let cert_grant = crate::ca::UserGrant {
        principal: crate::ca::principal(&grant.login, &node),
        key_id: crate::ca::browser_key_id(&grant.user),
        source_address: source_address.clone(),
        extensions: grant.extensions,
        valid_after: now.saturating_sub(crate::ssh::bridge::CERT_SKEW_SECS),
        valid_before: now + crate::ssh::bridge::CERT_SKEW_SECS,
    };
    let certificate = ca.sign_user(key, &cert_grant).and_then(|cert| Ok(cert.to_openssh()?)).map_err(|err| {
        tracing::error!(%err, user = %grant.user, "cannot sign a user certificate");
        ApiError::internal()
    })?;
    let detail = format!(
        "{} on {node}, {}, until {}{}",
        grant.login,
        if grant.mode == SshMode::Recorded { "recorded (session CA)" } else { "direct (user CA)" },
        cert_grant.valid_before,
        source_address.map(|s| format!(", from {s}")).unwrap_or_default()
    );
    state.audit.record("ssh.cert_issued", Some(&grant.user), Some(peer.ip()), &detail);
    if grant.mode == SshMode::Direct {
        state.note_certified(&grant.user, &node, &grant.login, cert_grant.valid_before);
    }
    Ok((certificate, cert_grant.valid_before))
}

/// The address this machine's connection to `addr` would come from (no packet is sent:
/// a UDP socket is only routed).
async fn route_source(addr: &str) -> Option<String> {
    let target = tokio::net::lookup_host(addr).await.ok()?.next()?;
    let bind = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = std::net::UdpSocket::bind(bind).ok()?;
    socket.connect(target).ok()?;
    Some(socket.local_addr().ok()?.ip().to_string())
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
    let Target { grant, registration } = target;
    let bridge_target = crate::ssh::bridge::Target {
        user: grant.user.clone(),
        node: grant.node.name.to_string(),
        addr: grant.node.addr.clone(),
        login: grant.login.clone(),
        source_addresses: state.ssh_source_addresses.clone(),
    };
    let node = match crate::ssh::bridge::connect_node(&state.cas, &bridge_target).await {
        Ok(node) => node,
        Err(reason) => {
            tracing::warn!(node = %grant.node.name, %reason, "recorded session: cannot connect to the node");
            let detail = format!("node {} as {}: {reason}", grant.node.name, grant.login);
            state.audit.record("ssh.node_failed", Some(&grant.user), Some(peer.ip()), &detail);
            return refuse(socket, close::NODE_UNREACHABLE, reason).await;
        }
    };
    let config = match crate::ssh::bridge::front_config(&state.cas, &bridge_target.node) {
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
        Arc::new(move |kind: &str, detail: &str| state.audit.record(kind, Some(&user), Some(peer.ip()), detail))
    };
    let (front, outcome) =
        crate::ssh::bridge::Front::new(state.clone(), bridge_target, node, audit, registration.ended.clone());
    let detail = format!("node {} as {}, recorded", grant.node.name, grant.login);
    state.audit.record("ssh.start", Some(&grant.user), Some(peer.ip()), &detail);
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
    let kind = if registration.why_ended().is_some() { "ssh.terminated" } else { "ssh.end" };
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

async fn relay(state: AppState, peer: SocketAddr, socket: WebSocket, target: Target) {
    let Target { grant, registration } = target;
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
    let detail = format!("node {} as {}, direct (certified lately: {certified})", node.name, grant.login);
    state.audit.record("ssh.start", Some(&grant.user), Some(peer.ip()), &detail);
    let started = std::time::Instant::now();
    let (up, down, end) = pump(socket, tcp, &registration).await;
    let kind = if registration.why_ended().is_some() { "ssh.terminated" } else { "ssh.end" };
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
