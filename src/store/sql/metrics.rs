//! The counts the metrics scrape reads: cheap grouped counts over partial indexes, so a scrape
//! every few seconds costs the database next to nothing.

use super::{SqlStore, query_as, query_scalar};
use async_trait::async_trait;

use crate::store::{LiveCounts, MetricsStore, StoreResult};

#[async_trait]
impl MetricsStore for SqlStore {
    async fn live_counts(&self) -> StoreResult<LiveCounts> {
        // `sessions_live_by_seen` covers exactly the live sessions.
        let by_kind: Vec<(String, i64)> = query_as(
            "SELECT member_kind, CAST(COUNT(*) AS BIGINT) FROM sessions \
             WHERE ended_at IS NULL GROUP BY member_kind",
        )
        .fetch_all(&self.pool)
        .await?;
        let agents_online: i64 = query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM members \
             WHERE kind = 'agent' AND status = 'online' AND disabled = FALSE",
        )
        .fetch_one(&self.pool)
        .await?;
        let mut counts = LiveCounts {
            agents_online,
            ..LiveCounts::default()
        };
        for (kind, n) in by_kind {
            match kind.as_str() {
                "agent" => counts.agent_sessions = n,
                "admin" => counts.admin_sessions = n,
                _ => {}
            }
        }
        Ok(counts)
    }
}
