//! Accounts: creation with the primary administrator (first-run setup cannot race), reads, the
//! per-account session settings; and the secrets every instance of the deployment shares.

/// Appends the accounts methods (see the chain in `sql/mod.rs`).
macro_rules! methods {
    ([$store:ty, $db:ty, $backend:literal] $rest:tt { $($methods:tt)* } { $($helpers:tt)* }) => {
        $crate::store::sql::next_area! { [$store, $db, $backend] $rest {
            $($methods)*

            async fn account_count(&self) -> StoreResult<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn create_account(
                &self,
                account: &NewAccount,
                primary: &NewMember,
                only_if_empty: bool,
            ) -> StoreResult<Account> {
                let mut tx = self.begin_write().await?;
                if only_if_empty {
                    if $backend == "postgres" {
                        // Concurrent first-run setups queue here; each then counts what the
                        // earlier ones committed (reads are not blocked).
                        sqlx::query("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
                            .execute(&mut *tx)
                            .await?;
                    }
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
                        .fetch_one(&mut *tx)
                        .await?;
                    if n > 0 {
                        return Err(StoreError::Conflict { field: "account" });
                    }
                }
                sqlx::query(
                    "INSERT INTO accounts (id, slug, name, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&account.id)
                .bind(&account.slug)
                .bind(&account.name)
                .bind(account.created_at)
                .execute(&mut *tx)
                .await?;
                Self::insert_member_in(&mut *tx, primary).await?;
                tx.commit().await?;
                self.account(&account.id).await
            }

            async fn account(&self, id: &str) -> StoreResult<Account> {
                Ok(sqlx::query_as("SELECT * FROM accounts WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn account_by_slug(&self, slug: &str) -> StoreResult<Account> {
                Ok(sqlx::query_as("SELECT * FROM accounts WHERE slug = $1")
                    .bind(slug)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn first_account(&self) -> StoreResult<Account> {
                Ok(sqlx::query_as("SELECT * FROM accounts ORDER BY created_at, id LIMIT 1")
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn set_agent_idle_timeout(
                &self,
                account_id: &str,
                minutes: i64,
            ) -> StoreResult<()> {
                let r = sqlx::query(
                    "UPDATE accounts SET agent_idle_timeout_minutes = $1 WHERE id = $2",
                )
                .bind(minutes)
                .bind(account_id)
                .execute(&self.pool)
                .await?;
                if r.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn set_max_session_lifetime(
                &self,
                account_id: &str,
                minutes: Option<i64>,
            ) -> StoreResult<()> {
                let r = sqlx::query(
                    "UPDATE accounts SET max_session_lifetime_minutes = $1 WHERE id = $2",
                )
                .bind(minutes)
                .bind(account_id)
                .execute(&self.pool)
                .await?;
                if r.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn server_secret(&self, name: &str) -> StoreResult<Vec<u8>> {
                // Whoever inserts first wins; everyone then reads the winner's bytes.
                sqlx::query(
                    "INSERT INTO server_secrets (name, secret) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind($crate::ids::random_bytes(32))
                .execute(&self.pool)
                .await?;
                Ok(sqlx::query_scalar("SELECT secret FROM server_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn stored_server_secret(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
                Ok(sqlx::query_scalar("SELECT secret FROM server_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn sealed_totp_secrets(&self) -> StoreResult<Vec<(String, String)>> {
                Ok(sqlx::query_as("SELECT member_id, secret FROM mfa_totp ORDER BY member_id")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn adopt_outside_key(
                &self,
                check: &[u8],
                resealed: &[(String, String, String)],
                retired: &[&str],
            ) -> StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                // The check row goes first: an instance that finds it taken lost the race and
                // changes nothing.
                let r = sqlx::query(
                    "INSERT INTO server_secrets (name, secret) VALUES ($1, $2) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind($crate::store::OUTSIDE_KEY_CHECK)
                .bind(check)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 0 {
                    return Ok(false);
                }
                for (member_id, old, new) in resealed {
                    sqlx::query(
                        "UPDATE mfa_totp SET secret = $1 WHERE member_id = $2 AND secret = $3",
                    )
                    .bind(new)
                    .bind(member_id)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?;
                }
                for name in retired {
                    sqlx::query("DELETE FROM server_secrets WHERE name = $1")
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(true)
            }
        } { $($helpers)* } }
    };
}
pub(in crate::store) use methods;
