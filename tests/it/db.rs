//! Fresh databases for tests: a temporary SQLite file, or a new PostgreSQL database that is
//! dropped when the test ends. PostgreSQL is never optional: a test that cannot reach it fails.

use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The server the PostgreSQL tests use (the `test` database is only used to create others).
pub fn pg_admin_url() -> String {
    std::env::var("DESKWARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/deskward.db", dir.path().display());
                TestDb {
                    url,
                    pg_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let name = format!(
                    "deskward_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .subsec_nanos()
                );
                let admin = pg_admin_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL is required for these tests ({admin}): {e}")
                    });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                TestDb {
                    url: format!("{base}/{name}"),
                    pg_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

impl TestDb {
    /// A SQLite database file in `dir`, which the caller owns and removes.
    pub fn sqlite_in(dir: &std::path::Path) -> TestDb {
        TestDb {
            url: format!("sqlite://{}/deskward.db", dir.display()),
            pg_name: None,
            _dir: None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside any runtime guarantee: use a small runtime on its own thread.
        let admin = pg_admin_url();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
    }
}

/// Declares each listed `async fn name(backend: Backend)` as two tests, `name::sqlite` and
/// `name::postgres`: the backend matrix, written once.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::db::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::db::Backend::Postgres).await
                }
            }
        )*
    };
}
