//! PostgreSQL allowing fewer connections than instances × pool: an instance that could never
//! get its connections refuses to start with a message naming the limit, and one that finds
//! the database full answers 503 after its acquire timeout (never holds the request) and
//! recovers by itself once connections free up.

use std::sync::Arc;
use std::time::Duration;

use deskward::clock::SystemClock;
use deskward::server::ServerConfig;
use deskward::store::PoolConfig;
use reqwest::StatusCode;

use crate::db::{Backend, TestDb, pg_admin_url};
use crate::support::{PASSWORD, Serving};

/// A fresh database owned by a role of its own (not a superuser: PostgreSQL holds only
/// ordinary roles to a database's CONNECTION LIMIT), dropped with the role at the end.
pub(crate) struct OwnDb {
    db: Option<TestDb>,
    pub role: String,
    pub name: String,
    /// The database's URL as the role.
    pub url: String,
}

impl OwnDb {
    pub(crate) async fn new() -> OwnDb {
        let db = TestDb::new(Backend::Postgres).await;
        let name = db
            .url
            .rsplit('/')
            .next()
            .expect("database name")
            .to_string();
        let role = format!("{name}_owner");
        admin_sql(&format!("CREATE ROLE {role} LOGIN")).await;
        admin_sql(&format!("ALTER DATABASE {name} OWNER TO {role}")).await;
        let url = db.url.replacen("postgres@", &format!("{role}@"), 1);
        assert_ne!(url, db.url, "the test database URL names the postgres user");
        OwnDb {
            db: Some(db),
            role,
            name,
            url,
        }
    }

    /// `ALTER DATABASE … CONNECTION LIMIT n`: checked when a connection opens.
    pub(crate) async fn limit(&self, n: i64) {
        admin_sql(&format!(
            "ALTER DATABASE {} CONNECTION LIMIT {n}",
            self.name
        ))
        .await;
    }

    /// Closes every connection the role holds (as a restarted database or a failover would).
    async fn cut_connections(&self) {
        admin_sql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{}'",
            self.role
        ))
        .await;
    }
}

impl Drop for OwnDb {
    fn drop(&mut self) {
        // The database first (its own drop waits), then the role that owned it.
        drop(self.db.take());
        crate::db::admin_sql_at_drop(format!("DROP ROLE IF EXISTS {}", self.role));
    }
}

async fn admin_sql(sql: &str) {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&pg_admin_url())
        .await
        .expect("connect as postgres");
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One instance on `url` with this pool, an account "acme" with pat@acme.test.
async fn instance(url: &str, pool: PoolConfig) -> Serving {
    let store = deskward::store::connect_with(url, &pool)
        .await
        .expect("connect");
    let config = ServerConfig {
        sweep_interval: Duration::from_secs(3600),
        ..crate::support::server_config()
    };
    let svc = deskward::server::build(
        store,
        Arc::new(SystemClock),
        deskward::events::EventBus::new(),
        &config,
    );
    crate::support::create_acme(&svc).await;
    crate::support::serve(svc, config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_larger_than_the_database_allows_refuses_to_start() {
    let db = OwnDb::new().await;
    db.limit(5).await;
    let pool = PoolConfig {
        size: 4,
        acquire_timeout: Duration::from_secs(2),
    };
    let err = match deskward::store::connect_with(&db.url, &pool).await {
        Ok(_) => panic!("a pool of 4 + 2 event connections started under a limit of 5"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("allows 5 connections"), "{err}");
    assert!(err.contains("4 for the pool + 2 for events"), "{err}");
    assert!(err.contains("--db-pool-size"), "{err}");
    // Nothing was created: the check runs before the migrations.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("connect as the owner");
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(tables, 0);

    // The same pool fits under a limit of 6.
    drop(conn);
    db.limit(6).await;
    deskward::store::connect_with(&db.url, &pool)
        .await
        .expect("a pool of 4 + 2 fits a limit of 6");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_out_of_connections_answers_503_then_recovers() {
    let db = OwnDb::new().await;
    db.limit(6).await;
    let pool = PoolConfig {
        size: 2,
        acquire_timeout: Duration::from_secs(1),
    };
    let server = instance(&db.url, pool).await;
    let pat = crate::support::client_for_base(&server.base);
    pat.login("pat@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);

    // Other instances (or anything else) have taken every connection PostgreSQL allows: this
    // instance's pooled connections are gone and new ones are refused.
    db.limit(0).await;
    db.cut_connections().await;
    // Sign-in needs the database whatever the cache holds. The client gives up after 30 s:
    // a held request fails the test instead of hanging it.
    let other = crate::support::client_for_base(&server.base);
    let r = other.login("pat@acme.test", PASSWORD).await;
    let msg = r.expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(msg.contains("database"), "{msg}");
    assert_eq!(other.session_token(), None);

    // Connections free up: the next request gets one, nothing to restart.
    db.limit(6).await;
    other
        .login("pat@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    other.me().await.expect_status(StatusCode::OK);
}

/// PgBouncer (Debian's package, installed by scripts/test.sh) on a loopback port of its own in
/// front of the test server, in `mode`; stopped when dropped.
struct Bouncer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Bouncer {
    async fn start(mode: &str, server_connections: u32) -> Bouncer {
        let bin = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("pgbouncer is missing: apt-get install -y pgbouncer (scripts/test.sh does)");
        let dir = tempfile::tempdir().expect("temp dir");
        // PgBouncer refuses to run as root; as root it is told to switch to `postgres`, which
        // must read the configuration.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let pg = url::Url::parse(&pg_admin_url()).expect("PostgreSQL URL");
        let conf = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &conf,
            format!(
                "[databases]\n* = host={} port={} user=postgres\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = 0\nunix_socket_dir =\n\
                 auth_type = any\npool_mode = {mode}\ndefault_pool_size = {server_connections}\n\
                 max_client_conn = 100\n",
                pg.host_str().unwrap_or("127.0.0.1"),
                pg.port().unwrap_or(5432),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false);
        let mut cmd = std::process::Command::new(bin);
        if root {
            cmd.args(["-u", "postgres"]);
        }
        let mut child = cmd
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        // Port 0: PgBouncer listens where the kernel says but logs `127.0.0.1:0`, so the port
        // is read from /proc; no port is picked, released and raced for.
        let port = match crate::support::port_of(&mut child, "pgbouncer").await {
            Ok(port) => port,
            Err(e) => {
                let _ = child.kill();
                panic!("{e}");
            }
        };
        Bouncer {
            child,
            port,
            _dir: dir,
        }
    }

    /// `url` with its host and port replaced by PgBouncer's.
    fn url(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).expect("database URL");
        u.set_port(Some(self.port)).unwrap();
        u.to_string()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two instances through PgBouncer in session mode with fewer server connections than the
/// instances' pools add up to, LISTEN going straight to PostgreSQL (`--listen-database-url`):
/// sign-in, Team list and the cross-instance ending all work. (Transaction mode does not:
/// PgBouncer 1.18, Debian 12's, does not carry sqlx's named prepared statements between server
/// connections; see docs/postgres-at-scale.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_work_behind_pgbouncer_with_listen_going_direct() {
    let db = TestDb::new(Backend::Postgres).await;
    let bouncer = Bouncer::start("session", 6).await;
    let via = bouncer.url(&db.url);
    let pool = PoolConfig {
        size: 2,
        acquire_timeout: Duration::from_secs(10),
    };
    let mut bases = Vec::new();
    let mut stops = Vec::new();
    for i in 0..2 {
        let store = deskward::store::connect_with(&via, &pool)
            .await
            .expect("connect through PgBouncer");
        let events = deskward::relay::events_between(&via, Some(&db.url)).await;
        let config = ServerConfig {
            sweep_interval: Duration::from_secs(3600),
            ..crate::support::server_config()
        };
        let svc = deskward::server::build(store, Arc::new(SystemClock), events, &config);
        if i == 0 {
            crate::support::create_acme(&svc).await;
        }
        let server = crate::support::serve(svc, config).await;
        bases.push(server.base.clone());
        stops.push(server);
    }
    let admin_b = crate::support::client_for_base(&bases[1]);
    admin_b
        .login("pat@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    admin_b
        .post_json(
            "/api/v1/agents",
            &serde_json::json!({"name": "Ann", "email": "ann@acme.test", "password": PASSWORD}),
        )
        .await
        .expect_status(StatusCode::CREATED);
    let list = admin_b
        .get("/api/v1/agents")
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(list["total"], 1, "{list}");

    let ann_a = crate::support::client_for_base(&bases[0]);
    ann_a
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let me = ann_a.me().await.expect_status(StatusCode::OK).json();
    let session_id = me["session"]["id"].as_str().unwrap().to_string();
    let mut tab_on_a = crate::api_events::EventStream::open(&ann_a).await;
    // Both relays' LISTEN connections (straight to PostgreSQL, not through PgBouncer) are up
    // before the ending, or its notification could not be heard.
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let mut direct = <sqlx::PgConnection as sqlx::Connection>::connect(&pg_admin_url())
        .await
        .unwrap();
    let listening =
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'";
    loop {
        let n: i64 = sqlx::query_scalar(listening)
            .bind(&name)
            .fetch_one(&mut direct)
            .await
            .unwrap();
        if n >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Ended on B, A's tab is told.
    admin_b
        .delete(&format!("/api/v1/sessions/{session_id}"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    let ended = tab_on_a
        .until("session_ended", Duration::from_secs(10))
        .await
        .expect("A's tab hears of the ending on B");
    assert_eq!(ended, serde_json::json!({"reason": "ended_by_admin"}));
    ann_a
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    drop(stops);
}
