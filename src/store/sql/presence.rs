//! Presence across instances: open tabs per agent per instance, with heartbeats, so several
//! instances agree and a dead instance's agents go Offline.

use super::{SqlStore, query, query_as, query_scalar};
use async_trait::async_trait;

use crate::domain::time::Millis;
use crate::store::{PresenceStore, StoreResult};

#[async_trait]
impl PresenceStore for SqlStore {
    async fn presence_set(
        &self,
        instance_id: &str,
        account_id: &str,
        member_id: &str,
        tabs: i64,
        now: Millis,
    ) -> StoreResult<()> {
        if tabs <= 0 {
            query("DELETE FROM presence WHERE instance_id = $1 AND member_id = $2")
                .bind(instance_id)
                .bind(member_id)
                .execute(&self.pool)
                .await?;
            return Ok(());
        }
        query(
            "INSERT INTO presence (instance_id, account_id, member_id, tabs, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (instance_id, member_id) \
             DO UPDATE SET tabs = excluded.tabs, heartbeat_at = excluded.heartbeat_at",
        )
        .bind(instance_id)
        .bind(account_id)
        .bind(member_id)
        .bind(tabs)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn presence_heartbeat(&self, instance_id: &str, now: Millis) -> StoreResult<()> {
        query("UPDATE presence SET heartbeat_at = $1 WHERE instance_id = $2")
            .bind(now)
            .bind(instance_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn presence_tabs(&self, member_id: &str, fresh_after: Millis) -> StoreResult<i64> {
        Ok(query_scalar(
            "SELECT CAST(COALESCE(SUM(tabs), 0) AS BIGINT) FROM presence \
             WHERE member_id = $1 AND heartbeat_at > $2",
        )
        .bind(member_id)
        .bind(fresh_after)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn online_without_tabs(&self, fresh_after: Millis) -> StoreResult<Vec<(String, String)>> {
        Ok(query_as(
            "SELECT m.account_id, m.id FROM members m \
             WHERE m.kind = 'agent' AND m.status = 'online' AND NOT EXISTS ( \
             SELECT 1 FROM presence p WHERE p.member_id = m.id AND p.tabs > 0 \
             AND p.heartbeat_at > $1)",
        )
        .bind(fresh_after)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn presence_reap(&self, fresh_after: Millis) -> StoreResult<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = query_as(
            "DELETE FROM presence WHERE heartbeat_at <= $1 RETURNING account_id, member_id",
        )
        .bind(fresh_after)
        .fetch_all(&self.pool)
        .await?;
        let mut gone: Vec<(String, String)> = Vec::new();
        for (account_id, member_id) in rows {
            if self.presence_tabs(&member_id, fresh_after).await? == 0
                && !gone.iter().any(|(_, m)| *m == member_id)
            {
                gone.push((account_id, member_id));
            }
        }
        Ok(gone)
    }
}
