//! Self-service password reset: ask for a link by e-mail, then set a new password with it; and
//! a sign-in alert's "This wasn't me", which ends the session it is about and gives a reset
//! token. None needs a session (nor, like sign-in, a CSRF token).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::request::{ApiTenant, Client};

use super::ApiJson;

#[derive(Deserialize, ToSchema)]
#[schema(as = PasswordResetInput)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestBody {
    #[schema(format = Email, max_length = 254)]
    email: String,
}

/// The one answer to a reset request, whether or not the address is known.
#[derive(Serialize, ToSchema)]
#[schema(as = PasswordResetAccepted)]
pub struct ResetAcceptedJson {
    /// What to tell the person.
    message: &'static str,
}

/// What every reset request is told.
pub const RESET_ACCEPTED: &str = "If this address belongs to an account, a message with a link \
     to set a new password is on its way. The link works once, for one hour.";

#[utoipa::path(post, path = "/auth/password-reset", tag = "sign-in",
    request_body = ResetRequestBody,
    responses(
        (status = 202, description = "The same answer whether or not the address is known; a \
            known, enabled address gets an e-mail with one link per account on it (at most 3 \
            an hour)", body = ResetAcceptedJson),
        (status = 403, description = "`csrf` for a cross-site request", body = ErrorBody),
        (status = 422, description = "`invalid_input`: not an e-mail address", body = ErrorBody),
        (status = 429, description = "`rate_limited`: too many attempts from this address \
            (counted with sign-in)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn request(
    State(state): State<AppState>,
    ApiTenant(account_id): ApiTenant,
    client: Client,
    ApiJson(body): ApiJson<ResetRequestBody>,
) -> Result<Response, ApiError> {
    state
        .svc
        .request_password_reset(&account_id, &body.email, client.ip)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ResetAcceptedJson {
            message: RESET_ACCEPTED,
        }),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PasswordResetConfirmInput)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmBody {
    /// The token of the link (`/reset/{token}`).
    #[schema(min_length = 1)]
    token: String,
    /// The new password: 12 to 128 characters, not a common one.
    #[schema(min_length = 1)]
    password: String,
}

#[utoipa::path(post, path = "/auth/password-reset/confirm", tag = "sign-in",
    request_body = ResetConfirmBody,
    responses(
        (status = 204, description = "The password is set; every session of that person ended \
            (reason `password_reset`); the second factor stays"),
        (status = 403, description = "`csrf` for a cross-site request", body = ErrorBody),
        (status = 410, description = "`link_expired`: the token is unknown, used or expired", body = ErrorBody),
        (status = 422, description = "`invalid_input`: the password breaks a rule", body = ErrorBody),
    ))]
pub async fn confirm(
    State(state): State<AppState>,
    ApiTenant(account_id): ApiTenant,
    client: Client,
    ApiJson(body): ApiJson<ResetConfirmBody>,
) -> Result<Response, ApiError> {
    state
        .svc
        .confirm_password_reset(&account_id, &body.token, body.password, client.ip)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
#[schema(as = SigninAlertInput)]
#[serde(deny_unknown_fields)]
pub struct AlertBody {
    /// The token of the alert's link (`/signin-alert/{token}`).
    #[schema(min_length = 1)]
    token: String,
}

/// What "This wasn't me" did.
#[derive(Serialize, ToSchema)]
#[schema(as = SigninAlertUsed)]
pub struct AlertUsedJson {
    /// The session was live and is now ended (false: it had ended already).
    session_ended: bool,
    /// A password-reset token for `POST /auth/password-reset/confirm` (valid one hour,
    /// single use); null when the person is disabled.
    reset_token: Option<String>,
}

#[utoipa::path(post, path = "/auth/signin-alert", tag = "sign-in",
    request_body = AlertBody,
    responses(
        (status = 200, description = "The session the alert was about ended (reason \
            `ended_by_owner`), and a reset token for its person", body = AlertUsedJson),
        (status = 403, description = "`csrf` for a cross-site request", body = ErrorBody),
        (status = 410, description = "`link_expired`: the token is unknown, used or expired", body = ErrorBody),
        (status = 422, description = "`invalid_input`: no token", body = ErrorBody),
    ))]
pub async fn signin_alert(
    State(state): State<AppState>,
    ApiTenant(account_id): ApiTenant,
    client: Client,
    ApiJson(body): ApiJson<AlertBody>,
) -> Result<Json<AlertUsedJson>, ApiError> {
    let used = state
        .svc
        .use_signin_alert(&account_id, &body.token, client.ip)
        .await?;
    Ok(Json(AlertUsedJson {
        session_ended: used.ended,
        reset_token: used.reset_token,
    }))
}
