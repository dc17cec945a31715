//! The OpenAPI 3.1 description of the JSON API (`GET /api/v1/openapi.json`, `deskward openapi`,
//! docs/openapi.json): made by utoipa from the handlers' own annotations and body types, as
//! `api::routes` registers them, so the router and the description come from one list.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::web::verify::Requirement;

/// What the description says beside its operations: the title, the words every operation
/// shares, the security schemes. The operations and their schemas come from `api::routes`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Deskward API",
        description = "Team access and session control for a helpdesk. Errors are \
            `{\"error\": {\"code\", \"message\"}}` (the `ErrorBody` schema); authentication is \
            the session cookie, and every state-changing request except login carries \
            `X-CSRF-Token`. A session that must set up a second factor first gets 403 \
            `mfa_enrollment_required` on every route but `GET /me`, `/me/mfa/*` and logout.",
    ),
    // Named only by the verify endpoints' query parameter, which utoipa does not collect.
    components(schemas(Requirement)),
    modifiers(&Auth),
)]
struct ApiDoc;

/// The cookie and the CSRF header, declared once.
struct Auth;

impl Modify for Auth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::web::cookies::COOKIE,
                "The session cookie set by POST /api/v1/auth/login (`__Host-deskward_session` \
                 over HTTPS).",
            ))),
        );
        components.add_security_scheme(
            "csrf",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "Required on every state-changing request except login: the `csrf_token` of \
                 the login or /me answer. Without it: 403 `csrf`.",
            ))),
        );
    }
}

/// The description as the API serves it at the root (no `--path-prefix`).
pub fn document() -> utoipa::openapi::OpenApi {
    document_under("")
}

/// The description of Deskward mounted under `prefix` (`""` for the root): its `servers` entry
/// is where the paths start, so a client generated from the served description calls Deskward,
/// not the app it shares a host with behind the proxy.
pub fn document_under(prefix: &str) -> utoipa::openapi::OpenApi {
    let (_, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", super::routes())
        .split_for_parts();
    let url = if prefix.is_empty() { "/" } else { prefix };
    doc.servers = Some(vec![utoipa::openapi::Server::new(url)]);
    doc
}

/// The description as JSON, exactly as docs/openapi.json holds it.
pub fn json() -> String {
    json_under("")
}

/// The description under `prefix` as JSON.
pub fn json_under(prefix: &str) -> String {
    let mut text = document_under(prefix)
        .to_pretty_json()
        .expect("the description serializes");
    text.push('\n');
    text
}

/// `GET /api/v1/openapi.json`: no sign-in needed.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    operation_id = "openapi",
    responses(
        (status = 200, description = "This description (OpenAPI 3.1)", body = Object),
    ))]
pub async fn serve() -> Response {
    // One prefix per process in production; kept per prefix because tests run servers with
    // different ones in one process.
    static BODIES: std::sync::Mutex<Vec<(Arc<str>, Bytes)>> = std::sync::Mutex::new(Vec::new());
    let prefix = crate::web::prefix::current();
    let body = {
        let mut bodies = BODIES.lock().unwrap_or_else(|e| e.into_inner());
        match bodies.iter().find(|(p, _)| *p == prefix) {
            Some((_, body)) => body.clone(),
            None => {
                let body = Bytes::from(json_under(&prefix));
                bodies.push((prefix, body.clone()));
                body
            }
        }
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
