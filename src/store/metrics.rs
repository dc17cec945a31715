//! What the metrics scrape reads from the database.

use async_trait::async_trait;

use super::StoreResult;

/// Totals over every account for the metrics scrape (see `MetricsStore::live_counts`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Sessions not ended yet (the sweep ends idle ones within its interval).
    pub agent_sessions: i64,
    pub admin_sessions: i64,
    /// Agents whose status is Online and who are not disabled.
    pub agents_online: i64,
}

/// Counts for the metrics scrape.
#[async_trait]
pub trait MetricsStore: Send + Sync {
    /// What the metrics scrape reads from the database, in every account at once: live
    /// sessions by role and agents Online. One grouped count each, never per person.
    async fn live_counts(&self) -> StoreResult<LiveCounts>;
}
