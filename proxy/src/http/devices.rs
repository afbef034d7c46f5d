//! Trusted devices for their owner: the enrolment link's page (`/device#token=…`) starts
//! and finishes the device credential's registration, and the account page lists the
//! owner's devices. Registering and removing devices is an admin's (`gatehouse
//! devices`). Every enrolment, and every refusal of one, is audited with the device's
//! name.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_proto::api::{DeviceEnrolment, DeviceEnrolmentFinish, DeviceInfo, DeviceList, DeviceToken};

use super::error::ApiError;
use super::request::{ApiJson, SignedIn};
use super::state::AppState;
use crate::audit::Kind;
use crate::auth;
use crate::devices::{Device, DeviceError};

impl From<DeviceError> for ApiError {
    fn from(err: DeviceError) -> ApiError {
        let (status, code) = match &err {
            DeviceError::Passkey(_) => {
                let DeviceError::Passkey(inner) = err else { return ApiError::internal() };
                return inner.into();
            }
            DeviceError::UnknownEnrolment => (StatusCode::GONE, "enrolment_unknown"),
            DeviceError::NotYours(_) => (StatusCode::FORBIDDEN, "enrolment_not_yours"),
            DeviceError::Policy(_) => (StatusCode::FORBIDDEN, "device_refused"),
            DeviceError::NoDevices => (StatusCode::CONFLICT, "no_devices"),
            DeviceError::NotADevice => (StatusCode::UNAUTHORIZED, "not_a_device"),
            DeviceError::BadName | DeviceError::NameTaken(..) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_name"),
            DeviceError::NoSuchDevice(_) => (StatusCode::NOT_FOUND, "no_such_device"),
            DeviceError::Store(_) => {
                tracing::error!(%err, "trusted devices: the store failed");
                return ApiError::internal();
            }
        };
        ApiError::new(status, code, err.to_string())
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/devices", get(list))
        .route("/devices/enrol/start", post(enrol_start))
        .route("/devices/enrol/finish", post(enrol_finish))
}

pub fn info(device: &Device) -> DeviceInfo {
    let enrolled = device.enrolled.as_ref();
    DeviceInfo {
        id: device.id,
        name: device.name.clone(),
        enrolled_at: enrolled.map(|e| e.enrolled_at),
        last_used_at: enrolled.and_then(|e| e.last_used_at),
        attestation_format: enrolled.map(|e| e.attestation.format.clone()),
        aaguid: enrolled.and_then(|e| e.attestation.aaguid.clone()),
        attestation_certified: enrolled.is_some_and(|e| e.attestation.certified),
        hardware_bound: enrolled.is_some_and(|e| e.attestation.hardware_bound()),
    }
}

/// `GET /account/devices`: the signed-in user's trusted devices.
pub async fn list(State(state): State<AppState>, signed_in: SignedIn) -> Result<Json<DeviceList>, ApiError> {
    let devices = state.devices.of_user(signed_in.session.user.id)?;
    Ok(Json(DeviceList { devices: devices.iter().map(info).collect() }))
}

/// `POST /devices/enrol/start`: the device the link names (it must be the signed-in
/// user's) and options to create its credential, attestation asked for.
pub async fn enrol_start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    ApiJson(request): ApiJson<DeviceToken>,
) -> Result<Json<DeviceEnrolment>, ApiError> {
    let user = &signed_in.session.user;
    let started = state.devices.start_enrolment(&state.passkeys, user, &request.token, auth::now());
    match started {
        Ok((device, challenge_id, options)) => Ok(Json(DeviceEnrolment { name: device.name, challenge_id, options })),
        Err(err) => {
            state.audit.record(Kind::DeviceEnrolRefused, Some(&user.name), Some(peer.ip()), &err.to_string());
            Err(err.into())
        }
    }
}

/// `POST /devices/enrol/finish`: the new credential; enrolled if its attestation
/// verifies and the `[device_trust]` policy accepts it. The link is spent then.
pub async fn enrol_finish(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    ApiJson(request): ApiJson<DeviceEnrolmentFinish>,
) -> Result<Json<DeviceInfo>, ApiError> {
    let user = signed_in.session.user.clone();
    // The name, for the audit of a refusal too.
    let name = state.devices.pending(&user, &request.token, auth::now()).map(|d| d.name).ok();
    let worker = state.clone();
    let finished = tokio::task::spawn_blocking(move || {
        worker.devices.finish_enrolment(
            &worker.passkeys,
            &user,
            &request.token,
            &request.challenge_id,
            &request.credential,
            auth::now(),
        )
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let who = &signed_in.session.user.name;
    match finished {
        Ok(device) => {
            let attestation = device.enrolled.as_ref().map(|e| e.attestation.clone());
            let detail = match &attestation {
                Some(a) => format!(
                    "device {:?} ({}): attestation {}, AAGUID {}, {}",
                    device.name,
                    device.id,
                    a.format,
                    a.aaguid.as_deref().unwrap_or("none"),
                    if a.hardware_bound() { "hardware-bound" } else { "may be synced" }
                ),
                None => format!("device {:?} ({})", device.name, device.id),
            };
            state.audit.record(Kind::DeviceEnrolled, Some(who), Some(peer.ip()), &detail);
            Ok(Json(info(&device)))
        }
        Err(err) => {
            let detail = format!("device {:?}: {err}", name.as_deref().unwrap_or("unknown"));
            state.audit.record(Kind::DeviceEnrolRefused, Some(who), Some(peer.ip()), &detail);
            Err(err.into())
        }
    }
}
