//! `deskward backup`: a consistent copy of a running SQLite database, taken while the service
//! keeps writing. PostgreSQL has its own tool for this (`pg_dump`, docs/operations.md).

use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

/// Copies the SQLite database at `database_url` into `to`, which must not exist yet; returns
/// the copy's size in bytes. The copy is one read transaction of the live database
/// (`VACUUM INTO`), so it is consistent however busy the service is, and it is created readable
/// by its owner only, like the database itself.
pub async fn sqlite(database_url: &str, to: &Path) -> Result<u64, String> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        return Err(
            "backup copies SQLite databases; for PostgreSQL use pg_dump (see docs/operations.md)"
                .to_string(),
        );
    }
    if !database_url.starts_with("sqlite:") {
        return Err("--database-url must start with sqlite://".to_string());
    }
    let options = SqliteConnectOptions::from_str(database_url)
        .map_err(|e| format!("bad SQLite URL: {e}"))?
        .create_if_missing(false)
        .read_only(true)
        // The service may hold the write lock for a moment; wait rather than fail.
        .busy_timeout(Duration::from_secs(30));
    // Created here, empty and private, so that `VACUUM INTO` (which accepts an empty file)
    // never writes a copy others could read, and an existing file is never overwritten.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => format!("{} already exists", to.display()),
            _ => format!("cannot create {}: {e}", to.display()),
        })?;
    let copied = async {
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| format!("cannot open the database: {e}"))?;
        let target = to
            .to_str()
            .ok_or_else(|| format!("{} is not a UTF-8 path", to.display()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&mut conn)
            .await
            .map_err(|e| format!("copy failed: {e}"))?;
        conn.close().await.map_err(|e| e.to_string())?;
        std::fs::metadata(to)
            .map(|m| m.len())
            .map_err(|e| e.to_string())
    }
    .await;
    if copied.is_err() {
        // Leave nothing half-made behind.
        let _ = std::fs::remove_file(to);
    }
    copied
}
