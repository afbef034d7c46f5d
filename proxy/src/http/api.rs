//! `/api/v1`'s own calls: health, the web session (sign-in with a password and TOTP,
//! sign-out), invites, and what the signed-in user can reach. Thin handlers that parse,
//! call [`crate::accounts`] or the [`crate::gate::Gatehouse`], audit, and answer.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_proto::api::{AcceptInvite, InviteDetails, InviteToken, Resources, SessionInfo, SignInRequest};

use super::error::ApiError;
use super::request::{ApiJson, SignedIn};
use super::state::AppState;
use crate::accounts::AuthError;
use crate::audit::Kind;
use crate::auth::{self, token};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/session", get(current_session).post(sign_in).delete(sign_out))
        .route("/invites/inspect", post(inspect_invite))
        .route("/invites/accept", post(accept_invite))
        .route("/resources", get(resources))
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
    if !state.signin_allowed(ip) {
        state.audit.record(
            Kind::SignInRateLimited,
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
            state.audit.record(Kind::SignInOk, Some(&username), Some(ip), "password and TOTP");
            let cookie = token::session_cookie(&new.token, new.max_age);
            Ok(([(header::SET_COOKIE, cookie)], Json(new.info)).into_response())
        }
        Err(err) => {
            let kind = match err {
                AuthError::Locked { .. } => Kind::SignInLocked,
                AuthError::LockedByAdmin(_) => Kind::SignInLockedByAdmin,
                _ => Kind::SignInFailed,
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
    // Its app sessions too: the app's next request finds none.
    match state.apps.end_sessions_of(&web_session) {
        Ok(ended) => {
            for app_session in ended {
                state.audit.record(
                    Kind::AppSessionEnded,
                    Some(&app_session.user),
                    Some(peer.ip()),
                    &format!("{}: signed out", app_session.app),
                );
            }
        }
        // The web session goes below all the same, and app sessions are checked against it.
        Err(err) => tracing::error!(%err, "cannot end app sessions at sign-out"),
    }
    state.accounts.sign_out(&signed_in.token)?;
    state.audit.record(
        Kind::SignOut,
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
            state.audit.record(Kind::InviteAccepted, Some(&user.name), Some(peer.ip()), "password and TOTP set");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(err) => {
            state.audit.record(Kind::InviteFailed, None, Some(peer.ip()), &err.to_string());
            Err(err.into())
        }
    }
}

/// The nodes the user's roles reach, each with the logins they may use there, and the
/// desktops; each says if an admin has locked it.
async fn resources(State(state): State<AppState>, signed_in: SignedIn) -> Result<Json<Resources>, ApiError> {
    let resources = state.resources(&signed_in.session.user).map_err(|err| {
        tracing::error!(%err, "cannot list what a user can reach");
        ApiError::internal()
    })?;
    Ok(Json(resources))
}
