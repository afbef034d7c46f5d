//! `/api/v1`: thin handlers that parse, call [`crate::accounts`], audit, and answer.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gatehouse_proto::api::{
    self, AcceptInvite, CSRF_HEADER, InviteDetails, InviteToken, Resources, SessionInfo, SignInRequest,
};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::access::rbac;
use crate::accounts::AuthError;
use crate::auth::{self, token};
use crate::inventory::nodes;
use crate::store::Session;

/// No API body is anywhere near this; larger ones are refused before they are read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/session", get(current_session).post(sign_in).delete(sign_out))
        .route("/session/passkey/start", post(super::passkeys::second_factor_start))
        .route("/session/passkey/finish", post(super::passkeys::second_factor_finish))
        .route("/session/discoverable/start", post(super::passkeys::discoverable_start))
        .route("/session/discoverable/finish", post(super::passkeys::discoverable_finish))
        .route("/account/passkeys", get(super::passkeys::list))
        .route("/account/passkeys/start", post(super::passkeys::add_start))
        .route("/account/passkeys/finish", post(super::passkeys::add_finish))
        .route("/account/passkeys/{id}", axum::routing::delete(super::passkeys::remove))
        .route("/account/confirm/start", post(super::passkeys::confirm_start))
        .route("/account/confirm", post(super::passkeys::confirm))
        .route("/invites/inspect", post(inspect_invite))
        .route("/invites/passkey/start", post(super::passkeys::invite_start))
        .route("/invites/passkey/finish", post(super::passkeys::invite_finish))
        .route("/invites/accept", post(accept_invite))
        .route("/resources", get(resources))
        .route("/ssh/certificate", post(super::ssh::certificate))
        .route("/ssh/mfa/start", post(super::passkeys::session_mfa_start))
        .route("/ssh/mfa/finish", post(super::passkeys::session_mfa_finish))
        .route("/nodes/{node}/ssh", get(super::ssh::connect))
        .route("/desktops/{name}/connect", get(super::desktops::connect))
        .route("/recordings", get(super::recordings::list))
        .route("/recordings/{id}", get(super::recordings::metadata))
        .route("/recordings/{id}/data/{part}", get(super::recordings::data))
        .route("/recordings/{id}/search", get(super::recordings::search))
        .route("/recordings/{id}/cast", get(super::recordings::cast))
        .fallback(unknown_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state, csrf_guard))
        .layer(middleware::map_response(no_store))
}

/// API answers carry sessions and secrets: no cache may keep them.
async fn no_store(mut response: Response) -> Response {
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
    pub session: Session,
    pub token: String,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let cookie_header = parts.headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let Some(session_token) = token::session_from_cookie_header(cookie_header) else {
            return Err(ApiError::not_signed_in());
        };
        let now = auth::now();
        let Some(session) = state.accounts.session(session_token, now)? else {
            state.audit.record(
                "session.invalid",
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
                    "csrf.denied",
                    Some(&session.user.name),
                    client_ip(&parts.extensions),
                    &format!("{} {}: wrong CSRF token", parts.method, parts.uri.path()),
                );
                return Err(csrf_error());
            }
        }
        Ok(SignedIn { session, token: session_token.to_string() })
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
async fn csrf_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
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
                "csrf.denied",
                None,
                client_ip(request.extensions()),
                &format!("{} {}: missing CSRF header or cross-site", request.method(), request.uri().path()),
            );
            return csrf_error().into_response();
        }
    }
    next.run(request).await
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn current_session(signed_in: SignedIn) -> Json<SessionInfo> {
    let session = signed_in.session;
    Json(SessionInfo {
        username: session.user.name,
        roles: session.user.roles,
        csrf_token: session.csrf_token,
        expires_at: session.expires_at,
    })
}

/// Runs account work that hashes passwords (argon2: tens of milliseconds of CPU) on a
/// blocking thread, off the async workers.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&crate::accounts::Accounts) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || work(&state.accounts)).await.map_err(|_| ApiError::internal())
}

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(request): ApiJson<SignInRequest>,
) -> Result<Response, ApiError> {
    let ip = peer.ip();
    let allowed = state.signin_limiter.lock().unwrap_or_else(|p| p.into_inner()).allow(ip, auth::now());
    if !allowed {
        state.audit.record(
            "signin.rate_limited",
            Some(&request.username),
            Some(ip),
            "too many attempts from this address",
        );
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many sign-in attempts from your address. Wait a minute and try again.",
        ));
    }
    let username = request.username.clone();
    let result = blocking(&state, move |accounts| {
        accounts.sign_in(&request.username, &request.password, &request.totp_code, auth::now())
    })
    .await?;
    match result {
        Ok(new) => {
            state.audit.record("signin.ok", Some(&username), Some(ip), "password and TOTP");
            let cookie = token::session_cookie(&new.token, new.max_age);
            Ok(([(header::SET_COOKIE, cookie)], Json(new.info)).into_response())
        }
        Err(err) => {
            let kind = match err {
                AuthError::Locked { .. } => "signin.locked",
                AuthError::LockedByAdmin(_) => "signin.locked_by_admin",
                _ => "signin.failed",
            };
            state.audit.record(kind, Some(&username), Some(ip), &err.to_string());
            Err(err.into())
        }
    }
}

async fn sign_out(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
) -> Result<Response, ApiError> {
    // Its SSH and desktop sessions end with it, now (the sweep would in half a second),
    // and before the web session goes: a database error cannot leave them running.
    let web_session = signed_in.session.token_hash.clone();
    let ended = state.live.end_where(|s| {
        (s.web_session == web_session).then(|| "You signed out, and the session ended with your sign-in.".to_string())
    });
    state.accounts.sign_out(&signed_in.token)?;
    state.audit.record(
        "signout",
        Some(&signed_in.session.user.name),
        Some(peer.ip()),
        &format!("{ended} live sessions ended"),
    );
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, token::expired_session_cookie())]).into_response())
}

async fn inspect_invite(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<InviteToken>,
) -> Result<Json<InviteDetails>, ApiError> {
    // Not rate-limited: a token is 256 random bits, the lookup is one indexed read, and a
    // refusal names no user, so its audit record is throttled.
    Ok(Json(state.accounts.inspect_invite(&request.token, auth::now())?))
}

async fn accept_invite(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(request): ApiJson<AcceptInvite>,
) -> Result<StatusCode, ApiError> {
    let result = blocking(&state, move |accounts| {
        accounts.accept_invite(&request.token, &request.password, &request.totp_code, auth::now())
    })
    .await?;
    match result {
        Ok(user) => {
            state.audit.record("invite.accepted", Some(&user.name), Some(peer.ip()), "password and TOTP set");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(err) => {
            state.audit.record("invite.failed", None, Some(peer.ip()), &err.to_string());
            Err(err.into())
        }
    }
}

/// The nodes the user's roles reach, each with the logins they may use there, and the
/// desktops; each says if an admin has locked it.
async fn resources(State(state): State<AppState>, signed_in: SignedIn) -> Result<Json<Resources>, ApiError> {
    let added = state.store.list_nodes().map_err(|err| {
        tracing::error!(%err, "cannot list nodes");
        ApiError::internal()
    })?;
    let locks = state.store.active_locks(auth::now()).map_err(|err| {
        tracing::error!(%err, "cannot list locks");
        ApiError::internal()
    })?;
    let locked = |target: crate::access::locks::LockTarget| {
        crate::access::locks::first_on(&locks, &[target]).map(crate::access::locks::Lock::sentence)
    };
    let user_roles = &signed_in.session.user.roles;
    let nodes = nodes::merge(&state.config_nodes, added)
        .into_iter()
        .filter_map(|node| {
            let access = rbac::node_access(&state.roles, user_roles, &node)?;
            Some(api::Node {
                name: node.name.to_string(),
                addr: node.addr,
                labels: node.labels.into_iter().collect(),
                logins: access.logins.into_iter().collect(),
                recorded: access.mode == rbac::SshMode::Recorded,
                locked: locked(crate::access::locks::LockTarget::Node(node.name.to_string())),
            })
        })
        .collect();
    let added = state.store.list_desktops().map_err(|err| {
        tracing::error!(%err, "cannot list desktops");
        ApiError::internal()
    })?;
    let desktops =
        crate::inventory::desktops::merge(&state.config_desktops, added.into_iter().map(|(d, _)| d).collect())
            .into_iter()
            .filter(|desktop| rbac::desktop_allowed(&state.roles, user_roles, desktop))
            .map(|desktop| api::Desktop {
                locked: locked(crate::access::locks::LockTarget::Desktop(desktop.name.to_string())),
                name: desktop.name.to_string(),
                labels: desktop.labels.into_iter().collect(),
            })
            .collect();
    Ok(Json(Resources { nodes, desktops }))
}

async fn unknown_endpoint(method: Method, axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("There is no API endpoint {method} {}.", uri.path()))
}

async fn method_not_allowed(method: Method, axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}.", uri.path()),
    )
}
