//! Faults created for real: a full volume under the SQLite database,
//! one person's sign-ins racing with a webhook endpoint subscribed, sustained writes against
//! the write-ahead log, and PostgreSQL cut off behind a proxy.

use reqwest::StatusCode;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::db::{Backend, TestDb};
use crate::support::*;

/// The server's log on the test's output, as `RUST_LOG` asks (nothing without it).
fn log() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
}

/// A small tmpfs mounted on a fresh directory, unmounted (lazily, in case a file is still
/// open) when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// None when this process may not mount (not root) outside CI; in CI a test that cannot
    /// create its fault fails instead of passing without it.
    fn mount(size: &str) -> Option<Tmpfs> {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if !root && std::env::var_os("CI").is_none() {
            eprintln!("skipped: mounting a tmpfs needs root (set CI to make this a failure)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed: {status}");
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("--lazy")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the volume with one file until it refuses more.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("create the filler");
    let chunk = vec![0u8; 16 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling the volume: {e}"),
        }
    }
    let _ = f.sync_all();
    path
}

async fn truncate_wal(url: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.expect("open");
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut conn)
        .await
        .expect("checkpoint");
    assert_eq!(busy, 0, "the checkpoint completed");
    conn.close().await.expect("close");
}

async fn sign_ins(app: &TestApp, email: &str, n: usize) -> Vec<(StatusCode, String)> {
    let all = (0..n).map(|_| async {
        let c = app.client();
        let res = c.login(email, PASSWORD).await;
        (res.status, res.text.clone())
    });
    futures_util::future::join_all(all).await
}

/// A commit refused by a full volume must not leave its pooled connection inside a
/// transaction sqlx cannot roll back (every later write on it would fail with "attempted to
/// call begin_with at non-zero transaction depth"): once the space comes back, writes and the
/// sweep work again, and `/healthz` tells the truth meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_volume_fails_writes_cleanly_and_everything_recovers_with_the_space() {
    log();
    let Some(volume) = Tmpfs::mount("12m") else {
        return;
    };
    let db = TestDb::sqlite_in(volume.path());
    let app = TestApp::spawn_on(db, Backend::Sqlite, |_| {}).await;
    app.add_agent("Ann", "ann@acme.test").await;
    // Sessions that will be idle past their timeout: the sweep's work once space is back.
    for _ in 0..3 {
        app.client()
            .login("ann@acme.test", PASSWORD)
            .await
            .expect_status(StatusCode::OK);
    }
    let health = app.client().get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);

    // The write-ahead log emptied, as a checkpoint leaves it: the next writes need new space.
    truncate_wal(app.database_url()).await;
    let filler = fill(volume.path());
    // More at once than the pool has connections, so that every connection meets the fault.
    let refused = sign_ins(&app, "ann@acme.test", 12).await;
    for (status, text) in &refused {
        assert_eq!(
            *status,
            StatusCode::SERVICE_UNAVAILABLE,
            "a sign-in on a full volume: {text}"
        );
        assert!(text.contains("\"unavailable\""), "{text}");
    }
    let health = app.client().get("/healthz").await;
    assert_eq!(
        health.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "/healthz on a full volume: {}",
        health.text
    );
    assert!(health.text.contains("cannot write"), "{}", health.text);
    app.advance(4 * DAY);
    assert!(
        app.svc.expire_sessions().await.is_err(),
        "the sweep cannot write on a full volume"
    );

    std::fs::remove_file(filler).expect("free the space");
    let health = app.client().get("/healthz").await;
    assert_eq!(
        health.status,
        StatusCode::OK,
        "/healthz once space is back: {}",
        health.text
    );
    let ended = app
        .svc
        .expire_sessions()
        .await
        .expect("the sweep once space is back");
    assert_eq!(ended, 3, "the sweep ends the idle sessions again");
    // In small groups: the address's sign-in limit counts attempts in flight.
    for round in 0..4 {
        for (status, text) in sign_ins(&app, "ann@acme.test", 4).await {
            assert_eq!(
                status,
                StatusCode::OK,
                "round {round}: a sign-in once space is back: {text}"
            );
        }
    }
    drop(app);
    drop(volume);
}

/// With a webhook endpoint subscribed, two sign-ins of one person at once, with endings racing
/// them, all succeed: each inserts a session, whose foreign key share-locks the person's row,
/// and then numbers the person's events under a lock on that row that must not wait for the
/// other's share lock (a deadlock on PostgreSQL, answered 500, if it were `FOR UPDATE`).
async fn one_persons_racing_sign_ins_and_endings_never_fail(backend: Backend) {
    use deskward::domain::webhook::EventFilter;
    use deskward::store::WebhookEndpoint;
    log();
    let app = TestApp::spawn(backend).await;
    app.store
        .insert_webhook(&WebhookEndpoint {
            id: "we_race".into(),
            account_id: app.account.id.clone(),
            // Never reached: private targets are refused without `--webhook-allow-private`.
            url: "http://127.0.0.1:9/hook".into(),
            events: EventFilter::parse(&["*".to_string()]).unwrap().to_db(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            disabled_reason: None,
            created_at: START,
            created_by: None,
        })
        .await
        .unwrap();
    app.add_agent("Ann", "ann@acme.test").await;
    // Each client signs in once first: its known-device pass lifts the person's sign-in limit,
    // which would otherwise refuse most of a burst before it reached the database.
    let clients: Vec<Client> = (0..8).map(|_| app.client()).collect();
    for c in &clients {
        c.login("ann@acme.test", PASSWORD)
            .await
            .expect_status(StatusCode::OK);
    }
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let round = clients.iter().enumerate().map(|(i, c)| async move {
            // Half end their session while the other half sign in again.
            let res = if i % 2 == 0 {
                c.logout().await
            } else {
                c.login("ann@acme.test", PASSWORD).await
            };
            let again = if i % 2 == 0 {
                c.login("ann@acme.test", PASSWORD).await
            } else {
                c.logout().await
            };
            [(res.status, res.text), (again.status, again.text)]
        });
        statuses.extend(
            futures_util::future::join_all(round)
                .await
                .into_iter()
                .flatten(),
        );
    }
    let failed: Vec<_> = statuses
        .iter()
        .filter(|(s, _)| s.is_server_error())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} answers failed: {failed:?}",
        failed.len(),
        statuses.len()
    );
    let ok = statuses.iter().filter(|(s, _)| s.is_success()).count();
    assert!(ok * 2 > statuses.len(), "most succeed: {statuses:?}");
}

backend_tests!(one_persons_racing_sign_ins_and_endings_never_fail);

/// The write-ahead log's size after each of `rounds` rounds of writes through the store, as
/// sign-ins and activity make them: a session started, touched, then ended (with its audit
/// row and the person's recount), one after another without pause. Returns the largest size
/// seen and the size at the end.
async fn wal_under_sustained_writes(app: &TestApp, rounds: usize) -> (u64, u64) {
    use deskward::domain::session::EndReason;
    use deskward::store::{EndSessions, Which};
    let ann = app.add_agent("Ann", "ann@acme.test").await;
    let wal = PathBuf::from(format!(
        "{}-wal",
        app.database_url().trim_start_matches("sqlite://")
    ));
    let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    let mut largest = 0;
    for i in 0..rounds {
        let id = format!("se_wal_{i}");
        let at = START + i as i64 * SECOND;
        app.store
            .insert_session(&crate::conformance::new_session(&ann, &id, at))
            .await
            .expect("insert");
        app.store.touch_session(&id, at + 500).await.expect("touch");
        let ended = app
            .store
            .end_sessions(&EndSessions {
                account_id: Some(app.account.id.clone()),
                which: Which::Session(id),
                reason: EndReason::Logout,
                by: None,
                ip: None,
                at: at + 600,
            })
            .await
            .expect("end");
        assert_eq!(ended.sessions.len(), 1);
        largest = largest.max(size());
    }
    (largest, size())
}

/// Under steady writes the SQLite write-ahead log stays bounded and does not keep its peak size
/// on disk (checkpoints that ran only with the sweep could never empty a log some connection
/// was always using).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_stays_bounded_under_sustained_writes() {
    log();
    let app = TestApp::spawn(Backend::Sqlite).await;
    let bound = 3 * deskward::store::sqlite::WAL_CHECKPOINT_BYTES;
    // About 40 MB of log frames without checkpoints.
    let (largest, end) = wal_under_sustained_writes(&app, 1500).await;
    eprintln!("write-ahead log: largest {largest} bytes, at the end {end} bytes");
    assert!(
        largest <= bound,
        "the write-ahead log reached {largest} bytes (bound {bound})"
    );
    assert!(end <= bound, "{end}");
}

/// `cargo test --test it wal_size_bench -- --ignored --nocapture`: the write-ahead log's size
/// under sustained writes, for BENCHMARKS.md (`WAL_BENCH_ROUNDS`, default 5,000 rounds of a
/// session started, touched and ended).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand"]
async fn wal_size_bench() {
    let rounds = std::env::var("WAL_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let app = TestApp::spawn(Backend::Sqlite).await;
    let started = std::time::Instant::now();
    let (largest, end) = wal_under_sustained_writes(&app, rounds).await;
    let db = std::fs::metadata(app.database_url().trim_start_matches("sqlite://"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "wal_bench rounds={rounds} seconds={:.1} wal_largest_bytes={largest} wal_end_bytes={end} db_bytes={db}",
        started.elapsed().as_secs_f64()
    );
}

/// A TCP forwarder to PostgreSQL that can stop listening, as a stopped server does: new
/// connections are refused (which the pool keeps retrying until its acquire timeout) and
/// those open are cut. (`multi_instance`'s `Cuttable` accepts and drops instead, an error the
/// pool gives up on at once.)
///
/// The port stays the forwarder's while it is not listening: a second socket bound to it with
/// `SO_REUSEPORT` and never listening holds it (connections are still refused: only listening
/// sockets take them), so no other test's server can take the port before `restore` listens
/// on it again.
struct Refusing {
    port: u16,
    target: std::net::SocketAddr,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    _holder: tokio::net::TcpSocket,
}

/// A socket on 127.0.0.1:`port` that other sockets of this process may share (`SO_REUSEPORT`).
fn shared_socket(port: u16) -> tokio::net::TcpSocket {
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.set_reuseport(true).expect("SO_REUSEPORT");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap_or_else(|e| panic!("bind 127.0.0.1:{port}: {e}"));
    socket
}

impl Refusing {
    async fn start(target: std::net::SocketAddr) -> Refusing {
        let socket = shared_socket(0);
        let port = socket.local_addr().unwrap().port();
        let proxy = Refusing {
            port,
            target,
            tasks: Default::default(),
            _holder: shared_socket(port),
        };
        proxy.listen(socket.listen(128).expect("listen"));
        proxy
    }

    fn listen(&self, listener: tokio::net::TcpListener) {
        let (target, tasks) = (self.target, self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                tasks.lock().unwrap().push(h);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Closes the listening socket and every connection through it.
    fn cut(&self) {
        for h in self.tasks.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    /// Listens again on the same port, which the holder kept.
    async fn restore(&mut self) {
        let listener = shared_socket(self.port)
            .listen(128)
            .expect("listen again on the forwarder's port");
        self.listen(listener);
    }
}

/// How long a pool reached through [`through_a_forwarder`] waits for a connection: long, so
/// that an answer well before it is one of behaviour, not of speed.
const FORWARDED_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh PostgreSQL database, the forwarder to it that a test cuts and restores, and a store
/// (a pool of 4) connected through the forwarder.
async fn through_a_forwarder() -> (
    TestDb,
    Refusing,
    std::sync::Arc<dyn deskward::store::testing::TestStore>,
) {
    let db = TestDb::new(Backend::Postgres).await;
    let proxy = Refusing::start("127.0.0.1:5432".parse().unwrap()).await;
    let (userinfo, rest) = db.url.split_once("://").unwrap().1.split_once('@').unwrap();
    let name = rest.split_once('/').unwrap().1;
    let url = format!("postgres://{userinfo}@127.0.0.1:{}/{name}", proxy.port);
    let store = deskward::store::testing::connect_with(
        &url,
        &deskward::store::PoolConfig {
            size: 4,
            acquire_timeout: FORWARDED_ACQUIRE_TIMEOUT,
        },
    )
    .await
    .expect("connect through the proxy");
    (db, proxy, store)
}

/// With PostgreSQL gone, `/healthz` answers 503 at once rather than after the pool's whole
/// acquire timeout (the pool retries connecting until then), so a load balancer's check reads
/// an answer instead of timing out. The acquire timeout here is long (30 s) so that the bound is
/// one of behaviour: an answer well before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_at_once_while_postgres_is_cut_off() {
    log();
    let (_db, mut proxy, store) = through_a_forwarder().await;
    let acquire_timeout = FORWARDED_ACQUIRE_TIMEOUT;
    let config = crate::support::server_config();
    let svc = deskward::server::build(
        store,
        std::sync::Arc::new(deskward::clock::SystemClock),
        deskward::events::EventBus::new(),
        &config,
    );
    let server = serve(svc, config).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let health = || async {
        let started = std::time::Instant::now();
        let res = http
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .expect("an answer");
        let status = res.status();
        (status, res.text().await.unwrap(), started.elapsed())
    };
    let (status, text, _) = health().await;
    assert_eq!(status, StatusCode::OK, "{text}");

    proxy.cut();
    for _ in 0..2 {
        let (status, text, took) = health().await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
        assert!(
            took < acquire_timeout / 3,
            "/healthz took {took:?} with the database cut off (acquire timeout {acquire_timeout:?})"
        );
    }

    proxy.restore().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, text, _) = health().await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/healthz did not recover: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// With PostgreSQL gone, `GET /api/v1/me` for a session held in memory (once its activity or
/// view needs the database) and a new event stream answer at once rather than after the pool's
/// whole acquire timeout: the instance probes the database and, once it is known unreachable,
/// what needs it answers 503 `unavailable` with `Retry-After`; what the cache may serve without
/// the database is served. The acquire timeout is long
/// (30 s) so that the bound is one of behaviour, not of speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_me_and_new_event_streams_answer_at_once_while_postgres_is_cut_off() {
    log();
    let (db, mut proxy, store) = through_a_forwarder().await;
    let acquire_timeout = FORWARDED_ACQUIRE_TIMEOUT;
    let app = TestApp::spawn_with_store(db, Backend::Postgres, store, |_| {}).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    ann.me().await.expect_status(StatusCode::OK);
    // Opens a stream and reads only its status (a stream that opens never ends).
    let stream = |c: &Client| {
        let rb = c.request(reqwest::Method::GET, "/api/v1/events");
        async move {
            let started = std::time::Instant::now();
            let res = rb.send().await.expect("an answer");
            let status = res.status();
            let retry = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let text = if status.is_success() {
                String::new()
            } else {
                res.text().await.unwrap()
            };
            (status, retry, text, started.elapsed())
        }
    };
    let (status, _, text, _) = stream(&ann).await;
    assert_eq!(status, StatusCode::OK, "a stream before the cut: {text}");

    proxy.cut();
    let bound = acquire_timeout / 3;
    // A new stream of the session held in memory: it would record the tab in the database.
    for _ in 0..2 {
        let (status, retry, text, took) = stream(&ann).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "a new stream: {text}"
        );
        assert!(text.contains("\"unavailable\""), "{text}");
        assert!(retry.is_some(), "a 503 without Retry-After");
        assert!(
            took < bound,
            "a new stream took {took:?} (acquire timeout {acquire_timeout:?})"
        );
    }
    // Past the minute after which activity is recorded (and the view's time in memory): the
    // session, still held in memory, now needs the database.
    app.advance(2 * MINUTE);
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let res = ann.me().await;
        let took = started.elapsed();
        res.expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert!(
            res.header("retry-after").is_some(),
            "a 503 without Retry-After"
        );
        assert!(
            took < bound,
            "/me took {took:?} (acquire timeout {acquire_timeout:?})"
        );
    }

    proxy.restore().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let res = ann.me().await;
        if res.status == StatusCode::OK {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/me did not recover: {} {}",
            res.status,
            res.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _, text, _) = stream(&ann).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a stream once the database is back: {text}"
    );
}
