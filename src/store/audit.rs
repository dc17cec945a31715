//! The audit log: entries written by the service (and by the store with each ending), counted
//! repeats, and the filtered, paged list.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::ClientIp;
use crate::domain::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: String,
    pub account_id: String,
    pub at: Millis,
    pub kind: String,
    pub actor: Option<String>,
    pub target: Option<String>,
    /// None when nobody asked from anywhere (the sweep, an expiry).
    pub ip: Option<ClientIp>,
    pub detail: String,
    /// How many times this happened: 1, or more for an entry that counts repeats
    /// (`AuditStore::count_audit`), whose `at` and `detail` are then the latest.
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

/// The audit log of an account.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit(&self, e: &AuditEntry) -> StoreResult<()>;
    /// Inserts `e` with a count of 1, or, if a row with its id exists in its account, adds 1
    /// to that row's count and sets its `at` and `detail` to `e`'s (repeats counted, say, per
    /// address and hour). A row of that id in another account is a `Conflict` on `id`.
    async fn count_audit(&self, e: &AuditEntry) -> StoreResult<()>;
    async fn list_audit(
        &self,
        account_id: &str,
        q: &AuditQuery,
    ) -> StoreResult<(Vec<AuditEntry>, i64)>;
}
