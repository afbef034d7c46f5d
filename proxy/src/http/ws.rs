//! What every WebSocket endpoint does the same way: the Origin check, the close codes,
//! and refusals. Browsers cannot read the HTTP status of a refused WebSocket, so a
//! refusal is an accepted socket closed at once with a code and a sentence a person can
//! act on.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};

use super::error::ApiError;
use super::request::SignedIn;
use super::state::AppState;
use crate::access::Refusal;
use crate::accounts::session::Session;
use crate::audit::Kind;
pub use gatehouse_proto::api::close;

/// The longest a close may wait on a peer that stopped reading.
pub const CLOSE_LIMIT: Duration = Duration::from_secs(2);

/// The sentence for a socket whose request carried no live web session.
pub const NOT_SIGNED_IN: &str = "You are not signed in, or your session has ended. Sign in again.";

/// A socket's admission: `admit` for the request's web session, or the close code and
/// sentence of why not (no web session, or the refusal).
pub fn admission<T>(
    signed_in: &Result<SignedIn, ApiError>,
    admit: impl FnOnce(&Session) -> Result<T, Refusal>,
) -> Result<T, (u16, String)> {
    let signed_in = signed_in.as_ref().map_err(|_| (close::NOT_SIGNED_IN, NOT_SIGNED_IN.to_string()))?;
    admit(&signed_in.session).map_err(|refusal| (close_code(&refusal), refusal.sentence().to_string()))
}

/// The close code a refusal is told with.
pub fn close_code(refusal: &Refusal) -> u16 {
    crate::metrics::refused(refusal);
    match refusal {
        Refusal::Missing(_) => close::NO_SUCH_NODE,
        Refusal::Denied(_) => close::DENIED,
        Refusal::Locked(_) => close::LOCKED,
        Refusal::MfaRequired(_) => close::MFA_REQUIRED,
        Refusal::TooMany(_) => close::TOO_MANY,
        Refusal::Unavailable(_) => close::NOT_AVAILABLE,
        Refusal::Unreachable(_) => close::NODE_UNREACHABLE,
    }
}

/// What one read from a socket may take. tungstenite zeroes this much before every read,
/// even one that finds nothing: at its default (128 KiB) that zeroing was the largest
/// single item in the proxy's profile with a thousand typing sessions, and the zeroed
/// buffer stayed resident, 115 KiB a socket (BENCHMARKS.md, load). 16 KiB is one TLS
/// record. Only what the browser sends goes through it (keys, pastes), not what it is
/// sent.
const READ_BUFFER: usize = 16 * 1024;

/// The upgrade, if this is a WebSocket request from one of our own pages; otherwise
/// the HTTP answer. `what` says what the socket carries; a foreign Origin is audited as
/// `denied_kind`.
pub fn upgrade(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    what: &str,
    denied_kind: Kind,
    max_frame: usize,
) -> Result<WebSocketUpgrade, ApiError> {
    let Ok(upgrade) = upgrade else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "websocket_expected",
            format!("This endpoint carries {what} over a WebSocket; open it with a WebSocket client."),
        ));
    };
    // Cross-site WebSocket hijacking: a page elsewhere must not open this socket with
    // our cookie. (SameSite=Strict already withholds it; this is the second lock.)
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin.is_some_and(|o| o != state.public_url) {
        state.audit.record(denied_kind, None, Some(peer.ip()), &format!("foreign Origin {origin:?}"));
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin",
            "WebSockets are only accepted from Gatehouse's own pages.",
        ));
    }
    Ok(upgrade.max_message_size(max_frame).max_frame_size(max_frame).read_buffer_size(READ_BUFFER))
}

/// Closes a just-accepted socket with `code` and `reason`.
pub async fn refuse(mut socket: WebSocket, code: u16, reason: String) {
    let _ = socket.send(close_frame(code, reason)).await;
}

/// A close frame; the reason cut to fit.
pub fn close_frame(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame { code, reason: fit(reason).into() }))
}

/// Close reasons may hold at most 123 bytes.
pub fn fit(mut reason: String) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_in_123_bytes_on_a_char_boundary() {
        assert_eq!(fit("short".into()), "short");
        let long = "é".repeat(100);
        let fitted = fit(long);
        assert!(fitted.len() <= 123, "{}", fitted.len());
        assert!(fitted.ends_with('…'));
    }

    #[test]
    fn every_refusal_has_its_own_close_code() {
        let all = [
            Refusal::Missing(String::new()),
            Refusal::Denied(String::new()),
            Refusal::Locked(String::new()),
            Refusal::MfaRequired(String::new()),
            Refusal::TooMany(String::new()),
            Refusal::Unavailable(String::new()),
            Refusal::Unreachable(String::new()),
        ];
        let codes: std::collections::BTreeSet<u16> = all.iter().map(close_code).collect();
        assert_eq!(codes.len(), all.len());
        assert!(codes.iter().all(|c| (4000..5000).contains(c)));
    }
}
