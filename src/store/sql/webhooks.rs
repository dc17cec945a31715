//! Webhooks: endpoints, claiming deliveries with a lease, and attempt results. The outbox
//! rows each change writes are `outbox.rs`.

use async_trait::async_trait;

use crate::domain::time::Millis;
use crate::store::sql::{self, Dialect, SqlStore, dynamic_as, query, query_as, query_scalar};
use crate::store::{
    AttemptResult, DeliveryJob, StoreError, StoreResult, WebhookDelivery, WebhookEndpoint,
    WebhookStore,
};

pub(in crate::store) const DELIVERY_COLUMNS: &str = "id, account_id, endpoint_id, member_id, \
     event_type, body, status, attempts, next_attempt_at, last_status_code, last_error, \
     created_at, delivered_at";

/// The claim: due, unclaimed (or lease run out), endpoint enabled, and no earlier pending
/// event of the same person for the same endpoint; the accounts in turn (`r`, each account's
/// first candidate, then its second, ...) and none past `$4` in flight (`busy`: claims not yet
/// recorded, by any instance). PostgreSQL locks at the outer level, where the window function
/// is not, skips rows another instance is claiming and checks the claim again on the row it
/// locked; SQLite's write lock makes the one statement atomic.
pub(in crate::store) fn claim_sql(dialect: Dialect) -> String {
    let lock = if dialect == Dialect::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    format!(
        "UPDATE webhook_deliveries SET claimed_until = $1 WHERE seq IN ( \
         SELECT x.seq FROM webhook_deliveries x WHERE x.status = 'pending' \
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
         ORDER BY c.r, c.seq LIMIT $3){lock}) RETURNING {DELIVERY_COLUMNS}"
    )
}

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
            sql::webhooks::DELIVERY_COLUMNS
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
            sql::webhooks::DELIVERY_COLUMNS
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
        // A read first: the worker asks several times a second, and on SQLite an
        // UPDATE takes the write lock even when it changes nothing.
        let due: Option<i64> = query_scalar(
            "SELECT seq FROM webhook_deliveries WHERE status = 'pending' \
             AND next_attempt_at <= $1 AND claimed_until <= $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        // One statement leases every row it returns; in a write transaction so that
        // on SQLite it takes its turn at the write gate like every other writer.
        let mut tx = self.begin_write().await?;
        let claimed: Vec<WebhookDelivery> = query_as(sql::webhooks::claim_sql(self.dialect()))
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .bind(per_account)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
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
        let mut jobs: Vec<DeliveryJob> = claimed
            .into_iter()
            .filter_map(|d| {
                let (url, secret) = targets.get(&d.endpoint_id)?.clone();
                Some(DeliveryJob {
                    delivery: d,
                    url,
                    secret,
                })
            })
            .collect();
        jobs.sort_by(|a, b| {
            (a.delivery.created_at, &a.delivery.id).cmp(&(b.delivery.created_at, &b.delivery.id))
        });
        Ok(jobs)
    }

    async fn finish_deliveries(&self, results: &[(String, AttemptResult)]) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (delivery_id, r) in results {
            let endpoint: Option<String> = query_scalar(
                "UPDATE webhook_deliveries SET status = $1, attempts = $2, \
                 next_attempt_at = $3, last_status_code = $4, last_error = $5, \
                 delivered_at = $6, claimed_until = 0 WHERE id = $7 RETURNING endpoint_id",
            )
            .bind(&r.status)
            .bind(r.attempts)
            .bind(r.next_attempt_at)
            .bind(r.last_status_code)
            .bind(&r.last_error)
            .bind(r.delivered_at)
            .bind(delivery_id)
            .fetch_optional(&mut *tx)
            .await?;
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
