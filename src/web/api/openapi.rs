//! The OpenAPI 3.1 description of the JSON API (`GET /api/v1/openapi.json`, `deskward openapi`,
//! docs/openapi.json), made with utoipa.
//!
//! The handlers build most bodies with `json!` and one generic handler serves both Team
//! sections, so the operations are declared here, one `#[utoipa::path]` each, with schemas
//! that mirror `shapes.rs` and the handlers' bodies. Two tests keep it honest: every route of
//! `api::router` must be documented here (tests/it/openapi.rs), and schemathesis checks every
//! answer of a live server against it (tests/it/schemathesis.rs).

#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Bytes;
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
    /// `choose_account`, `account_disabled`, `outside_office_network` (403),
    /// `mfa_enrollment_required` (403), `would_lock_out_self` (409), `endpoint_off` (409),
    /// `unavailable` (503), ...
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
    /// The latest address the session was seen from.
    pub last_ip: String,
    /// The latest User-Agent the session was seen with.
    pub last_user_agent: String,
    /// Its first or latest address is outside every office network.
    pub outside_office_network: bool,
    /// How the session was opened: `["password"]`, `["password", "totp"]`, ...
    pub auth_methods: Vec<String>,
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// `logout`, `expired`, `ended_by_admin`, `disabled`, `password_changed`, `replaced`,
    /// `outside_office_network`, `mfa_reset`
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
    /// When a recovery code was used: how many are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes_left: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user: Member,
    pub session: Session,
    pub csrf_token: String,
    pub mfa: MfaStatus,
}

/// The caller's second factors.
#[derive(Serialize, ToSchema)]
pub struct MfaStatus {
    /// An authenticator app is set up.
    pub totp: bool,
    /// How many passkeys.
    pub passkeys: i64,
    pub recovery_codes_left: i64,
}

/// The first step passed; the sign-in needs its second step (`POST /auth/login/mfa`). No
/// session cookie is set.
#[derive(Serialize, ToSchema)]
pub struct MfaRequired {
    /// Always true.
    pub mfa_required: bool,
    /// Send it back with the second step.
    pub challenge: String,
    /// The person's second factors: any of `totp`, `webauthn` (passkeys), `recovery_code`
    pub methods: Vec<String>,
}

/// A signed-in answer, or the request for a second step.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    SignedIn(Box<LoginOutput>),
    MfaRequired(MfaRequired),
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

/// Sessions ended across people.
#[derive(Serialize, ToSchema)]
pub struct EndedPeople {
    /// How many sessions ended.
    pub ended: i64,
    /// How many people lost sessions.
    pub people: i64,
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
    /// Agents' live sessions each; null: no limit (nobody holds more than 100).
    pub max_sessions_per_person: Option<i64>,
    pub office_networks: Vec<OfficeNetwork>,
    pub office_network_policy: NetworkPolicies,
    pub mfa_required: MfaRequiredSettings,
}

#[derive(Serialize, ToSchema)]
pub struct OfficeNetwork {
    /// IPv4 or IPv6 CIDR.
    pub cidr: String,
    pub name: String,
}

/// An office network on input: `{"cidr", "name"?}` or a bare CIDR string.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum OfficeNetworkInput {
    Cidr(String),
    Named(OfficeNetworkEntry),
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfficeNetworkEntry {
    pub cidr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkPolicy {
    Off,
    Flag,
    Enforce,
}

#[derive(Serialize, ToSchema)]
pub struct NetworkPolicies {
    pub agents: NetworkPolicy,
    pub admins: NetworkPolicy,
}

/// Either or both; `admins` by the primary administrator only.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkPoliciesInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<NetworkPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admins: Option<NetworkPolicy>,
}

#[derive(Serialize, ToSchema)]
pub struct MfaRequiredSettings {
    pub agents: bool,
    pub admins: bool,
}

/// Either or both; `admins` by the primary administrator only.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaRequiredInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admins: Option<bool>,
}

/// Any subset of the fields (at least one besides `confirm`); the others stay as they are.
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
    /// Null: no limit; else 1 to 10.
    #[schema(minimum = 1, maximum = 10)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_sessions_per_person: Option<i64>,
    /// At most 100, replacing the list.
    #[schema(max_items = 100)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office_networks: Option<Vec<OfficeNetworkInput>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office_network_policy: Option<NetworkPoliciesInput>,
    /// Saves a change that would lock out the saving administrator (else 409
    /// `would_lock_out_self`).
    #[schema(value_type = bool, required = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_required: Option<MfaRequiredInput>,
}

/// A webhook endpoint.
#[derive(Serialize, ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Event types, or `["*"]`.
    pub events: Vec<String>,
    /// False once turned off (a 410 answer, say).
    pub enabled: bool,
    /// Why it was turned off; null while enabled.
    pub disabled_reason: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A new webhook endpoint, with its secret (shown only here).
#[derive(Serialize, ToSchema)]
pub struct NewWebhookOutput {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// `whsec_` + standard base64.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// HTTP(S); loopback and private targets are refused unless the server allows them.
    pub url: String,
    /// `session.started`, `session.ended`, `presence.changed`, `member.created`,
    /// `member.updated`, `member.disabled`, or `["*"]`.
    pub events: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<Webhook>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// One event sent (or to be sent) to an endpoint.
#[derive(Serialize, ToSchema)]
pub struct Delivery {
    pub id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// The HTTP status of the last attempt; null before any or when it got none.
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    /// Pending deliveries only.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    pub items: Vec<Delivery>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondStepInput {
    /// From the login answer.
    pub challenge: String,
    /// An authenticator app code or a recovery code; or else `credential`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// A passkey's answer (WebAuthn `PublicKeyCredential`) to the options of
    /// `POST /auth/login/mfa/passkey-options`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rd: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeInput {
    pub challenge: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnPassword {
    /// The caller's password.
    pub password: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    /// A code of the authenticator app.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct TotpSetup {
    /// Base32.
    pub secret: String,
    /// What the QR code holds.
    pub otpauth_url: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten codes, shown this once.
    pub recovery_codes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyRegistration {
    /// Send it back with `POST /me/mfa/passkeys`.
    pub registration: String,
    /// WebAuthn creation options for `navigator.credentials.create`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPasskey {
    pub registration: String,
    pub name: String,
    /// The WebAuthn `PublicKeyCredential` of `navigator.credentials.create`.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct Passkey {
    pub id: String,
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyList {
    pub items: Vec<Passkey>,
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
            (status = 200, description = "Signed in (sets the session cookie), or, for a person with a \
                second factor, `{\"mfa_required\": true, \"challenge\", \"methods\"}` without a cookie", body = LoginAnswer),
            (status = 401, description = "`invalid_credentials`: unknown e-mail or wrong password", body = ErrorBody),
            (status = 403, description = "`account_disabled`, `outside_office_network` (the policy \
                enforces the office networks), or `csrf` for a cross-site request", body = ErrorBody),
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
            (status = 200, description = "The caller, their session, CSRF token and second factors", body = Me),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
        ))]
    pub fn me() {}

    #[utoipa::path(get, path = "/api/v1/me/sessions", tag = "sign-in",
        security(("session" = [])),
        responses(
            (status = 200, description = "The caller's active sessions", body = SessionList),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`mfa_enrollment_required`", body = ErrorBody),
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
            (status = 403, description = "`mfa_enrollment_required`", body = ErrorBody),
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
            ("network" = Option<String>, Query, description = "`outside`: only people with a session outside the office networks"),
        ),
        responses(
            (status = 200, description = "Agents by name; a page past the end has no items", body = MemberPage),
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
            ("network" = Option<String>, Query, description = "`outside`: only people with a session outside the office networks"),
        ),
        responses(
            (status = 200, description = "Administrators by name; a page past the end has no items", body = MemberPage),
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
            (status = 403, description = "`forbidden` (also: the e-mail belongs to an administrator \
                the caller may not administer) or `csrf`", body = ErrorBody),
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
            (status = 200, description = "Every active session of these agents ended", body = EndedPeople),
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
            (status = 403, description = "`forbidden` (also: a new e-mail, or a password for an \
                e-mail, that belongs to an administrator the caller may not administer) or `csrf`", body = ErrorBody),
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
            (status = 200, description = "Every active session of the agent ended", body = EndedPeople),
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
            (status = 200, description = "Every active session of the administrator ended", body = EndedPeople),
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
            (status = 403, description = "`forbidden` (also a sub-administrator changing an `admins` \
                field, or the office networks while the `admins` policy is not `off`) or `csrf`", body = ErrorBody),
            (status = 409, description = "`would_lock_out_self`: the change would lock out the caller; \
                send `confirm: true` to save it anyway", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn put_settings() {}

    #[utoipa::path(get, path = "/api/v1/verify/auth-request", tag = "forward auth",
        security((), ("session" = [])),
        params(("require" = Option<Require>, Query, description = "`agent`, `admin` (that role exactly) or a permission")),
        responses(
            (status = 200, description = "A live session; `Remote-*` headers name the person: \
                `Remote-Id` is the person (linked agent and administrator accounts share \
                `Remote-User`, the e-mail)",
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
            (status = 200, description = "A live session; `Remote-*` headers name the person: \
                `Remote-Id` is the person (linked agent and administrator accounts share \
                `Remote-User`, the e-mail)",
                headers(("Remote-User" = String), ("Remote-Email" = String), ("Remote-Name" = String),
                        ("Remote-Id" = String), ("Remote-Groups" = String))),
            (status = 302, description = "No live session, for a page: to the sign-in URL",
                headers(("Location" = String))),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden`: the person lacks `require`", body = ErrorBody),
            (status = 422, description = "`invalid_input`: an unknown `require`", body = ErrorBody),
        ))]
    pub fn verify_forward_auth() {}

    #[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
        security(("session" = [])),
        responses(
            (status = 200, description = "The endpoints, without secrets", body = WebhookList),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden`: needs `security`", body = ErrorBody),
        ))]
    pub fn list_webhooks() {}

    #[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
        security(("session" = [], "csrf" = [])),
        request_body = NewWebhook,
        responses(
            (status = 201, description = "The new endpoint with its secret, shown only here", body = NewWebhookOutput),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 422, description = "`invalid_input`: a bad or refused `url` (loopback, private), \
                unknown `events`", body = ErrorBody),
        ))]
    pub fn create_webhook() {}

    #[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
        security(("session" = [], "csrf" = [])),
        params(("id" = String, Path, description = "Webhook id")),
        responses(
            (status = 204, description = "Deleted, with its deliveries"),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn delete_webhook() {}

    #[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
        security(("session" = [])),
        params(("id" = String, Path, description = "Webhook id")),
        responses(
            (status = 200, description = "The endpoint's latest 100 deliveries, newest first", body = DeliveryList),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden`: needs `security`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn webhook_deliveries() {}

    #[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
        security(("session" = [], "csrf" = [])),
        params(
            ("id" = String, Path, description = "Webhook id"),
            ("delivery_id" = String, Path, description = "Delivery id"),
        ),
        responses(
            (status = 202, description = "Queued to be sent again", body = Delivery),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 409, description = "`endpoint_off`: the endpoint was turned off by its \
                receiver answering 410 Gone; delete it and add it again to resume", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
        ))]
    pub fn retry_delivery() {}

    #[utoipa::path(post, path = "/api/v1/auth/login/mfa", tag = "two-factor sign-in",
        request_body = SecondStepInput,
        responses(
            (status = 200, description = "Signed in, as by a login; sets the session cookie", body = LoginOutput),
            (status = 401, description = "`invalid_credentials`: a wrong code or passkey, or an unknown \
                or expired challenge", body = ErrorBody),
            (status = 403, description = "`account_disabled`, `outside_office_network`, or `csrf` for a \
                cross-site request", body = ErrorBody),
            (status = 422, description = "`invalid_input`", body = ErrorBody),
            (status = 429, description = "`rate_limited`", body = ErrorBody,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    pub fn login_mfa() {}

    #[utoipa::path(post, path = "/api/v1/auth/login/mfa/passkey-options", tag = "two-factor sign-in",
        request_body = ChallengeInput,
        responses(
            (status = 200, description = "WebAuthn request options for `navigator.credentials.get`", body = Object),
            (status = 401, description = "`invalid_credentials`: an unknown or expired challenge", body = ErrorBody),
            (status = 403, description = "`csrf` for a cross-site request", body = ErrorBody),
            (status = 422, description = "`invalid_input` (no passkey, or no usable origin)", body = ErrorBody),
            (status = 429, description = "`rate_limited`", body = ErrorBody,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    pub fn login_passkey_options() {}

    #[utoipa::path(get, path = "/api/v1/me/mfa", tag = "two-factor sign-in",
        security(("session" = [])),
        responses(
            (status = 200, description = "The caller's second factors (also in `GET /me`)", body = MfaStatus),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
        ))]
    pub fn mfa_status() {}

    #[utoipa::path(post, path = "/api/v1/me/mfa/totp", tag = "two-factor sign-in",
        security(("session" = [], "csrf" = [])),
        request_body = OwnPassword,
        responses(
            (status = 200, description = "A new secret, pending until confirmed", body = TotpSetup),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`csrf`", body = ErrorBody),
            (status = 422, description = "`invalid_input`: a wrong `password`, an app set up already, ...", body = ErrorBody),
            (status = 429, description = "`rate_limited`", body = ErrorBody,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    pub fn start_totp() {}

    #[utoipa::path(delete, path = "/api/v1/me/mfa/totp", tag = "two-factor sign-in",
        security(("session" = [], "csrf" = [])),
        request_body = OwnPassword,
        responses(
            (status = 204, description = "The authenticator app is removed"),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`csrf`", body = ErrorBody),
            (status = 404, description = "`not_found`: no app is set up", body = ErrorBody),
            (status = 422, description = "`invalid_input`: a wrong `password`", body = ErrorBody),
            (status = 429, description = "`rate_limited`", body = ErrorBody,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    pub fn remove_totp() {}

    #[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "two-factor sign-in",
        security(("session" = [], "csrf" = [])),
        request_body = CodeInput,
        responses(
            (status = 200, description = "The app is set up; the recovery codes, shown this once", body = RecoveryCodes),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`csrf`", body = ErrorBody),
            (status = 422, description = "`invalid_input`: a wrong code, or nothing to confirm", body = ErrorBody),
        ))]
    pub fn confirm_totp() {}

    #[utoipa::path(post, path = "/api/v1/me/mfa/passkeys/options", tag = "two-factor sign-in",
        security(("session" = [], "csrf" = [])),
        request_body = OwnPassword,
        responses(
            (status = 200, description = "Starts registering a passkey", body = PasskeyRegistration),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`csrf`", body = ErrorBody),
            (status = 422, description = "`invalid_input`: a wrong `password`, no usable origin, 20 \
                passkeys already, ...", body = ErrorBody),
            (status = 429, description = "`rate_limited`", body = ErrorBody,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    pub fn passkey_options() {}

    #[utoipa::path(get, path = "/api/v1/me/mfa/passkeys", tag = "two-factor sign-in",
        security(("session" = [])),
        responses(
            (status = 200, description = "The caller's passkeys", body = PasskeyList),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
        ))]
    pub fn list_passkeys() {}

    #[utoipa::path(post, path = "/api/v1/me/mfa/passkeys", tag = "two-factor sign-in",
        security(("session" = [], "csrf" = [])),
        request_body = NewPasskey,
        responses(
            (status = 201, description = "The passkey, registered under its name", body = Passkey),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`csrf`", body = ErrorBody),
            (status = 422, description = "`invalid_input`: an expired `registration`, a refused \
                `credential`, a bad `name`", body = ErrorBody),
        ))]
    pub fn add_passkey() {}

    #[utoipa::path(delete, path = "/api/v1/me/mfa/passkeys/{id}", tag = "two-factor sign-in",
        security(("session" = [], "csrf" = [])),
        params(("id" = String, Path, description = "Passkey id")),
        request_body = OwnPassword,
        responses(
            (status = 204, description = "The passkey is removed"),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`csrf`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 422, description = "`invalid_input`: a wrong `password`", body = ErrorBody),
            (status = 429, description = "`rate_limited`", body = ErrorBody,
                headers(("Retry-After" = u64, description = "Seconds to wait"))),
        ))]
    pub fn remove_passkey() {}

    #[utoipa::path(delete, path = "/api/v1/agents/{id}/mfa", tag = "two-factor sign-in",
        security(("session" = [], "csrf" = [])),
        params(("id" = String, Path, description = "Agent id")),
        responses(
            (status = 204, description = "The agent's second factors are removed and their sessions \
                ended (reason `mfa_reset`)"),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` (also: the agent's e-mail belongs to an \
                administrator the caller may not administer) or `csrf`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 422, description = "`invalid_input`: no second factor to reset", body = ErrorBody),
        ))]
    pub fn reset_agent_mfa() {}

    #[utoipa::path(delete, path = "/api/v1/admins/{id}/mfa", tag = "two-factor sign-in",
        security(("session" = [], "csrf" = [])),
        params(("id" = String, Path, description = "Administrator id")),
        responses(
            (status = 204, description = "The administrator's second factors are removed and their \
                sessions ended (reason `mfa_reset`)"),
            (status = 401, description = "`unauthenticated`", body = ErrorBody),
            (status = 403, description = "`forbidden` (also on one's own id: one's own factor goes \
                through `DELETE /api/v1/me/mfa/totp`, which asks for the password) or `csrf`", body = ErrorBody),
            (status = 404, description = "`not_found`", body = ErrorBody),
            (status = 422, description = "`invalid_input`: no second factor to reset", body = ErrorBody),
        ))]
    pub fn reset_admin_mfa() {}

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
            every state-changing request except login carries `X-CSRF-Token`. A session that \
            must set up a second factor first gets 403 `mfa_enrollment_required` on every \
            route but `GET /me`, `/me/mfa/*` and logout.",
    ),
    paths(
        ops::login, ops::logout, ops::me, ops::my_sessions, ops::set_status,
        ops::change_password, ops::audit, ops::events, ops::list_agents, ops::create_agent,
        ops::list_admins, ops::create_admin, ops::bulk_end, ops::get_agent, ops::patch_agent,
        ops::get_admin, ops::patch_admin, ops::end_agent_sessions, ops::end_admin_sessions,
        ops::end_session, ops::get_settings, ops::put_settings, ops::verify_auth_request,
        ops::verify_forward_auth, ops::openapi, ops::list_webhooks, ops::create_webhook,
        ops::delete_webhook, ops::webhook_deliveries, ops::retry_delivery, ops::login_mfa,
        ops::login_passkey_options, ops::mfa_status, ops::start_totp, ops::remove_totp,
        ops::confirm_totp, ops::passkey_options, ops::list_passkeys, ops::add_passkey,
        ops::remove_passkey, ops::reset_agent_mfa, ops::reset_admin_mfa,
    ),
    // Named only by the verify endpoints' query parameter, which utoipa does not collect.
    components(schemas(Require)),
    modifiers(&Auth),
)]
struct ApiDoc;

/// The description as the API serves it at the root (no `--path-prefix`).
pub fn document() -> utoipa::openapi::OpenApi {
    document_under("")
}

/// The description of Deskward mounted under `prefix` (`""` for the root): its `servers` entry
/// is where the paths start, so a client generated from the served description calls Deskward,
/// not the app it shares a host with behind the proxy.
pub fn document_under(prefix: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
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
