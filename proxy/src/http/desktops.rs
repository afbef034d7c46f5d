//! `GET /api/v1/desktops/{name}/connect?width=…&height=…&layout=…`: the WebSocket of a desktop
//! session. Access is decided by [`Gatehouse::admit_desktop`]; the proxy connects with
//! the desktop's sealed credentials and forwards the desktop's PDUs, one protobuf
//! `DesktopServerMessage` per binary frame, in order. Where the desktop's roles require a
//! trusted device, `POST …/check/start` and `…/check/finish` come first: the device's
//! assertion gives a one-time ticket the socket takes as `?check=…`.
//!
//! What each PDU and each browser message means is decided by the session core
//! ([`crate::rdp::session`]: input turned into RDP by the proxy itself, frame
//! acknowledgements checked, the clipboard both ways); this file is its I/O: the socket,
//! the desktop's connection, the recorder (every update is recorded as it is forwarded)
//! and the audit. A session ends when the identity behind it goes ([`crate::sessions`]).
//! Live resizing is not built.

use std::net::SocketAddr;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use gatehouse_proto::api::{AssertionChallenge, DesktopCheckGrant, PasskeyAssertion};
use gatehouse_proto::layout::KeyboardLayout;
use gatehouse_proto::pb::{DesktopActivated, DesktopClosed, DesktopServerMessage, desktop_server_message};
use ironrdp_connector::DesktopSize;
use prost::Message as _;
use serde::Deserialize;

use super::error::ApiError;
use super::request::{ApiJson, SignedIn};
use super::state::AppState;
use super::ws::{self, CLOSE_LIMIT, close, fit, refuse};
use crate::audit::Kind;
use crate::gate::{AdmittedDesktop, Gatehouse};
use crate::recordings::Recorder;
use ironrdp_session::ActiveStageBuilder;

use crate::rdp::session::{End, Output};

/// The browser's messages are small (input, responses); nothing needs more.
const MAX_FRAME: usize = 64 * 1024;
/// A browser that takes longer than this to accept one update has stopped reading.
const SEND_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Deserialize)]
pub struct SizeQuery {
    width: Option<u16>,
    height: Option<u16>,
    /// The ticket from a passed trusted-device check, where the roles require one.
    check: Option<String>,
    /// The person's keyboard layout, by tag (`fr-FR`); US English when not given.
    layout: Option<String>,
}

fn server_message(message: desktop_server_message::Message) -> Message {
    Message::Binary(DesktopServerMessage { message: Some(message) }.encode_to_vec().into())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/desktops/{name}/connect", get(connect))
        .route("/desktops/{name}/check/start", post(check_start))
        .route("/desktops/{name}/check/finish", post(check_finish))
}

pub async fn connect(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    Query(size): Query<SizeQuery>,
    headers: HeaderMap,
    signed_in: Result<SignedIn, ApiError>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match ws::upgrade(&state, peer, &headers, upgrade, "a desktop", Kind::DesktopDenied, MAX_FRAME) {
        Ok(upgrade) => upgrade,
        Err(err) => return err.into_response(),
    };
    let decision =
        ws::admission(&signed_in, |session| state.admit_desktop(session, peer.ip(), &name, size.check.as_deref()));
    // A layout the proxy does not know is refused, never passed on as a number.
    let layout = match size.layout.as_deref().map(KeyboardLayout::parse).transpose() {
        Ok(layout) => Ok(layout.unwrap_or_default()),
        Err(err) => Err((
            gatehouse_proto::api::close::BAD_FRAME,
            // The whole sentence fits a close reason (123 bytes).
            format!("{err}, then reconnect."),
        )),
    };
    let size = desktop_size(size.width.unwrap_or(1280), size.height.unwrap_or(800));
    upgrade.on_upgrade(move |socket| async move {
        match decision.and_then(|admitted| layout.map(|layout| (admitted, layout))) {
            Err((code, reason)) => refuse(socket, code, reason).await,
            Ok((admitted, layout)) => session(state.gatehouse(), peer, socket, admitted, size, layout).await,
        }
    })
}

/// `POST /desktops/{name}/check/start`: the trusted-device challenge to answer before
/// the desktop's socket, or `null` when its roles ask for none (or do not let the user
/// open it: the socket then refuses with the sentence, as for any desktop).
pub async fn check_start(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(name): Path<String>,
) -> Result<Json<Option<AssertionChallenge>>, ApiError> {
    let user = &signed_in.session.user;
    // A desktop the user may not open asks for no check: its socket refuses, and says why.
    let Ok(Some(check)) = desktop_check(&state, user, &name) else { return Ok(Json(None)) };
    let (challenge_id, options) = state.start_session_check(user, check, crate::auth::now())?;
    Ok(Json(Some(AssertionChallenge { challenge_id, options, trusted_device: true })))
}

/// `POST /desktops/{name}/check/finish`: the device's assertion; a one-time ticket for
/// the socket (`?check=…`).
pub async fn check_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    Path(name): Path<String>,
    ApiJson(answer): ApiJson<PasskeyAssertion>,
) -> Result<Json<DesktopCheckGrant>, ApiError> {
    let user = signed_in.session.user.clone();
    let Some(check) = desktop_check(&state, &user, &name)? else {
        return Err(ApiError::new(StatusCode::CONFLICT, "no_check", format!("{name} needs no device check.")));
    };
    let now = crate::auth::now();
    let device = match state.finish_session_check(&user, check, &answer.challenge_id, &answer.credential, now) {
        Ok((who, device)) if who == user.id => device,
        Ok(_) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "passkey_rejected",
                "That passkey belongs to another account.",
            ));
        }
        Err(err) => {
            state.audit.record(
                Kind::DesktopDenied,
                Some(&user.name),
                Some(peer.ip()),
                &format!("desktop {name}: {err}"),
            );
            return Err(err.into());
        }
    };
    let ticket = crate::auth::token::random_token();
    let pass = crate::gate::passes::MfaTicket {
        user: user.name.clone(),
        node: crate::gate::desktop_check_target(&name),
        login: String::new(),
        expires_at: now + super::passkeys::SESSION_MFA_SECS,
        device: device.as_ref().map(|d| d.id),
    };
    state.passes.issue_ticket(&ticket, pass, now).map_err(|err| {
        tracing::error!(%err, "cannot keep a desktop check's ticket");
        crate::access::Refusal::Unavailable(crate::gate::STATE_UNREADABLE.into())
    })?;
    let by = device.map_or_else(String::new, |d| format!(", trusted device {:?} ({})", d.name, d.id));
    state.audit.record(Kind::DesktopCheckOk, Some(&user.name), Some(peer.ip()), &format!("desktop {name}{by}"));
    Ok(Json(DesktopCheckGrant { ticket }))
}

/// The check opening `name` needs now, after the same decision the socket makes.
fn desktop_check(
    state: &AppState,
    user: &crate::accounts::user::User,
    name: &str,
) -> Result<Option<crate::access::SessionCheck>, ApiError> {
    let desktops = state.inventory.desktops().map_err(|_| ApiError::internal())?;
    let locks = state.store.active_locks(crate::auth::now()).map_err(|_| ApiError::internal())?;
    let desktop = crate::access::desktop(&state.roles, user, &desktops, &locks, name)?;
    let trust = crate::access::rbac::desktop_device_trust(&state.roles, &user.roles, desktop);
    Ok(crate::access::session_check(false, trust))
}

/// The most pixels a session may ask for (the same bound as a live resize).
const MAX_PIXELS: u32 = crate::rdp::resize::MAX_PIXELS as u32;

/// The size asked for, within reason: each side at least 200, the area at most
/// [`MAX_PIXELS`] (scaled down keeping the shape).
fn desktop_size(width: u16, height: u16) -> DesktopSize {
    let (mut w, mut h) = (u32::from(width.clamp(200, 8192)), u32::from(height.clamp(200, 8192)));
    if w * h > MAX_PIXELS {
        let scale = (f64::from(MAX_PIXELS) / f64::from(w * h)).sqrt();
        w = ((f64::from(w) * scale) as u32).max(200) & !1;
        h = ((f64::from(h) * scale) as u32).max(200) & !1;
    }
    DesktopSize { width: w as u16, height: h as u16 }
}

async fn session(
    state: &Gatehouse,
    peer: SocketAddr,
    socket: WebSocket,
    admitted: AdmittedDesktop,
    size: DesktopSize,
    layout: KeyboardLayout,
) {
    let AdmittedDesktop { user, desktop, password, registration } = admitted;
    let notes = crate::rdp::clipboard::Notes::default();
    let mut active = match crate::rdp::connect::connect(
        &desktop,
        password,
        size,
        layout,
        &state.desktop_codecs,
        Some(notes.clone()),
    )
    .await
    {
        Ok(active) => active,
        Err(err) => {
            let detail = format!("desktop {}: {err}", desktop.name);
            state.audit.record(Kind::DesktopFailed, Some(&user), Some(peer.ip()), &detail);
            // The whole sentence in a message first: a close frame's reason holds 123 bytes.
            let mut socket = socket;
            let closed = DesktopClosed { reason: err.sentence() };
            let _ = socket.send(server_message(desktop_server_message::Message::Closed(closed))).await;
            return refuse(socket, close::NODE_UNREACHABLE, err.sentence()).await;
        }
    };
    let (io_channel_id, user_channel_id, share_id) =
        (active.result.io_channel_id, active.result.user_channel_id, active.result.share_id);
    let desktop_size = active.result.desktop_size;
    let activated = DesktopActivated {
        io_channel_id: u32::from(io_channel_id),
        user_channel_id: u32::from(user_channel_id),
        share_id,
        width: u32::from(desktop_size.width),
        height: u32::from(desktop_size.height),
    };
    // Every desktop session is recorded; one that cannot be does not start.
    let meta = crate::recordings::Meta {
        user: user.clone(),
        target: desktop.name.to_string(),
        login: desktop.username.clone(),
        cols: activated.width,
        rows: activated.height,
        term: String::new(),
        command: String::new(),
        kind: gatehouse_proto::pb::SessionKind::Desktop,
    };
    let recorder = match Recorder::start(&state.archive, state.store.clone(), meta) {
        Ok(recorder) => recorder,
        Err(err) => {
            tracing::error!(%err, "cannot start a desktop recording");
            let why =
                "The proxy cannot record this session (its disk may be full), so it does not start. Tell an admin.";
            return refuse(socket, close::NOT_AVAILABLE, why.to_string()).await;
        }
    };
    let detail = format!(
        "desktop {} as {}; recording {}{}",
        desktop.name,
        desktop.username,
        recorder.id(),
        registration.device_note()
    );
    state.audit.record(Kind::DesktopStart, Some(&user), Some(peer.ip()), &detail);
    recorder.desktop_activated(activated).await;
    // The proxy follows the slow-path (X.224) side of the session itself: server
    // requests, errors and the end; graphics travel to the browser untouched.
    let stage = ActiveStageBuilder {
        static_channels: std::mem::take(&mut active.result.static_channels),
        user_channel_id,
        io_channel_id,
        message_channel_id: None,
        share_id,
        compression_type: None,
        enable_server_pointer: true,
        pointer_software_rendering: false,
    }
    .build();
    let activation = Some(active.result.activation_factory.clone());
    let mut core = crate::rdp::session::Session::new(stage, activated, notes, activation);
    let (mut ws_tx, mut ws_rx) = socket.split();
    if ws_tx.send(server_message(desktop_server_message::Message::Activated(activated))).await.is_err() {
        recorder.end("the browser went away", None).await;
        return;
    }
    let to_browser = crate::metrics::relay_counter(crate::metrics::Relay::DesktopToBrowser);
    let from_browser = crate::metrics::relay_counter(crate::metrics::Relay::DesktopFromBrowser);
    let mut shell = Shell { ws_tx, active: &mut active, recorder: &recorder, updates: 0, bytes: 0, to_browser };
    let end = loop {
        let outputs = tokio::select! {
            biased;
            reason = registration.wait_ended() => {
                close_with(&mut shell.ws_tx, close::ENDED, reason.clone()).await;
                break reason;
            }
            read = shell.active.framed.read_pdu() => match read {
                Ok((action, frame)) => core.from_desktop(action, &frame, std::time::Instant::now()),
                Err(err) => {
                    // The library's words (TLS, PDUs) go to the audit; the person gets what
                    // happened and what to do.
                    let reason = "The desktop closed the session: its connection ended without a goodbye, so it may have restarted or gone down. Reconnect, or try again later.".to_string();
                    close_with(&mut shell.ws_tx, 1000, reason).await;
                    break format!("desktop closed: {err}");
                }
            },
            frame = ws_rx.next() => match frame {
                Some(Ok(Message::Binary(data))) => {
                    from_browser.inc_by(data.len() as u64);
                    core.from_browser(&data, std::time::Instant::now())
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Text(_))) => {
                    let reason = "The desktop protocol travels in binary frames only.".to_string();
                    let _ = shell.ws_tx.send(ws::close_frame(close::BAD_FRAME, reason)).await;
                    break "text frame from browser".to_string();
                }
                Some(Ok(Message::Close(_))) | None => break "the browser closed the session".to_string(),
                Some(Err(err)) => break format!("browser error: {err}"),
            },
        };
        let audit = |kind: Kind, detail: &str| state.audit.record(kind, Some(&user), Some(peer.ip()), detail);
        if let Some(end) = shell.carry_out(outputs, &desktop.name.to_string(), audit).await {
            break end;
        }
    };
    let (updates, bytes) = (shell.updates, shell.bytes);
    // Tell the desktop we are leaving, so its session ends (or disconnects) cleanly.
    for frame in core.shutdown() {
        let _ = write_desktop(&mut active, &frame).await;
    }
    let size = recorder.end(&end, None).await;
    state.audit.record(
        if registration.why_ended().is_some() { Kind::DesktopTerminated } else { Kind::DesktopEnd },
        Some(&user),
        Some(peer.ip()),
        &format!("{detail}; {updates} PDUs, {bytes} bytes; recording {size} bytes; {end}"),
    );
}

/// The I/O half of a session: what carries out the core's [`Output`]s.
struct Shell<'a> {
    ws_tx: futures_util::stream::SplitSink<WebSocket, Message>,
    active: &'a mut crate::rdp::connect::Active,
    recorder: &'a Recorder,
    /// The relayed-bytes metric, towards the browser.
    to_browser: prometheus_client::metrics::counter::Counter,
    updates: u64,
    bytes: u64,
}

impl Shell<'_> {
    /// Carries out `outputs` in order; why the session ends, if it does.
    async fn carry_out(&mut self, outputs: Vec<Output>, desktop: &str, audit: impl Fn(Kind, &str)) -> Option<String> {
        for output in outputs {
            match output {
                Output::Update(pdu) => {
                    self.updates += 1;
                    self.bytes += pdu.len() as u64;
                    self.to_browser.inc_by(pdu.len() as u64);
                    if !self.recorder.desktop_update(&pdu).await {
                        let reason = format!("The session ended: {}.", crate::recordings::RECORDING_FAILED);
                        close_with(&mut self.ws_tx, 1011, reason).await;
                        return Some(crate::recordings::RECORDING_FAILED.to_string());
                    }
                    // Awaiting the send is the back-pressure: a slow browser slows the
                    // desktop; one that stops reading for a minute is gone.
                    let message = server_message(desktop_server_message::Message::FastPath(pdu));
                    if !matches!(tokio::time::timeout(SEND_LIMIT, self.ws_tx.send(message)).await, Ok(Ok(()))) {
                        return Some("the browser went away or stopped reading".to_string());
                    }
                }
                Output::ToDesktop(bytes) => {
                    if write_desktop(self.active, &bytes).await.is_err() {
                        let reason = "the desktop stopped accepting data".to_string();
                        close_with(&mut self.ws_tx, 1000, reason.clone()).await;
                        return Some(reason);
                    }
                }
                Output::ClipboardToBrowser(text) => {
                    let message = server_message(desktop_server_message::Message::Clipboard(text));
                    if !matches!(tokio::time::timeout(SEND_LIMIT, self.ws_tx.send(message)).await, Ok(Ok(()))) {
                        return Some("the browser went away or stopped reading".to_string());
                    }
                }
                Output::ClipboardReady => {
                    let message = server_message(desktop_server_message::Message::ClipboardReady(true));
                    if !matches!(tokio::time::timeout(SEND_LIMIT, self.ws_tx.send(message)).await, Ok(Ok(()))) {
                        return Some("the browser went away or stopped reading".to_string());
                    }
                }
                Output::Activated(activated) => {
                    // The recording's player starts a fresh decoder at the new size here,
                    // as the browser's does.
                    self.recorder.desktop_activated(activated).await;
                    let message = server_message(desktop_server_message::Message::Activated(activated));
                    if !matches!(tokio::time::timeout(SEND_LIMIT, self.ws_tx.send(message)).await, Ok(Ok(()))) {
                        return Some("the browser went away or stopped reading".to_string());
                    }
                }
                Output::LiveResize(live) => {
                    let message = server_message(desktop_server_message::Message::LiveResize(live));
                    if !matches!(tokio::time::timeout(SEND_LIMIT, self.ws_tx.send(message)).await, Ok(Ok(()))) {
                        return Some("the browser went away or stopped reading".to_string());
                    }
                }
                Output::ClipboardAudit { to_desktop, characters } => {
                    let way = if to_desktop { "to" } else { "from" };
                    audit(Kind::DesktopClipboard, &format!("{desktop}: {characters} characters {way} the desktop"));
                }
                Output::End(End::Desktop(reason)) => {
                    close_with(&mut self.ws_tx, 1000, reason.clone()).await;
                    return Some(reason);
                }
                Output::End(End::BadInput(reason)) => {
                    audit(Kind::DesktopBadInput, &reason);
                    let _ = self.ws_tx.send(ws::close_frame(close::BAD_FRAME, reason.clone())).await;
                    return Some(reason);
                }
            }
        }
        None
    }
}

async fn write_desktop(active: &mut crate::rdp::connect::Active, bytes: &[u8]) -> std::io::Result<()> {
    let stream = active.framed.get_inner_mut().0;
    tokio::io::AsyncWriteExt::write_all(stream, bytes).await?;
    tokio::io::AsyncWriteExt::flush(stream).await
}

/// The sentence in a message (a close frame's reason holds 123 bytes), then the close;
/// neither waits long on a browser that stopped reading.
async fn close_with(ws_tx: &mut futures_util::stream::SplitSink<WebSocket, Message>, code: u16, reason: String) {
    let limit = CLOSE_LIMIT;
    let closed = desktop_server_message::Message::Closed(DesktopClosed { reason: reason.clone() });
    let _ = tokio::time::timeout(limit, ws_tx.send(server_message(closed))).await;
    let _ =
        tokio::time::timeout(limit, ws_tx.send(Message::Close(Some(CloseFrame { code, reason: fit(reason).into() }))))
            .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_kept_within_reason() {
        let ok = desktop_size(1920, 1080);
        assert_eq!((ok.width, ok.height), (1920, 1080));
        let tiny = desktop_size(10, 10);
        assert_eq!((tiny.width, tiny.height), (200, 200));
        let huge = desktop_size(8192, 8192);
        assert!(u32::from(huge.width) * u32::from(huge.height) <= MAX_PIXELS);
        assert_eq!(huge.width, huge.height, "the shape is kept");
        let wide = desktop_size(u16::MAX, 1000);
        assert!(u32::from(wide.width) * u32::from(wide.height) <= MAX_PIXELS && wide.width <= 8192);
    }
}
