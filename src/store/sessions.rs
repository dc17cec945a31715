//! Sessions: started by sign-in, read on every request by token hash, touched with activity,
//! marked by the office-network policy, and ended, with their audit rows, in one transaction.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::ClientIp;
use crate::domain::member::{MemberKind, Permissions};
use crate::domain::session::EndReason;
use crate::domain::signin::AuthMethods;
use crate::domain::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    pub id: String,
    pub account_id: String,
    pub member_id: String,
    pub member_kind: MemberKind,
    pub started_at: Millis,
    pub last_seen_at: Millis,
    pub ip: ClientIp,
    pub user_agent: String,
    pub device: String,
    pub ended_at: Option<Millis>,
    pub end_reason: Option<EndReason>,
    pub ended_by: Option<String>,
    /// The latest address and User-Agent seen (recorded with the activity touch); the first
    /// ones until a change.
    pub last_ip: ClientIp,
    pub last_user_agent: String,
    /// When the latest address or device was first seen, if it ever changed.
    pub ip_changed_at: Option<Millis>,
    pub device_changed_at: Option<Millis>,
    /// Outside every office network (first or latest address) while the person's role has a
    /// `flag` or `enforce` policy.
    pub outside_office: bool,
    /// How the session was opened: the password, then any second factor.
    pub auth_methods: AuthMethods,
    /// The person must set up a second factor and has none yet: the session may do nothing
    /// else until they have.
    pub mfa_enrollment: bool,
}

/// What the authentication hot path reads in one indexed lookup: the live session, its
/// person and the account's timeout settings. The session is shared, so that every request
/// that finds the record in memory hands it on without copying its strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRecord {
    pub session: std::sync::Arc<Session>,
    pub csrf_token: String,
    pub member_name: String,
    pub member_email: String,
    pub primary: bool,
    pub permissions: Permissions,
    pub disabled: bool,
    pub agent_idle_timeout_minutes: i64,
    pub max_session_lifetime_minutes: Option<i64>,
    /// The account's name, which every signed-in page shows.
    pub account_name: String,
    /// The person's own time zone, which pages show times in.
    pub time_zone: Option<String>,
}

/// A session that has just been ended, for events and audit, with the reason it ended for.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EndedSession {
    pub id: String,
    pub account_id: String,
    pub member_id: String,
    pub member_kind: MemberKind,
    #[sqlx(rename = "end_reason")]
    pub reason: EndReason,
}

/// What [`SessionStore::end_sessions`] did, in its one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    /// The sessions it ended.
    pub sessions: Vec<EndedSession>,
    /// The agents among their people who were Online and are Offline now (account id, member
    /// id): their tabs are being cut off, so presence follows at once.
    pub offline: Vec<(String, String)>,
}

/// Which sessions `SessionStore::end_sessions` ends, and why.
#[derive(Debug, Clone)]
pub struct EndSessions {
    /// None only for `Which::Expired` across every account (the background sweep).
    pub account_id: Option<String>,
    pub which: Which,
    pub reason: EndReason,
    /// Member id of the person who ended them, if a person did.
    pub by: Option<String>,
    /// Written on the audit rows.
    pub ip: Option<ClientIp>,
    pub at: Millis,
}

/// The selection of an [`EndSessions`] request. Only live sessions (not yet ended) are ever
/// selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// One session by id (in the account). A session already ended or of another account ends
    /// nothing.
    Session(String),
    /// Every live session of these people of `kind`; any id that is not a person of that kind
    /// in the account fails the whole call with `StoreError::UnknownIds`.
    People { kind: MemberKind, ids: Vec<String> },
    /// Every live session of one person except `keep` (a person's "sign out my other
    /// sessions").
    PersonExcept {
        member_id: String,
        keep: Option<String>,
    },
    /// The oldest live sessions of one person, so that at most `keep` (the newest by
    /// started_at, id) stay live (a cap on sessions per person). Sessions already past their
    /// timeout take no place among those kept: they end (as expired) too.
    AllButNewest { member_id: String, keep: usize },
    /// Every live session idle beyond its timeout or past its lifetime (the sweep), in the
    /// account or (account_id None) everywhere.
    Expired,
    /// The live sessions the identity provider opened for one of its sessions (`sid`, when
    /// given) or else for its subject (`sub`): a back-channel logout. Both given: the
    /// sessions with that `sid` and that `sub`. Neither: none.
    Sso {
        sid: Option<String>,
        sub: Option<String>,
    },
}

/// Where a session opened through the identity provider came from: the provider's subject
/// and, when its ID token named one, its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoOrigin {
    pub sub: String,
    pub sid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub account_id: String,
    pub member_id: String,
    pub member_kind: MemberKind,
    pub token_hash: String,
    pub csrf_token: String,
    pub started_at: Millis,
    pub ip: ClientIp,
    pub user_agent: String,
    pub device: String,
    /// See [`Session::auth_methods`].
    pub auth_methods: AuthMethods,
    pub mfa_enrollment: bool,
    /// Opened through the identity provider: its subject and session.
    pub sso: Option<SsoOrigin>,
}

/// A sign-in's session with everything starting it writes, for
/// [`SessionStore::start_session`].
#[derive(Debug, Clone)]
pub struct StartSession {
    pub session: NewSession,
    /// Started outside every office network under a `flag` or `enforce` policy (the Team
    /// lists' `network=outside`).
    pub outside_office: bool,
    /// The sign-in's own audit row.
    pub audit: super::AuditEntry,
    /// The person's sessions the new one replaces (the cap on sessions per person), ended as
    /// [`SessionStore::end_sessions`] ends them.
    pub cap: EndSessions,
    /// The sign-in alert to send about it (a browser without the person's device pass, and
    /// the account tells people of their kind).
    pub alert: Option<super::NewSigninAlert>,
}

/// What [`SessionStore::start_session`] did, in its one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub session: Session,
    /// The sessions the cap ended, and their agents set Offline.
    pub ended: Ended,
}

/// What one throttled activity write records.
#[derive(Debug, Clone)]
pub struct SessionSeen {
    pub session_id: String,
    pub at: Millis,
    pub ip: ClientIp,
    pub user_agent: String,
    pub outside_office: bool,
}

/// A live session's addresses, as the office-network policy re-marks them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LiveSessionAddress {
    pub session_id: String,
    pub member_kind: MemberKind,
    pub member_id: String,
    /// The address the session started from.
    pub first_ip: ClientIp,
    /// The latest address seen.
    pub last_ip: ClientIp,
}

/// Sessions, live and ended.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Ends the sessions `req.which` selects and writes one audit row per ended session, in
    /// one transaction; returns them, each with the reason actually used. Except for
    /// `Which::Expired`, a selected session already idle beyond its timeout at `req.at` (or,
    /// for an agent, older than the account's absolute lifetime) ends with reason `expired`
    /// and no `ended_by` instead of `req.reason`. Of two concurrent calls ending the same
    /// session, one returns it. Agents whose sessions ended and who were Online are set
    /// Offline (their own choice untouched) in the same transaction. `account_id` None is only
    /// for `Which::Expired`; otherwise the call fails and changes nothing.
    async fn end_sessions(&self, req: &EndSessions) -> StoreResult<Ended>;
    async fn insert_session(&self, s: &NewSession) -> StoreResult<Session>;
    /// Starts a sign-in's session in one transaction: inserts it, writes its audit row, ends
    /// the sessions `cap` selects exactly as [`SessionStore::end_sessions`] would (their audit
    /// rows, their agents Offline), writes the webhook outbox rows of it all (the start
    /// first) and the sign-in alert with its message, if any. Nothing is written unless all
    /// of it is.
    async fn start_session(&self, req: &StartSession) -> StoreResult<Started>;
    /// The hot path: one indexed read by token hash; only sessions not ended.
    async fn auth_record(&self, token_hash: &str) -> StoreResult<Option<AuthRecord>>;
    /// Why the session a token named ended, if it did: the sign-in page tells the person.
    async fn ended_session_reason(
        &self,
        account_id: &str,
        token_hash: &str,
    ) -> StoreResult<Option<EndReason>>;
    /// The e-mail of the person whose session a token named, so the sign-in page that tells
    /// them it ended can fill it in.
    async fn session_email(
        &self,
        account_id: &str,
        token_hash: &str,
    ) -> StoreResult<Option<String>>;
    async fn session(&self, account_id: &str, session_id: &str) -> StoreResult<Session>;
    /// Live sessions (not ended, seen after `active_after`) of these people, oldest first.
    async fn active_sessions(
        &self,
        account_id: &str,
        member_ids: &[String],
        active_after: Millis,
    ) -> StoreResult<Vec<Session>>;

    /// Records activity at `at` (never moving back) with the address and User-Agent seen,
    /// noting when either changed, and the office-network mark; false when the session is no
    /// longer live.
    async fn touch_session_seen(&self, t: &SessionSeen) -> StoreResult<bool>;
    /// The live sessions of the account with their first and latest addresses.
    async fn live_session_addresses(
        &self,
        account_id: &str,
    ) -> StoreResult<Vec<LiveSessionAddress>>;
    /// Marks exactly these live sessions of the account as outside the office networks (one
    /// statement; the others are unmarked).
    async fn set_outside_office(&self, account_id: &str, outside: &[String]) -> StoreResult<()>;
}
