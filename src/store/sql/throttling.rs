//! Sign-in throttling shared by every instance on one database: failures per opaque key
//! (the service stores hashes, never e-mails or addresses), and the "known place" test that
//! throttling spares.

use crate::domain::time::Millis;
use crate::store::FailureWindow;

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

            async fn record_signin_failure(&self, keys: &[String], at: Millis) -> StoreResult<()> {
                Self::insert_failures_in(&self.pool, keys, at).await
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

            async fn has_session_from_ip(
                &self,
                account_id: &str,
                email_norm: &str,
                ip: &str,
            ) -> StoreResult<bool> {
                let row: Option<i32> = sqlx::query_scalar(
                    "SELECT 1 FROM sessions s JOIN members m ON m.id = s.member_id \
                     WHERE m.account_id = $1 AND m.email_norm = $2 AND s.ip = $3 LIMIT 1",
                )
                .bind(account_id)
                .bind(email_norm)
                .bind(ip)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.is_some())
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

            /// One failure row per key at `at`, in one statement.
            async fn insert_failures_in<'e, E>(
                executor: E,
                keys: &[String],
                at: Millis,
            ) -> StoreResult<()>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                if keys.is_empty() {
                    return Ok(());
                }
                let mut args = sql::Args::default();
                let sql = format!(
                    "INSERT INTO signin_failures (key, at) SELECT ks.v, {} FROM ({}) AS ks",
                    args.int(at),
                    args.list($backend, keys)
                );
                Self::dynamic(sql, &args).execute(executor).await?;
                Ok(())
            }
        } }
    };
}
pub(in crate::store) use methods;
