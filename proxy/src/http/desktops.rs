//! `GET /api/v1/desktops/{name}/connect?width=…&height=…`: the WebSocket of a desktop
//! session. Access is decided here (roles' desktop selectors and accounts); the proxy
//! connects with the desktop's sealed credentials and forwards the desktop's PDUs, one
//! protobuf `DesktopServerMessage` per binary frame, in order.
//!
//! What is built: the connection, the forwarding, the browser's responses back, the
//! refusals. Input, clipboard, resize and recording come next; the browser's decoder
//! (IronRDP in wasm) is not built yet.

use std::net::SocketAddr;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use gatehouse_proto::pb::{
    DesktopActivated, DesktopClientMessage, DesktopClosed, DesktopServerMessage, desktop_client_message, desktop_server_message,
};
use ironrdp_connector::DesktopSize;
use prost::Message as _;
use serde::Deserialize;

use super::AppState;
use super::api::SignedIn;
use super::error::ApiError;
use super::ssh::{close, fit, refuse};
use crate::desktops::Desktop;

/// The browser's messages are small (input, responses); nothing needs more.
const MAX_FRAME: usize = 64 * 1024;

#[derive(Deserialize)]
pub struct SizeQuery {
    width: Option<u16>,
    height: Option<u16>,
}

fn server_message(message: desktop_server_message::Message) -> Message {
    Message::Binary(DesktopServerMessage { message: Some(message) }.encode_to_vec().into())
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
    let Ok(upgrade) = upgrade else {
        return ApiError::new(StatusCode::BAD_REQUEST, "websocket_expected", "This endpoint carries a desktop over a WebSocket.")
            .into_response();
    };
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin.is_some_and(|o| o != state.public_url) {
        state.audit.record("desktop.denied", None, Some(peer.ip()), &format!("foreign Origin {origin:?}"));
        return ApiError::new(StatusCode::FORBIDDEN, "origin", "WebSockets are only accepted from Gatehouse's own pages.")
            .into_response();
    }
    let decision = decide(&state, peer, &name, signed_in);
    let size = DesktopSize {
        width: size.width.unwrap_or(1280).clamp(200, 8192),
        height: size.height.unwrap_or(800).clamp(200, 8192),
    };
    upgrade.max_message_size(MAX_FRAME).max_frame_size(MAX_FRAME).on_upgrade(move |socket| async move {
        match decision {
            Err((code, reason)) => refuse(socket, code, reason).await,
            Ok((user, desktop, password)) => session(state, peer, socket, user, desktop, password, size).await,
        }
    })
}

/// Who may open what: the desktop and its opened password, or the close code and why.
fn decide(
    state: &AppState,
    peer: SocketAddr,
    name: &str,
    signed_in: Result<SignedIn, ApiError>,
) -> Result<(String, Desktop, String), (u16, String)> {
    let signed_in = signed_in
        .map_err(|_| (close::NOT_SIGNED_IN, "You are not signed in, or your session has ended. Sign in again.".to_string()))?;
    let user = signed_in.session.user;
    let missing = || (close::NO_SUCH_NODE, format!("There is no desktop named {name}."));
    let added = state.store.list_desktops().map_err(|_| missing())?;
    let sealed = added.iter().find(|(d, _)| d.name.as_str() == name).map(|(_, s)| s.clone());
    let desktop = crate::desktops::merge(&state.config_desktops, added.into_iter().map(|(d, _)| d).collect())
        .into_iter()
        .find(|d| d.name.as_str() == name)
        .ok_or_else(missing)?;
    if !crate::rbac::desktop_allowed(&state.roles, &user.roles, &desktop) {
        let why = format!("Your roles do not give you access to the desktop {name}.");
        state.audit.record("desktop.denied", Some(&user.name), Some(peer.ip()), &why);
        return Err((close::DENIED, why));
    }
    // Without a pinned certificate nothing proves the desktop is the desktop, and the
    // account would go to whoever answers.
    if desktop.tls_pin.is_none() {
        return Err((
            close::NOT_AVAILABLE,
            format!("{name}'s certificate has not been verified yet: an admin must run `gatehouse desktops check {name}`."),
        ));
    }
    let password = match (state.config_desktop_passwords.get(name), sealed) {
        (Some(file), _) => std::fs::read_to_string(file).map(|p| p.trim_end_matches(['\r', '\n']).to_string()).ok(),
        (None, Some(sealed)) => state.vault.open(name, &sealed).ok(),
        (None, None) => None,
    };
    let password = password.ok_or_else(|| {
        tracing::error!(desktop = %name, "the desktop's password cannot be read");
        (close::NOT_AVAILABLE, format!("The proxy cannot read the account of {name}; an admin must add it again."))
    })?;
    Ok((user.name, desktop, password))
}

async fn session(
    state: AppState,
    peer: SocketAddr,
    socket: WebSocket,
    user: String,
    desktop: Desktop,
    password: String,
    size: DesktopSize,
) {
    let mut active = match crate::rdp::connect(&desktop, password, size).await {
        Ok(active) => active,
        Err(err) => {
            let detail = format!("desktop {}: {err}", desktop.name);
            state.audit.record("desktop.failed", Some(&user), Some(peer.ip()), &detail);
            return refuse(socket, close::NODE_UNREACHABLE, err.explain()).await;
        }
    };
    let detail = format!("desktop {} as {}", desktop.name, desktop.username);
    state.audit.record("desktop.start", Some(&user), Some(peer.ip()), &detail);
    let (mut ws_tx, mut ws_rx) = socket.split();
    let result = &active.result;
    let activated = DesktopActivated {
        io_channel_id: u32::from(result.io_channel_id),
        user_channel_id: u32::from(result.user_channel_id),
        share_id: result.share_id,
        width: u32::from(result.desktop_size.width),
        height: u32::from(result.desktop_size.height),
    };
    if ws_tx.send(server_message(desktop_server_message::Message::Activated(activated))).await.is_err() {
        return;
    }
    let (mut updates, mut bytes) = (0u64, 0u64);
    let end = loop {
        tokio::select! {
            read = active.framed.read_pdu() => match read {
                Ok((action, frame)) => {
                    updates += 1;
                    bytes += frame.len() as u64;
                    let message = match action {
                        ironrdp_pdu::Action::FastPath => desktop_server_message::Message::FastPath(frame.to_vec()),
                        ironrdp_pdu::Action::X224 => desktop_server_message::Message::X224(frame.to_vec()),
                    };
                    // Awaiting the send is the back-pressure: a slow browser slows the desktop.
                    if ws_tx.send(server_message(message)).await.is_err() {
                        break "the browser went away".to_string();
                    }
                }
                Err(err) => {
                    let reason = format!("The desktop closed the session: {err}.");
                    let closed = desktop_server_message::Message::Closed(DesktopClosed { reason: reason.clone() });
                    let _ = ws_tx.send(server_message(closed)).await;
                    let _ = ws_tx.send(Message::Close(Some(CloseFrame { code: 1000, reason: fit(reason).into() }))).await;
                    break format!("desktop closed: {err}");
                }
            },
            frame = ws_rx.next() => match frame {
                Some(Ok(Message::Binary(data))) => match DesktopClientMessage::decode(data.as_ref()) {
                    Ok(DesktopClientMessage { message: Some(desktop_client_message::Message::Response(response)) }) => {
                        let stream = active.framed.get_inner_mut().0;
                        let written = async {
                            tokio::io::AsyncWriteExt::write_all(stream, &response).await?;
                            tokio::io::AsyncWriteExt::flush(stream).await
                        };
                        if written.await.is_err() {
                            break "the desktop stopped accepting data".to_string();
                        }
                    }
                    _ => {
                        let reason = "The browser sent a message the desktop protocol does not have.".to_string();
                        let _ = ws_tx.send(Message::Close(Some(CloseFrame { code: close::BAD_FRAME, reason: reason.clone().into() }))).await;
                        break reason;
                    }
                },
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    let frame = CloseFrame { code: close::BAD_FRAME, reason: "The desktop protocol travels in binary frames only.".into() };
                    let _ = ws_tx.send(Message::Close(Some(frame))).await;
                    break "text frame from browser".to_string();
                }
                Some(Ok(Message::Close(_))) | None => break "the browser closed the session".to_string(),
                Some(Err(err)) => break format!("browser error: {err}"),
            },
        }
    };
    state.audit.record("desktop.end", Some(&user), Some(peer.ip()), &format!("{detail}; {updates} PDUs, {bytes} bytes; {end}"));
}
