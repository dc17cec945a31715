//! Storage: one trait per aggregate, one implementation for SQLite (the embedded default) and
//! PostgreSQL.
//!
//! Every query is scoped by account. Times are Unix milliseconds (`i64`) and ids are text,
//! so the SQL is the same on both databases; each backend owns its own migrations.
//!
//! The traits, one per aggregate, each in its own file beside this one: [`AccountStore`],
//! [`SecretStore`], [`PeopleStore`], [`SessionStore`] (endings included), [`AuditStore`],
//! [`ThrottleStore`], [`ChallengeStore`], [`MfaStore`], [`PolicyStore`], [`PresenceStore`],
//! [`WebhookStore`], [`MailStore`] (the e-mail outbox and reset links), [`InvitationStore`], [`LinkStore`]
//! (setting a password through a single-use link), [`RetentionStore`], [`MetricsStore`], [`SsoStore`] (single sign-on) and [`DatabaseStore`] (health and
//! upkeep). [`Store`] is all of them, for the service to hold as one object: through a
//! `dyn Store` every aggregate's methods are in reach; code holding a concrete store brings the
//! traits into scope with `store::prelude`. What only tests need is [`testing::TestStore`],
//! outside the production traits.
//!
//! One implementation, [`SqlStore`], serves both databases: `sql/<area>.rs` holds
//! `impl <Area>Store for SqlStore`, the SQL written once. The database is a value, not a type:
//! the pool and the write transaction are enums over the two drivers (`sql/exec.rs`), and
//! where the SQL differs the code asks the store's [`Dialect`]. Bound values are collected as
//! owned `Arg`s and handed to the driver when the statement runs (a copy of a few short
//! strings per statement). A generic implementation over
//! `sqlx::Database` was the alternative; Rust does not carry a trait's where-clauses to its
//! users, so every `impl` would have repeated a dozen driver bounds (each bound type, the
//! executors, `Send` futures), and the old way around that, a chain of macros assembling one
//! `impl Store` per backend, hid from readers and tools which method lived where. The
//! backends' own modules (`sqlite.rs`, `postgres.rs`) open and tune their pools.

use std::sync::Arc;

mod accounts;
mod assertion_keys;
mod audit;
mod challenges;
mod database;
mod invitations;
mod links;
mod mail;
mod metrics;
mod mfa;
mod people;
mod policies;
pub mod postgres;
mod presence;
mod retention;
mod secrets;
mod sessions;
mod sql;
pub mod sqlite;
mod sso;
pub mod testing;
mod throttling;
mod webhooks;

pub use accounts::*;
pub use assertion_keys::*;
pub use audit::*;
pub use challenges::*;
pub use database::*;
pub use invitations::*;
pub use links::*;
pub use mail::*;
pub use metrics::*;
pub use mfa::*;
pub use people::*;
pub use policies::*;
pub use postgres::PoolConfig;
pub use presence::*;
pub use retention::*;
pub use secrets::*;
pub use sessions::*;
pub use sql::{Dialect, SqlStore};
pub use sso::*;
pub use throttling::*;
pub use webhooks::*;

/// The store traits, for callers to bring into scope at once.
pub mod prelude {
    pub use super::{
        AccountStore, AssertionKeyStore, AuditStore, ChallengeStore, DatabaseStore,
        InvitationStore, LinkStore, MailStore, MetricsStore, MfaStore, PeopleStore, PolicyStore,
        PresenceStore, RetentionStore, SecretStore, SessionStore, SsoStore, Store, ThrottleStore,
        WebhookStore,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `field` names the input that collided.
    #[error("{field} is already taken")]
    Conflict { field: &'static str },
    /// Someone on the address written may not share it (the writer's [`AddressRule`]).
    #[error("the address belongs to someone who may not share it")]
    AddressRefused,
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

/// Every aggregate's store: what the service holds. Implemented for anything that implements
/// them all.
pub trait Store:
    DatabaseStore
    + AccountStore
    + SecretStore
    + PeopleStore
    + SessionStore
    + AuditStore
    + ThrottleStore
    + ChallengeStore
    + MfaStore
    + PolicyStore
    + PresenceStore
    + WebhookStore
    + MailStore
    + InvitationStore
    + LinkStore
    + RetentionStore
    + MetricsStore
    + AssertionKeyStore
    + SsoStore
    + 'static
{
}

impl<T> Store for T where
    T: DatabaseStore
        + AccountStore
        + SecretStore
        + PeopleStore
        + SessionStore
        + AuditStore
        + ThrottleStore
        + ChallengeStore
        + MfaStore
        + PolicyStore
        + PresenceStore
        + WebhookStore
        + MailStore
        + InvitationStore
        + LinkStore
        + RetentionStore
        + MetricsStore
        + AssertionKeyStore
        + SsoStore
        + 'static
{
}

/// Opens the store a database URL names, applying its migrations.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    connect_with(url, &PoolConfig::default()).await
}

/// As [`connect`], with PostgreSQL's connection pool sized (SQLite's is fixed: one writer).
pub async fn connect_with(url: &str, pool: &PoolConfig) -> StoreResult<Arc<dyn Store>> {
    Ok(Arc::new(open(url, pool).await?))
}

/// The store a database URL names, by its scheme.
async fn open(url: &str, pool: &PoolConfig) -> StoreResult<SqlStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        postgres::connect_with(url, pool).await
    } else if url.starts_with("sqlite:") {
        sqlite::connect(url).await
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
