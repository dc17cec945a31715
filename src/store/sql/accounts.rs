//! Accounts: creation with the primary administrator (first-run setup cannot race), reads, the
//! per-account session settings.

use super::{Dialect, SqlStore, query, query_as, query_scalar};
use async_trait::async_trait;

use crate::store::{Account, AccountStore, NewAccount, NewMember, StoreError, StoreResult};

#[async_trait]
impl AccountStore for SqlStore {
    async fn account_count(&self) -> StoreResult<i64> {
        Ok(query_scalar("SELECT COUNT(*) FROM accounts")
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
            if self.dialect() == Dialect::Postgres {
                // Concurrent first-run setups queue here; each then counts what the
                // earlier ones committed (reads are not blocked).
                query("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
            }
            let n: i64 = query_scalar("SELECT COUNT(*) FROM accounts")
                .fetch_one(&mut *tx)
                .await?;
            if n > 0 {
                return Err(StoreError::Conflict { field: "account" });
            }
        }
        query("INSERT INTO accounts (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
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
        Ok(query_as("SELECT * FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn account_by_slug(&self, slug: &str) -> StoreResult<Account> {
        Ok(query_as("SELECT * FROM accounts WHERE slug = $1")
            .bind(slug)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn first_account(&self) -> StoreResult<Account> {
        Ok(
            query_as("SELECT * FROM accounts ORDER BY created_at, id LIMIT 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn set_agent_idle_timeout(&self, account_id: &str, minutes: i64) -> StoreResult<()> {
        let r = query("UPDATE accounts SET agent_idle_timeout_minutes = $1 WHERE id = $2")
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
        let r = query("UPDATE accounts SET max_session_lifetime_minutes = $1 WHERE id = $2")
            .bind(minutes)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
