//! The embedded default: one SQLite file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::sql::{self, Pool, SqlStore};
use super::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The write-ahead log's size past which the background checkpointer empties it. Checkpoints
/// stay out of requests (`wal_autocheckpoint` 0), so without this the log grew with every
/// write for as long as some connection was always reading or writing (326 MB for a 3.9 MB
/// database in 150 s of steady sign-ins) and kept its peak size on disk afterwards.
pub const WAL_CHECKPOINT_BYTES: u64 = 4 << 20;

/// Opens (creating if missing) the database file and applies pending migrations.
pub async fn connect(url: &str) -> StoreResult<SqlStore> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Other(format!("bad SQLite URL: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        // Checkpoints run in the background (`DatabaseStore::checkpoint`), not in requests.
        .pragma("wal_autocheckpoint", "0")
        // A large transaction keeps its written pages in memory until it commits, beyond
        // the 2 MiB of the page cache, and gives them back after: spilled to the WAL
        // halfway, a bulk ending of 1,000 agents (about 3,000 pages written) read them
        // back. A larger cache for every connection did as well but kept its memory.
        // A transaction's memory grows with the pages it writes: the large writes here are
        // bounded (a bulk ending, at most 10,000 people) or batched (retention).
        .pragma("cache_spill", "false")
        // When a checkpoint lets the log start over, SQLite cuts the file back to this
        // size instead of keeping whatever it once grew to.
        .pragma("journal_size_limit", WAL_CHECKPOINT_BYTES.to_string());
    let file = !in_memory_or_read_only(url);
    if file {
        create_private(options.get_filename())?;
    }
    let wal = std::sync::Arc::new(WalWatch {
        path: file.then(|| {
            let mut p = options.get_filename().as_os_str().to_owned();
            p.push("-wal");
            std::path::PathBuf::from(p)
        }),
        wake: tokio::sync::Notify::new(),
        closed: std::sync::atomic::AtomicBool::new(false),
    });
    let watch = wal.clone();
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .min_connections(1)
        .after_release(move |conn, _| {
            let watch = watch.clone();
            Box::pin(async move {
                let clean = release_check(conn).await?;
                watch.check();
                Ok(clean)
            })
        })
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
    let writes = sql::WriteGate::queue();
    if wal.path.is_some() {
        tokio::spawn(checkpointer(pool.clone(), writes.clone(), wal.clone()));
    }
    let background: std::sync::Arc<dyn sql::Background> = wal;
    Ok(SqlStore::new(Pool::Sqlite(pool), writes, Some(background)))
}

/// Where the write-ahead log is, and the checkpointer's doorbell.
struct WalWatch {
    /// None for a database without a file.
    path: Option<std::path::PathBuf>,
    wake: tokio::sync::Notify,
    closed: std::sync::atomic::AtomicBool,
}

impl WalWatch {
    /// Rings the checkpointer when the log has passed its size: checked each time a
    /// connection comes back to the pool, so the bound is one of size (what the writes
    /// added), whatever their rate; one `stat` each.
    fn check(&self) {
        if let Some(path) = &self.path
            && std::fs::metadata(path).is_ok_and(|m| m.len() > WAL_CHECKPOINT_BYTES)
        {
            self.wake.notify_one();
        }
    }
}

impl sql::Background for WalWatch {
    /// Stops the checkpointer: the store is going.
    fn stop(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }
}

/// Empties the write-ahead log into the database whenever it passes its size: a `TRUNCATE`
/// checkpoint, which waits (up to the busy timeout) for readers still using the log's frames
/// to finish, then cuts the file to zero. It takes its turn at the write gate like a writer,
/// so this process's writers wait a few milliseconds behind it instead of the checkpoint
/// waiting behind an endless line of them. A reader holding a snapshot for longer than the
/// busy timeout keeps the log from emptying; the next turn tries again.
async fn checkpointer(
    pool: sqlx::SqlitePool,
    writes: sql::WriteGate,
    wal: std::sync::Arc<WalWatch>,
) {
    use std::sync::atomic::Ordering;
    loop {
        wal.wake.notified().await;
        if wal.closed.load(Ordering::SeqCst) {
            break;
        }
        let turn = writes.turn().await;
        let done: Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&pool)
                .await;
        drop(turn);
        match done {
            Ok((0, _, _)) => tracing::debug!("write-ahead log checkpointed and emptied"),
            Ok((_, log, copied)) => {
                tracing::info!(
                    log,
                    copied,
                    "write-ahead log checkpoint waited on readers; will retry"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "write-ahead log checkpoint failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Whether a connection coming back to the pool may be lent out again: only outside any
/// transaction. When a COMMIT fails (a full volume), SQLite may already have rolled the
/// transaction back; the ROLLBACK sqlx queues when the transaction is dropped then fails, and
/// sqlx still counts the connection as inside a transaction, so every later `BEGIN` on it was
/// refused ("attempted to call begin_with at non-zero transaction depth") until a restart.
/// Such a connection is closed instead (SQLite rolls back whatever it still held) and the
/// pool opens a fresh one. The ping first lets the queued ROLLBACK run.
async fn release_check(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    conn.ping().await?;
    let clean = !conn.is_in_transaction();
    if !clean {
        tracing::warn!("closing a database connection left inside a failed transaction");
    }
    Ok(clean)
}

/// Whether the URL opens a database that has no file to create (`:memory:`, `mode=memory`) or
/// must not create one (`mode=ro`).
fn in_memory_or_read_only(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (database, query) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:"
        || form_urlencoded::parse(query.as_bytes())
            .any(|(k, v)| k == "mode" && (v == "memory" || v == "ro"))
}

/// Creates the database file, if missing, readable and writable by its owner only, before
/// SQLite opens it: SQLite gives the `-wal` and `-shm` files it makes beside it the same mode,
/// so sessions' token hashes and the audit log are not left readable by every local user.
/// An existing file keeps its mode (it is the operator's), with a warning when others may
/// read it.
fn create_private(path: &std::path::Path) -> StoreResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Ok(meta) = std::fs::metadata(path)
                    && meta.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(
                        file = %path.display(),
                        mode = format!("{:o}", meta.permissions().mode() & 0o777),
                        "the database file is readable by other users; chmod 600 it (and its -wal and -shm files)"
                    );
                }
                Ok(())
            }
            Err(e) => Err(StoreError::Unavailable(format!(
                "cannot create the database file {}: {e}",
                path.display()
            ))),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}
