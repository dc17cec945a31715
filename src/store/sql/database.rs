//! The database as a whole: its name, health and upkeep, and the write transactions every area
//! starts.

use async_trait::async_trait;

use super::{Dialect, Pool, SqlStore, Tx, WriteTx, query, query_scalar};
use crate::domain::time::Millis;
use crate::store::{DatabaseStore, StoreError, StoreResult};

impl SqlStore {
    /// Starts a transaction that reads, then writes. SQLite takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so the transaction cannot fail with "database is locked" when
    /// another connection writes between its read and its write; before that it waits its
    /// turn at this process's write gate (see [`super::WriteGate`]).
    pub(in crate::store) async fn begin_write(&self) -> StoreResult<WriteTx> {
        let turn = self.writes.turn().await;
        let tx = match &self.pool {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin_with("BEGIN").await?),
        };
        Ok(WriteTx {
            tx,
            _turn: turn,
            health: self.writes.health(),
        })
    }

    /// The smallest write there is: page 1 rewritten with the `user_version` it holds
    /// (Deskward keeps nothing there), one WAL frame, committed like every write. It fails
    /// where any write would (a full volume) and succeeds once writes can. SQLite only.
    async fn probe_write(&self) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let v: i64 = query_scalar("PRAGMA user_version")
            .fetch_one(&mut *tx)
            .await?;
        query(format!("PRAGMA user_version = {v}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The outbox's "now": the injected clock the service set.
    pub(in crate::store) fn outbox_now(&self) -> Millis {
        self.clock.read().map(|c| c.now()).unwrap_or_default()
    }
}

#[async_trait]
impl DatabaseStore for SqlStore {
    fn backend(&self) -> &'static str {
        self.dialect().name()
    }

    async fn ping(&self) -> StoreResult<()> {
        query("SELECT 1").execute(&self.pool).await?;
        if self.dialect() == Dialect::Sqlite && self.writes.failing().is_some() {
            // A write failed and none has succeeded since: try one, so the health check turns
            // healthy by itself once space (or the volume) is back, even while nobody else
            // writes.
            let tried = self.probe_write().await;
            if let Some(why) = self.writes.failing() {
                return Err(StoreError::Unavailable(format!(
                    "the database cannot write: {why}"
                )));
            }
            tried?;
        }
        Ok(())
    }

    async fn reachable(&self, within: std::time::Duration) -> StoreResult<()> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(());
        };
        // One `SELECT 1` on a connection the pool has idle, or on one it opens when it may.
        // When every slot is taken, either the connections are busy (not gone) or every slot
        // is retrying a connection to a database that is gone (the pool retries until its
        // acquire timeout: with the outboxes' workers, the presence sweep and a request or two
        // that is all of a small pool). A connection of the probe's own tells them apart: one
        // refused or cut is gone; a slow one, or one refused for having too many clients
        // (PostgreSQL's or PgBouncer's limit), is busy.
        let answer = async {
            let mut conn = match pool.try_acquire() {
                Some(conn) => conn,
                None if pool.size() >= pool.options().get_max_connections() => {
                    let options = pool.connect_options();
                    let own =
                        <sqlx::postgres::PgConnection as sqlx::Connection>::connect_with(&options);
                    return match tokio::time::timeout(within / 2, own).await {
                        Ok(Ok(conn)) => {
                            let _ = sqlx::Connection::close(conn).await;
                            Ok(())
                        }
                        Ok(Err(sqlx::Error::Io(e))) => Err(StoreError::Unavailable(format!(
                            "cannot connect to PostgreSQL: {e}"
                        ))),
                        Ok(Err(_)) | Err(_) => Ok(()),
                    };
                }
                None => pool.acquire().await?,
            };
            if let Err(e) = sqlx::query("SELECT 1").execute(&mut *conn).await {
                conn.close_on_drop();
                return Err(StoreError::from(e));
            }
            Ok(())
        };
        match tokio::time::timeout(within, answer).await {
            Ok(answered) => answered,
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {} ms",
                within.as_millis()
            ))),
        }
    }

    async fn checkpoint(&self) -> StoreResult<()> {
        if self.dialect() == Dialect::Sqlite {
            // PASSIVE: copies what no reader still needs, never waits for anyone.
            query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    fn use_clock(&self, clock: std::sync::Arc<dyn crate::clock::Clock>) {
        if let Ok(mut c) = self.clock.write() {
            *c = clock;
        }
    }
}
