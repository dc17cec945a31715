//! E-mail: the outbox (a message row written in the transaction of the change that causes it,
//! claimed with a lease, its result recorded) and password-reset links.

use async_trait::async_trait;

use crate::domain::time::Millis;
use crate::store::sql::{self, Dialect, SqlStore, query, query_as, query_scalar};
use crate::store::{
    Mail, MailResult, MailStore, NewMail, ResetRequest, StoreError, StoreResult, UsedReset,
};

pub(in crate::store) const MAIL_COLUMNS: &str = "id, account_id, kind, recipient, \
     recipient_name, subject, text_body, html_body, status, attempts, next_attempt_at, \
     last_error, created_at, sent_at";

/// The claim: due, unclaimed (or lease run out), oldest first. PostgreSQL skips rows another
/// instance is claiming; SQLite's write lock makes the one statement atomic.
fn claim_sql(dialect: Dialect) -> String {
    let lock = if dialect == Dialect::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    format!(
        "UPDATE mail_outbox SET claimed_until = $1 WHERE seq IN ( \
         SELECT seq FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
         AND claimed_until <= $2 ORDER BY seq LIMIT $3{lock}) RETURNING {MAIL_COLUMNS}"
    )
}

impl SqlStore {
    /// Writes a message into the outbox inside the caller's transaction, due at once.
    pub(in crate::store) async fn queue_mail_in(
        tx: &mut sql::Tx,
        m: &NewMail,
        now: Millis,
    ) -> StoreResult<()> {
        query(
            "INSERT INTO mail_outbox (id, account_id, kind, recipient_norm, recipient, \
             recipient_name, subject, text_body, html_body, status, attempts, next_attempt_at, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10)",
        )
        .bind(&m.id)
        .bind(&m.account_id)
        .bind(&m.kind)
        .bind(&m.recipient_norm)
        .bind(&m.recipient)
        .bind(&m.recipient_name)
        .bind(&m.subject)
        .bind(&m.text_body)
        .bind(&m.html_body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl MailStore for SqlStore {
    async fn request_password_reset(&self, r: &ResetRequest) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // SQLite: BEGIN IMMEDIATE holds the write lock already. PostgreSQL: requests for one
        // address take turns, so the count below cannot be read by two of them at once.
        if self.dialect() == Dialect::Postgres {
            let key = format!(
                "mail {} {} {}",
                r.mail.account_id, r.mail.kind, r.mail.recipient_norm
            );
            for lock in sql::throttling::advisory_locks(&[key]) {
                query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let sent: i64 = query_scalar(
            "SELECT COUNT(*) FROM mail_outbox WHERE account_id = $1 AND kind = $2 \
             AND recipient_norm = $3 AND created_at >= $4",
        )
        .bind(&r.mail.account_id)
        .bind(&r.mail.kind)
        .bind(&r.mail.recipient_norm)
        .bind(r.window_start)
        .fetch_one(&mut *tx)
        .await?;
        if sent >= r.max_per_window {
            return Ok(false);
        }
        for (member_id, token_hash) in &r.links {
            query(
                "INSERT INTO password_resets (token_hash, account_id, member_id, created_at, \
                 expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash)
            .bind(&r.mail.account_id)
            .bind(member_id)
            .bind(r.now)
            .bind(r.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        Self::queue_mail_in(&mut tx, &r.mail, r.now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn use_password_reset(
        &self,
        account_id: &str,
        token_hash: &str,
        password_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<UsedReset>> {
        let mut tx = self.begin_write().await?;
        let used: Option<(String, String)> = query_as(
            "UPDATE password_resets SET used_at = $1 \
             WHERE token_hash = $2 AND account_id = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING account_id, member_id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(account_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((account_id, member_id)) = used else {
            return Ok(None);
        };
        // A disabled person's link does nothing (they may have been disabled after asking).
        // An invited person who resets instead proved the address as well as an invitation
        // would: the invitation ends, and its links then find nobody invited.
        let r = query(
            "UPDATE members SET password_hash = $1, invited = FALSE \
             WHERE account_id = $2 AND id = $3 AND disabled = FALSE",
        )
        .bind(password_hash)
        .bind(&account_id)
        .bind(&member_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        // The new password makes the person's other links useless: whoever holds one of the
        // older messages cannot set the password again.
        query("UPDATE password_resets SET used_at = $1 WHERE member_id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(&member_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(UsedReset {
            account_id,
            member_id,
        }))
    }

    async fn password_reset_usable(
        &self,
        account_id: &str,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<bool> {
        let n: i64 = query_scalar(
            "SELECT COUNT(*) FROM password_resets \
             WHERE token_hash = $1 AND account_id = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    async fn claim_mail(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> StoreResult<Vec<Mail>> {
        // A read first: the worker asks several times a second, and on SQLite an UPDATE takes
        // the write lock even when it changes nothing.
        let due: Option<i64> = query_scalar(
            "SELECT seq FROM mail_outbox WHERE status = 'pending' \
             AND next_attempt_at <= $1 AND claimed_until <= $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let mut claimed: Vec<Mail> = query_as(claim_sql(self.dialect()))
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(claimed)
    }

    async fn finish_mail(&self, id: &str, r: &MailResult) -> StoreResult<()> {
        let done = r.status != "pending";
        let mut tx = self.begin_write().await?;
        let changed = query(
            "UPDATE mail_outbox SET status = $1, attempts = $2, next_attempt_at = $3, \
             last_error = $4, sent_at = $5, claimed_until = 0, \
             text_body = CASE WHEN $6 THEN '' ELSE text_body END, \
             html_body = CASE WHEN $6 THEN '' ELSE html_body END WHERE id = $7",
        )
        .bind(&r.status)
        .bind(r.attempts)
        .bind(r.next_attempt_at)
        .bind(r.last_error.as_deref())
        .bind(r.sent_at)
        .bind(done)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn mail(&self, id: &str) -> StoreResult<Mail> {
        Ok(query_as(format!(
            "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn mail_to(&self, account_id: &str, recipient_norm: &str) -> StoreResult<Vec<Mail>> {
        Ok(query_as(format!(
            "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE account_id = $1 \
             AND recipient_norm = $2 ORDER BY seq DESC"
        ))
        .bind(account_id)
        .bind(recipient_norm)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn mail_backlog(&self) -> StoreResult<i64> {
        Ok(
            query_scalar("SELECT COUNT(*) FROM mail_outbox WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
