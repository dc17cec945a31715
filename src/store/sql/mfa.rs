//! Two-factor sign-in: a person's authenticator app (secret encrypted by the service, pending
//! until confirmed, the last time step used so no code works twice), their single-use recovery
//! codes (hashed), and the account's policy of who must have a second factor.

use super::{SqlStore, query, query_as, query_scalar};
use async_trait::async_trait;

use crate::domain::time::Millis;
use crate::store::{MfaPolicy, MfaStore, PasskeyRecord, StoreResult, TotpRecord};

#[async_trait]
impl MfaStore for SqlStore {
    async fn totp(&self, member_id: &str) -> StoreResult<Option<TotpRecord>> {
        Ok(query_as(
            "SELECT member_id, account_id, secret, confirmed_at, last_step, created_at \
             FROM mfa_totp WHERE member_id = $1",
        )
        .bind(member_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn put_pending_totp(
        &self,
        account_id: &str,
        member_id: &str,
        secret: &str,
        at: Millis,
    ) -> StoreResult<bool> {
        // A confirmed app is never overwritten: it has to be removed first.
        let r = query(
            "INSERT INTO mfa_totp (member_id, account_id, secret, confirmed_at, \
             last_step, created_at) VALUES ($1, $2, $3, NULL, 0, $4) \
             ON CONFLICT (member_id) DO UPDATE SET secret = excluded.secret, \
             created_at = excluded.created_at, last_step = 0 \
             WHERE mfa_totp.confirmed_at IS NULL",
        )
        .bind(member_id)
        .bind(account_id)
        .bind(secret)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn confirm_totp(
        &self,
        member_id: &str,
        step: i64,
        at: Millis,
        recovery_hashes: &[String],
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let r = query(
            "UPDATE mfa_totp SET confirmed_at = $1, last_step = $2 \
             WHERE member_id = $3 AND confirmed_at IS NULL",
        )
        .bind(at)
        .bind(step)
        .bind(member_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        query("DELETE FROM mfa_recovery_codes WHERE member_id = $1")
            .bind(member_id)
            .execute(&mut *tx)
            .await?;
        for h in recovery_hashes {
            query("INSERT INTO mfa_recovery_codes (member_id, code_hash) VALUES ($1, $2)")
                .bind(member_id)
                .bind(h)
                .execute(&mut *tx)
                .await?;
        }
        // The person has a second factor now: their sessions are no longer limited
        // to setting one up.
        query(
            "UPDATE sessions SET mfa_enrollment = FALSE \
             WHERE member_id = $1 AND ended_at IS NULL AND mfa_enrollment = TRUE",
        )
        .bind(member_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn use_totp_step(&self, member_id: &str, step: i64) -> StoreResult<bool> {
        // Of two requests with the same code, one moves the step forward.
        let r = query(
            "UPDATE mfa_totp SET last_step = $1 WHERE member_id = $2 \
             AND confirmed_at IS NOT NULL AND last_step < $1",
        )
        .bind(step)
        .bind(member_id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn use_recovery_code(
        &self,
        member_id: &str,
        code_hash: &str,
        at: Millis,
    ) -> StoreResult<bool> {
        let r = query(
            "UPDATE mfa_recovery_codes SET used_at = $1 \
             WHERE member_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(at)
        .bind(member_id)
        .bind(code_hash)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn recovery_codes_left(&self, member_id: &str) -> StoreResult<i64> {
        Ok(query_scalar(
            "SELECT COUNT(*) FROM mfa_recovery_codes \
             WHERE member_id = $1 AND used_at IS NULL",
        )
        .bind(member_id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn remove_mfa(&self, member_id: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let r = query("DELETE FROM mfa_totp WHERE member_id = $1")
            .bind(member_id)
            .execute(&mut *tx)
            .await?;
        let codes = query("DELETE FROM mfa_recovery_codes WHERE member_id = $1")
            .bind(member_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() + codes.rows_affected() > 0)
    }

    async fn mfa_policy(&self, account_id: &str) -> StoreResult<MfaPolicy> {
        let row: Option<(bool, bool)> =
            query_as("SELECT agents, admins FROM mfa_policy WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
        let (agents, admins) = row.unwrap_or_default();
        Ok(MfaPolicy { agents, admins })
    }

    async fn set_mfa_policy(&self, account_id: &str, p: MfaPolicy) -> StoreResult<()> {
        query(
            "INSERT INTO mfa_policy (account_id, agents, admins) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO UPDATE SET agents = excluded.agents, \
             admins = excluded.admins",
        )
        .bind(account_id)
        .bind(p.agents)
        .bind(p.admins)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
    async fn insert_passkey(&self, p: &PasskeyRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        query(
            "INSERT INTO mfa_passkeys (id, member_id, account_id, name, credential, \
             created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(&p.id)
        .bind(&p.member_id)
        .bind(&p.account_id)
        .bind(&p.name)
        .bind(&p.credential)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await?;
        // A second factor now: the person's sessions are no longer limited to enrolling.
        query(
            "UPDATE sessions SET mfa_enrollment = FALSE \
             WHERE member_id = $1 AND ended_at IS NULL AND mfa_enrollment = TRUE",
        )
        .bind(&p.member_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn passkeys(&self, member_id: &str) -> StoreResult<Vec<PasskeyRecord>> {
        Ok(query_as(
            "SELECT id, member_id, account_id, name, credential, created_at, \
             last_used_at FROM mfa_passkeys WHERE member_id = $1 ORDER BY created_at, id",
        )
        .bind(member_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn remove_passkey(&self, member_id: &str, id: &str) -> StoreResult<bool> {
        let r = query("DELETE FROM mfa_passkeys WHERE member_id = $1 AND id = $2")
            .bind(member_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn remove_all_passkeys(&self, member_id: &str) -> StoreResult<u64> {
        let r = query("DELETE FROM mfa_passkeys WHERE member_id = $1")
            .bind(member_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn passkey_used(&self, id: &str, credential: &str, at: Millis) -> StoreResult<()> {
        query("UPDATE mfa_passkeys SET credential = $1, last_used_at = $2 WHERE id = $3")
            .bind(credential)
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
