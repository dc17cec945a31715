//! What only tests need from the store: shortcuts the service never takes (a bare activity
//! write, a failure count read outside a reservation, audit rows written directly, a claim
//! without the per-account cap), kept out of the production traits so no use case can come
//! to depend on them. Integration tests open the store through [`connect`] and hand it to the
//! server as an ordinary `Arc<dyn Store>`.

use std::sync::Arc;

use async_trait::async_trait;

use super::sql::{SqlStore, query, query_scalar};
use super::{
    AttemptResult, AuditEntry, DeliveryJob, FailureWindow, PoolConfig, Store, StoreResult,
};
use crate::domain::time::Millis;

/// The store with the shortcuts tests take.
#[async_trait]
pub trait TestStore: Store {
    /// Records activity at `at` (never moving back) and nothing else; `false` when the session
    /// has ended.
    async fn touch_session(&self, session_id: &str, at: Millis) -> StoreResult<bool>;
    /// Failed sign-ins of `key` after `since`: how many, the oldest and the newest.
    async fn signin_failures(&self, key: &str, since: Millis) -> StoreResult<FailureWindow>;
    /// Writes these audit entries as they are, in one statement.
    async fn insert_audits(&self, entries: &[AuditEntry]) -> StoreResult<()>;
    /// Sign-in challenges stored, expired or not.
    async fn stored_challenges(&self) -> StoreResult<i64>;
    /// [`WebhookStore::claim_deliveries_fairly`] with no cap per account.
    async fn claim_deliveries(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryJob>> {
        self.claim_deliveries_fairly(now, lease_until, limit, i64::MAX)
            .await
    }
    /// [`WebhookStore::finish_deliveries`] of one attempt.
    async fn finish_delivery(&self, delivery_id: &str, r: &AttemptResult) -> StoreResult<()> {
        self.finish_deliveries(&[(delivery_id.to_string(), r.clone())])
            .await
    }
}

#[async_trait]
impl TestStore for SqlStore {
    async fn touch_session(&self, session_id: &str, at: Millis) -> StoreResult<bool> {
        let r = query(
            "UPDATE sessions SET last_seen_at = \
             CASE WHEN last_seen_at < $1 THEN $1 ELSE last_seen_at END \
             WHERE id = $2 AND ended_at IS NULL",
        )
        .bind(at)
        .bind(session_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn signin_failures(&self, key: &str, since: Millis) -> StoreResult<FailureWindow> {
        SqlStore::failures_in(&self.pool, key, since).await
    }

    async fn insert_audits(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        SqlStore::insert_audits_in(&self.pool, entries).await
    }

    async fn stored_challenges(&self) -> StoreResult<i64> {
        Ok(query_scalar("SELECT COUNT(*) FROM signin_challenges")
            .fetch_one(&self.pool)
            .await?)
    }
}

/// As [`super::connect`], with the test shortcuts.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn TestStore>> {
    Ok(Arc::new(super::open(url, &PoolConfig::default()).await?))
}

/// As [`super::connect_with`], with the test shortcuts.
pub async fn connect_with(url: &str, pool: &PoolConfig) -> StoreResult<Arc<dyn TestStore>> {
    Ok(Arc::new(super::open(url, pool).await?))
}
