//! The JSON API of API.md, under `/api/v1`.

use axum::Router;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::{AppState, events, verify};

pub mod audit;
pub mod auth;
pub mod invitations;
pub mod mfa;
pub mod openapi;
pub mod reset;
mod settings;
pub mod shapes;
mod team;
mod webhooks;

/// Every route of the API, each registered once with its operation: `router` serves these
/// and `openapi::document` describes them, so neither can have a route the other lacks.
/// Register routes only through `routes!` here (tests/it/openapi.rs checks that this function
/// adds none another way).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::my_sessions))
        .routes(routes!(auth::set_status))
        .routes(routes!(auth::set_time_zone))
        .routes(routes!(auth::change_password))
        .routes(routes!(reset::request))
        .routes(routes!(reset::confirm))
        .routes(routes!(audit::list))
        .routes(routes!(events::stream))
        .routes(routes!(team::agents::list, team::agents::create))
        .routes(routes!(team::admins::list, team::admins::create))
        .routes(routes!(team::bulk_end))
        .routes(routes!(team::agents::get, team::agents::patch))
        .routes(routes!(team::admins::get, team::admins::patch))
        .routes(routes!(team::agents::end_sessions))
        .routes(routes!(team::admins::end_sessions))
        .routes(routes!(team::agents::resend_invitation))
        .routes(routes!(team::admins::resend_invitation))
        .routes(routes!(invitations::accept))
        .routes(routes!(team::end_session))
        .routes(routes!(settings::get, settings::put))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::retry))
        .routes(routes!(verify::auth_request))
        .routes(routes!(verify::forward_auth))
        // --- two-factor sign-in
        .routes(routes!(mfa::login))
        .routes(routes!(mfa::status))
        .routes(routes!(mfa::start_totp, mfa::remove_totp))
        .routes(routes!(mfa::confirm_totp))
        .routes(routes!(mfa::login_passkey_options))
        .routes(routes!(mfa::passkey_options))
        .routes(routes!(mfa::list_passkeys, mfa::add_passkey))
        .routes(routes!(mfa::remove_passkey))
        .routes(routes!(mfa::reset_agent_mfa))
        .routes(routes!(mfa::reset_admin_mfa))
        .routes(routes!(openapi::serve))
}

/// The API's routes as `web::router` nests them under `/api/v1`.
pub fn router() -> Router<AppState> {
    let (router, _) = routes().split_for_parts();
    router.fallback(|| async { ApiError::not_found() })
}

/// `axum::Json` whose rejections are the API's 422 with a message naming the problem.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::invalid(
                "body: send JSON with Content-Type: application/json",
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::invalid(format!(
                "body: malformed JSON ({})",
                e.body_text()
            ))),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::invalid(format!("body: {}", e.body_text())))
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::body_too_large())
            }
            Err(e) => Err(ApiError::invalid(format!("body: {}", e.body_text()))),
        }
    }
}

/// `axum::extract::Path` whose rejections are the API's JSON errors: a path parameter that
/// cannot be read (not UTF-8 once percent-decoded, say) is a 422 naming it, not axum's
/// plain-text 400. Every API handler that takes a path parameter takes it through this.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                Err(ApiError::invalid(match e.into_kind() {
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        format!("{key}: not valid UTF-8 once percent-decoded")
                    }
                    ErrorKind::ParseErrorAtKey {
                        key, expected_type, ..
                    } => format!("{key}: expected {expected_type}"),
                    ErrorKind::DeserializeError { key, message, .. } => {
                        format!("{key}: {message}")
                    }
                    other => format!("path: {other}"),
                }))
            }
            // The route has no such parameter: a mistake in this program, not in the request.
            Err(e) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e.body_text(),
            )),
        }
    }
}
