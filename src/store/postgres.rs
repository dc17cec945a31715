//! PostgreSQL, for deployments of several instances sharing one database.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use super::sql::{self, impl_sql_store};
use super::*;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: sqlx::PgPool,
    /// Stamps the webhook outbox rows (`Store::use_clock`).
    clock: std::sync::RwLock<std::sync::Arc<dyn crate::clock::Clock>>,
    /// Writers' turns (`begin_write`).
    writes: sql::WriteGate,
}

impl PgStore {
    /// Connects and applies pending migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        Ok(Self {
            pool,
            clock: std::sync::RwLock::new(std::sync::Arc::new(crate::clock::SystemClock)),
            writes: sql::WriteGate::none(),
        })
    }
}

impl_sql_store!(PgStore, sqlx::Postgres, "postgres");
