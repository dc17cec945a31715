//! PostgreSQL, for deployments of several instances sharing one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::sql::{self, Pool, SqlStore};
use super::{StoreError, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections each instance opens besides its pool: one to send events to the other
/// instances (`NOTIFY`) and one to receive theirs (`LISTEN`, see `relay.rs`).
pub const EVENT_CONNECTIONS: u32 = 2;

/// The connection pool of one instance (`--db-pool-size`, `--db-acquire-timeout-secs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Connections the instance may hold at once. Requests that find them all busy wait in a
    /// queue for one, up to `acquire_timeout`.
    pub size: u32,
    /// How long a request waits for a connection (busy pool, or PostgreSQL refusing new ones)
    /// before it is answered 503.
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            size: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// How many connections PostgreSQL lets this role open to this database, as the server
/// counts them, and how many it holds already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
struct Allowance {
    /// The smallest of the server's, the database's and the role's limits that apply.
    allowed: i64,
    /// Connections open now under that limit (this one included).
    in_use: i64,
}

/// The options every connection is opened with. `extra_float_digits` is not sent: Deskward
/// stores no floating-point values, and PgBouncer refuses start-up parameters it does not
/// know unless configured to ignore them.
pub fn connect_options(url: &str) -> StoreResult<PgConnectOptions> {
    PgConnectOptions::from_str(url)
        .map(|o| o.extra_float_digits(None))
        .map_err(|e| StoreError::Other(format!("invalid database URL: {e}")))
}

/// Connects, checks that PostgreSQL allows at least one instance's connections, and applies
/// pending migrations.
pub async fn connect_with(url: &str, cfg: &PoolConfig) -> StoreResult<SqlStore> {
    if cfg.size == 0 {
        return Err(StoreError::Other(
            "the database pool size must be at least 1".to_string(),
        ));
    }
    let pool = PgPoolOptions::new()
        .max_connections(cfg.size)
        .acquire_timeout(cfg.acquire_timeout)
        .connect_with(connect_options(url)?)
        .await
        .map_err(StoreError::from)?;
    let a: Allowance = sqlx::query_as(ALLOWANCE)
        .fetch_one(&pool)
        .await
        .map_err(StoreError::from)?;
    check_allowance(a, cfg.size)?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
    Ok(SqlStore::new(
        Pool::Postgres(pool),
        sql::WriteGate::none(),
        None,
    ))
}

/// The limits that apply to this session: superusers are held only to the server's
/// `max_connections`; others also to `superuser_reserved_connections`, the database's
/// `CONNECTION LIMIT` and the role's.
const ALLOWANCE: &str = "\
    WITH me AS (SELECT rolsuper, rolconnlimit, oid FROM pg_roles WHERE rolname = current_user), \
    db AS (SELECT datconnlimit, oid FROM pg_database WHERE datname = current_database()) \
    SELECT LEAST( \
        current_setting('max_connections')::bigint \
            - CASE WHEN me.rolsuper THEN 0 \
              ELSE current_setting('superuser_reserved_connections')::bigint END, \
        CASE WHEN me.rolsuper OR db.datconnlimit < 0 THEN NULL ELSE db.datconnlimit::bigint END, \
        CASE WHEN me.rolsuper OR me.rolconnlimit < 0 THEN NULL ELSE me.rolconnlimit::bigint END \
    ) AS allowed, \
    GREATEST( \
        CASE WHEN me.rolsuper OR db.datconnlimit < 0 THEN 0 ELSE \
            (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = db.oid) END, \
        CASE WHEN me.rolsuper OR me.rolconnlimit < 0 THEN 0 ELSE \
            (SELECT count(*) FROM pg_stat_activity a WHERE a.usesysid = me.oid) END, \
        CASE WHEN me.rolsuper OR (db.datconnlimit < 0 AND me.rolconnlimit < 0) THEN \
            (SELECT count(*) FROM pg_stat_activity a WHERE a.backend_type = 'client backend') \
        ELSE 0 END \
    ) AS in_use \
    FROM me, db";

/// Refuses to start when PostgreSQL could never give this one instance its pool and event
/// connections; otherwise says how many such instances fit, since a shortfall shared between
/// instances shows up only later, as requests answered 503 after the acquire timeout.
fn check_allowance(a: Allowance, size: u32) -> StoreResult<()> {
    let each = i64::from(size) + i64::from(EVENT_CONNECTIONS);
    if a.allowed < each {
        return Err(StoreError::Other(format!(
            "PostgreSQL allows {} connections here, fewer than one instance needs ({size} for \
             the pool + {EVENT_CONNECTIONS} for events): lower --db-pool-size or raise the \
             limit (max_connections, the database's or the role's CONNECTION LIMIT)",
            a.allowed
        )));
    }
    tracing::info!(
        pool = size,
        allowed = a.allowed,
        in_use = a.in_use,
        instances_that_fit = a.allowed / each,
        "database connections: each instance holds up to pool + {EVENT_CONNECTIONS}; past the \
         limit, requests wait up to the acquire timeout and then get 503"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_pool_larger_than_the_limit() {
        let err = check_allowance(
            Allowance {
                allowed: 10,
                in_use: 1,
            },
            16,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("allows 10 connections"), "{err}");
        assert!(err.contains("--db-pool-size"), "{err}");
        assert!(
            check_allowance(
                Allowance {
                    allowed: 18,
                    in_use: 1
                },
                16
            )
            .is_ok()
        );
    }
}
