//! Several instances behind one address on one PostgreSQL database: sessions, endings and
//! presence cross instances; a lost database gives 503 and the service recovers by itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deskward::service::Service;
use reqwest::StatusCode;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use crate::api_events::EventStream;
use crate::db::{Backend, TestDb};
use crate::support::{Client, PASSWORD, Serving};

struct Instance {
    svc: Arc<Service>,
    base: String,
    _server: Serving,
}

async fn instance(url: &str, grace_ms: i64) -> Instance {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let (svc, server) = crate::support::relayed_instance(url, grace_ms, listener).await;
    Instance {
        svc,
        base: server.base.clone(),
        _server: server,
    }
}

/// The account every test here uses: Acme, primary administrator pat@acme.test.
async fn create_acme(i: &Instance) {
    crate::support::create_acme(&i.svc).await;
}

/// A client of instance `i` carrying the cookie and CSRF token of `from`.
fn same_browser(from: &Client, i: &Instance) -> Client {
    let c = crate::support::client_for_base(&i.base);
    c.plant_cookie(&from.session_token().expect("signed in"));
    c.set_csrf(from.csrf().as_deref());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behave_as_one_service() {
    let db = TestDb::new(Backend::Postgres).await;
    let a = instance(&db.url, 300).await;
    let b = instance(&db.url, 300).await;
    create_acme(&a).await;
    let (admin_a, agent_id) = crate::support::pat_adds_ann(&a.base).await;

    // Signed in on A, used on B.
    let ann_a = crate::support::client_for_base(&a.base);
    ann_a
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let ann_b = same_browser(&ann_a, &b);
    let me = ann_b.me().await.expect_status(StatusCode::OK).json();
    let session_id = me["session"]["id"].as_str().unwrap().to_string();

    // A tab on A; presence is Online whichever instance is asked.
    let mut tab_on_a = EventStream::open(&ann_a).await;
    let admin_b = same_browser(&admin_a, &b);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let v = admin_b
            .get(&format!("/api/v1/agents/{agent_id}"))
            .await
            .json();
        if v["status"] == "online" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "agent never Online on B: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A second tab on B closing must not make the agent Offline while A's tab is open.
    let tab_on_b = EventStream::open(&ann_b).await;
    drop(tab_on_b);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let v = admin_b
        .get(&format!("/api/v1/agents/{agent_id}"))
        .await
        .json();
    assert_eq!(
        v["status"], "online",
        "a closed tab on B made the agent Offline: {v}"
    );

    // Ended on B: A's stream hears it, pushed (the bound only keeps a lost event from hanging
    // the test; how fast is BENCHMARKS.md's business).
    admin_b
        .delete(&format!("/api/v1/sessions/{session_id}"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    let ended = tab_on_a
        .until("session_ended", Duration::from_secs(10))
        .await
        .expect("instance A's stream hears of an ending on B");
    assert_eq!(ended, json!({"reason": "ended_by_admin"}));
    // And the session is dead on A too, even though A cached it.
    ann_a
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    drop(a);
    drop(b);
}

/// Failed sign-ins count across instances: an attacker alternating between them gets no more
/// attempts than against one, and a success on one clears the count for all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_throttling_is_shared_between_instances() {
    let db = TestDb::new(Backend::Postgres).await;
    let a = instance(&db.url, 300).await;
    let b = instance(&db.url, 300).await;
    create_acme(&a).await;
    // Five free failures, split between the two instances.
    for i in 0..5 {
        let via = if i % 2 == 0 { &a } else { &b };
        crate::support::client_for_base(&via.base)
            .login("pat@acme.test", "wrong password, surely")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // The sixth, on either instance, must wait; even the right password.
    for via in [&a, &b] {
        let res = crate::support::client_for_base(&via.base)
            .login("pat@acme.test", PASSWORD)
            .await;
        res.expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        assert!(res.header("retry-after").is_some());
    }
    // The table holds hashes, never the e-mail or the address.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let keys: Vec<String> = sqlx::query_scalar("SELECT DISTINCT key FROM signin_failures")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.len() == 64 && !k.contains('@') && !k.contains("127.0.0.1")),
        "{keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instance_does_not_leave_agents_online() {
    let db = TestDb::new(Backend::Postgres).await;
    let a = instance(&db.url, 300).await;
    create_acme(&a).await;
    let (_admin, agent_id) = crate::support::pat_adds_ann(&a.base).await;
    let store = deskward::store::connect(&db.url).await.unwrap();
    let account_id = store.first_account().await.unwrap().id;
    // Another instance held Ann's tab, marked her Online, then died without a word.
    store
        .presence_set("in_dead", &account_id, &agent_id, 1, 0)
        .await
        .unwrap();
    store
        .set_status(
            &account_id,
            &agent_id,
            deskward::domain::member::AgentStatus::Online,
            None,
        )
        .await
        .unwrap();
    a.svc.presence_tick().await;
    let m = store.member(&account_id, &agent_id).await.unwrap();
    assert_eq!(m.status.as_str(), "offline");
}

/// A TCP forwarder to PostgreSQL that the test can cut and restore.
struct Cuttable {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Cuttable {
    async fn start(target: SocketAddr) -> Cuttable {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, conns2) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                conns2.lock().unwrap().push(h);
            }
        });
        Cuttable { port, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_gives_503_and_the_service_recovers() {
    let db = TestDb::new(Backend::Postgres).await;
    let proxy = Cuttable::start(crate::db::pg_addr()).await;
    // The same database, reached through the proxy.
    let (_, rest) = db.url.split_once("@").unwrap();
    let (_, name) = rest.split_once('/').unwrap();
    let user = db
        .url
        .split("://")
        .nth(1)
        .unwrap()
        .split('@')
        .next()
        .unwrap();
    let url = format!("postgres://{user}@127.0.0.1:{}/{name}", proxy.port);
    let a = instance(&url, 300).await;
    create_acme(&a).await;
    let admin = crate::support::client_for_base(&a.base);
    admin
        .login("pat@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    admin
        .get("/api/v1/agents")
        .await
        .expect_status(StatusCode::OK);

    proxy.cut();
    let res = admin
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Ann", "email": "ann@acme.test", "password": PASSWORD}),
        )
        .await;
    res.expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let health = admin.get("/healthz").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let res = admin.get("/api/v1/agents").await;
        if res.status == StatusCode::OK {
            // Nothing was half-written while the database was away.
            assert_eq!(res.json()["total"], 0, "{}", res.text);
            break;
        }
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.text);
        assert!(
            tokio::time::Instant::now() < deadline,
            "service did not recover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    admin
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Ann", "email": "ann@acme.test", "password": PASSWORD}),
        )
        .await
        .expect_status(StatusCode::CREATED);
}
