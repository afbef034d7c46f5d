//! What every API request goes through: the body limit and the CSRF guard (layers on
//! the whole of `/api/v1`), the signed-in session ([`SignedIn`]), JSON bodies with clear
//! rejections ([`ApiJson`]), and the answers for unknown endpoints.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_proto::api::CSRF_HEADER;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::AppState;
use crate::accounts::session::Session;
use crate::audit::Kind;
use crate::auth::{self, token};

/// No API body is anywhere near this; larger ones are refused before they are read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// API answers carry sessions and secrets: no cache may keep them.
pub async fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

/// A JSON body whose rejections are [`ApiError`]s with a clear message.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let result: Result<Json<T>, JsonRejection> = Json::from_request(request, state).await;
        Ok(ApiJson(result?.0))
    }
}

/// The caller's address, as the TLS server saw it.
fn client_ip(parts_extensions: &axum::http::Extensions) -> Option<IpAddr> {
    parts_extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())
}

/// The signed-in session of a request. State-changing calls must also carry the
/// session's CSRF token.
pub struct SignedIn {
    /// Its user's roles are those they hold now: their standing roles and those their
    /// approved access requests give them.
    pub session: Session,
    pub token: String,
    /// The roles an admin gave them (who may ask for or review a request goes by these).
    pub standing_roles: Vec<String>,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let cookie_header = parts.headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let Some(session_token) = token::session_from_cookie_header(cookie_header) else {
            return Err(ApiError::not_signed_in());
        };
        let now = auth::now();
        let Some(mut session) = state.accounts.session(session_token, now)? else {
            state.audit.record(
                Kind::SessionInvalid,
                None,
                client_ip(&parts.extensions),
                &format!("{} {}: cookie matches no live session", parts.method, parts.uri.path()),
            );
            return Err(ApiError::not_signed_in());
        };
        // A user an admin locked is signed in no more, whatever their cookie (a sign-in
        // that raced the lock included).
        let locks = state.store.active_locks(now).map_err(|_| ApiError::internal())?;
        if crate::access::user_lock(&locks, &session.user.name).is_some() {
            return Err(ApiError::not_signed_in());
        }
        if !is_safe(&parts.method) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !token::secrets_equal(sent, &session.csrf_token) {
                state.audit.record(
                    Kind::CsrfDenied,
                    Some(&session.user.name),
                    client_ip(&parts.extensions),
                    &format!("{} {}: wrong CSRF token", parts.method, parts.uri.path()),
                );
                return Err(csrf_error());
            }
        }
        let standing_roles = session.user.roles.clone();
        match state.requests.effective_roles(&session.user.name, &standing_roles, now) {
            Ok(roles) => session.user.roles = roles,
            // Without the requests, only the standing roles: fail closed.
            Err(err) => tracing::error!(%err, "cannot read access requests; going by standing roles only"),
        }
        Ok(SignedIn { session, token: session_token.to_string(), standing_roles })
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn csrf_error() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "This request was refused because it lacks a valid CSRF token. Reload the page and try again.",
    )
}

/// Refuses oversized bodies up front. Every state-changing call must carry the CSRF header (a custom header cannot be sent
/// cross-site without a preflight, which we never grant) and must not come from another
/// site. Signed-in calls are further checked against the session's token in [`SignedIn`].
pub async fn csrf_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // A declared length over the limit is refused before a byte of the body is read (a
    // client that sent `Expect: 100-continue` then never sends it).
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", super::error::TOO_LARGE).into_response();
    }
    if !is_safe(request.method()) {
        let headers = request.headers();
        let has_token = headers.get(CSRF_HEADER).is_some_and(|v| !v.is_empty());
        let cross_site = headers.get("sec-fetch-site").is_some_and(|v| v == "cross-site");
        if !has_token || cross_site {
            state.audit.record(
                Kind::CsrfDenied,
                None,
                client_ip(request.extensions()),
                &format!("{} {}: missing CSRF header or cross-site", request.method(), request.uri().path()),
            );
            return csrf_error().into_response();
        }
    }
    next.run(request).await
}

pub async fn unknown_endpoint(method: Method, axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("There is no API endpoint {method} {}.", uri.path()))
}

pub async fn method_not_allowed(
    method: Method,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}.", uri.path()),
    )
}
