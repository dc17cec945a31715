//! The JSON shapes of API.md that several areas answer with (Member, Session, MfaStatus), how
//! the domain's string enums are described, and how bodies go out.

use std::borrow::Cow;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::member::{AgentStatus, MemberKind, Permission};
use crate::domain::office::NetworkPolicy;
use crate::domain::policy::Actor;
use crate::domain::signin::AuthMethods;
use crate::domain::sso::SsoRole;
use crate::domain::time::rfc3339;
use crate::service::MemberView;
use crate::service::mfa::MfaStatus;
use crate::store::{Member, Session};
use crate::web::error::ApiError;

/// A JSON answer whose objects go out with their keys sorted. These bodies were built as
/// `serde_json::Value` before they had types, and serde_json (without `preserve_order`) keeps
/// a map's keys sorted: clients have seen those bytes, so a typed body goes out through a
/// `Value` the same way, at the same cost as before. Bodies that were typed from the start (a
/// single Member, `/me`) keep their fields' order through plain `Json`.
pub struct Sorted<T>(pub T);

impl<T: Serialize> IntoResponse for Sorted<T> {
    fn into_response(self) -> Response {
        match serde_json::to_value(&self.0) {
            Ok(v) => Json(v).into_response(),
            Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
                .into_response(),
        }
    }
}

/// Describes a domain enum the API carries as its `as_str` text, from that text, so the
/// description lists exactly the values the code sends. Implemented here rather than derived
/// in `domain`, which knows nothing of HTTP.
macro_rules! string_enum_schema {
    ($ty:ty, $name:literal, $values:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some($values.into_iter().map(<$ty>::as_str)))
                    .into()
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

string_enum_schema!(MemberKind, "Kind", [MemberKind::Agent, MemberKind::Admin]);
string_enum_schema!(
    AgentStatus,
    "Status",
    [AgentStatus::Online, AgentStatus::Offline]
);
string_enum_schema!(Permission, "Permission", Permission::ALL);
string_enum_schema!(
    SsoRole,
    "SsoRole",
    [SsoRole::Off, SsoRole::Allowed, SsoRole::Required]
);
string_enum_schema!(
    NetworkPolicy,
    "NetworkPolicy",
    [
        NetworkPolicy::Off,
        NetworkPolicy::Flag,
        NetworkPolicy::Enforce
    ]
);

/// One sign-in of a person. Ended sessions add `ended_at`, `end_reason` and `ended_by`.
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionJson {
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
    #[schema(format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// `logout`, `expired`, `ended_by_admin`, `disabled`, `password_changed`, `replaced`,
    /// `outside_office_network`, `mfa_reset`, `password_reset`, `ended_by_owner`, `idp_logout`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<&'static str>,
    /// The Member id of whoever ended it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
    /// How the session was opened: `["password"]`, `["password", "totp"]`, ...
    #[schema(value_type = Vec<String>)]
    pub auth_methods: AuthMethods,
    /// In `GET /me/sessions`: whether this is the caller's own session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<bool>,
}

impl From<&Session> for SessionJson {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.clone(),
            started_at: rfc3339(s.started_at),
            last_seen_at: rfc3339(s.last_seen_at),
            ip: s.ip.to_string(),
            user_agent: s.user_agent.clone(),
            device: s.device.clone(),
            last_ip: s.last_ip.to_string(),
            last_user_agent: s.last_user_agent.clone(),
            outside_office_network: s.outside_office,
            ended_at: s.ended_at.map(rfc3339),
            end_reason: s.end_reason.map(|r| r.as_str()),
            ended_by: s.ended_by.clone(),
            auth_methods: s.auth_methods,
            current: None,
        }
    }
}

/// The other account of a linked pair. Viewers who may not see that account's section learn
/// only that it exists: `id` and `name` are null for them.
#[derive(Serialize, ToSchema)]
#[schema(as = Linked)]
pub struct LinkedJson {
    pub kind: MemberKind,
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A person: agent or administrator, with their active sessions.
#[derive(Serialize, ToSchema)]
#[schema(as = Member)]
pub struct MemberJson {
    pub id: String,
    pub kind: MemberKind,
    pub name: String,
    pub email: String,
    pub disabled: bool,
    /// Added by invitation and has not chosen a password yet: cannot sign in until they
    /// accept (`POST /agents/{id}/invitation` sends a new link).
    pub invited: bool,
    /// Administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// Administrators only.
    #[schema(value_type = Option<Vec<Permission>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<&'static str>>,
    /// Agents only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AgentStatus>,
    #[schema(required)]
    pub linked: Option<LinkedJson>,
    pub session_active: bool,
    pub sessions: Vec<SessionJson>,
}

impl MemberJson {
    /// A person with their live sessions, as `viewer` may see them.
    pub fn new(m: &Member, sessions: &[Session], viewer: &Actor) -> Self {
        let admin = m.kind == MemberKind::Admin;
        Self {
            id: m.id.clone(),
            kind: m.kind,
            name: m.name.clone(),
            email: m.email.clone(),
            disabled: m.disabled,
            invited: m.invited,
            primary: admin.then_some(m.primary),
            permissions: admin.then(|| {
                if m.primary {
                    crate::domain::member::Permissions::all().names()
                } else {
                    m.permissions.names()
                }
            }),
            status: (!admin).then_some(m.status),
            linked: m.linked.as_ref().map(|l| {
                let shown = viewer.sees_linked(&m.id, l.kind);
                LinkedJson {
                    kind: l.kind,
                    id: shown.then(|| l.id.clone()),
                    name: shown.then(|| l.name.clone()),
                }
            }),
            session_active: !sessions.is_empty(),
            sessions: sessions.iter().map(SessionJson::from).collect(),
        }
    }

    pub fn of(v: &MemberView, viewer: &Actor) -> Self {
        MemberJson::new(&v.member, &v.sessions, viewer)
    }
}

/// The caller's second factors.
#[derive(Serialize, ToSchema)]
#[schema(as = MfaStatus)]
pub struct MfaJson {
    /// An authenticator app is set up.
    pub totp: bool,
    /// How many passkeys.
    pub passkeys: i64,
    pub recovery_codes_left: i64,
}

impl From<MfaStatus> for MfaJson {
    fn from(s: MfaStatus) -> Self {
        Self {
            totp: s.totp,
            passkeys: s.passkeys,
            recovery_codes_left: s.recovery_codes_left,
        }
    }
}
