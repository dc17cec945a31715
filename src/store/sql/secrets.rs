//! The secrets every instance of the deployment shares, and the move onto a key kept outside
//! the database.

use super::{SqlStore, query, query_as, query_scalar};
use async_trait::async_trait;

use crate::store::{SecretStore, StoreResult};

#[async_trait]
impl SecretStore for SqlStore {
    async fn server_secret(&self, name: &str) -> StoreResult<Vec<u8>> {
        // Whoever inserts first wins; everyone then reads the winner's bytes.
        query(
            "INSERT INTO server_secrets (name, secret) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(crate::ids::random_bytes(32))
        .execute(&self.pool)
        .await?;
        Ok(
            query_scalar("SELECT secret FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn stored_server_secret(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(
            query_scalar("SELECT secret FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn sealed_totp_secrets(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(
            query_as("SELECT member_id, secret FROM mfa_totp ORDER BY member_id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn sealed_sso_secrets(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(query_as(
            "SELECT account_id, client_secret FROM sso_settings WHERE client_secret <> '' \
             ORDER BY account_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn adopt_outside_key(
        &self,
        check: &[u8],
        resealed: &[(String, String, String)],
        resealed_sso: &[(String, String, String)],
        retired: &[&str],
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // The check row goes first: an instance that finds it taken lost the race and
        // changes nothing.
        let r = query(
            "INSERT INTO server_secrets (name, secret) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(crate::store::OUTSIDE_KEY_CHECK)
        .bind(check)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        for (member_id, old, new) in resealed {
            query("UPDATE mfa_totp SET secret = $1 WHERE member_id = $2 AND secret = $3")
                .bind(new)
                .bind(member_id)
                .bind(old)
                .execute(&mut *tx)
                .await?;
        }
        for (account_id, old, new) in resealed_sso {
            query(
                "UPDATE sso_settings SET client_secret = $1 \
                 WHERE account_id = $2 AND client_secret = $3",
            )
            .bind(new)
            .bind(account_id)
            .bind(old)
            .execute(&mut *tx)
            .await?;
        }
        for name in retired {
            query("DELETE FROM server_secrets WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
