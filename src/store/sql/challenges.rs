//! Short-lived sign-in challenges: the server-side state between the steps of a sign-in
//! ("choose an account", a second factor), stored under the hash of the id the client holds.

use async_trait::async_trait;

use crate::domain::time::Millis;
use crate::store::sql::{SqlStore, query, query_as, query_scalar};
use crate::store::{Challenge, ChallengeStore, StoreError, StoreResult};

/// A challenge as stored: the people it may sign in as are one JSON array of ids.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ChallengeRow {
    id_hash: String,
    account_id: String,
    purpose: crate::domain::signin::ChallengePurpose,
    member_ids: String,
    ip: crate::domain::ClientIp,
    user_agent: String,
    data: String,
    created_at: Millis,
    expires_at: Millis,
    failures: i64,
}

impl TryFrom<ChallengeRow> for Challenge {
    type Error = crate::store::StoreError;

    fn try_from(r: ChallengeRow) -> Result<Self, Self::Error> {
        let member_ids = serde_json::from_str(&r.member_ids).map_err(|e| {
            crate::store::StoreError::Other(format!("bad challenge member ids in database: {e}"))
        })?;
        Ok(Challenge {
            id_hash: r.id_hash,
            account_id: r.account_id,
            purpose: r.purpose,
            member_ids,
            ip: r.ip,
            user_agent: r.user_agent,
            data: r.data,
            created_at: r.created_at,
            expires_at: r.expires_at,
            failures: r.failures,
        })
    }
}

/// The columns of [`ChallengeRow`], for `SELECT` and `RETURNING`.
pub(in crate::store) const COLUMNS: &str = "id_hash, account_id, purpose, member_ids, ip, \
     user_agent, data, created_at, expires_at, failures";

impl SqlStore {
    /// The challenge `sql` reads (or takes) by `$1`, the id hash, if live at `$2`, `now`.
    async fn live_challenge(
        &self,
        sql: String,
        id_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<Challenge>> {
        let row: Option<ChallengeRow> = query_as(sql)
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Challenge::try_from).transpose()
    }
}

#[async_trait]
impl ChallengeStore for SqlStore {
    async fn insert_challenge(&self, c: &Challenge) -> StoreResult<()> {
        let member_ids = serde_json::to_string(&c.member_ids)
            .map_err(|e| StoreError::Other(format!("challenge member ids: {e}")))?;
        query(
            "INSERT INTO signin_challenges (id_hash, account_id, purpose, member_ids, \
             ip, user_agent, data, created_at, expires_at, failures) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&c.id_hash)
        .bind(&c.account_id)
        .bind(c.purpose.as_str())
        .bind(member_ids)
        .bind(c.ip)
        .bind(&c.user_agent)
        .bind(&c.data)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.failures)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn challenge(&self, id_hash: &str, now: Millis) -> StoreResult<Option<Challenge>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM signin_challenges WHERE id_hash = $1 AND expires_at > $2"
        );
        self.live_challenge(sql, id_hash, now).await
    }

    async fn take_challenge(&self, id_hash: &str, now: Millis) -> StoreResult<Option<Challenge>> {
        // One DELETE: of two callers, the one whose statement removes the row gets it.
        let sql = format!(
            "DELETE FROM signin_challenges WHERE id_hash = $1 AND expires_at > $2 \
             RETURNING {COLUMNS}"
        );
        self.live_challenge(sql, id_hash, now).await
    }

    async fn count_challenge_failure(&self, id_hash: &str) -> StoreResult<i64> {
        Ok(query_scalar(
            "UPDATE signin_challenges SET failures = failures + 1 WHERE id_hash = $1 \
             RETURNING failures",
        )
        .bind(id_hash)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn prune_challenges(&self, now: Millis) -> StoreResult<u64> {
        let r = query("DELETE FROM signin_challenges WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}
