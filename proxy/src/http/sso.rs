//! Single sign-on endpoints: the connectors for the sign-in page, leaving for a
//! provider, the way back (posted by the `/sso/callback/{name}` page), and the passkey that may
//! follow. Every refusal is audited and answered with its sentence; the decisions are in
//! [`crate::sso`].

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_proto::api::{SsoCallback, SsoConnector, SsoConnectors, SsoEnrol, SsoFinish, SsoStart};

use super::error::ApiError;
use super::passkeys::{rate_limited, sign_in_with};
use super::request::ApiJson;
use super::state::AppState;
use crate::audit::Kind;
use crate::auth::{self, token};
use crate::sso::{AccountChange, Callback, FLOW_SECS, SsoError, mapping};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sso", get(connectors))
        .route("/sso/{name}/start", post(start))
        .route("/sso/finish", post(finish))
        .route("/sso/passkey/finish", post(passkey_finish))
        .route("/sso/enrol/finish", post(enrol_finish))
}

impl From<SsoError> for ApiError {
    fn from(err: SsoError) -> ApiError {
        let status = match &err {
            SsoError::UnknownConnector(_) => StatusCode::NOT_FOUND,
            SsoError::ProviderDown { .. } => StatusCode::BAD_GATEWAY,
            SsoError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            SsoError::FlowUnknown => StatusCode::GONE,
            SsoError::NoRole { .. } | SsoError::NameTaken { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(status, err.code(), err.to_string())
    }
}

/// `GET /sso`: one button each.
async fn connectors(State(state): State<AppState>) -> Json<SsoConnectors> {
    let connectors =
        state.sso.list().into_iter().map(|(name, display_name)| SsoConnector { name, display_name }).collect();
    Json(SsoConnectors { connectors })
}

/// `POST /sso/{name}/start`: the provider's URL, and the cookie binding the flow to
/// this browser.
async fn start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    rate_limited(&state, peer, None)?;
    match state.sso.start(&name, auth::now()).await {
        Ok(started) => {
            state.audit.record(Kind::SsoStarted, None, Some(peer.ip()), &format!("connector {name}"));
            let cookie = token::sso_cookie(&started.binding, FLOW_SECS);
            Ok(([(header::SET_COOKIE, cookie)], Json(SsoStart { url: started.url })).into_response())
        }
        Err(err) => {
            state.audit.record(Kind::SsoRefused, None, Some(peer.ip()), &format!("connector {name}: {err}"));
            Err(err.into())
        }
    }
}

fn binding(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(token::sso_from_cookie_header)
        .map(str::to_string)
}

/// `POST /sso/finish`: what the provider sent back. Signed in, or the passkey step.
async fn finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(callback): ApiJson<SsoCallback>,
) -> Result<Response, ApiError> {
    rate_limited(&state, peer, None)?;
    let binding = binding(&headers);
    let callback = Callback {
        connector: callback.connector,
        state: callback.state,
        iss: callback.iss,
        code: callback.code,
        error: callback.error,
        error_description: callback.error_description,
    };
    let refused = |who: Option<&str>, err: SsoError| -> ApiError {
        state.audit.record(Kind::SsoRefused, who, Some(peer.ip()), &err.to_string());
        err.into()
    };
    let now = auth::now();
    let proved = state.sso.finish(&callback, binding.as_deref(), now).await.map_err(|err| refused(None, err))?;
    let how = format!("single sign-on ({}, subject {})", proved.connector, proved.subject);
    let worker = state.clone();
    let name = proved.name.clone();
    let (user, change, proved) = tokio::task::spawn_blocking(move || {
        worker.sso.account(&proved, now).map(|(user, change)| (user, change, proved))
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|err| refused(Some(&name), err))?;
    match &change {
        AccountChange::Created => state.audit.record(
            Kind::SsoUserCreated,
            Some(&user.name),
            Some(peer.ip()),
            &format!("{how}, roles {}", user.roles.join(",")),
        ),
        AccountChange::Roles { before } => state.audit.record(
            Kind::SsoRolesChanged,
            Some(&user.name),
            Some(peer.ip()),
            &format!("{how}: roles {} → {}", before.join(","), user.roles.join(",")),
        ),
        AccountChange::None => {}
    }
    if user.roles.is_empty() {
        // Its roles are gone with its groups (its sessions end); it does not sign in.
        return Err(refused(Some(&user.name), SsoError::NoRole { provider: proved.provider.clone() }));
    }
    if !mapping::passkey_required(proved.passkey, &state.roles, &user.roles) {
        let new = state.accounts.session_after_sso(user.id, now).map_err(|err| {
            state.audit.record(Kind::SignInFailed, Some(&user.name), Some(peer.ip()), &format!("{how}: {err}"));
            ApiError::from(err)
        })?;
        state.audit.record(Kind::SignInOk, Some(&user.name), Some(peer.ip()), &how);
        let mut response = Json(SsoFinish::SignedIn { session: new.info }).into_response();
        set_cookies(&mut response, &[token::session_cookie(&new.token, new.max_age), token::expired_sso_cookie()]);
        return Ok(response);
    }
    // The provider proved who it is; a factor of ours must follow.
    let has_passkeys = !state.passkeys.list(user.id)?.is_empty();
    let next = if has_passkeys {
        let (challenge_id, options) = state.passkeys.start_sso_factor(user.id, now)?;
        SsoFinish::Passkey {
            challenge: gatehouse_proto::api::AssertionChallenge { challenge_id, options, trusted_device: false },
        }
    } else {
        let binding = binding.ok_or_else(|| refused(Some(&user.name), SsoError::WrongBrowser))?;
        let token = state
            .sso
            .await_passkey(user.id, &proved.connector, &binding, now)
            .map_err(|err| refused(Some(&user.name), err))?;
        let (challenge_id, options) = state.passkeys.start_registration(&user, now)?;
        let next = SsoFinish::Enrol {
            token,
            challenge: gatehouse_proto::api::RegistrationChallenge { challenge_id, options },
        };
        // The binding lasts as long as the enrolment it now also guards.
        let mut response = Json(next).into_response();
        set_cookies(&mut response, &[token::sso_cookie(&binding, FLOW_SECS)]);
        return Ok(response);
    };
    Ok(Json(next).into_response())
}

fn set_cookies(response: &mut Response, cookies: &[String]) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// `POST /sso/passkey/finish`: the passkey after the provider; a session if it holds.
async fn passkey_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(answer): ApiJson<gatehouse_proto::api::PasskeyAssertion>,
) -> Result<Response, ApiError> {
    let mut response = sign_in_with(
        state,
        peer,
        answer,
        "single sign-on and passkey",
        crate::passkeys::Passkeys::finish_sso_factor,
        true,
    )
    .await?;
    set_cookies(&mut response, &[token::expired_sso_cookie()]);
    Ok(response)
}

/// `POST /sso/enrol/finish`: the first passkey of an account the provider proved just
/// now (in this browser); then a session.
async fn enrol_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<SsoEnrol>,
) -> Result<Response, ApiError> {
    rate_limited(&state, peer, None)?;
    let binding = binding(&headers);
    let worker = state.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let now = auth::now();
        let (user, connector) = worker.sso.take_enrolment(&request.token, binding.as_deref(), now)?;
        let user = worker.store.user_by_id(user).map_err(|_| ApiError::internal())?.ok_or(SsoError::FlowUnknown)?;
        // Only an account with no passkey yet adds one on its provider's word (two
        // enrolments racing, or a passkey added since, end here).
        if !worker.passkeys.list(user.id)?.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "sso_has_passkey",
                "Your account has a passkey already: start again from the sign-in page and use it.",
            ));
        }
        let answer = &request.passkey;
        worker.passkeys.finish_registration(&user, &answer.challenge_id, &answer.name, &answer.credential, now)?;
        let new = worker.accounts.session_after_sso(user.id, now)?;
        Ok((user.name, connector, answer.name.trim().to_string(), new))
    })
    .await
    .map_err(|_| ApiError::internal())?;
    match result {
        Ok((name, connector, passkey, new)) => {
            state.audit.record(
                Kind::PasskeyAdded,
                Some(&name),
                Some(peer.ip()),
                &format!("named {passkey:?}, after single sign-on ({connector})"),
            );
            state.audit.record(
                Kind::SignInOk,
                Some(&name),
                Some(peer.ip()),
                &format!("single sign-on ({connector}) and a new passkey"),
            );
            let mut response = Json(SsoFinish::SignedIn { session: new.info }).into_response();
            set_cookies(&mut response, &[token::session_cookie(&new.token, new.max_age), token::expired_sso_cookie()]);
            Ok(response)
        }
        Err(err) => {
            state.audit.record(Kind::SsoRefused, None, Some(peer.ip()), &format!("passkey enrolment: {}", err.message));
            Err(err)
        }
    }
}
