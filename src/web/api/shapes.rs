//! The JSON shapes of API.md: Member and Session.

use serde::Serialize;

use crate::domain::member::MemberKind;
use crate::domain::policy::Actor;
use crate::domain::signin::AuthMethods;
use crate::domain::time::rfc3339;
use crate::service::MemberView;
use crate::store::{Member, Session};

#[derive(Serialize)]
pub struct SessionJson {
    pub id: String,
    pub started_at: String,
    pub last_seen_at: String,
    pub ip: String,
    pub user_agent: String,
    pub device: String,
    pub last_ip: String,
    pub last_user_agent: String,
    pub outside_office_network: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
    /// How the session was opened: `["password"]`, `["password", "totp"]`, ….
    pub auth_methods: AuthMethods,
}

impl From<&Session> for SessionJson {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.clone(),
            started_at: rfc3339(s.started_at),
            last_seen_at: rfc3339(s.last_seen_at),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            device: s.device.clone(),
            last_ip: s.last_ip.clone(),
            last_user_agent: s.last_user_agent.clone(),
            outside_office_network: s.outside_office,
            ended_at: s.ended_at.map(rfc3339),
            end_reason: s.end_reason.map(|r| r.as_str()),
            ended_by: s.ended_by.clone(),
            auth_methods: s.auth_methods,
        }
    }
}

/// The other account of a linked pair. Viewers who may not see that account's section learn
/// only that it exists: `id` and `name` are null for them.
#[derive(Serialize)]
pub struct LinkedJson {
    pub kind: MemberKind,
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Serialize)]
pub struct MemberJson {
    pub id: String,
    pub kind: MemberKind,
    pub name: String,
    pub email: String,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
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
            primary: admin.then_some(m.primary),
            permissions: admin.then(|| {
                if m.primary {
                    crate::domain::member::Permissions::all().names()
                } else {
                    m.permissions.names()
                }
            }),
            status: (!admin).then(|| m.status.as_str()),
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
