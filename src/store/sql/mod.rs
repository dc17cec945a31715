//! The one implementation of the store traits, for SQLite and PostgreSQL alike: one text per
//! statement for both databases (same `$n` placeholders, integer times, text ids), split by
//! area, each file an `impl <Area>Store for SqlStore`: `accounts`, `secrets`, `members`
//! (people), `sessions` (with `endings`, the one transaction that ends them), `audit`,
//! `presence`, `throttling`, `challenges`, `mfa`, `policies`, `webhooks`, `mail` (the e-mail outbox and reset links), `invitations`, `links` (single-use links
//! sent by e-mail), `queue` (the outboxes' claim and record), `retention`,
//! `metrics`, `assertion_keys` (the signing keys of forward auth's `Remote-Assertion`), and `database` (health and upkeep). Helpers one area lends another (the
//! webhook outbox written inside each change's transaction, an audit batch, a person's row)
//! are inherent `SqlStore` functions taking the transaction.
//!
//! Shared by all areas: statements run through `exec` (the two drivers behind one `query`),
//! driver errors become `StoreError` in one place (`From<sqlx::Error>`, so `?` does it),
//! unique-constraint conflicts are told apart by the constraint's name (PostgreSQL reports it;
//! SQLite reports the key, mapped to the same names in `SQLITE_UNIQUE_KEYS`), rows are read
//! with `sqlx::FromRow` (the domain's text-valued types decode themselves, below), and
//! dynamic statements collect their values in `Args`. Where the SQL differs, the code matches
//! on the [`Dialect`].

use sqlx::error::BoxDynError;

use crate::domain::ClientIp;
use crate::domain::member::{AgentStatus, MemberKind, Permissions};
use crate::domain::session::EndReason;
use crate::domain::signin::{AuthMethods, ChallengePurpose};

use super::StoreError;
pub(in crate::store) use exec::{
    Arg, Executor, Pool, Query, Tx, dynamic, dynamic_as, dynamic_scalar, query, query_as,
    query_scalar,
};

mod accounts;
mod assertion_keys;
mod audit;
mod challenges;
mod database;
mod endings;
pub(in crate::store) mod exec;
mod invitations;
mod links;
mod mail;
mod members;
mod metrics;
mod mfa;
mod outbox;
mod policies;
mod presence;
mod queue;
mod retention;
mod secrets;
mod sessions;
mod sso;
mod throttling;
mod webhooks;

/// Which SQL a database speaks where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The name logs and the health check use.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}

/// The store on either database. Made by `sqlite::connect` or `postgres::connect_with`.
pub struct SqlStore {
    pub(in crate::store) pool: Pool,
    /// Stamps the webhook outbox rows (`DatabaseStore::use_clock`).
    pub(in crate::store) clock: std::sync::RwLock<std::sync::Arc<dyn crate::clock::Clock>>,
    /// Writers' turns (`begin_write`).
    pub(in crate::store) writes: WriteGate,
    /// Work the backend runs beside the store (SQLite's checkpointer), stopped when it goes.
    pub(in crate::store) background: Option<std::sync::Arc<dyn Background>>,
}

/// A backend's work beside the store, which must stop when the store is dropped (it holds the
/// pool, so it would otherwise keep the database open). The backend modules implement it, so
/// that this module needs none of them.
pub(in crate::store) trait Background: Send + Sync {
    fn stop(&self);
}

impl SqlStore {
    pub(in crate::store) fn new(
        pool: Pool,
        writes: WriteGate,
        background: Option<std::sync::Arc<dyn Background>>,
    ) -> Self {
        SqlStore {
            pool,
            clock: std::sync::RwLock::new(std::sync::Arc::new(crate::clock::SystemClock)),
            writes,
            background,
        }
    }

    /// The SQL this store's database speaks.
    pub fn dialect(&self) -> Dialect {
        self.pool.dialect()
    }
}

impl Drop for SqlStore {
    fn drop(&mut self) {
        if let Some(work) = &self.background {
            work.stop();
        }
    }
}

/// Writers of one process take turns here before they ask SQLite for its one write lock.
/// SQLite makes a writer that finds the lock taken sleep and try again (1, 2, 5, 10 … 100 ms,
/// first come not first served), so under a burst of writes — endings, webhook claims and
/// results — some waited tens of milliseconds behind locks held for a fraction of one. In
/// this queue (first come, first served) each waits only for the writers ahead of it.
/// PostgreSQL locks rows, not the database: its stores have no gate.
///
/// On SQLite the gate also remembers whether the latest write transaction failed to commit
/// (a full volume, an I/O error): the health check reports it until a write succeeds, since a
/// database that answers reads but takes no writes is not serving sign-ins.
#[derive(Clone)]
pub(in crate::store) struct WriteGate {
    turns: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    health: Option<std::sync::Arc<WriteHealth>>,
}

/// Why the latest write failed to commit, None once one has committed since.
#[derive(Default)]
pub(in crate::store) struct WriteHealth(std::sync::Mutex<Option<String>>);

impl WriteHealth {
    fn set(&self, failure: Option<String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = failure;
    }

    fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl WriteGate {
    /// The gate of a SQLite store.
    pub fn queue() -> Self {
        WriteGate {
            turns: Some(std::sync::Arc::new(tokio::sync::Mutex::new(()))),
            health: Some(std::sync::Arc::default()),
        }
    }

    /// No gate (PostgreSQL: its failed commits are conflicts between transactions, and its
    /// own health is its server's to report).
    pub fn none() -> Self {
        WriteGate {
            turns: None,
            health: None,
        }
    }

    /// Waits for this writer's turn; the turn lasts as long as the guard.
    pub async fn turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.turns {
            Some(m) => Some(m.clone().lock_owned().await),
            None => None,
        }
    }

    pub fn health(&self) -> Option<std::sync::Arc<WriteHealth>> {
        self.health.clone()
    }

    /// Why the latest write failed, while no write has succeeded since.
    pub fn failing(&self) -> Option<String> {
        self.health.as_ref().and_then(|h| h.get())
    }
}

/// A write transaction holding its turn at the [`WriteGate`] until it commits or is dropped.
/// It reads as the transaction (`&mut *tx`).
pub(in crate::store) struct WriteTx {
    pub tx: Tx,
    pub _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    pub health: Option<std::sync::Arc<WriteHealth>>,
}

impl WriteTx {
    /// Commits, recording the outcome for the health check. A failed commit leaves its
    /// connection's transaction to the pool's release check (`sqlite::release_check`), which
    /// closes the connection rather than lend it out inside a transaction.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let done = match self.tx {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        };
        if let Some(h) = &self.health {
            h.set(done.as_ref().err().map(|e| e.to_string()));
        }
        done
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self.tx {
            Tx::Sqlite(t) => t.rollback().await,
            Tx::Postgres(t) => t.rollback().await,
        }
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Tx;

    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

impl Tx {
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// Builds `$n` placeholders while collecting their values in order.
#[derive(Default)]
pub(in crate::store) struct Args(Vec<Arg>);

impl Args {
    pub fn int(&mut self, v: i64) -> String {
        self.0.push(Arg::Int(v));
        format!("${}", self.0.len())
    }

    pub fn text(&mut self, v: impl Into<String>) -> String {
        self.0.push(Arg::Text(v.into()));
        format!("${}", self.0.len())
    }

    /// A text value or SQL NULL.
    pub fn opt_text(&mut self, v: Option<&str>) -> String {
        match v {
            Some(v) => self.text(v),
            None => "NULL".to_string(),
        }
    }

    /// A list for `x IN (…)`, bound as one JSON array that the database unpacks. One value
    /// and one statement text whatever the length: SQLite's cost per `$n` placeholder grows
    /// with their number, and 1,000 ids made a bulk ending spend a third of its time there.
    pub fn list(&mut self, dialect: Dialect, values: &[String]) -> String {
        let json = serde_json::to_string(values).unwrap_or_else(|_| "[]".to_string());
        let p = self.text(json);
        match dialect {
            Dialect::Postgres => format!("SELECT jsonb_array_elements_text({p}::jsonb) AS v"),
            Dialect::Sqlite => format!("SELECT value AS v FROM json_each({p})"),
        }
    }

    /// The values, in placeholder order.
    pub fn values(&self) -> &[Arg] {
        &self.0
    }
}

/// Maps a driver error to the store's: unique violations name the colliding input (see
/// [`conflict_field`]), connection trouble is `Unavailable` so the web layer answers 503.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                let name = db.constraint().or_else(|| sqlite_constraint(db.message()));
                StoreError::Conflict {
                    field: conflict_field(name.unwrap_or_default()),
                }
            }
            // Every pooled connection busy, or PostgreSQL refusing new ones (its connection
            // limit), for the whole acquire timeout: the request is answered 503, never held.
            sqlx::Error::PoolTimedOut => StoreError::Unavailable(
                "no database connection within the acquire timeout (every pooled connection \
                 busy, or PostgreSQL refusing new ones: see --db-pool-size)"
                    .to_string(),
            ),
            sqlx::Error::Database(db) if out_of_space(&*db) => {
                StoreError::Unavailable(format!("the database cannot write: {}", db.message()))
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
            other => StoreError::Other(other.to_string()),
        }
    }
}

/// A write refused for want of space or a working volume: SQLite's `SQLITE_FULL` (13) and
/// `SQLITE_IOERR` (10, with any extended code), PostgreSQL's class 53 (insufficient resources:
/// disk full, out of memory) and 58030 (I/O error). Not the request's fault, and over once the
/// space is back: 503, like an unreachable database.
fn out_of_space(db: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = db.code() else {
        return false;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return code
            .parse::<i32>()
            .is_ok_and(|c| matches!(c & 0xff, 10 | 13));
    }
    code.starts_with("53") || code == "58030"
}

/// The input a unique constraint protects, by the constraint's name. Primary keys and token
/// hashes are ids the caller generates: any other constraint is `id`.
fn conflict_field(constraint: &str) -> &'static str {
    match constraint {
        "accounts_slug_key" => "slug",
        "members_email" => "email",
        "members_one_primary" => "primary",
        _ => "id",
    }
}

/// SQLite's unique constraints by the key its errors report. SQLite names no constraint in a
/// unique violation, only the index's key as "table.column, …" (the index name appears only for
/// expression indexes), so the key, read exactly, is turned into the name PostgreSQL reports.
const SQLITE_UNIQUE_KEYS: [(&str, &str); 3] = [
    ("accounts.slug", "accounts_slug_key"),
    (
        "members.account_id, members.kind, members.email_norm",
        "members_email",
    ),
    // The partial index `members_one_primary` is on the account alone.
    ("members.account_id", "members_one_primary"),
];

fn sqlite_constraint(message: &str) -> Option<&'static str> {
    let key = message.strip_prefix("UNIQUE constraint failed: ")?;
    SQLITE_UNIQUE_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, name)| *name)
}

/// Lets a domain type stored as text be read straight from a column on either database.
macro_rules! text_column {
    ($t:ty, |$text:ident| $parse:expr) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $t
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $t
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
                let $text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                $parse
            }
        }
    };
}

text_column!(MemberKind, |text| text
    .parse()
    .map_err(|()| format!("bad member kind in database: {text}").into()));
text_column!(AgentStatus, |text| text
    .parse()
    .map_err(|()| format!("bad status in database: {text}").into()));
text_column!(EndReason, |text| text
    .parse()
    .map_err(|()| format!("bad end reason in database: {text}").into()));
// Unknown names (from a newer version) are ignored, not fatal.
text_column!(Permissions, |text| Ok(Permissions::from_db(text)));
text_column!(AuthMethods, |text| Ok(AuthMethods::from_db(text)));
// Whatever text an older row holds reads back; only an address reads as one.
text_column!(ClientIp, |text| Ok(ClientIp::from_recorded(text)));
text_column!(ChallengePurpose, |text| text
    .parse()
    .map_err(
        |()| format!("bad challenge purpose in database: {text}").into()
    ));

pub(in crate::store) const MEMBER_COLUMNS: &str = "m.id, m.account_id, m.kind, m.name, \
     m.email, m.is_primary, m.permissions, m.status, m.status_choice, m.disabled, m.invited, \
     m.created_at, l.id AS linked_id, l.name AS linked_name, m.time_zone";

/// Joins each person to the other-kind person with the same normalized e-mail: the linked
/// account is derived on every read, never stored. The other kind is spelled as an equality so
/// the join is one seek in the unique (account, kind, e-mail) index, not a scan of the account.
pub(in crate::store) const MEMBER_FROM: &str = "members m LEFT JOIN members l \
     ON l.account_id = m.account_id \
     AND l.kind = (CASE m.kind WHEN 'agent' THEN 'admin' ELSE 'agent' END) \
     AND l.email_norm = m.email_norm";

pub(in crate::store) const SESSION_COLUMNS: &str = "s.id, s.account_id, s.member_id, \
     s.member_kind, s.started_at, s.last_seen_at, s.ip, s.user_agent, s.device, s.ended_at, \
     s.end_reason, s.ended_by, COALESCE(s.last_ip, s.ip) AS last_ip, \
     COALESCE(s.last_user_agent, s.user_agent) AS last_user_agent, s.ip_changed_at, \
     s.device_changed_at, s.outside_office, s.auth_methods, s.mfa_enrollment";

/// What an ending `UPDATE … RETURNING` gives back: an `EndedSession` with the reason used.
pub(in crate::store) const ENDED_COLUMNS: &str =
    "id, account_id, member_id, member_kind, end_reason";

/// Orders names by bytes on both databases (SQLite's default), whatever collation the
/// PostgreSQL database was created with, so both list people in the same order.
pub(in crate::store) fn byte_order(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => " COLLATE \"C\"",
        Dialect::Sqlite => "",
    }
}

/// Escapes LIKE wildcards so a search for "50%" means the characters, not a pattern.
pub(in crate::store) fn like_pattern(search: &str) -> String {
    let mut out = String::with_capacity(search.len() + 2);
    out.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_keys_name_their_constraints_exactly() {
        let name = |m: &str| sqlite_constraint(m).map(conflict_field);
        assert_eq!(
            name("UNIQUE constraint failed: accounts.slug"),
            Some("slug")
        );
        assert_eq!(
            name("UNIQUE constraint failed: members.account_id, members.kind, members.email_norm"),
            Some("email")
        );
        assert_eq!(
            name("UNIQUE constraint failed: members.account_id"),
            Some("primary")
        );
        // Primary keys and token hashes are ids; a key is matched whole, never in part.
        assert_eq!(name("UNIQUE constraint failed: members.id"), None);
        assert_eq!(
            name("UNIQUE constraint failed: members.account_id, members.kind"),
            None
        );
        assert_eq!(conflict_field("sessions_token_hash_key"), "id");
        assert_eq!(conflict_field("members_pkey"), "id");
    }
}
