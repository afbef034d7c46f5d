//! API errors: a status code and a JSON body with a sentence a person can act on.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_proto::api;

use crate::access::Refusal;
use crate::accounts::AuthError;
use crate::ssh::certificate::KeyError;

pub const TOO_LARGE: &str = "The request body is too large: API calls take at most 16 KiB.";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub fn not_signed_in() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not_signed_in",
            "You are not signed in, or your session has ended. Sign in again.",
        )
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on the Gatehouse server. Try again; if it keeps happening, tell your admin.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = api::ApiError { code: self.code.to_string(), message: self.message };
        // Cache-Control: no-store comes from the API router's layer, as for every answer.
        (self.status, Json(body)).into_response()
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> ApiError {
        let status = match &err {
            AuthError::BadCredentials => StatusCode::UNAUTHORIZED,
            AuthError::Locked { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::InviteInvalid => StatusCode::GONE,
            AuthError::WeakPassword(_) | AuthError::WrongEnrolmentCode | AuthError::BadUserName => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AuthError::LockedByAdmin(_) => StatusCode::LOCKED,
            AuthError::WrongCode => StatusCode::UNAUTHORIZED,
            AuthError::SsoOnly(_) => StatusCode::FORBIDDEN,
            AuthError::Store(store) => {
                tracing::error!(err = %store, "storage failure");
                return ApiError::internal();
            }
            AuthError::Sealed(sealed) => {
                tracing::error!(err = %sealed, "a sealed secret does not open");
                return ApiError::internal();
            }
        };
        let code = match &err {
            AuthError::BadCredentials => "bad_credentials",
            AuthError::Locked { .. } => "locked",
            AuthError::InviteInvalid => "invite_invalid",
            AuthError::WeakPassword(_) => "weak_password",
            AuthError::WrongEnrolmentCode => "wrong_code",
            AuthError::BadUserName => "bad_user_name",
            AuthError::LockedByAdmin(_) => "account_locked",
            AuthError::WrongCode => "wrong_code",
            AuthError::SsoOnly(_) => "sso_only",
            AuthError::Store(_) | AuthError::Sealed(_) => "internal",
        };
        ApiError::new(status, code, err.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let status = rejection.status();
        let (code, message) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => ("too_large", TOO_LARGE.to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ("bad_content_type", "Send the body as JSON with Content-Type: application/json.".to_string())
            }
            _ => ("bad_json", format!("The request body is not what this call expects: {}", rejection.body_text())),
        };
        let status = if status == StatusCode::UNPROCESSABLE_ENTITY { StatusCode::BAD_REQUEST } else { status };
        ApiError::new(status, code, message)
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        crate::metrics::refused(&refusal);
        let (status, code) = match &refusal {
            Refusal::Missing(_) => (StatusCode::NOT_FOUND, "no_such_node"),
            Refusal::Denied(_) => (StatusCode::FORBIDDEN, "denied"),
            Refusal::Locked(_) => (StatusCode::LOCKED, "locked"),
            Refusal::MfaRequired(_) => (StatusCode::PRECONDITION_REQUIRED, api::MFA_REQUIRED),
            Refusal::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many"),
            Refusal::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Refusal::Unreachable(_) => (StatusCode::BAD_GATEWAY, "node_unreachable"),
        };
        ApiError::new(status, code, refusal.sentence())
    }
}

impl From<KeyError> for ApiError {
    fn from(err: KeyError) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_key", err.to_string())
    }
}
