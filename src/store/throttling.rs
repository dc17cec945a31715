//! Sign-in throttling shared by every instance on one database: failures per opaque key (the
//! service stores hashes, never e-mails or addresses), attempts reserved before a password is
//! checked.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::time::Millis;

/// A key's failed sign-ins within the throttling window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureWindow {
    pub count: usize,
    pub oldest: Option<Millis>,
    pub newest: Option<Millis>,
}

/// Failed sign-ins by key, shared by every instance on this database. Keys are opaque (the
/// service stores hashes, never e-mails or addresses).
#[async_trait]
pub trait ThrottleStore: Send + Sync {
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
}
