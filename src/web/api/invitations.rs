//! Accepting an invitation: the person chooses a password with the link's token and is signed
//! in, like a sign-in. No session (nor, like sign-in, a CSRF token) is needed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::service::SignInStep;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::request::{ApiTenant, Client};
use crate::web::return_to::{self, after_new_sign_in};

use super::ApiJson;
use super::auth::{LoginAnswer, MfaRequiredJson, signed_in};
use super::shapes::Sorted;

#[derive(Deserialize, ToSchema)]
#[schema(as = InvitationAcceptInput)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The token of the link (`/invite/{token}`).
    #[schema(min_length = 1)]
    token: String,
    /// The person's password: 12 to 128 characters, not a common one.
    #[schema(min_length = 1)]
    password: String,
}

#[utoipa::path(post, path = "/invitations/accept", tag = "sign-in",
    request_body = AcceptBody,
    responses(
        (status = 200, description = "The password is set and the person signed in, as after \
            `POST /auth/login` (sets the session cookie); where the account requires a second \
            factor the session may only set one up, and `redirect_to` is that page", body = LoginAnswer),
        (status = 403, description = "`csrf` for a cross-site request, or `outside_office_network`", body = ErrorBody),
        (status = 410, description = "`link_expired`: the token is unknown, used or expired, \
            or a newer invitation replaced it", body = ErrorBody),
        (status = 422, description = "`invalid_input`: the password breaks a rule", body = ErrorBody),
    ))]
pub async fn accept(
    State(state): State<AppState>,
    ApiTenant(account_id): ApiTenant,
    client: Client,
    ApiJson(body): ApiJson<AcceptBody>,
) -> Result<Response, ApiError> {
    let step = state
        .svc
        .accept_invitation(
            &account_id,
            &body.token,
            body.password,
            client.ip,
            &client.user_agent,
        )
        .await?;
    match step {
        SignInStep::SignedIn(out) => {
            let to = after_new_sign_in(&state, out.member.kind, None);
            signed_in(&state, *out, &client, to).await
        }
        SignInStep::Enrol(out) => {
            let to = crate::web::prefix::url(return_to::ENROL_PAGE);
            signed_in(&state, *out, &client, to).await
        }
        SignInStep::SecondFactor { challenge, methods } => {
            Ok(Sorted(LoginAnswer::MfaRequired(MfaRequiredJson {
                mfa_required: true,
                challenge,
                methods,
            }))
            .into_response())
        }
        // The acceptance names one person: there is no choice to make.
        SignInStep::ChooseAccount { .. } => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an invitation opened more than one account",
        )),
    }
}
