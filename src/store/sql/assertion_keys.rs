//! The signing keys of `Remote-Assertion`.

use async_trait::async_trait;

use super::{SqlStore, query, query_as};
use crate::store::{AssertionKey, AssertionKeyStore, StoreResult};

#[async_trait]
impl AssertionKeyStore for SqlStore {
    async fn assertion_keys(&self) -> StoreResult<Vec<AssertionKey>> {
        Ok(query_as(
            "SELECT kid, generation, signs_from, public_key, private_key, created_at \
             FROM assertion_keys ORDER BY generation",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn add_assertion_key(&self, key: &AssertionKey) -> StoreResult<bool> {
        // The generation is unique: of two instances rotating at once, the first insert wins
        // and the other's does nothing.
        let r = query(
            "INSERT INTO assertion_keys \
             (kid, generation, signs_from, public_key, private_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (generation) DO NOTHING",
        )
        .bind(key.kid.as_str())
        .bind(key.generation)
        .bind(key.signs_from)
        .bind(key.public_key.as_str())
        .bind(key.private_key.as_str())
        .bind(key.created_at)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_assertion_keys_below(&self, generation: i64) -> StoreResult<u64> {
        let r = query("DELETE FROM assertion_keys WHERE generation < $1")
            .bind(generation)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}
