//! Retention: deleting rows older than their configured age (ended sessions, audit entries,
//! webhook deliveries, e-mail messages, expired reset links), one bounded batch per statement so no statement holds a lock long.

use async_trait::async_trait;

use crate::domain::time::Millis;
use crate::store::sql::{self, SqlStore, query};
use crate::store::{Retained, RetentionStore, StoreResult};

/// Deletes one batch of old rows of a kind: `$1` the cutoff, `$2` the batch size.
pub(in crate::store) fn delete_older_sql(what: crate::store::Retained) -> &'static str {
    use crate::store::Retained;
    match what {
        Retained::EndedSessions => {
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
             WHERE ended_at IS NOT NULL AND ended_at < $1 LIMIT $2)"
        }
        Retained::AuditEntries => {
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 LIMIT $2)"
        }
        Retained::Deliveries => {
            "DELETE FROM webhook_deliveries WHERE seq IN (SELECT seq FROM webhook_deliveries \
             WHERE created_at < $1 LIMIT $2)"
        }
        Retained::Mail => {
            "DELETE FROM mail_outbox WHERE seq IN (SELECT seq FROM mail_outbox \
             WHERE created_at < $1 LIMIT $2)"
        }
        Retained::ResetLinks => {
            "DELETE FROM password_resets WHERE token_hash IN (SELECT token_hash \
             FROM password_resets WHERE expires_at < $1 LIMIT $2)"
        }
        Retained::InvitationLinks => {
            "DELETE FROM invitations WHERE token_hash IN (SELECT token_hash \
             FROM invitations WHERE expires_at < $1 LIMIT $2)"
        }
    }
}

#[async_trait]
impl RetentionStore for SqlStore {
    async fn delete_older(&self, what: Retained, before: Millis, limit: i64) -> StoreResult<u64> {
        let r = query(sql::retention::delete_older_sql(what))
            .bind(before)
            .bind(limit)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}
