//! Webhooks: endpoints, claiming deliveries fairly and recording attempts through the outboxes'
//! queue (`queue.rs`). The outbox rows each change writes are `outbox.rs`.

use async_trait::async_trait;

use crate::domain::time::Millis;
use crate::store::sql::queue::{Attempt, DELIVERIES, Queue};
use crate::store::sql::{self, Dialect, SqlStore, dynamic_as, query, query_as, query_scalar};
use crate::store::{
    AttemptResult, DeliveryJob, StoreError, StoreResult, WebhookDelivery, WebhookEndpoint,
    WebhookStore,
};

/// The deliveries to claim: due, unclaimed (or lease run out), endpoint enabled, and no
/// earlier pending event of the same person for the same endpoint; the accounts in turn (`r`,
/// each account's first candidate, then its second, ...) and none past `$4` in flight
/// (`busy`: claims not yet recorded, by any instance). On PostgreSQL the outer level, which
/// the queue locks (the window function's level cannot be), checks the claim again on the row
/// it locked.
const PICK: &str = "SELECT x.seq FROM webhook_deliveries x WHERE x.status = 'pending' \
     AND x.claimed_until <= $2 AND x.seq IN ( \
     SELECT c.seq FROM ( \
     SELECT d.seq, d.account_id, \
     ROW_NUMBER() OVER (PARTITION BY d.account_id ORDER BY d.seq) AS r \
     FROM webhook_deliveries d \
     JOIN webhook_endpoints e ON e.id = d.endpoint_id \
     WHERE d.status = 'pending' AND d.next_attempt_at <= $2 AND d.claimed_until <= $2 \
     AND e.disabled_reason IS NULL \
     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id \
     AND p.member_id = d.member_id AND p.status = 'pending' AND p.seq < d.seq)) c \
     LEFT JOIN (SELECT account_id, COUNT(*) AS n FROM webhook_deliveries \
     WHERE status = 'pending' AND claimed_until > $2 GROUP BY account_id) busy \
     ON busy.account_id = c.account_id \
     WHERE c.r + COALESCE(busy.n, 0) <= $4 \
     ORDER BY c.r, c.seq LIMIT $3)";

#[async_trait]
impl WebhookStore for SqlStore {
    async fn insert_webhook(&self, e: &WebhookEndpoint) -> StoreResult<()> {
        query(
            "INSERT INTO webhook_endpoints (id, account_id, url, events, secret, \
             disabled_reason, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&e.id)
        .bind(&e.account_id)
        .bind(&e.url)
        .bind(&e.events)
        .bind(&e.secret)
        .bind(&e.disabled_reason)
        .bind(e.created_at)
        .bind(&e.created_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn webhooks(&self, account_id: &str) -> StoreResult<Vec<WebhookEndpoint>> {
        Ok(query_as(
            "SELECT id, account_id, url, events, secret, disabled_reason, created_at, \
             created_by FROM webhook_endpoints WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn webhook(&self, account_id: &str, id: &str) -> StoreResult<WebhookEndpoint> {
        Ok(query_as(
            "SELECT id, account_id, url, events, secret, disabled_reason, created_at, \
             created_by FROM webhook_endpoints WHERE account_id = $1 AND id = $2",
        )
        .bind(account_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn delete_webhook(&self, account_id: &str, id: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // Deleted explicitly as well: SQLite enforces ON DELETE CASCADE only with
        // foreign keys on, which a copied database may not have.
        query("DELETE FROM webhook_deliveries WHERE account_id = $1 AND endpoint_id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let r = query("DELETE FROM webhook_endpoints WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn webhook_deliveries(
        &self,
        account_id: &str,
        endpoint_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let sql = format!(
            "SELECT {} FROM webhook_deliveries WHERE account_id = $1 AND endpoint_id = $2 \
             ORDER BY seq DESC LIMIT $3",
            DELIVERIES.columns
        );
        Ok(query_as(sql)
            .bind(account_id)
            .bind(endpoint_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn retry_delivery(
        &self,
        account_id: &str,
        endpoint_id: &str,
        delivery_id: &str,
        now: Millis,
    ) -> StoreResult<WebhookDelivery> {
        // On PostgreSQL the endpoint's row is share-locked: a worker turning it off (after a
        // 410) holds that row until it has failed the endpoint's waiting deliveries, and this
        // statement, waiting for it, then sees the endpoint off. Read from its own snapshot it
        // could queue the delivery after the worker's sweep, pending for ever. SQLite runs one
        // writer at a time.
        let lock = if self.dialect() == Dialect::Postgres {
            " FOR SHARE"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, \
             next_attempt_at = $1, claimed_until = 0, delivered_at = NULL \
             WHERE account_id = $2 AND endpoint_id = $3 AND id = $4 \
             AND EXISTS (SELECT 1 FROM webhook_endpoints e \
             WHERE e.id = $3 AND e.disabled_reason IS NULL{lock}) RETURNING {}",
            DELIVERIES.columns
        );
        Ok(query_as(sql)
            .bind(now)
            .bind(account_id)
            .bind(endpoint_id)
            .bind(delivery_id)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn claim_deliveries_fairly(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
        per_account: i64,
    ) -> StoreResult<Vec<DeliveryJob>> {
        let claimed: Vec<WebhookDelivery> = DELIVERIES
            .claim(
                self,
                now,
                DELIVERIES.claim_sql(self.dialect(), PICK),
                vec![
                    lease_until.into(),
                    now.into(),
                    limit.into(),
                    per_account.into(),
                ],
            )
            .await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = claimed.iter().map(|d| d.endpoint_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let mut args = sql::Args::default();
        let sql = format!(
            "SELECT id, url, secret FROM webhook_endpoints WHERE id IN ({})",
            args.list(self.dialect(), &ids)
        );
        let targets: std::collections::HashMap<String, (String, String)> =
            dynamic_as::<(String, String, String)>(sql, &args)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|(id, url, secret)| (id, (url, secret)))
                .collect();
        // In the claim's order, oldest first.
        Ok(claimed
            .into_iter()
            .filter_map(|d| {
                let (url, secret) = targets.get(&d.endpoint_id)?.clone();
                Some(DeliveryJob {
                    delivery: d,
                    url,
                    secret,
                })
            })
            .collect())
    }

    async fn finish_deliveries(&self, results: &[(String, AttemptResult)]) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (delivery_id, r) in results {
            let attempt = Attempt {
                status: &r.status,
                attempts: r.attempts,
                next_attempt_at: r.next_attempt_at,
                last_error: r.last_error.as_deref(),
                done_at: r.delivered_at,
            };
            let mut q = query_scalar::<String>(
                DELIVERIES.record_sql(", last_status_code = $7", " RETURNING endpoint_id"),
            );
            for a in Queue::record_args(&attempt, delivery_id) {
                q = q.bind(a);
            }
            let endpoint = q.bind(r.last_status_code).fetch_optional(&mut *tx).await?;
            if r.disable_endpoint
                && let Some(endpoint) = endpoint
            {
                query("UPDATE webhook_endpoints SET disabled_reason = 'gone' WHERE id = $1")
                    .bind(&endpoint)
                    .execute(&mut *tx)
                    .await?;
                // Nothing more goes to it: what was waiting fails now rather than sit
                // in the queue.
                query(
                    "UPDATE webhook_deliveries SET status = 'failed', claimed_until = 0, \
                     last_error = 'not sent: the endpoint is off (410 Gone)' \
                     WHERE endpoint_id = $1 AND status = 'pending'",
                )
                .bind(&endpoint)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pending_deliveries(&self) -> StoreResult<i64> {
        Ok(
            query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
