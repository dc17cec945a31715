//! Errors as HTTP answers: JSON for the API, pages or redirects for the browser.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::ServiceError;

/// `Retry-After` on a 503 `unavailable`: a few of the database probe's rounds
/// (`service::reach::PROBE_EVERY`).
pub const UNAVAILABLE_RETRY_SECS: u64 = 2;

/// The API's error answer: `{"error": {"code", "message"}}` with the status of API.md.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 413: a request body past [`super::BODY_LIMIT`], naming the limit, so a client knows
    /// to send less rather than fix a field (which a 422 would have it look for).
    pub fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "body: larger than the limit of {} bytes ({} MiB)",
                super::BODY_LIMIT,
                super::BODY_LIMIT / (1024 * 1024)
            ),
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in to continue",
        )
    }

    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "missing or wrong X-CSRF-Token header (take it from the login or /me response)",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        match e {
            E::Unauthenticated(reason) => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                reason.map_or("sign in to continue", |r| r.message()),
            ),
            E::Forbidden(msg) => Self::new(StatusCode::FORBIDDEN, "forbidden", msg),
            E::NotFound => Self::not_found(),
            E::Invalid { field, message } => {
                let message = if message.contains(&field) {
                    message
                } else {
                    format!("{field}: {message}")
                };
                Self::invalid(message)
            }
            E::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "e-mail or password is incorrect",
            ),
            E::AccountDisabled => Self::new(
                StatusCode::FORBIDDEN,
                "account_disabled",
                "this account has been disabled by an administrator",
            ),
            E::SsoRequired(msg) => Self::new(StatusCode::UNAUTHORIZED, "sso_required", msg),
            E::OutsideOfficeNetwork => Self::new(
                StatusCode::FORBIDDEN,
                "outside_office_network",
                "sign-in from outside the office networks is not allowed for this account",
            ),
            E::WouldLockOutSelf(msg) => Self::new(StatusCode::CONFLICT, "would_lock_out_self", msg),
            E::WebhookEndpointOff => Self::new(
                StatusCode::CONFLICT,
                "endpoint_off",
                E::WebhookEndpointOff.to_string(),
            ),
            E::NotInvited => Self::new(
                StatusCode::CONFLICT,
                "not_invited",
                E::NotInvited.to_string(),
            ),
            E::LinkExpired => {
                Self::new(StatusCode::GONE, "link_expired", E::LinkExpired.to_string())
            }
            E::MfaEnrollmentRequired => Self::new(
                StatusCode::FORBIDDEN,
                "mfa_enrollment_required",
                "set up two-factor sign-in first (POST /api/v1/me/mfa/totp)",
            ),
            E::RateLimited { retry_after_secs } => Self {
                retry_after: Some(retry_after_secs),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("too many attempts; try again in {retry_after_secs} seconds"),
                )
            },
            E::TooManyInvitations {
                retry_after_secs,
                message,
            } => Self {
                retry_after: Some(retry_after_secs),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_invitations",
                    message,
                )
            },
            // A client told when to come back does not hammer a database on its way up.
            E::Unavailable => Self {
                retry_after: Some(UNAVAILABLE_RETRY_SECS),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unreachable or out of connections; try again shortly",
                )
            },
            E::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on our side",
                )
            }
        }
    }
}

/// `{"error": {"code", "message"}}`: the body of every error of the API, and the one schema
/// the description names for them all.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// snake_case: `unauthenticated`, `forbidden`, `csrf`, `not_found`, `invalid_input`
    /// (the message names the field), `rate_limited`, `invalid_credentials`,
    /// `choose_account`, `account_disabled`, `outside_office_network` (403),
    /// `mfa_enrollment_required` (403), `would_lock_out_self` (409), `endpoint_off` (409),
    /// `link_expired` (410: a reset link unknown, used or expired), `payload_too_large` (413), `unavailable` (503), ...
    pub code: &'static str,
    /// A human sentence.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut res = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}
