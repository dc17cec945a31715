//! Retention: rows deleted by age in bounded batches by the hourly sweep.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::time::Millis;

/// What the retention sweep deletes by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retained {
    /// Sessions ended before the cutoff.
    EndedSessions,
    /// Audit entries written before the cutoff.
    AuditEntries,
    /// Webhook deliveries created before the cutoff.
    Deliveries,
    /// E-mail messages queued before the cutoff, whatever became of them.
    Mail,
    /// Password-reset links that expired before the cutoff.
    ResetLinks,
    /// Invitation links that expired before the cutoff.
    InvitationLinks,
}

/// Deleting old rows.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes at most `limit` rows of `what` older than `before`; returns how many.
    async fn delete_older(&self, what: Retained, before: Millis, limit: i64) -> StoreResult<u64>;
}
