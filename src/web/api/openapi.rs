//! The OpenAPI 3.1 description of the JSON API (`GET /api/v1/openapi.json`, `deskward openapi`,
//! docs/openapi.json), made with utoipa.
//!
//! The handlers build most bodies with `json!` and one generic handler serves both Team
//! sections, so the operations are declared here, one `#[utoipa::path]` each, with schemas
//! that mirror `shapes.rs` and the handlers' bodies. Two tests keep it honest: every route of
//! `api::router` must be documented here (tests/it/openapi.rs), and schemathesis checks every
//! answer of a live server against it (tests/it/schemathesis.rs).

#![allow(dead_code)]

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// `{"error": {"code", "message"}}`: every error of the API.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// snake_case: `unauthenticated`, `forbidden`, `csrf`, `not_found`, `invalid_input`
    /// (the message names the field), `rate_limited`, `invalid_credentials`,
    /// `choose_account`, `account_disabled`, ...
    pub code: String,
    /// A human sentence.
    pub message: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Agent,
    Admin,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Online,
    Offline,
}

#[derive(Serialize, ToSchema)]
pub enum Permission {
    #[serde(rename = "team.agents")]
    TeamAgents,
    #[serde(rename = "team.admins")]
    TeamAdmins,
    #[serde(rename = "security")]
    Security,
    #[serde(rename = "audit")]
    Audit,
}

/// One sign-in of a person. Ended sessions add `ended_at`, `end_reason` and `ended_by`.
#[derive(Serialize, ToSchema)]
pub struct Session {
    pub id: String,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    pub ip: String,
    pub user_agent: String,
    /// Readable device from the User-Agent.
    pub device: String,
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// `logout`, `expired`, `ended_by_admin`, `disabled`, `password_changed`, `replaced`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    /// The Member id of whoever ended it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
    /// In `GET /me/sessions`: whether this is the caller's own session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
}

/// The other account of a linked pair; `id` and `name` are null for viewers who may not see
/// that account's section.
#[derive(Serialize, ToSchema)]
pub struct Linked {
    pub kind: Kind,
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A person: agent or administrator, with their active sessions.
#[derive(Serialize, ToSchema)]
pub struct Member {
    pub id: String,
    pub kind: Kind,
    pub name: String,
    pub email: String,
    pub disabled: bool,
    /// Administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// Administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<Permission>>,
    /// Agents only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[schema(required)]
    pub linked: Option<Linked>,
    pub session_active: bool,
    pub sessions: Vec<Session>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberPage {
    pub items: Vec<Member>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginInput {
    #[schema(format = Email)]
    pub email: String,
    #[schema(min_length = 1)]
    pub password: String,
    /// Which account of a linked pair.
    #[serde(rename = "as", skip_serializing_if = "Option::is_none")]
    pub as_kind: Option<Kind>,
    /// Where to go afterwards (forward auth); honoured for allowed origins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rd: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginOutput {
    pub user: Member,
    pub session: Session,
    /// Send it as `X-CSRF-Token` on every state-changing request.
    pub csrf_token: String,
    /// Where the browser goes next.
    pub redirect_to: String,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: Member,
    pub session: Session,
    pub csrf_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<Session>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    pub status: Status,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordInput {
    pub current_password: String,
    /// 12 to 128 characters, not a common password.
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
    /// Default true: other sessions end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_other_sessions: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct Ended {
    /// How many sessions ended.
    pub ended: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    #[schema(min_length = 1)]
    pub name: String,
    #[schema(format = Email)]
    pub email: String,
    /// 12 to 128 characters, not a common password.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    #[schema(min_length = 1)]
    pub name: String,
    #[schema(format = Email)]
    pub email: String,
    /// 12 to 128 characters, not a common password.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<Permission>>,
}

/// Any of the fields; `permissions` for administrators only.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<Permission>>,
    /// The caller's own password, when changing their own e-mail or password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_password: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkEnd {
    /// Agent ids (at most 10,000).
    #[schema(max_items = 10_000)]
    pub ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SecuritySettings {
    pub agent_idle_timeout_minutes: i64,
    /// Fixed: 72 h.
    pub admin_idle_timeout_minutes: i64,
    /// Agents' absolute session lifetime; null: none.
    pub max_session_lifetime_minutes: Option<i64>,
}

/// Any subset of the fields.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityInput {
    /// 5 minutes to 90 days.
    #[schema(minimum = 5, maximum = 129_600)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_idle_timeout_minutes: Option<i64>,
    /// Null: no limit; else 5 minutes to 360 days.
    #[schema(minimum = 5, maximum = 518_400)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_session_lifetime_minutes: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    pub kind: String,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
    /// Repeats folded into this entry (unknown e-mails, counted per address and hour).
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// What a verify endpoint may require of the person.
#[derive(Serialize, ToSchema)]
pub enum Require {
    #[serde(rename = "agent")]
    Agent,
    #[serde(rename = "admin")]
    Admin,
    #[serde(rename = "team.agents")]
    TeamAgents,
    #[serde(rename = "team.admins")]
    TeamAdmins,
    #[serde(rename = "security")]
    Security,
    #[serde(rename = "audit")]
    Audit,
}

/// One Server-Sent Event of `GET /api/v1/events`: `event` names it (`ready`, `member`,
/// `status`, `session_ended`, ...) and `data` is JSON text.
#[derive(Serialize, ToSchema)]
pub struct StreamEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub data: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

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

/// The declared operations; see the module's comment.
mod ops {
    use super::*;

    #[utoipa::path(post, path = "/api/v1/auth/login", tag = "sign-in",
        request_body = LoginInput,
        responses(
            (status = 200, description = "Signed in; sets the session cookie", body = LoginOutput),
            (status = 401, description = "`invalid_credentials`: unknown e-mail or wrong password", body = ErrorBody),
            (status = 403, description = "`account_disabled`, or `csrf` for a cross-site request", body = ErrorBody),
            (status = 409, description = "`choose_account`: the password opens both linked accounts; send `as`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
            (status = 429, description = "`rate_limited`", body = ErrorBody,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    pub fn login() {}

    #[utoipa::path(post, path = "/api/v1/auth/logout", tag = "sign-in",
        security(("session" = [], "csrf" = [])),
        responses(
            (status = 204, description = "The session ended (reason `logout`)"),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`csrf`", body = ErrorBody),
        ))]
    pub fn logout() {}

    #[utoipa::path(get, path = "/api/v1/me", tag = "sign-in",
        security(("session" = [])),
        responses(
            (status = 200, description = "The caller, their session and CSRF token", body = Me),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
        ))]
    pub fn me() {}

    #[utoipa::path(get, path = "/api/v1/me/sessions", tag = "sign-in",
        security(("session" = [])),
        responses(
            (status = 200, description = "The caller's active sessions", body = SessionList),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
        ))]
    pub fn my_sessions() {}

    #[utoipa::path(put, path = "/api/v1/me/status", tag = "presence",
        security(("session" = [], "csrf" = [])),
        request_body = StatusInput,
        responses(
            (status = 200, description = "The agent with their new status", body = Member),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` (not an agent) or `csrf`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn set_status() {}

    #[utoipa::path(put, path = "/api/v1/me/password", tag = "sign-in",
        security(("session" = [], "csrf" = [])),
        request_body = PasswordInput,
        responses(
            (status = 200, description = "Changed; other sessions ended unless asked not to", body = Ended),
            (status = 401, description = "`unauthenticated`, or `invalid_credentials` (wrong current password)", body = ErrorBody),
            (status = 403, description = "`csrf`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
            (status = 429, description = "`rate_limited`", body = ErrorBody,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    pub fn change_password() {}

    #[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
        security(("session" = [])),
        params(
            ("person" = Option<String>, Query, description = "Actor or target"),
            ("actor" = Option<String>, Query),
            ("target" = Option<String>, Query),
            ("kind" = Option<String>, Query),
            ("from" = Option<String>, Query, description = "RFC 3339 or a date"),
            ("to" = Option<String>, Query, description = "RFC 3339 or a date"),
            ("page" = Option<i64>, Query),
            ("per_page" = Option<i64>, Query),
            ("format" = Option<String>, Query, description = "`csv` for CSV (as does `Accept: text/csv`)"),
        ),
        responses(
            (status = 200, description = "Entries, newest first",
                content((AuditPage = "application/json"), (String = "text/csv"))),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden`: needs the `audit` permission", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn audit() {}

    #[utoipa::path(get, path = "/api/v1/events", tag = "presence",
        security(("session" = [])),
        responses(
            (status = 200, description = "Server-Sent Events for the caller's session: `ready`, \
                member and status events, and `session_ended` with `{\"reason\"}` before it closes",
                content_type = "text/event-stream", body = StreamEvent),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
        ))]
    pub fn events() {}

    #[utoipa::path(get, path = "/api/v1/agents", tag = "team",
        security(("session" = [])),
        params(
            ("session" = Option<String>, Query, description = "`active` or `none`"),
            ("status" = Option<String>, Query, description = "`online` or `offline`"),
            ("q" = Option<String>, Query, description = "Name or e-mail contains"),
            ("page" = Option<i64>, Query, description = "From 1"),
            ("per_page" = Option<i64>, Query, description = "Default 50, at most 200"),
        ),
        responses(
            (status = 200, description = "Agents by name", body = MemberPage),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden`: needs `team.agents`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn list_agents() {}

    #[utoipa::path(get, path = "/api/v1/admins", tag = "team",
        security(("session" = [])),
        params(
            ("session" = Option<String>, Query, description = "`active` or `none`"),
            ("q" = Option<String>, Query, description = "Name or e-mail contains"),
            ("page" = Option<i64>, Query, description = "From 1"),
            ("per_page" = Option<i64>, Query, description = "Default 50, at most 200"),
        ),
        responses(
            (status = 200, description = "Administrators by name", body = MemberPage),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden`: needs `team.admins`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn list_admins() {}

    #[utoipa::path(post, path = "/api/v1/agents", tag = "team",
        security(("session" = [], "csrf" = [])),
        request_body = NewAgent,
        responses(
            (status = 201, description = "The new agent", body = Member),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 422, description = "`invalid_input` (e-mail taken, short password, ...)", body = ErrorBody),
        ))]
    pub fn create_agent() {}

    #[utoipa::path(post, path = "/api/v1/admins", tag = "team",
        security(("session" = [], "csrf" = [])),
        request_body = NewAdmin,
        responses(
            (status = 201, description = "The new administrator", body = Member),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn create_admin() {}

    #[utoipa::path(post, path = "/api/v1/agents/sessions/end", tag = "team",
        security(("session" = [], "csrf" = [])),
        request_body = BulkEnd,
        responses(
            (status = 200, description = "Every active session of these agents ended", body = Ended),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 422, description = "`invalid_input` (names the unknown ids)", body = ErrorBody),
        ))]
    pub fn bulk_end() {}

    #[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "team",
        security(("session" = [])),
        params(("id" = String, Path, description = "Agent id")),
        responses(
            (status = 200, description = "The agent", body = Member),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden`", body = ErrorBody),
            (status = 404, description = "`not_found` (also another account's id)", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn get_agent() {}

    #[utoipa::path(get, path = "/api/v1/admins/{id}", tag = "team",
        security(("session" = [])),
        params(("id" = String, Path, description = "Administrator id")),
        responses(
            (status = 200, description = "The administrator", body = Member),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn get_admin() {}

    #[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "team",
        security(("session" = [], "csrf" = [])),
        params(("id" = String, Path, description = "Agent id")),
        request_body = PersonPatch,
        responses(
            (status = 200, description = "The agent as changed", body = Member),
            (status = 401, description = "`unauthenticated`, or `invalid_credentials` (wrong current password)", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
            (status = 429, description = "`rate_limited`", body = ErrorBody,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    pub fn patch_agent() {}

    #[utoipa::path(patch, path = "/api/v1/admins/{id}", tag = "team",
        security(("session" = [], "csrf" = [])),
        params(("id" = String, Path, description = "Administrator id")),
        request_body = PersonPatch,
        responses(
            (status = 200, description = "The administrator as changed", body = Member),
            (status = 401, description = "`unauthenticated`, or `invalid_credentials` (wrong current password)", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
            (status = 429, description = "`rate_limited`", body = ErrorBody,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    pub fn patch_admin() {}

    #[utoipa::path(delete, path = "/api/v1/agents/{id}/sessions", tag = "team",
        security(("session" = [], "csrf" = [])),
        params(("id" = String, Path, description = "Agent id")),
        responses(
            (status = 200, description = "Every active session of the agent ended", body = Ended),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn end_agent_sessions() {}

    #[utoipa::path(delete, path = "/api/v1/admins/{id}/sessions", tag = "team",
        security(("session" = [], "csrf" = [])),
        params(("id" = String, Path, description = "Administrator id")),
        responses(
            (status = 200, description = "Every active session of the administrator ended", body = Ended),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn end_admin_sessions() {}

    #[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "team",
        security(("session" = [], "csrf" = [])),
        params(("id" = String, Path, description = "Session id")),
        responses(
            (status = 204, description = "The session ended"),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn end_session() {}

    #[utoipa::path(get, path = "/api/v1/settings/security", tag = "security",
        security(("session" = [])),
        responses(
            (status = 200, description = "The Security settings", body = SecuritySettings),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden`: needs `security`", body = ErrorBody),
        ))]
    pub fn get_settings() {}

    #[utoipa::path(put, path = "/api/v1/settings/security", tag = "security",
        security(("session" = [], "csrf" = [])),
        request_body = SecurityInput,
        responses(
            (status = 200, description = "The settings as changed", body = SecuritySettings),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn put_settings() {}

    #[utoipa::path(get, path = "/api/v1/verify/auth-request", tag = "forward auth",
        security((), ("session" = [])),
        params(("require" = Option<Require>, Query, description = "`agent`, `admin` (that role exactly) or a permission")),
        responses(
            (status = 200, description = "A live session; `Remote-*` headers name the person",
                headers(("Remote-User" = String), ("Remote-Email" = String), ("Remote-Name" = String),
                        ("Remote-Id" = String), ("Remote-Groups" = String))),
            (status = 401, description = "No live session; `Location` holds the sign-in URL", body = ErrorBody,
                headers(("Location" = String))),
            (status = 403, description = "`forbidden`: the person lacks `require`", body = ErrorBody),
            (status = 422, description = "`invalid_input`: an unknown `require`", body = ErrorBody),
        ))]
    pub fn verify_auth_request() {}

    #[utoipa::path(get, path = "/api/v1/verify/forward-auth", tag = "forward auth",
        security((), ("session" = [])),
        params(("require" = Option<Require>, Query, description = "`agent`, `admin` (that role exactly) or a permission")),
        responses(
            (status = 200, description = "A live session; `Remote-*` headers name the person",
                headers(("Remote-User" = String), ("Remote-Email" = String), ("Remote-Name" = String),
                        ("Remote-Id" = String), ("Remote-Groups" = String))),
            (status = 302, description = "No live session, for a page: to the sign-in URL",
                headers(("Location" = String))),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden`: the person lacks `require`", body = ErrorBody),
            (status = 422, description = "`invalid_input`: an unknown `require`", body = ErrorBody),
        ))]
    pub fn verify_forward_auth() {}

    #[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
        responses(
            (status = 200, description = "This description (OpenAPI 3.1)", body = Object),
        ))]
    pub fn openapi() {}
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Deskward API",
        description = "Team access and session control for a helpdesk. Errors are \
            `{\"error\": {\"code\", \"message\"}}`; authentication is the session cookie, and \
            every state-changing request except login carries `X-CSRF-Token`.",
    ),
    paths(
        ops::login, ops::logout, ops::me, ops::my_sessions, ops::set_status,
        ops::change_password, ops::audit, ops::events, ops::list_agents, ops::create_agent,
        ops::list_admins, ops::create_admin, ops::bulk_end, ops::get_agent, ops::patch_agent,
        ops::get_admin, ops::patch_admin, ops::end_agent_sessions, ops::end_admin_sessions,
        ops::end_session, ops::get_settings, ops::put_settings, ops::verify_auth_request,
        ops::verify_forward_auth, ops::openapi,
    ),
    modifiers(&Auth),
)]
struct ApiDoc;

/// The description as the API serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The description as JSON, exactly as docs/openapi.json holds it.
pub fn json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the description serializes");
    text.push('\n');
    text
}

/// `GET /api/v1/openapi.json`: no sign-in needed.
pub async fn serve() -> Response {
    static BODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = BODY.get_or_init(json).clone();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
