//! Passkey endpoints: sign-in with a password and a passkey, sign-in with a passkey
//! alone, and the account's list of passkeys (add, remove). Every outcome is audited;
//! a refused assertion counts as a failed sign-in for the user it names.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use gatehouse_proto::api::{
    AssertionChallenge, ConfirmFactor, InvitePasskey, InviteToken, NewPasskey, PasskeyAssertion, PasskeyInfo,
    PasskeyList, PasswordCheck, RegistrationChallenge, SessionMfaFinish, SessionMfaGrant, SessionMfaStart,
};

use super::error::ApiError;
use super::request::{ApiJson, SignedIn};
use super::state::AppState;
use crate::access::Refusal;
use crate::accounts::NewSession;
use crate::audit::Kind;
use crate::auth::{self, token};
use crate::gate::passes::MfaTicket;
use crate::passkeys::PasskeyError;
use crate::ssh::certificate::{browser_key, certify};

impl From<PasskeyError> for ApiError {
    fn from(err: PasskeyError) -> ApiError {
        let (status, code) = match &err {
            PasskeyError::UnknownChallenge => (StatusCode::GONE, "challenge_unknown"),
            PasskeyError::Rejected(_) | PasskeyError::UnknownCredential => {
                (StatusCode::UNAUTHORIZED, "passkey_rejected")
            }
            PasskeyError::SignInFailed => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            PasskeyError::NoPasskeys => (StatusCode::CONFLICT, "no_passkeys"),
            PasskeyError::BadName => (StatusCode::UNPROCESSABLE_ENTITY, "bad_name"),
            PasskeyError::LastFactor => (StatusCode::CONFLICT, "last_factor"),
            PasskeyError::NoSuchPasskey => (StatusCode::NOT_FOUND, "no_such_passkey"),
            PasskeyError::Corrupt(_) | PasskeyError::Store(_) | PasskeyError::Setup(_) => {
                tracing::error!(%err, "passkey failure");
                return ApiError::internal();
            }
        };
        ApiError::new(status, code, err.to_string())
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/session/passkey/start", post(second_factor_start))
        .route("/session/passkey/finish", post(second_factor_finish))
        .route("/session/discoverable/start", post(discoverable_start))
        .route("/session/discoverable/finish", post(discoverable_finish))
        .route("/account/passkeys", get(list))
        .route("/account/passkeys/start", post(add_start))
        .route("/account/passkeys/finish", post(add_finish))
        .route("/account/passkeys/{id}", delete(remove))
        .route("/account/confirm/start", post(confirm_start))
        .route("/account/confirm", post(confirm))
        .route("/invites/passkey/start", post(invite_start))
        .route("/invites/passkey/finish", post(invite_finish))
        .route("/ssh/mfa/start", post(session_mfa_start))
        .route("/ssh/mfa/finish", post(session_mfa_finish))
}

pub(super) fn rate_limited(state: &AppState, peer: SocketAddr, who: Option<&str>) -> Result<(), ApiError> {
    if state.signin_allowed(peer.ip()) {
        return Ok(());
    }
    state.audit.record(Kind::SignInRateLimited, who, Some(peer.ip()), "too many attempts from this address");
    Err(ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many sign-in attempts from your address. Wait a minute and try again.",
    ))
}

fn signed_in_response(new: NewSession) -> Response {
    let cookie = token::session_cookie(&new.token, new.max_age);
    ([(header::SET_COOKIE, cookie)], Json(new.info)).into_response()
}

/// Runs blocking account and passkey work (argon2, SQLite) off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|_| ApiError::internal())
}

/// `POST /session/passkey/start`: the password, then a passkey challenge. The answer is
/// the same for a right and a wrong password (and a name with no passkeys): only the
/// passkey's answer, at `/finish`, tells, and only together with the password. A wrong
/// password is counted against the name here, as in any sign-in.
pub async fn second_factor_start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(request): ApiJson<PasswordCheck>,
) -> Result<Json<AssertionChallenge>, ApiError> {
    rate_limited(&state, peer, Some(&request.username))?;
    let username = request.username.clone();
    let worker = state.clone();
    let result = blocking(move || -> Result<_, ApiError> {
        let now = auth::now();
        let proved = worker.accounts.verify_password(&request.username, &request.password, now)?.map(|user| user.id);
        let (challenge_id, options) = worker.passkeys.start_second_factor(proved, now)?;
        Ok((proved.is_some(), challenge_id, options))
    })
    .await?;
    match result {
        Ok((right, challenge_id, options)) => {
            if !right {
                state.audit.record(
                    Kind::SignInFailed,
                    Some(&username),
                    Some(peer.ip()),
                    "wrong password before a passkey",
                );
            }
            Ok(Json(AssertionChallenge { challenge_id, options, trusted_device: false }))
        }
        Err(err) => {
            state.audit.record(
                Kind::SignInFailed,
                Some(&username),
                Some(peer.ip()),
                &format!("password before passkey: {}", err.message),
            );
            Err(err)
        }
    }
}

/// `POST /session/passkey/finish`: the passkey's assertion; a session if it holds.
pub async fn second_factor_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(answer): ApiJson<PasskeyAssertion>,
) -> Result<Response, ApiError> {
    sign_in_with(state, peer, answer, "password and passkey", crate::passkeys::Passkeys::finish_second_factor, false)
        .await
}

/// `POST /session/discoverable/start`: options for a passkey sign-in with no user name.
pub async fn discoverable_start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Json<AssertionChallenge>, ApiError> {
    rate_limited(&state, peer, None)?;
    let worker = state.clone();
    let (challenge_id, options) = blocking(move || worker.passkeys.start_discoverable(auth::now())).await??;
    Ok(Json(AssertionChallenge { challenge_id, options, trusted_device: false }))
}

/// `POST /session/discoverable/finish`.
pub async fn discoverable_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(answer): ApiJson<PasskeyAssertion>,
) -> Result<Response, ApiError> {
    sign_in_with(
        state,
        peer,
        answer,
        "passkey alone (discoverable)",
        crate::passkeys::Passkeys::finish_discoverable,
        false,
    )
    .await
}

type Verify = fn(
    &crate::passkeys::Passkeys,
    &str,
    &webauthn_rs_proto::PublicKeyCredential,
    u64,
) -> Result<crate::accounts::user::UserId, PasskeyError>;

/// Checks an assertion with `verify`, then starts a session for the user it proves
/// (`after_sso`: the passkey that follows a single sign-on, which such an account's
/// sessions start with; other sign-ins refuse such an account).
pub(super) async fn sign_in_with(
    state: AppState,
    peer: SocketAddr,
    answer: PasskeyAssertion,
    how: &str,
    verify: Verify,
    after_sso: bool,
) -> Result<Response, ApiError> {
    rate_limited(&state, peer, None)?;
    let worker = state.clone();
    let result = blocking(move || {
        let now = auth::now();
        verify(&worker.passkeys, &answer.challenge_id, &answer.credential, now).map_err(ApiError::from).and_then(
            |user| {
                let session = if after_sso {
                    worker.accounts.session_after_sso(user, now)
                } else {
                    worker.accounts.session_for(user, now)
                };
                session.map_err(ApiError::from)
            },
        )
    })
    .await?;
    finish(&state, peer, result, how)
}

fn finish(
    state: &AppState,
    peer: SocketAddr,
    result: Result<NewSession, ApiError>,
    how: &str,
) -> Result<Response, ApiError> {
    match result {
        Ok(new) => {
            state.audit.record(Kind::SignInOk, Some(&new.info.username), Some(peer.ip()), how);
            Ok(signed_in_response(new))
        }
        Err(err) => {
            state.audit.record(Kind::SignInFailed, None, Some(peer.ip()), &format!("{how}: {}", err.message));
            Err(err)
        }
    }
}

/// `GET /account/passkeys`.
pub async fn list(State(state): State<AppState>, signed_in: SignedIn) -> Result<Json<PasskeyList>, ApiError> {
    let user = signed_in.session.user;
    let passkeys = state
        .passkeys
        .list(user.id)?
        .into_iter()
        .map(|p| PasskeyInfo { id: p.id, name: p.name, created_at: p.created_at, last_used_at: p.last_used_at })
        .collect();
    Ok(Json(PasskeyList { passkeys, has_totp: user.totp_secret.is_some() }))
}

/// `POST /account/passkeys/start`: options to create a passkey for the signed-in user.
pub async fn add_start(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Json<RegistrationChallenge>, ApiError> {
    require_confirmed(&signed_in)?;
    let (challenge_id, options) = state.passkeys.start_registration(&signed_in.session.user, auth::now())?;
    Ok(Json(RegistrationChallenge { challenge_id, options }))
}

/// `POST /account/passkeys/finish`.
pub async fn add_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    ApiJson(answer): ApiJson<NewPasskey>,
) -> Result<Json<PasskeyList>, ApiError> {
    require_confirmed(&signed_in)?;
    let user = signed_in.session.user.clone();
    let result =
        state.passkeys.finish_registration(&user, &answer.challenge_id, &answer.name, &answer.credential, auth::now());
    match result {
        Ok(_) => state.audit.record(
            Kind::PasskeyAdded,
            Some(&user.name),
            Some(peer.ip()),
            &format!("named {:?}", answer.name.trim()),
        ),
        Err(err) => {
            state.audit.record(Kind::PasskeyRefused, Some(&user.name), Some(peer.ip()), &err.to_string());
            return Err(err.into());
        }
    }
    list(State(state), signed_in).await
}

/// `DELETE /account/passkeys/{id}`.
pub async fn remove(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Result<Json<PasskeyList>, ApiError> {
    let user = signed_in.session.user.clone();
    // What could never be removed is said first; then a fresh factor is needed.
    state.passkeys.removable(&user, id)?;
    require_confirmed(&signed_in)?;
    state.passkeys.remove(&user, id)?;
    state.audit.record(Kind::PasskeyRemoved, Some(&user.name), Some(peer.ip()), &format!("passkey {id}"));
    list(State(state), signed_in).await
}

/// `POST /invites/passkey/start`: options to create the invited user's first passkey.
pub async fn invite_start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(request): ApiJson<InviteToken>,
) -> Result<Json<RegistrationChallenge>, ApiError> {
    rate_limited(&state, peer, None)?;
    let now = auth::now();
    let user = state.accounts.invited_user(&request.token, now)?;
    let (challenge_id, options) = state.passkeys.start_registration(&user, now)?;
    Ok(Json(RegistrationChallenge { challenge_id, options }))
}

/// `POST /invites/passkey/finish`: the password and the new passkey; the invite is spent.
pub async fn invite_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(request): ApiJson<InvitePasskey>,
) -> Result<StatusCode, ApiError> {
    rate_limited(&state, peer, None)?;
    let worker = state.clone();
    let result = blocking(move || -> Result<String, ApiError> {
        let now = auth::now();
        let (invite, user) = worker.accounts.invite_for_passkey(&request.token, &request.password, now)?;
        let answer = &request.passkey;
        worker.passkeys.finish_registration(&user, &answer.challenge_id, &answer.name, &answer.credential, now)?;
        worker.accounts.complete_invite_with_passkey(invite, &user, &request.password)?;
        Ok(user.name)
    })
    .await?;
    match result {
        Ok(name) => {
            state.audit.record(Kind::InviteAccepted, Some(&name), Some(peer.ip()), "password and passkey");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(err) => {
            state.audit.record(Kind::InviteRefused, None, Some(peer.ip()), &err.message);
            Err(err)
        }
    }
}

/// The check a grant needs; a session check asked for where none is needed is a passkey's.
fn session_check_of(grant: &crate::access::SshGrant) -> crate::access::SessionCheck {
    crate::access::session_check(grant.session_mfa, grant.device_trust).unwrap_or(crate::access::SessionCheck::Passkey)
}

/// How long a session check's ticket lasts: enough to connect.
pub const SESSION_MFA_SECS: u64 = 120;

/// `POST /ssh/mfa/start`: a passkey challenge before an SSH session.
pub async fn session_mfa_start(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ApiJson(request): ApiJson<SessionMfaStart>,
) -> Result<Json<AssertionChallenge>, ApiError> {
    let grant = state.ssh_grant(&signed_in.session.user, &request.node, &request.login)?;
    let check = session_check_of(&grant);
    let (challenge_id, options) = state.start_session_check(&signed_in.session.user, check, auth::now())?;
    let trusted_device = check == crate::access::SessionCheck::Device;
    Ok(Json(AssertionChallenge { challenge_id, options, trusted_device }))
}

/// `POST /ssh/mfa/finish`: the assertion; the connection's certificate (the same one
/// `/ssh/certificate` gives, for an Ed25519 key only) and a one-time ticket.
pub async fn session_mfa_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    ApiJson(request): ApiJson<SessionMfaFinish>,
) -> Result<Json<SessionMfaGrant>, ApiError> {
    let user = signed_in.session.user.clone();
    let grant = state.ssh_grant(&user, &request.node, &request.login)?;
    let key = browser_key(&request.public_key)?;
    let now = auth::now();
    let check = session_check_of(&grant);
    let checked = state.finish_session_check(&user, check, &request.challenge_id, &request.credential, now);
    let device = match checked {
        Ok((who, device)) if who == user.id => device,
        Ok(_) => {
            state.audit.record(Kind::SshMfaDenied, Some(&user.name), Some(peer.ip()), "another user's passkey");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "passkey_rejected",
                "That passkey belongs to another account.",
            ));
        }
        Err(err) => {
            let detail = format!("node {} as {}: {err}", grant.node.name, grant.login);
            state.audit.record(Kind::SshMfaDenied, Some(&user.name), Some(peer.ip()), &detail);
            return Err(err.into());
        }
    };
    let (certificate, _) = certify(&state, peer.ip(), &grant, &key).await?;
    let expires_at = now + SESSION_MFA_SECS;
    let ticket = token::random_token();
    let pass = MfaTicket {
        user: user.name.clone(),
        node: grant.node.name.to_string(),
        login: grant.login.clone(),
        expires_at,
        device: device.as_ref().map(|d| d.id),
    };
    state.passes.issue_ticket(&ticket, pass, now).map_err(|err| {
        tracing::error!(%err, "cannot keep an MFA ticket");
        Refusal::Unavailable(crate::gate::STATE_UNREADABLE.into())
    })?;
    let by = device.map_or_else(String::new, |d| format!(", trusted device {:?} ({})", d.name, d.id));
    state.audit.record(
        Kind::SshMfaOk,
        Some(&user.name),
        Some(peer.ip()),
        &format!("node {} as {}{by}", grant.node.name, grant.login),
    );
    Ok(Json(SessionMfaGrant {
        certificate,
        ticket,
        expires_at,
        host_ca_fingerprint: state.cas.host.fingerprint().to_string(),
        file_transfer: grant.file_transfer.as_str().to_string(),
    }))
}

/// Changing factors (adding or removing a passkey) needs a factor proven again within
/// [`crate::accounts::CONFIRM_SECS`], so a stolen cookie cannot add the thief's passkey.
fn require_confirmed(signed_in: &SignedIn) -> Result<(), ApiError> {
    if crate::accounts::Accounts::recently_confirmed(&signed_in.session, auth::now()) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        gatehouse_proto::api::CONFIRM_REQUIRED,
        "Confirm it is you first: enter a code from your authenticator app, or use one of your passkeys.",
    ))
}

/// `POST /account/confirm/start`: a challenge for one of the user's own passkeys.
pub async fn confirm_start(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Json<AssertionChallenge>, ApiError> {
    let (challenge_id, options) = state.passkeys.start_confirm(&signed_in.session.user, auth::now())?;
    Ok(Json(AssertionChallenge { challenge_id, options, trusted_device: false }))
}

/// `POST /account/confirm`: a TOTP code, or the passkey's answer; the session may then
/// change factors for a few minutes. Codes are rate-limited and count as sign-in
/// attempts for the name, so a stolen cookie cannot guess one.
pub async fn confirm(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    ApiJson(request): ApiJson<ConfirmFactor>,
) -> Result<StatusCode, ApiError> {
    let user = signed_in.session.user.clone();
    rate_limited(&state, peer, Some(&user.name))?;
    let worker = state.clone();
    let session = signed_in.session.clone();
    let result = blocking(move || -> Result<&'static str, ApiError> {
        let now = auth::now();
        match (request.totp_code, request.challenge_id, request.credential) {
            (Some(code), _, _) => {
                worker.accounts.confirm_with_code(&session, &code, now)?;
                Ok("authenticator code")
            }
            (None, Some(challenge), Some(credential)) => {
                if worker.passkeys.finish_confirm(&challenge, &credential, now)? != session.user.id {
                    return Err(ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "passkey_rejected",
                        "That passkey belongs to another account.",
                    ));
                }
                worker.store.confirm_session(&session.token_hash, now).map_err(|_| ApiError::internal())?;
                Ok("passkey")
            }
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "Send a code from your authenticator app, or a passkey's answer.",
            )),
        }
    })
    .await?;
    match result {
        Ok(how) => {
            state.audit.record(Kind::AccountConfirmed, Some(&user.name), Some(peer.ip()), how);
            Ok(StatusCode::NO_CONTENT)
        }
        Err(err) => {
            state.audit.record(Kind::AccountConfirmFailed, Some(&user.name), Some(peer.ip()), &err.message);
            Err(err)
        }
    }
}
