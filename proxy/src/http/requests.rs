//! Just-in-time access requests: what the signed-in person may ask for and review
//! (`GET /requests`), asking (`POST /requests`), reviewing and revoking. Thin handlers
//! over [`crate::gate::requests`], which checks, stores, audits and announces.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_proto::api;

use super::error::ApiError;
use super::request::{ApiJson, SignedIn};
use super::state::AppState;
use crate::access::requests::RequestError;
use crate::auth;
use crate::gate::requests::{Actor, RequestFailure};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/requests", get(list).post(ask))
        .route("/requests/{id}/review", post(review))
        .route("/requests/{id}/revoke", post(revoke))
}

impl From<RequestFailure> for ApiError {
    fn from(failure: RequestFailure) -> ApiError {
        let err = match failure {
            RequestFailure::Rule(err) => err,
            RequestFailure::Store(err) => {
                tracing::error!(%err, "access requests");
                return ApiError::internal();
            }
        };
        let (status, code) = match &err {
            RequestError::NotRequestable(_) => (StatusCode::NOT_FOUND, "not_requestable"),
            RequestError::Missing(_) => (StatusCode::NOT_FOUND, "no_such_request"),
            RequestError::NotAllowed(_) => (StatusCode::FORBIDDEN, "not_allowed"),
            RequestError::OwnRequest => (StatusCode::FORBIDDEN, "own_request"),
            RequestError::NotReviewer(_) => (StatusCode::FORBIDDEN, "not_reviewer"),
            RequestError::AlreadyHeld(_) | RequestError::Duplicate(_) => (StatusCode::CONFLICT, "already_requested"),
            RequestError::NotPending(_) | RequestError::NotActive(_) => (StatusCode::CONFLICT, "decided"),
            RequestError::AlreadyReviewed => (StatusCode::CONFLICT, "already_reviewed"),
            RequestError::BadDuration { .. } | RequestError::BadReason | RequestError::BadComment => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            }
        };
        ApiError::new(status, code, err.to_string())
    }
}

fn person(signed_in: &SignedIn) -> Actor<'_> {
    Actor::Person { name: &signed_in.session.user.name, standing: &signed_in.standing_roles }
}

async fn list(State(state): State<AppState>, signed_in: SignedIn) -> Result<Json<api::AccessRequests>, ApiError> {
    let user = &signed_in.session.user.name;
    Ok(Json(state.requests.view(user, &signed_in.standing_roles, auth::now())?))
}

async fn ask(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    ApiJson(wanted): ApiJson<api::NewAccessRequest>,
) -> Result<Json<api::AccessRequestInfo>, ApiError> {
    let now = auth::now();
    let user = &signed_in.session.user.name;
    let request = state.requests.ask(&state.audit, Some(peer.ip()), user, &signed_in.standing_roles, &wanted, now)?;
    Ok(Json(state.requests.info(&request, Some(person(&signed_in)), now)))
}

async fn review(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<api::ReviewAccessRequest>,
) -> Result<Json<api::AccessRequestInfo>, ApiError> {
    let now = auth::now();
    let request = state.requests.review(&state.audit, Some(peer.ip()), person(&signed_in), id, &body, now)?;
    Ok(Json(state.requests.info(&request, Some(person(&signed_in)), now)))
}

async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
    ApiJson(body): ApiJson<api::RevokeAccessRequest>,
) -> Result<Json<api::AccessRequestInfo>, ApiError> {
    let now = auth::now();
    let request = state.requests.revoke(&state.audit, Some(peer.ip()), person(&signed_in), id, &body.comment, now)?;
    Ok(Json(state.requests.info(&request, Some(person(&signed_in)), now)))
}
