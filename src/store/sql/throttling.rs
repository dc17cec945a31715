//! Sign-in throttling shared by every instance on one database: failures per opaque key
//! (the service stores hashes, never e-mails or addresses), and attempts reserved before the
//! password is checked.

use sha2::{Digest, Sha256};

use crate::domain::time::Millis;
use crate::store::FailureWindow;

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

/// Appends the throttling methods (see the chain in `sql/mod.rs`).
macro_rules! methods {
    ([$store:ty, $db:ty, $backend:literal] $rest:tt { $($methods:tt)* } { $($helpers:tt)* }) => {
        $crate::store::sql::next_area! { [$store, $db, $backend] $rest {
            $($methods)*

            async fn signin_failures(
                &self,
                key: &str,
                since: Millis,
            ) -> StoreResult<FailureWindow> {
                let mut conn = self.pool.acquire().await?;
                Self::failures_in(&mut conn, key, since).await
            }

            async fn clear_signin_failures(&self, key: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM signin_failures WHERE key = $1")
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn prune_signin_failures(&self, before: Millis) -> StoreResult<u64> {
                let r = sqlx::query("DELETE FROM signin_failures WHERE at <= $1")
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
                if $backend == "postgres" {
                    for lock in sql::throttling::advisory_locks(keys) {
                        sqlx::query("SELECT pg_advisory_xact_lock($1)")
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
                let attempt_id = $crate::ids::new_id("sa");
                Self::insert_failures_in(&mut tx, keys, at, &attempt_id).await?;
                tx.commit().await?;
                Ok(Ok(attempt_id))
            }

            async fn forgive_signin_attempt(&self, attempt_id: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM signin_failures WHERE attempt_id = $1")
                    .bind(attempt_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        } {
            $($helpers)*

            /// Failed sign-ins of `key` after `since`.
            async fn failures_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                key: &str,
                since: Millis,
            ) -> StoreResult<FailureWindow> {
                let row = sqlx::query_as(
                    "SELECT COUNT(*), MIN(at), MAX(at) FROM signin_failures \
                     WHERE key = $1 AND at > $2",
                )
                .bind(key)
                .bind(since)
                .fetch_one(&mut *conn)
                .await?;
                Ok(sql::throttling::window(row))
            }

            /// One failure row per key at `at` for one reservation, in one statement.
            async fn insert_failures_in(
                conn: &mut <$db as sqlx::Database>::Connection,
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
                    args.list($backend, keys)
                );
                Self::dynamic(sql, &args).execute(&mut *conn).await?;
                Ok(())
            }
        } }
    };
}
pub(in crate::store) use methods;
