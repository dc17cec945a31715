//! The outboxes' queue mechanism, written once for webhook deliveries and e-mail messages: a
//! row is `pending` until an attempt records it `delivered`/`sent` or `failed`; a worker
//! claims due rows by setting a lease (`claimed_until`), so one instance sends each while it
//! lives and a crashed instance's claims come free when the lease runs out; each attempt's
//! result clears the lease and sets when to try again.

use sqlx::FromRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::{Arg, Dialect, SqlStore, query_as, query_scalar};
use crate::domain::time::Millis;
use crate::store::{Mail, StoreResult, WebhookDelivery};

/// One outbox table: its name, the columns its rows are read with, and the column that
/// records when a row was done.
pub(in crate::store) struct Queue {
    pub table: &'static str,
    pub columns: &'static str,
    pub done_at: &'static str,
}

pub(in crate::store) const DELIVERIES: Queue = Queue {
    table: "webhook_deliveries",
    columns: "id, account_id, endpoint_id, member_id, event_type, body, status, attempts, \
              next_attempt_at, last_status_code, last_error, created_at, delivered_at",
    done_at: "delivered_at",
};

pub(in crate::store) const MAIL: Queue = Queue {
    table: "mail_outbox",
    columns: "id, account_id, kind, recipient, recipient_name, subject, text_body, html_body, \
              status, attempts, next_attempt_at, last_error, created_at, sent_at",
    done_at: "sent_at",
};

/// A row of a queue: claims come back in the order the rows were written.
pub(in crate::store) trait Queued {
    fn order(&self) -> (Millis, &str);
}

impl Queued for WebhookDelivery {
    fn order(&self) -> (Millis, &str) {
        (self.created_at, &self.id)
    }
}

impl Queued for Mail {
    fn order(&self) -> (Millis, &str) {
        (self.created_at, &self.id)
    }
}

/// What one attempt leaves on its row, whatever the queue.
pub(in crate::store) struct Attempt<'a> {
    /// `pending` (try again at `next_attempt_at`), the queue's done status, or `failed`.
    pub status: &'a str,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: Option<&'a str>,
    pub done_at: Option<Millis>,
}

impl Queue {
    /// The statement that leases the rows `pick` selects (their `seq`; `$1` is the lease's
    /// end, `$2` now, `$3` how many at most; a queue's own rules may bind more). PostgreSQL
    /// locks what `pick` selects at its outer level, skipping rows another instance is
    /// claiming; SQLite's write lock makes the one statement atomic.
    pub fn claim_sql(&self, dialect: Dialect, pick: &str) -> String {
        let lock = if dialect == Dialect::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        format!(
            "UPDATE {} SET claimed_until = $1 WHERE seq IN ({pick}{lock}) RETURNING {}",
            self.table, self.columns
        )
    }

    /// Runs a claim (`claim_sql`, with `args`), oldest first. A read comes first: workers
    /// ask several times a second, and on SQLite an UPDATE takes the write lock even when it
    /// changes nothing. The claim runs in a write transaction, so that on SQLite it takes its
    /// turn at the write gate like every other writer.
    pub async fn claim<T>(
        &self,
        store: &SqlStore,
        now: Millis,
        sql: String,
        args: Vec<Arg>,
    ) -> StoreResult<Vec<T>>
    where
        T: Queued + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let due: Option<i64> = query_scalar(format!(
            "SELECT seq FROM {} WHERE status = 'pending' \
             AND next_attempt_at <= $1 AND claimed_until <= $1 LIMIT 1",
            self.table
        ))
        .bind(now)
        .fetch_optional(&store.pool)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let mut q = query_as::<T>(sql);
        for a in args {
            q = q.bind(a);
        }
        let mut tx = store.begin_write().await?;
        let mut claimed = q.fetch_all(&mut tx).await?;
        tx.commit().await?;
        claimed.sort_by(|a, b| a.order().cmp(&b.order()));
        Ok(claimed)
    }

    /// The statement that records an attempt on the row `$6`: the attempt's values are `$1`
    /// to `$5` (`record_args`); `more` sets a queue's own columns (from `$7`), `returning`
    /// reads back what the caller needs.
    pub fn record_sql(&self, more: &str, returning: &str) -> String {
        format!(
            "UPDATE {} SET status = $1, attempts = $2, next_attempt_at = $3, last_error = $4, \
             {} = $5, claimed_until = 0{more} WHERE id = $6{returning}",
            self.table, self.done_at
        )
    }

    /// The values of `record_sql`, up to the row's id.
    pub fn record_args(a: &Attempt<'_>, id: &str) -> Vec<Arg> {
        vec![
            a.status.into(),
            a.attempts.into(),
            a.next_attempt_at.into(),
            a.last_error.into(),
            a.done_at.into(),
            id.into(),
        ]
    }
}
