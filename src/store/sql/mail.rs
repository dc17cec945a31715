//! E-mail: the outbox (a message row written in the transaction of the change that causes it,
//! claimed and its result recorded through the outboxes' queue, `queue.rs`), the reset request
//! with its links and the per-address count, and sign-in alerts (their policy and "This wasn't
//! me" links, through the single-use links of `links.rs`).

use async_trait::async_trait;

use crate::domain::mail::SigninAlerts;
use crate::domain::time::Millis;
use crate::store::sql::links::{Links, NewLink, Spent, USABLE};
use crate::store::sql::queue::{Attempt, MAIL, Queue};
use crate::store::sql::{self, Dialect, SqlStore, query, query_as, query_scalar};
use crate::store::{
    Mail, MailResult, MailStore, NewMail, NewSession, NewSigninAlert, ResetRequest,
    SigninAlertLink, StoreError, StoreResult, UsedSigninAlert,
};

/// The messages to claim: due, unclaimed (or lease run out), oldest first.
const PICK: &str = "SELECT seq FROM mail_outbox WHERE status = 'pending' \
     AND next_attempt_at <= $2 AND claimed_until <= $2 ORDER BY seq LIMIT $3";

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

    /// Messages of `kind` to an address since `since`, counted inside the caller's write
    /// transaction under a lock on the address. SQLite: BEGIN IMMEDIATE holds the write lock
    /// already. PostgreSQL: requests for one address take turns, so the count cannot be read
    /// by two of them at once.
    async fn count_mail_locked(
        &self,
        tx: &mut sql::Tx,
        account_id: &str,
        kind: &str,
        recipient_norm: &str,
        since: Millis,
    ) -> StoreResult<i64> {
        if self.dialect() == Dialect::Postgres {
            let key = format!("mail {account_id} {kind} {recipient_norm}");
            for lock in sql::throttling::advisory_locks(&[key]) {
                query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(query_scalar(
            "SELECT COUNT(*) FROM mail_outbox WHERE account_id = $1 AND kind = $2 \
             AND recipient_norm = $3 AND created_at >= $4",
        )
        .bind(account_id)
        .bind(kind)
        .bind(recipient_norm)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?)
    }

    /// Writes a sign-in alert's link and message inside the transaction that starts its
    /// session.
    pub(in crate::store) async fn insert_signin_alert_in(
        tx: &mut sql::Tx,
        session: &NewSession,
        alert: &NewSigninAlert,
    ) -> StoreResult<()> {
        let link = NewLink {
            token_hash: &alert.token_hash,
            account_id: &session.account_id,
            member_id: &session.member_id,
            session_id: Some(&session.id),
            created_at: session.started_at,
            expires_at: alert.expires_at,
        };
        Self::insert_link_in(tx, Links::SigninAlerts, &link).await?;
        Self::queue_mail_in(tx, &alert.mail, session.started_at).await
    }
}

#[async_trait]
impl MailStore for SqlStore {
    async fn request_password_reset(&self, r: &ResetRequest) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let m = &r.mail;
        let sent = self
            .count_mail_locked(
                &mut tx,
                &m.account_id,
                &m.kind,
                &m.recipient_norm,
                r.window_start,
            )
            .await?;
        if sent >= r.max_per_window {
            return Ok(false);
        }
        for (member_id, token_hash) in &r.links {
            let link = NewLink {
                token_hash,
                account_id: &m.account_id,
                member_id,
                session_id: None,
                created_at: r.now,
                expires_at: r.expires_at,
            };
            Self::insert_link_in(&mut tx, Links::PasswordResets, &link).await?;
        }
        Self::queue_mail_in(&mut tx, &r.mail, r.now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn count_mail_to(
        &self,
        account_id: &str,
        kind: &str,
        recipient_norm: &str,
        since: Millis,
    ) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let sent = self
            .count_mail_locked(&mut tx, account_id, kind, recipient_norm, since)
            .await?;
        tx.commit().await?;
        Ok(sent)
    }

    async fn claim_mail(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> StoreResult<Vec<Mail>> {
        MAIL.claim(
            self,
            now,
            MAIL.claim_sql(self.dialect(), PICK),
            vec![lease_until.into(), now.into(), limit.into()],
        )
        .await
    }

    async fn finish_mail(&self, id: &str, r: &MailResult) -> StoreResult<()> {
        let done = r.status != "pending";
        let mut tx = self.begin_write().await?;
        let attempt = Attempt {
            status: &r.status,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error.as_deref(),
            done_at: r.sent_at,
        };
        // A message done with holds no link any more that someone could read in the table.
        let mut q = query(MAIL.record_sql(
            ", text_body = CASE WHEN $7 THEN '' ELSE text_body END, \
             html_body = CASE WHEN $7 THEN '' ELSE html_body END",
            "",
        ));
        for a in Queue::record_args(&attempt, id) {
            q = q.bind(a);
        }
        let changed = q.bind(done).execute(&mut *tx).await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn mail(&self, id: &str) -> StoreResult<Mail> {
        Ok(query_as(format!(
            "SELECT {} FROM mail_outbox WHERE id = $1",
            MAIL.columns
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn mail_to(&self, account_id: &str, recipient_norm: &str) -> StoreResult<Vec<Mail>> {
        Ok(query_as(format!(
            "SELECT {} FROM mail_outbox WHERE account_id = $1 \
             AND recipient_norm = $2 ORDER BY seq DESC",
            MAIL.columns
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

    async fn signin_alerts(&self, account_id: &str) -> StoreResult<SigninAlerts> {
        let row: Option<(bool, bool)> =
            query_as("SELECT agents, admins FROM signin_alert_policy WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(
            row.map_or_else(SigninAlerts::default, |(agents, admins)| SigninAlerts {
                agents,
                admins,
            }),
        )
    }

    async fn set_signin_alerts(&self, account_id: &str, a: SigninAlerts) -> StoreResult<()> {
        query(
            "INSERT INTO signin_alert_policy (account_id, agents, admins) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO UPDATE SET agents = excluded.agents, \
             admins = excluded.admins",
        )
        .bind(account_id)
        .bind(a.agents)
        .bind(a.admins)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn signin_alert_link(
        &self,
        account_id: &str,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<SigninAlertLink>> {
        Ok(query_as(format!(
            "SELECT l.member_id, l.session_id, s.started_at, s.ip, s.device, \
             s.ended_at IS NOT NULL AS session_ended \
             FROM signin_alerts l JOIN sessions s ON s.id = l.session_id WHERE {USABLE}"
        ))
        .bind(token_hash)
        .bind(account_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn use_signin_alert(
        &self,
        account_id: &str,
        token_hash: &str,
        reset_token_hash: &str,
        reset_expires_at: Millis,
        now: Millis,
    ) -> StoreResult<Option<UsedSigninAlert>> {
        let mut tx = self.begin_write().await?;
        let spent =
            Self::spend_link_in(&mut tx, Links::SigninAlerts, account_id, token_hash, now).await?;
        let Some(Spent {
            member_id,
            session_id: Some(session_id),
            ..
        }) = spent
        else {
            return Ok(None);
        };
        // A disabled person gets no way to set a password (they may not sign in anyway).
        let link = NewLink {
            token_hash: reset_token_hash,
            account_id,
            member_id: &member_id,
            session_id: None,
            created_at: now,
            expires_at: reset_expires_at,
        };
        let reset_link = Self::insert_link_in(&mut tx, Links::PasswordResets, &link).await?;
        tx.commit().await?;
        Ok(Some(UsedSigninAlert {
            member_id,
            session_id,
            reset_link,
        }))
    }
}
