//! Storage: one trait, implemented for SQLite (embedded default) and PostgreSQL.
//!
//! Every query is scoped by account. Times are Unix milliseconds (`i64`) and ids are text,
//! so the SQL is the same on both databases; each backend owns its own migrations.

use async_trait::async_trait;

use crate::domain::member::{AgentStatus, MemberKind, Permissions};
use crate::domain::session::EndReason;
use crate::domain::signin::{AuthMethods, ChallengePurpose};
use crate::domain::time::Millis;

pub mod postgres;
mod sql;
pub mod sqlite;

pub use postgres::{PgStore, PoolConfig};
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `field` names the input that collided.
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// Ids in a bulk request that do not name people of the right kind in this account.
    #[error("unknown ids")]
    UnknownIds(Vec<String>),
    /// The database could not be reached; the request may be retried later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The `server_secrets` row that says the secrets are derived from a key kept outside the
/// database: an HMAC of a fixed text under that key (it checks the key, it does not reveal it).
pub const OUTSIDE_KEY_CHECK: &str = "outside-key-check";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub agent_idle_timeout_minutes: i64,
    pub max_session_lifetime_minutes: Option<i64>,
    pub created_at: Millis,
}

/// The other half of a linked pair (same e-mail, other kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedRef {
    pub kind: MemberKind,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    pub account_id: String,
    pub kind: MemberKind,
    pub name: String,
    pub email: String,
    pub primary: bool,
    pub permissions: Permissions,
    /// Effective presence, what routing and the Team page show.
    pub status: AgentStatus,
    /// The agent's own last choice, restored when a tab connects again.
    pub status_choice: AgentStatus,
    pub disabled: bool,
    pub created_at: Millis,
    pub linked: Option<LinkedRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    pub id: String,
    pub account_id: String,
    pub member_id: String,
    pub member_kind: MemberKind,
    pub started_at: Millis,
    pub last_seen_at: Millis,
    pub ip: String,
    pub user_agent: String,
    pub device: String,
    pub ended_at: Option<Millis>,
    pub end_reason: Option<EndReason>,
    pub ended_by: Option<String>,
    /// The latest address and User-Agent seen (recorded with the activity touch); the first
    /// ones until a change.
    pub last_ip: String,
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
/// person and the account's timeout settings.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuthRecord {
    #[sqlx(flatten)]
    pub session: Session,
    pub csrf_token: String,
    pub member_name: String,
    pub member_email: String,
    #[sqlx(rename = "is_primary")]
    pub primary: bool,
    pub permissions: Permissions,
    pub disabled: bool,
    pub agent_idle_timeout_minutes: i64,
    pub max_session_lifetime_minutes: Option<i64>,
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

/// What [`Store::end_sessions`] did, in its one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    /// The sessions it ended.
    pub sessions: Vec<EndedSession>,
    /// The agents among their people who were Online and are Offline now (account id, member
    /// id): their tabs are being cut off, so presence follows at once.
    pub offline: Vec<(String, String)>,
}

/// Which sessions `Store::end_sessions` ends, and why.
#[derive(Debug, Clone)]
pub struct EndSessions {
    /// None only for `Which::Expired` across every account (the background sweep).
    pub account_id: Option<String>,
    pub which: Which,
    pub reason: EndReason,
    /// Member id of the person who ended them, if a person did.
    pub by: Option<String>,
    /// Written on the audit rows.
    pub ip: Option<String>,
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
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewMember {
    pub id: String,
    pub account_id: String,
    pub kind: MemberKind,
    pub name: String,
    pub email: String,
    pub email_norm: String,
    pub password_hash: String,
    pub primary: bool,
    pub permissions: Permissions,
    pub created_at: Millis,
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
    pub ip: String,
    pub user_agent: String,
    pub device: String,
    /// See [`Session::auth_methods`].
    pub auth_methods: AuthMethods,
    pub mfa_enrollment: bool,
}

/// A sign-in's session with everything starting it writes, for [`Store::start_session`].
#[derive(Debug, Clone)]
pub struct StartSession {
    pub session: NewSession,
    /// Started outside every office network under a `flag` or `enforce` policy (the Team
    /// lists' `network=outside`).
    pub outside_office: bool,
    /// The sign-in's own audit row.
    pub audit: AuditEntry,
    /// The person's sessions the new one replaces (the cap on sessions per person), ended as
    /// [`Store::end_sessions`] ends them.
    pub cap: EndSessions,
}

/// What [`Store::start_session`] did, in its one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub session: Session,
    /// The sessions the cap ended, and their agents set Offline.
    pub ended: Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFilter {
    Active,
    None,
    /// Active, and outside the office networks (`network=outside`).
    OutsideOffice,
}

/// A page of the Team list. `active_after` is the last-activity cutoff that makes a
/// not-yet-swept idle session count as inactive, so lists are exact between sweeps.
#[derive(Debug, Clone)]
pub struct MemberQuery {
    pub kind: MemberKind,
    pub session: Option<SessionFilter>,
    pub status: Option<AgentStatus>,
    pub search: Option<String>,
    pub active_after: Millis,
    pub offset: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, Default)]
pub struct MemberPatch {
    pub name: Option<String>,
    pub email: Option<(String, String)>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
    pub permissions: Option<Permissions>,
}

/// A person's credentials, read only by sign-in.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub member: Member,
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: String,
    pub account_id: String,
    pub at: Millis,
    pub kind: String,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
    /// How many times this happened: 1, or more for an entry that counts repeats
    /// (`Store::count_audit`), whose `at` and `detail` are then the latest.
    pub count: i64,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Matches entries where one of these members is the actor or the target.
    pub persons: Vec<String>,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub kind: Option<String>,
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    pub offset: i64,
    pub limit: i64,
}

/// A key's failed sign-ins within the throttling window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureWindow {
    pub count: usize,
    pub oldest: Option<Millis>,
    pub newest: Option<Millis>,
}

/// Server-side state of a sign-in in progress ("choose an account", a second step), kept
/// under the hash of the id the client holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub id_hash: String,
    pub account_id: String,
    pub purpose: ChallengePurpose,
    /// The people this sign-in may end as.
    pub member_ids: Vec<String>,
    pub ip: String,
    pub user_agent: String,
    /// Whatever else the step needs, as the service encodes it.
    pub data: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub failures: i64,
}

// --- webhooks

/// A webhook endpoint of an account. `events` is the stored filter (`EventFilter::to_db`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookEndpoint {
    pub id: String,
    pub account_id: String,
    pub url: String,
    pub events: String,
    pub secret: String,
    /// None while enabled; why it was turned off otherwise ("gone": the receiver said 410).
    pub disabled_reason: Option<String>,
    pub created_at: Millis,
    /// The administrator who created it: it carries only events about people they may see
    /// (`domain::webhook::Audience`). None for endpoints made before this was recorded.
    pub created_by: Option<String>,
}

/// One event for one endpoint in the outbox; `id` is the `webhook-id` (`msg_…`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookDelivery {
    pub id: String,
    pub account_id: String,
    pub endpoint_id: String,
    pub member_id: String,
    pub event_type: String,
    pub body: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub delivered_at: Option<Millis>,
}

/// A claimed delivery with what sending it needs.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub delivery: WebhookDelivery,
    pub url: String,
    pub secret: String,
}

/// What became of one attempt, as the worker decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// `pending` (try again at `next_attempt_at`), `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Millis>,
    /// Turns the endpoint off (the receiver answered 410 Gone).
    pub disable_endpoint: bool,
}

/// What the retention sweep deletes by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retained {
    /// Sessions ended before the cutoff.
    EndedSessions,
    /// Audit entries written before the cutoff.
    AuditEntries,
    /// Webhook deliveries created before the cutoff.
    Deliveries,
}

/// What one throttled activity write records.
#[derive(Debug, Clone)]
pub struct SessionSeen {
    pub session_id: String,
    pub at: Millis,
    pub ip: String,
    pub user_agent: String,
    pub outside_office: bool,
}

/// An account's session policies as stored; the service reads them into domain types.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionPolicyRecord {
    pub max_sessions_per_person: Option<i64>,
    /// A JSON array of `{"cidr", "name"}`.
    pub office_networks: String,
    pub agents_network_policy: String,
    pub admins_network_policy: String,
}

impl Default for SessionPolicyRecord {
    fn default() -> Self {
        SessionPolicyRecord {
            max_sessions_per_person: None,
            office_networks: "[]".to_string(),
            agents_network_policy: "off".to_string(),
            admins_network_policy: "off".to_string(),
        }
    }
}

/// Totals over every account for the metrics scrape (see `Store::live_counts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Sessions not ended yet (the sweep ends idle ones within its interval).
    pub agent_sessions: i64,
    pub admin_sessions: i64,
    /// Agents whose status is Online and who are not disabled.
    pub agents_online: i64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which database this is, for logs and the health check.
    fn backend(&self) -> &'static str;
    /// Whether the database answers. On SQLite also whether it takes writes, once a write
    /// failed to commit and none has since (a full volume): `Unavailable` with the reason.
    async fn ping(&self) -> StoreResult<()>;
    /// Whether the database can be reached at all, answered within `within`: `Unavailable`
    /// when it cannot (PostgreSQL stopped or cut off). A pool whose every connection is in
    /// use counts as reachable: it is busy, not gone. SQLite is a local file: always.
    async fn reachable(&self, within: std::time::Duration) -> StoreResult<()> {
        let _ = within;
        Ok(())
    }
    /// Housekeeping run in the background every sweep: on SQLite, moves the write-ahead log
    /// into the database file, which would otherwise happen inside whichever request happened
    /// to cross the log's size limit (a bulk ending took 180 ms instead of 50).
    async fn checkpoint(&self) -> StoreResult<()>;

    // Accounts.
    async fn account_count(&self) -> StoreResult<i64>;
    /// Creates an account and its primary administrator atomically. With `only_if_empty`, it
    /// refuses (Conflict on `account`) when any account exists: first-run setup can't race.
    async fn create_account(
        &self,
        account: &NewAccount,
        primary: &NewMember,
        only_if_empty: bool,
    ) -> StoreResult<Account>;
    async fn account(&self, id: &str) -> StoreResult<Account>;
    async fn account_by_slug(&self, slug: &str) -> StoreResult<Account>;
    async fn first_account(&self) -> StoreResult<Account>;
    async fn set_agent_idle_timeout(&self, account_id: &str, minutes: i64) -> StoreResult<()>;
    async fn set_max_session_lifetime(
        &self,
        account_id: &str,
        minutes: Option<i64>,
    ) -> StoreResult<()>;
    /// The 32 random bytes stored under `name`, shared by every instance on this database;
    /// made on first use (concurrent first uses agree on one value).
    async fn server_secret(&self, name: &str) -> StoreResult<Vec<u8>>;
    /// A stored secret, without making one.
    async fn stored_server_secret(&self, name: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Every stored authenticator secret, sealed: (person, sealed).
    async fn sealed_totp_secrets(&self) -> StoreResult<Vec<(String, String)>>;
    /// Moves the database onto a secret key kept outside it, in one transaction: records
    /// `check` under [`OUTSIDE_KEY_CHECK`], replaces each sealed secret (person, old, new) that
    /// is still the old one, and deletes the `retired` secrets. `false` (and nothing changed)
    /// when the check row is already there.
    async fn adopt_outside_key(
        &self,
        check: &[u8],
        resealed: &[(String, String, String)],
        retired: &[&str],
    ) -> StoreResult<bool>;

    // People.
    async fn insert_member(&self, m: &NewMember) -> StoreResult<Member>;
    async fn member(&self, account_id: &str, id: &str) -> StoreResult<Member>;
    /// The people with these ids in the account, by id; unknown ids are skipped.
    async fn members(&self, account_id: &str, ids: &[String]) -> StoreResult<Vec<Member>>;
    async fn credentials_by_email(
        &self,
        account_id: &str,
        email_norm: &str,
    ) -> StoreResult<Vec<Credentials>>;
    async fn password_hash(&self, account_id: &str, id: &str) -> StoreResult<String>;
    // Sign-in throttling, shared by every instance on this database. Keys are opaque (the
    // service stores hashes, never e-mails or addresses).
    /// Failed sign-ins of `key` after `since`: how many, the oldest and the newest.
    async fn signin_failures(&self, key: &str, since: Millis) -> StoreResult<FailureWindow>;
    async fn clear_signin_failures(&self, key: &str) -> StoreResult<()>;
    /// Forgets failures at or before `before`; returns how many.
    async fn prune_signin_failures(&self, before: Millis) -> StoreResult<u64>;
    /// Reserves one sign-in attempt for every key, atomically: the keys' failure windows
    /// (failures after `since`, in the order of `keys`) are read while the keys are locked
    /// against concurrent reservations (SQLite: the write lock, `BEGIN IMMEDIATE`; PostgreSQL:
    /// `pg_advisory_xact_lock` per key, taken in sorted order), `allow` decides from them, and
    /// only if it allows is one row per key inserted at `at` (counted as a failure until
    /// `forgive_signin_attempt` removes it). Returns Ok(attempt id) or Err(the windows) when
    /// refused. Correct across several processes on one database.
    async fn reserve_signin_attempt(
        &self,
        keys: &[String],
        since: Millis,
        at: Millis,
        // What `Fn(&[FailureWindow])` means, spelled out: `#[async_trait]` would otherwise
        // tie the elided lifetime to the call's.
        allow: &(dyn for<'w> Fn(&'w [FailureWindow]) -> bool + Send + Sync),
    ) -> StoreResult<Result<String, Vec<FailureWindow>>>;
    /// Removes the rows of one reservation (the password was right).
    async fn forgive_signin_attempt(&self, attempt_id: &str) -> StoreResult<()>;

    // Sign-in challenges.
    /// Stores a challenge; a taken `id_hash` is a `Conflict` on `id`.
    async fn insert_challenge(&self, c: &Challenge) -> StoreResult<()>;
    /// A challenge not yet expired at `now` (live while `now < expires_at`).
    async fn challenge(&self, id_hash: &str, now: Millis) -> StoreResult<Option<Challenge>>;
    /// Removes and returns a challenge not yet expired at `now`: of concurrent callers, at
    /// most one gets it.
    async fn take_challenge(&self, id_hash: &str, now: Millis) -> StoreResult<Option<Challenge>>;
    /// Adds one to a challenge's failures and returns the new count; `NotFound` if it is gone.
    async fn count_challenge_failure(&self, id_hash: &str) -> StoreResult<i64>;
    /// Forgets challenges expired at `now`; returns how many.
    async fn prune_challenges(&self, now: Millis) -> StoreResult<u64>;

    async fn list_members(
        &self,
        account_id: &str,
        q: &MemberQuery,
    ) -> StoreResult<(Vec<Member>, i64)>;
    async fn update_member(
        &self,
        account_id: &str,
        id: &str,
        patch: &MemberPatch,
    ) -> StoreResult<Member>;
    /// Sets an agent's effective status and, when given, their own choice.
    async fn set_status(
        &self,
        account_id: &str,
        id: &str,
        status: AgentStatus,
        choice: Option<AgentStatus>,
    ) -> StoreResult<Member>;

    // Presence across instances.
    /// Records how many tabs of an agent this instance holds (0 removes the row).
    async fn presence_set(
        &self,
        instance_id: &str,
        account_id: &str,
        member_id: &str,
        tabs: i64,
        now: Millis,
    ) -> StoreResult<()>;
    /// Marks every row of this instance as alive.
    async fn presence_heartbeat(&self, instance_id: &str, now: Millis) -> StoreResult<()>;
    /// Open tabs of an agent on all instances whose heartbeat is newer than `fresh_after`.
    async fn presence_tabs(&self, member_id: &str, fresh_after: Millis) -> StoreResult<i64>;
    /// Removes rows of instances that stopped heartbeating; returns the agents that have no
    /// live tab anywhere any more, as (account id, member id).
    async fn presence_reap(&self, fresh_after: Millis) -> StoreResult<Vec<(String, String)>>;
    /// Agents who are Online without a live tab on any instance (set Online through the API
    /// without a tab, or left so by data from elsewhere), as (account id, member id).
    async fn online_without_tabs(&self, fresh_after: Millis) -> StoreResult<Vec<(String, String)>>;

    // Sessions.
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
    /// the sessions `cap` selects exactly as [`Store::end_sessions`] would (their audit rows,
    /// their agents Offline), and writes the webhook outbox rows of it all (the start first).
    /// Nothing is written unless all of it is.
    async fn start_session(&self, req: &StartSession) -> StoreResult<Started>;
    /// The hot path: one indexed read by token hash; only sessions not ended.
    async fn auth_record(&self, token_hash: &str) -> StoreResult<Option<AuthRecord>>;
    /// Records activity; `false` when the session has ended meanwhile (perhaps on another
    /// instance), which makes the caller drop it.
    async fn touch_session(&self, session_id: &str, at: Millis) -> StoreResult<bool>;
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

    // Audit.
    async fn insert_audit(&self, e: &AuditEntry) -> StoreResult<()>;
    /// Many entries in few statements (a bulk ending writes one per session).
    async fn insert_audits(&self, entries: &[AuditEntry]) -> StoreResult<()>;
    /// Inserts `e` with a count of 1, or, if a row with its id exists in its account, adds 1
    /// to that row's count and sets its `at` and `detail` to `e`'s (repeats counted, say, per
    /// address and hour). A row of that id in another account is a `Conflict` on `id`.
    async fn count_audit(&self, e: &AuditEntry) -> StoreResult<()>;
    async fn list_audit(
        &self,
        account_id: &str,
        q: &AuditQuery,
    ) -> StoreResult<(Vec<AuditEntry>, i64)>;

    // --- webhooks
    /// The clock that stamps the outbox rows written with each change (the service's).
    fn use_clock(&self, clock: std::sync::Arc<dyn crate::clock::Clock>);
    async fn insert_webhook(&self, e: &WebhookEndpoint) -> StoreResult<()>;
    /// The account's endpoints, oldest first.
    async fn webhooks(&self, account_id: &str) -> StoreResult<Vec<WebhookEndpoint>>;
    async fn webhook(&self, account_id: &str, id: &str) -> StoreResult<WebhookEndpoint>;
    /// Deletes an endpoint and its deliveries; `NotFound` if it is not the account's.
    async fn delete_webhook(&self, account_id: &str, id: &str) -> StoreResult<()>;
    /// An endpoint's deliveries, newest first.
    async fn webhook_deliveries(
        &self,
        account_id: &str,
        endpoint_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Puts a delivery back in the queue to be sent at `now` with a fresh schedule ("send
    /// again"); `NotFound` unless it belongs to that endpoint of the account and the endpoint
    /// is on (nothing is sent to one that is off, so it would wait for ever).
    async fn retry_delivery(
        &self,
        account_id: &str,
        endpoint_id: &str,
        delivery_id: &str,
        now: Millis,
    ) -> StoreResult<WebhookDelivery>;
    /// Claims up to `limit` deliveries due at `now` until `lease_until`, oldest first, never a
    /// person's event while an earlier one of theirs for that endpoint is pending, never one
    /// another caller holds (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one
    /// `UPDATE … RETURNING` under the write lock). A claim whose lease ran out (its instance
    /// died) can be claimed again. No cap per account: see [`Store::claim_deliveries_fairly`].
    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryJob>> {
        self.claim_deliveries_fairly(now, lease_until, limit, i64::MAX)
            .await
    }
    /// As [`Store::claim_deliveries`], shared between accounts: the accounts take turns (each
    /// one's oldest due delivery, then each one's second, ...), and an account never has more
    /// than `per_account` deliveries in flight at once (claims held by any instance count), so
    /// one account's slow receivers cannot take every slot.
    async fn claim_deliveries_fairly(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
        per_account: i64,
    ) -> StoreResult<Vec<DeliveryJob>>;
    /// Records an attempt's result and releases the claim.
    async fn finish_delivery(&self, delivery_id: &str, r: &AttemptResult) -> StoreResult<()> {
        self.finish_deliveries(&[(delivery_id.to_string(), r.clone())])
            .await
    }
    /// Records the results of several attempts (delivery id, result) in one transaction, in
    /// the order given, releasing their claims: the worker's results of one round.
    async fn finish_deliveries(&self, results: &[(String, AttemptResult)]) -> StoreResult<()>;
    /// Deliveries not yet delivered nor failed, in every account (the backlog).
    async fn pending_deliveries(&self) -> StoreResult<i64>;
    /// Deletes at most `limit` rows of `what` older than `before`; returns how many.
    async fn delete_older(&self, what: Retained, before: Millis, limit: i64) -> StoreResult<u64>;
    // --- session policies
    /// The account's session policies as stored (the defaults when it never set any).
    async fn session_policy(&self, account_id: &str) -> StoreResult<SessionPolicyRecord>;
    async fn set_session_policy(
        &self,
        account_id: &str,
        p: &SessionPolicyRecord,
    ) -> StoreResult<()>;
    /// Records activity at `at` (never moving back) with the address and User-Agent seen,
    /// noting when either changed, and the office-network mark; false when the session is no
    /// longer live.
    async fn touch_session_seen(&self, t: &SessionSeen) -> StoreResult<bool>;
    /// Live sessions of the account: (id, member kind, member id, first address, latest).
    async fn live_session_addresses(
        &self,
        account_id: &str,
    ) -> StoreResult<Vec<(String, MemberKind, String, String, String)>>;
    /// Marks exactly these live sessions of the account as outside the office networks (one
    /// statement; the others are unmarked).
    async fn set_outside_office(&self, account_id: &str, outside: &[String]) -> StoreResult<()>;
    // --- two-factor sign-in
    /// The person's authenticator app, confirmed or pending.
    async fn totp(&self, member_id: &str) -> StoreResult<Option<TotpRecord>>;
    /// Stores a pending app (replacing a pending one); `false` when a confirmed one exists.
    async fn put_pending_totp(
        &self,
        account_id: &str,
        member_id: &str,
        secret: &str,
        at: Millis,
    ) -> StoreResult<bool>;
    /// Confirms the pending app with the step its code was for, replaces the recovery codes
    /// and lifts the enrollment-only state of the person's live sessions, in one transaction;
    /// `false` when there was no pending app.
    async fn confirm_totp(
        &self,
        member_id: &str,
        step: i64,
        at: Millis,
        recovery_hashes: &[String],
    ) -> StoreResult<bool>;
    /// Records a code of `step` as used, if no code of that step or a later one was: `false`
    /// means a replay (or no confirmed app).
    async fn use_totp_step(&self, member_id: &str, step: i64) -> StoreResult<bool>;
    /// Marks an unused recovery code used; `false` if it is unknown or used.
    async fn use_recovery_code(
        &self,
        member_id: &str,
        code_hash: &str,
        at: Millis,
    ) -> StoreResult<bool>;
    async fn recovery_codes_left(&self, member_id: &str) -> StoreResult<i64>;
    /// Removes the app and the recovery codes; `false` when there was nothing to remove.
    async fn remove_mfa(&self, member_id: &str) -> StoreResult<bool>;
    async fn mfa_policy(&self, account_id: &str) -> StoreResult<MfaPolicy>;
    async fn set_mfa_policy(&self, account_id: &str, policy: MfaPolicy) -> StoreResult<()>;
    // --- metrics
    /// What the metrics scrape reads from the database, in every account at once: live
    /// sessions by role and agents Online. One grouped count each, never per person.
    async fn live_counts(&self) -> StoreResult<LiveCounts>;
    /// Stores a passkey and lifts the enrollment-only state of the person's live sessions.
    async fn insert_passkey(&self, p: &PasskeyRecord) -> StoreResult<()>;
    /// The person's passkeys, oldest first.
    async fn passkeys(&self, member_id: &str) -> StoreResult<Vec<PasskeyRecord>>;
    async fn remove_passkey(&self, member_id: &str, id: &str) -> StoreResult<bool>;
    async fn remove_all_passkeys(&self, member_id: &str) -> StoreResult<u64>;
    /// Records a sign-in with a passkey and its updated credential (signature counter).
    async fn passkey_used(&self, id: &str, credential: &str, at: Millis) -> StoreResult<()>;
}

/// A person's passkey as stored; `credential` is the WebAuthn credential as JSON.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PasskeyRecord {
    pub id: String,
    pub member_id: String,
    pub account_id: String,
    pub name: String,
    pub credential: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
}

/// A person's authenticator app as stored; `secret` is encrypted by the service.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TotpRecord {
    pub member_id: String,
    pub account_id: String,
    pub secret: String,
    pub confirmed_at: Option<Millis>,
    pub last_step: i64,
    pub created_at: Millis,
}

/// Who must have a second factor in an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MfaPolicy {
    pub agents: bool,
    pub admins: bool,
}

/// Opens the store a database URL names, applying its migrations.
pub async fn connect(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    connect_with(url, &PoolConfig::default()).await
}

/// As [`connect`], with PostgreSQL's connection pool sized (SQLite's is fixed: one writer).
pub async fn connect_with(url: &str, pool: &PoolConfig) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(PgStore::connect_with(url, pool).await?))
    } else if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::Other(
            "database URL must start with sqlite:// or postgres://".to_string(),
        ))
    }
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.rsplit_once('@')
    {
        let user = creds.split(':').next().unwrap_or("");
        if creds.contains(':') {
            return format!("{scheme}://{user}:***@{host}");
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://bob:s3cret@db:5432/x"),
            "postgres://bob:***@db:5432/x"
        );
        assert_eq!(
            super::redact_url("sqlite://deskward.db"),
            "sqlite://deskward.db"
        );
    }
}
