//! Sessions while they live: sign-in starts them (in one transaction with its audit row and
//! the sessions it replaces), the authentication hot path reads them by token hash, activity
//! is recorded, and the Team pages list them. Ending them is `endings`.

use async_trait::async_trait;

use crate::domain::session::EndReason;
use crate::domain::time::Millis;
use crate::store::sql::{self, SqlStore, Tx, dynamic, dynamic_as, query, query_as, query_scalar};
use crate::store::{
    AuthRecord, EndSessions, Ended, LiveSessionAddress, NewSession, Session, SessionSeen,
    SessionStore, StartSession, Started, StoreResult,
};

#[async_trait]
impl SessionStore for SqlStore {
    async fn insert_session(&self, s: &NewSession) -> StoreResult<Session> {
        let mut tx = self.begin_write().await?;
        Self::insert_session_in(&mut tx, s, false).await?;
        let change = sql::outbox::Change::session(&s.account_id, &s.member_id, &s.id, false);
        Self::record_changes_in(&mut tx, self.outbox_now(), &[change]).await?;
        tx.commit().await?;
        self.session(&s.account_id, &s.id).await
    }

    async fn start_session(&self, req: &StartSession) -> StoreResult<Started> {
        let s = &req.session;
        let mut tx = self.begin_write().await?;
        Self::insert_session_in(&mut tx, s, req.outside_office).await?;
        Self::insert_audits_in(&mut *tx, std::slice::from_ref(&req.audit)).await?;
        let ended = Self::end_sessions_in(&mut tx, &req.cap).await?;
        // The start before the endings it caused, as they happened.
        let started = sql::outbox::Change::session(&s.account_id, &s.member_id, &s.id, false);
        let changes: Vec<sql::outbox::Change> = std::iter::once(started)
            .chain(sql::endings::changes(&ended))
            .collect();
        Self::record_changes_in(&mut tx, self.outbox_now(), &changes).await?;
        if let Some(alert) = &req.alert {
            Self::insert_signin_alert_in(&mut tx, s, alert).await?;
        }
        tx.commit().await?;
        let session = self.session(&s.account_id, &s.id).await?;
        Ok(Started { session, ended })
    }

    async fn auth_record(&self, token_hash: &str) -> StoreResult<Option<AuthRecord>> {
        let sql = format!(
            "SELECT {}, s.csrf_token, m.name AS member_name, m.email AS member_email, \
             m.is_primary, m.permissions, m.disabled, a.agent_idle_timeout_minutes, \
             a.max_session_lifetime_minutes, a.name AS account_name, m.time_zone \
             FROM sessions s JOIN members m ON m.id = s.member_id \
             JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = $1 AND s.ended_at IS NULL",
            sql::SESSION_COLUMNS
        );
        let row: Option<AuthRow> = query_as(sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(AuthRecord::from))
    }

    async fn ended_session_reason(
        &self,
        account_id: &str,
        token_hash: &str,
    ) -> StoreResult<Option<EndReason>> {
        let reason: Option<Option<EndReason>> = query_scalar(
            "SELECT end_reason FROM sessions WHERE account_id = $1 AND token_hash = $2",
        )
        .bind(account_id)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(reason.flatten())
    }

    async fn session_email(
        &self,
        account_id: &str,
        token_hash: &str,
    ) -> StoreResult<Option<String>> {
        Ok(query_scalar(
            "SELECT m.email FROM sessions s \
             JOIN members m ON m.id = s.member_id AND m.account_id = s.account_id \
             WHERE s.account_id = $1 AND s.token_hash = $2",
        )
        .bind(account_id)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn session(&self, account_id: &str, session_id: &str) -> StoreResult<Session> {
        let sql = format!(
            "SELECT {} FROM sessions s WHERE s.account_id = $1 AND s.id = $2",
            sql::SESSION_COLUMNS
        );
        Ok(query_as(sql)
            .bind(account_id)
            .bind(session_id)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn active_sessions(
        &self,
        account_id: &str,
        member_ids: &[String],
        active_after: Millis,
    ) -> StoreResult<Vec<Session>> {
        if member_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = sql::Args::default();
        let sql = format!(
            "SELECT {} FROM sessions s WHERE s.account_id = {} AND s.ended_at IS NULL \
             AND s.last_seen_at >= {} AND s.member_id IN ({}) \
             ORDER BY s.started_at, s.id",
            sql::SESSION_COLUMNS,
            args.text(account_id),
            args.int(active_after),
            args.list(self.dialect(), member_ids)
        );
        Ok(dynamic_as(sql, &args).fetch_all(&self.pool).await?)
    }

    async fn end_sessions(&self, req: &EndSessions) -> StoreResult<Ended> {
        // In `endings.rs`, with the expiry rules it shares with the sweep.
        self.end(req).await
    }

    async fn touch_session_seen(&self, t: &SessionSeen) -> StoreResult<bool> {
        // Activity never moves back (another instance may have recorded a later
        // instant); a change of address or device keeps the moment it was first seen.
        let r = query(
            "UPDATE sessions SET \
             last_seen_at = CASE WHEN last_seen_at < $1 THEN $1 ELSE last_seen_at END, \
             ip_changed_at = CASE WHEN COALESCE(last_ip, ip) <> $2 THEN $1 \
             ELSE ip_changed_at END, \
             device_changed_at = CASE WHEN COALESCE(last_user_agent, user_agent) <> $3 \
             THEN $1 ELSE device_changed_at END, \
             last_ip = $2, last_user_agent = $3, outside_office = $4 \
             WHERE id = $5 AND ended_at IS NULL",
        )
        .bind(t.at)
        .bind(t.ip)
        .bind(&t.user_agent)
        .bind(t.outside_office)
        .bind(&t.session_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn live_session_addresses(
        &self,
        account_id: &str,
    ) -> StoreResult<Vec<LiveSessionAddress>> {
        Ok(query_as(
            "SELECT id AS session_id, member_kind, member_id, ip AS first_ip, \
             COALESCE(last_ip, ip) AS last_ip \
             FROM sessions WHERE account_id = $1 AND ended_at IS NULL",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn set_outside_office(&self, account_id: &str, outside: &[String]) -> StoreResult<()> {
        let mut args = sql::Args::default();
        let sql = format!(
            "UPDATE sessions SET outside_office = (id IN ({})) \
             WHERE account_id = {} AND ended_at IS NULL",
            args.list(self.dialect(), outside),
            args.text(account_id)
        );
        dynamic(sql, &args).execute(&self.pool).await?;
        Ok(())
    }
}

impl SqlStore {
    async fn insert_session_in(
        conn: &mut Tx,
        s: &NewSession,
        outside_office: bool,
    ) -> StoreResult<()> {
        query(
            "INSERT INTO sessions (id, account_id, member_id, member_kind, token_hash, \
             csrf_token, started_at, last_seen_at, ip, user_agent, device, \
             auth_methods, mfa_enrollment, outside_office, sso_sub, sso_sid) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&s.id)
        .bind(&s.account_id)
        .bind(&s.member_id)
        .bind(s.member_kind.as_str())
        .bind(&s.token_hash)
        .bind(&s.csrf_token)
        .bind(s.started_at)
        .bind(s.ip)
        .bind(&s.user_agent)
        .bind(&s.device)
        .bind(s.auth_methods.to_db())
        .bind(s.mfa_enrollment)
        .bind(outside_office)
        .bind(s.sso.as_ref().map(|o| o.sub.as_str()))
        .bind(s.sso.as_ref().and_then(|o| o.sid.as_deref()))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

/// [`AuthRecord`] as the query reads it.
#[derive(sqlx::FromRow)]
struct AuthRow {
    #[sqlx(flatten)]
    session: Session,
    csrf_token: String,
    member_name: String,
    member_email: String,
    #[sqlx(rename = "is_primary")]
    primary: bool,
    permissions: crate::domain::member::Permissions,
    disabled: bool,
    agent_idle_timeout_minutes: i64,
    max_session_lifetime_minutes: Option<i64>,
    account_name: String,
    time_zone: Option<String>,
}

impl From<AuthRow> for AuthRecord {
    fn from(r: AuthRow) -> Self {
        AuthRecord {
            session: std::sync::Arc::new(r.session),
            csrf_token: r.csrf_token,
            member_name: r.member_name,
            member_email: r.member_email,
            primary: r.primary,
            permissions: r.permissions,
            disabled: r.disabled,
            agent_idle_timeout_minutes: r.agent_idle_timeout_minutes,
            max_session_lifetime_minutes: r.max_session_lifetime_minutes,
            account_name: r.account_name,
            time_zone: r.time_zone,
        }
    }
}
