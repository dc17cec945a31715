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

/// Databases and roles the tests create are named `deskward_test_<pid>_…`; the pid tells
/// whether their test process is still running.
const PREFIX: &str = "deskward_test_";

/// Drops what test processes that are no longer running left behind (a test killed by its
/// timeout never runs its `Drop`). Once per test process, before its first database.
async fn sweep_leftovers(conn: &mut sqlx::PgConnection) {
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(async || {
            let orphaned = |name: &str| {
                name.strip_prefix(PREFIX)
                    .and_then(|rest| rest.split('_').next())
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
            };
            let pattern = format!("{}%", PREFIX.replace('_', "\\_"));
            let dbs: Vec<String> =
                sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
                    .bind(&pattern)
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap_or_default();
            for db in dbs.iter().filter(|d| orphaned(d)) {
                // Another process may be sweeping the same one: an error here is not a failure.
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                )))
                .execute(&mut *conn)
                .await;
            }
            let roles: Vec<String> =
                sqlx::query_scalar("SELECT rolname FROM pg_roles WHERE rolname LIKE $1")
                    .bind(&pattern)
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap_or_default();
            for role in roles.iter().filter(|r| orphaned(r)) {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
                    .execute(&mut *conn)
                    .await;
            }
        })
        .await;
}

/// The PostgreSQL server's address (`host:port`) from [`pg_admin_url`], for tests that put
/// something between the server and Deskward.
pub fn pg_addr() -> std::net::SocketAddr {
    let url = url::Url::parse(&pg_admin_url()).expect("DESKWARD_TEST_PG_URL is a URL");
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("cannot resolve the PostgreSQL host {host}:{port}"))
}

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
                    "{PREFIX}{}_{}_{}",
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
                sweep_leftovers(&mut conn).await;
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
        admin_sql_at_drop(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

/// Runs one statement as the PostgreSQL administrator from a `Drop`, which runs outside any
/// runtime guarantee: on a small runtime of its own thread, waited for, its failure ignored
/// (a test process's leftovers are swept by the next one).
pub fn admin_sql_at_drop(sql: String) {
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
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .ok()
        })
    })
    .join();
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
