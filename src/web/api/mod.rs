//! The JSON API of API.md, under `/api/v1`.

use axum::Router;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{delete, get, post, put};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use super::section::{Admins, Agents};

pub mod audit;
pub mod auth;
pub mod mfa;
pub mod openapi;
mod settings;
pub mod shapes;
mod team;
mod webhooks;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/me/sessions", get(auth::my_sessions))
        .route("/me/status", put(auth::set_status))
        .route("/me/password", put(auth::change_password))
        .route("/audit", get(audit::list))
        .route("/events", get(super::events::stream))
        .route(
            "/agents",
            get(team::list::<Agents>).post(team::create::<Agents>),
        )
        .route(
            "/admins",
            get(team::list::<Admins>).post(team::create::<Admins>),
        )
        .route("/agents/sessions/end", post(team::bulk_end))
        .route(
            "/agents/{id}",
            get(team::get::<Agents>).patch(team::patch::<Agents>),
        )
        .route(
            "/admins/{id}",
            get(team::get::<Admins>).patch(team::patch::<Admins>),
        )
        .route(
            "/agents/{id}/sessions",
            delete(team::end_sessions::<Agents>),
        )
        .route(
            "/admins/{id}/sessions",
            delete(team::end_sessions::<Admins>),
        )
        .route("/sessions/{id}", delete(team::end_session))
        .route("/settings/security", get(settings::get).put(settings::put))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/{id}", delete(webhooks::delete))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry),
        )
        .route("/verify/auth-request", get(super::verify::auth_request))
        .route("/verify/forward-auth", get(super::verify::forward_auth))
        // --- two-factor sign-in
        .route("/auth/login/mfa", post(mfa::login))
        .route("/me/mfa", get(mfa::status))
        .route(
            "/me/mfa/totp",
            post(mfa::start_totp).delete(mfa::remove_totp),
        )
        .route("/me/mfa/totp/confirm", post(mfa::confirm_totp))
        .route(
            "/auth/login/mfa/passkey-options",
            post(mfa::login_passkey_options),
        )
        .route("/me/mfa/passkeys/options", post(mfa::passkey_options))
        .route(
            "/me/mfa/passkeys",
            get(mfa::list_passkeys).post(mfa::add_passkey),
        )
        .route("/me/mfa/passkeys/{id}", delete(mfa::remove_passkey))
        .route("/agents/{id}/mfa", delete(mfa::reset::<Agents>))
        .route("/admins/{id}/mfa", delete(mfa::reset::<Admins>))
        .route("/openapi.json", get(openapi::serve))
        .fallback(|| async { ApiError::not_found() })
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
