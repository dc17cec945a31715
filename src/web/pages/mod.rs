//! Browser pages: askama templates, plain forms that work without JavaScript.

use axum::Router;
use axum::response::{Html, IntoResponse, Response};
use axum::http::StatusCode;

use crate::service::ServiceError;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}

pub fn error_page(e: ServiceError) -> Response {
    let (status, msg) = match e {
        ServiceError::NotFound => (StatusCode::NOT_FOUND, "Not found".to_string()),
        ServiceError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "The service is temporarily unavailable.".to_string()),
        other => (StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    };
    (status, Html(msg)).into_response()
}
