//! Sign-in throttling shared by every instance on one database: failures per opaque key
//! (the service stores hashes, never e-mails or addresses), and attempts reserved before the
//! password is checked.

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::domain::time::Millis;
use crate::store::sql::{self, Dialect, Executor, SqlStore, Tx, dynamic, query, query_as};
use crate::store::{FailureWindow, StoreResult, ThrottleStore};

/// The PostgreSQL advisory lock of each key, sorted and without repeats, so that two
/// reservations over overlapping keys take their locks in one order and cannot deadlock.
pub(in crate::store) fn advisory_locks(keys: &[String]) -> Vec<i64> {
    let mut locks: Vec<i64> = keys
        .iter()
        .map(|k| {
            let digest = Sha256::digest(format!("deskward signin attempt {k}").as_bytes());
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            i64::from_be_bytes(first)
        })
        .collect();
    locks.sort_unstable();
    locks.dedup();
    locks
}

/// A key's window from its `COUNT(*), MIN(at), MAX(at)` row.
pub(in crate::store) fn window(
    (count, oldest, newest): (i64, Option<Millis>, Option<Millis>),
) -> FailureWindow {
    FailureWindow {
        count: usize::try_from(count).unwrap_or(0),
        oldest,
        newest,
    }
}

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn clear_signin_failures(&self, key: &str) -> StoreResult<()> {
        query("DELETE FROM signin_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn prune_signin_failures(&self, before: Millis) -> StoreResult<u64> {
        let r = query("DELETE FROM signin_failures WHERE at <= $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn reserve_signin_attempt(
        &self,
        keys: &[String],
        since: Millis,
        at: Millis,
        allow: &(dyn for<'w> Fn(&'w [FailureWindow]) -> bool + Send + Sync),
    ) -> StoreResult<Result<String, Vec<FailureWindow>>> {
        // SQLite: BEGIN IMMEDIATE holds the database's write lock, which every process
        // on the file shares. PostgreSQL: one advisory lock per key, held to the end of
        // the transaction, server-wide, so every instance queues on the same keys.
        let mut tx = self.begin_write().await?;
        if self.dialect() == Dialect::Postgres {
            for lock in sql::throttling::advisory_locks(keys) {
                query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let mut windows = Vec::with_capacity(keys.len());
        for key in keys {
            windows.push(Self::failures_in(&mut tx, key, since).await?);
        }
        if !allow(&windows) {
            tx.rollback().await?;
            return Ok(Err(windows));
        }
        let attempt_id = crate::ids::new_id("sa");
        Self::insert_failures_in(&mut tx, keys, at, &attempt_id).await?;
        tx.commit().await?;
        Ok(Ok(attempt_id))
    }

    async fn forgive_signin_attempt(&self, attempt_id: &str) -> StoreResult<()> {
        query("DELETE FROM signin_failures WHERE attempt_id = $1")
            .bind(attempt_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl SqlStore {
    /// Failed sign-ins of `key` after `since`.
    pub(in crate::store) async fn failures_in(
        conn: impl Executor<'_>,
        key: &str,
        since: Millis,
    ) -> StoreResult<FailureWindow> {
        let row = query_as(
            "SELECT COUNT(*), MIN(at), MAX(at) FROM signin_failures \
             WHERE key = $1 AND at > $2",
        )
        .bind(key)
        .bind(since)
        .fetch_one(conn)
        .await?;
        Ok(sql::throttling::window(row))
    }

    /// One failure row per key at `at` for one reservation, in one statement.
    async fn insert_failures_in(
        conn: &mut Tx,
        keys: &[String],
        at: Millis,
        attempt_id: &str,
    ) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut args = sql::Args::default();
        let sql = format!(
            "INSERT INTO signin_failures (key, at, attempt_id) \
             SELECT ks.v, {}, {} FROM ({}) AS ks",
            args.int(at),
            args.text(attempt_id),
            args.list(conn.dialect(), keys)
        );
        dynamic(sql, &args).execute(&mut *conn).await?;
        Ok(())
    }
}
