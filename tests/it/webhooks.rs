//! Webhooks end to end: endpoints through the API, every event type delivered and
//! verified by a receiver built on the `standardwebhooks` package (tests/webhook_receiver.py),
//! a receiver down then up, `kill -9` of the real binary, two instances on PostgreSQL, a slow
//! receiver, private targets, 410 and redirects; retention with the injected clock.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use deskward::clock::SystemClock;
use deskward::service::NewAccountRequest;
use deskward::store::WebhookEndpoint;

use crate::db::{Backend, TestDb};
use crate::support::{
    Binary, Client, DAY, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, SECOND, TestApp,
    client_for_base, serve, test_python,
};

backend_tests!(
    every_event_type_is_delivered_signed,
    a_receiver_down_then_up_gets_everything_in_order,
    retention_deletes_what_is_older_than_its_age,
    a_change_survives_kill_9_before_its_delivery,
);

// --- the receiver

pub(crate) struct Receiver {
    child: Child,
    pub port: u16,
    http: reqwest::Client,
    held: Option<HeldPort>,
}

/// A receiver's port, held for as long as the test may bring a receiver back on it: a socket
/// bound to it with `SO_REUSEPORT` (as the receiver binds) that never listens. Connections are
/// still refused while no receiver listens, as by a stopped receiver, but no other test's
/// server can take the port before the receiver comes back.
pub(crate) struct HeldPort {
    pub(crate) port: u16,
    _socket: tokio::net::TcpSocket,
}

impl HeldPort {
    /// A port of the kernel's choosing, held from the start: nobody has listened on it yet.
    pub(crate) fn fresh() -> HeldPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.set_reuseport(true).expect("SO_REUSEPORT");
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind a port to hold");
        let port = socket.local_addr().expect("the held port").port();
        HeldPort {
            port,
            _socket: socket,
        }
    }

    pub(crate) fn hold(port: u16) -> HeldPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.set_reuseport(true).expect("SO_REUSEPORT");
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .unwrap_or_else(|e| panic!("hold the receiver's port {port}: {e}"));
        HeldPort {
            port,
            _socket: socket,
        }
    }
}

impl Receiver {
    /// Starts the receiver on a port of its choosing (it binds port 0 and prints the port).
    pub async fn start() -> Option<Receiver> {
        Self::start_on(None).await
    }

    /// Starts a receiver again on the port a stopped one held.
    pub async fn restart(held: HeldPort) -> Receiver {
        Self::start_on(Some(held))
            .await
            .expect("the receiver ran before")
    }

    async fn start_on(held: Option<HeldPort>) -> Option<Receiver> {
        let py = test_python("standardwebhooks")?;
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhook_receiver.py");
        let port = held.as_ref().map_or(0, |h| h.port);
        let (child, port) = tokio::task::spawn_blocking(move || {
            let mut child = Command::new(py)
                .arg(script)
                .arg(port.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the webhook receiver");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("stdout"))
                .read_line(&mut line)
                .expect("read the receiver's port");
            let port: u16 = line.trim().parse().expect("the receiver prints its port");
            (child, port)
        })
        .await
        .unwrap();
        Some(Receiver {
            child,
            port,
            http: reqwest::Client::new(),
            held: Some(held.unwrap_or_else(|| HeldPort::hold(port))),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// How to answer from now on: `{"secret", "status", "delay", "location"}`.
    pub async fn control(&self, how: Value) {
        self.http
            .post(self.url("/_control"))
            .json(&how)
            .send()
            .await
            .expect("control the receiver");
    }

    pub async fn received(&self) -> Vec<Value> {
        self.http
            .get(self.url("/_received"))
            .send()
            .await
            .expect("ask the receiver")
            .json()
            .await
            .expect("JSON")
    }

    /// What the receiver got once `done` holds, within `secs`.
    pub async fn wait_for(&self, secs: u64, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.received().await;
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < until,
                "the receiver did not get what was expected within {secs} s; it got: {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the receiver; its port stays held for [`Receiver::restart`].
    pub fn stop(mut self) -> HeldPort {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.held.take().expect("a running receiver holds its port")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn all_verified(got: &[Value]) {
    for d in got {
        assert_eq!(d["verified"], true, "signature refused: {d:#}");
        assert!(d["id"].as_str().unwrap().starts_with("msg_"));
    }
}

fn of_type<'a>(got: &'a [Value], t: &str) -> Vec<&'a Value> {
    got.iter().filter(|d| d["body"]["type"] == t).collect()
}

/// Registers an endpoint for every event at `url`; returns (id, secret).
async fn register(admin: &Client, url: &str) -> (String, String) {
    let r = admin
        .post_json("/api/v1/webhooks", &json!({"url": url, "events": ["*"]}))
        .await
        .expect_status(StatusCode::CREATED)
        .json();
    (
        r["id"].as_str().unwrap().to_string(),
        r["secret"].as_str().unwrap().to_string(),
    )
}

async fn deliveries(admin: &Client, id: &str) -> Vec<Value> {
    let v = admin
        .get(&format!("/api/v1/webhooks/{id}/deliveries"))
        .await
        .expect_status(StatusCode::OK)
        .json();
    v["items"].as_array().unwrap().clone()
}

/// Polls the delivery log until `done` holds.
async fn wait_log(
    admin: &Client,
    id: &str,
    secs: u64,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let log = deliveries(admin, id).await;
        if done(&log) {
            return log;
        }
        assert!(
            Instant::now() < until,
            "delivery log never got there: {log:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn allowing_private(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| c.webhooks.allow_private = true).await
}

async fn add_agent_api(admin: &Client, name: &str, email: &str) -> String {
    admin
        .post_json(
            "/api/v1/agents",
            &json!({"name": name, "email": email, "password": PASSWORD}),
        )
        .await
        .expect_status(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

// --- the tests

async fn every_event_type_is_delivered_signed(backend: Backend) {
    let app = allowing_private(backend).await;
    let Some(rx) = Receiver::start().await else {
        return;
    };
    let admin = app.primary_client().await;
    let (id, secret) = register(&admin, &rx.url("/hook")).await;
    assert!(secret.starts_with("whsec_"));
    rx.control(json!({"secret": secret})).await;
    // The secret is shown once: never in the list.
    let list = admin.get("/api/v1/webhooks").await.json();
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["events"], json!(["*"]));
    assert!(list["items"][0].get("secret").is_none());

    let ann = add_agent_api(&admin, "Ann", "ann@acme.test").await;
    let ann_client = app.signed_in("ann@acme.test", PASSWORD).await;
    ann_client
        .put_json("/api/v1/me/status", &json!({"status": "online"}))
        .await
        .expect_status(StatusCode::OK);
    admin
        .patch_json(&format!("/api/v1/agents/{ann}"), &json!({"name": "Ann B"}))
        .await
        .expect_status(StatusCode::OK);
    admin
        .delete(&format!("/api/v1/agents/{ann}/sessions"))
        .await;
    admin
        .patch_json(&format!("/api/v1/agents/{ann}"), &json!({"disabled": true}))
        .await
        .expect_status(StatusCode::OK);

    let types = [
        "member.created",
        "session.started",
        "presence.changed",
        "member.updated",
        "session.ended",
        "member.disabled",
    ];
    let got = rx
        .wait_for(20, |got| types.iter().all(|t| !of_type(got, t).is_empty()))
        .await;
    all_verified(&got);
    for d in &got {
        assert_eq!(d["path"], "/hook");
        assert_eq!(d["body"]["data"]["person"]["id"], ann.as_str());
        assert_eq!(d["body"]["data"]["person"]["kind"], "agent");
        assert_eq!(d["body"]["data"]["person"]["email"], "ann@acme.test");
        let ts: i64 = d["timestamp"].as_str().unwrap().parse().unwrap();
        let now = deskward::clock::Clock::now(&SystemClock) / 1000;
        assert!((now - ts).abs() < 60, "webhook-timestamp is the wall clock");
    }
    let started = of_type(&got, "session.started")[0];
    assert!(started["body"]["data"]["session"]["id"].is_string());
    let ended = of_type(&got, "session.ended")[0];
    assert_eq!(ended["body"]["data"]["reason"], "ended_by_admin");
    assert_eq!(ended["body"]["data"]["ended_by"], app.primary.id.as_str());
    assert_eq!(
        ended["body"]["data"]["session"]["id"],
        started["body"]["data"]["session"]["id"]
    );
    assert_eq!(
        of_type(&got, "presence.changed")[0]["body"]["data"]["status"],
        "online"
    );
    assert_eq!(
        of_type(&got, "member.updated")[0]["body"]["data"]["person"]["name"],
        "Ann B"
    );

    // The log says the same.
    let log = wait_log(&admin, &id, 10, |l| {
        l.len() >= got.len() && l.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    for d in &log {
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["last_status_code"], 200);
        assert!(d["delivered_at"].is_string());
    }
    let ids: std::collections::BTreeSet<&str> =
        got.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), got.len(), "each delivery once");

    // Other accounts' ids are 404; people without the security permission are refused.
    admin
        .get("/api/v1/webhooks/wh_000000000000000000000000/deliveries")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    admin
        .delete("/api/v1/webhooks/wh_000000000000000000000000")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.add_admin("Sam", "sam@acme.test", &["team.agents"])
        .await;
    let sam = app.signed_in("sam@acme.test", PASSWORD).await;
    assert_eq!(
        sam.get("/api/v1/webhooks").await.status,
        StatusCode::FORBIDDEN
    );
    // Bad input is a 422 naming the field.
    admin
        .post_json(
            "/api/v1/webhooks",
            &json!({"url": rx.url("/x"), "events": ["session.nope"]}),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");

    // Deleting the endpoint: 204, gone from the list, audited.
    admin
        .delete(&format!("/api/v1/webhooks/{id}"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    let list = admin.get("/api/v1/webhooks").await.json();
    assert_eq!(list["items"], json!([]));
    let audit = admin.get("/api/v1/audit").await.json().to_string();
    assert!(audit.contains("webhook.created") && audit.contains("webhook.deleted"));
}

async fn a_receiver_down_then_up_gets_everything_in_order(backend: Backend) {
    let app = allowing_private(backend).await;
    let Some(rx) = Receiver::start().await else {
        return;
    };
    let admin = app.primary_client().await;
    let (id, secret) = register(&admin, &rx.url("/hook")).await;
    let held = rx.stop();

    let ann = add_agent_api(&admin, "Ann 0", "ann@acme.test").await;
    let bob = add_agent_api(&admin, "Bob 0", "bob@acme.test").await;
    for i in 1..=3 {
        for (who, name) in [(&ann, "Ann"), (&bob, "Bob")] {
            admin
                .patch_json(
                    &format!("/api/v1/agents/{who}"),
                    &json!({"name": format!("{name} {i}")}),
                )
                .await
                .expect_status(StatusCode::OK);
        }
    }
    // Each person's first event has been tried and failed; their next ones wait behind it.
    let log = wait_log(&admin, &id, 20, |l| {
        l.iter()
            .filter(|d| d["event_type"] == "member.created")
            .all(|d| d["attempts"] == 1)
            && l.len() == 8
    })
    .await;
    assert!(log.iter().all(|d| d["status"] == "pending"));
    assert_eq!(
        log.iter().filter(|d| d["attempts"] == 0).count(),
        6,
        "later events are not sent before a person's earlier one"
    );

    let rx = Receiver::restart(held).await;
    rx.control(json!({"secret": secret})).await;
    // The first retry comes within 30 s (of the injected clock).
    app.advance(30 * SECOND);
    let got = rx.wait_for(20, |got| got.len() >= 8).await;
    all_verified(&got);
    assert_eq!(got.len(), 8, "each once: {got:#?}");
    for (who, name) in [(&ann, "Ann"), (&bob, "Bob")] {
        let names: Vec<&str> = got
            .iter()
            .filter(|d| d["body"]["data"]["person"]["id"] == who.as_str())
            .map(|d| d["body"]["data"]["person"]["name"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (0..=3).map(|i| format!("{name} {i}")).collect();
        assert_eq!(names, expected, "{name}'s events in order");
    }
    let log = wait_log(&admin, &id, 10, |l| {
        l.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(
        log.iter().filter(|d| d["attempts"] == 2).count(),
        2,
        "the two first events took a retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_endpoint_turns_off_and_redirects_are_not_followed() {
    let app = allowing_private(Backend::Sqlite).await;
    let Some(rx) = Receiver::start().await else {
        return;
    };
    let admin = app.primary_client().await;
    let (id, secret) = register(&admin, &rx.url("/hook")).await;
    // A redirect is an answer like any other non-2xx: retried, never followed.
    rx.control(json!({"secret": secret, "status": 307, "location": rx.url("/elsewhere")}))
        .await;
    add_agent_api(&admin, "Ann", "ann@acme.test").await;
    let log = wait_log(&admin, &id, 20, |l| {
        l.first().is_some_and(|d| d["attempts"] == 1)
    })
    .await;
    assert_eq!(log[0]["status"], "pending");
    assert_eq!(log[0]["last_status_code"], 307);
    // The attempt is recorded once its exchange is over, a followed redirect included: by
    // now a request to `/elsewhere` would have reached the receiver.
    let got = rx.received().await;
    assert_eq!(got.len(), 1);
    assert!(got.iter().all(|d| d["path"] == "/hook"), "{got:#?}");

    // 410: the delivery fails and the endpoint turns off.
    rx.control(json!({"secret": secret, "status": 410, "location": null}))
        .await;
    app.advance(30 * SECOND);
    let log = wait_log(&admin, &id, 20, |l| l[0]["status"] == "failed").await;
    assert_eq!(log[0]["last_status_code"], 410);
    let list = admin.get("/api/v1/webhooks").await.json();
    assert_eq!(list["items"][0]["enabled"], false);
    assert_eq!(list["items"][0]["disabled_reason"], "gone");
    // Nothing more is recorded for it.
    add_agent_api(&admin, "Bob", "bob@acme.test").await;
    assert_eq!(deliveries(&admin, &id).await.len(), 1);

    // "Send again" is refused: nothing would send it (tests/it/webhook_gone.rs).
    let msg = log[0]["id"].as_str().unwrap();
    admin
        .post_json(
            &format!("/api/v1/webhooks/{id}/deliveries/{msg}/retry"),
            &json!({}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "endpoint_off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_refused_unless_allowed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.primary_client().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://[::1]:9/hook",
        "http://169.254.169.254/latest",
        // IPv4 inside IPv6: translated, 6to4, Teredo (client 127.0.0.1), NAT64 local-use.
        "http://[::ffff:0:7f00:1]:9/hook",
        "http://[2002:7f00:1::1]:9/hook",
        "http://[2002:a9fe:a9fe::1]/latest",
        "http://[2001:0:5db8:d822::80ff:fffe]:9/hook",
        "http://[64:ff9b:1::a00:1]/hook",
    ] {
        let msg = admin
            .post_json("/api/v1/webhooks", &json!({"url": url, "events": ["*"]}))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(msg.contains("url"), "{url}: {msg}");
    }
    admin
        .post_json(
            "/api/v1/webhooks",
            &json!({"url": "ftp://x.example", "events": ["*"]}),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert_eq!(
        admin.get("/api/v1/webhooks").await.json()["items"],
        json!([])
    );

    // A target that became private after registration (its name now resolves to loopback) is
    // refused at delivery, after resolution.
    let endpoint = WebhookEndpoint {
        id: "wh_private".into(),
        account_id: app.account.id.clone(),
        url: "http://localhost:9/hook".into(),
        events: "[\"*\"]".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        disabled_reason: None,
        created_at: app.svc.now(),
        created_by: None,
    };
    app.store.insert_webhook(&endpoint).await.unwrap();
    app.add_agent("Ann", "ann@acme.test").await;
    let log = wait_log(&admin, "wh_private", 20, |l| {
        l.first().is_some_and(|d| d["attempts"] == 1)
    })
    .await;
    assert_eq!(log[0]["status"], "pending");
    assert!(log[0]["last_error"].as_str().unwrap().contains("private"));
    assert_eq!(log[0]["last_status_code"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_does_not_slow_sign_in_or_the_team_pages() {
    let app = allowing_private(Backend::Sqlite).await;
    let Some(rx) = Receiver::start().await else {
        return;
    };
    let admin = app.primary_client().await;
    let (hook, secret) = register(&admin, &rx.url("/hook")).await;
    rx.control(json!({"secret": secret, "delay": 10})).await;
    for i in 0..20 {
        app.add_agent(&format!("Agent {i}"), &format!("a{i}@acme.test"))
            .await;
    }
    // Wait until the receiver is busy holding deliveries.
    rx.wait_for(10, |got| !got.is_empty()).await;
    for i in 0..5 {
        let c = app.client();
        c.login(&format!("a{i}@acme.test"), PASSWORD)
            .await
            .expect_status(StatusCode::OK);
        admin
            .get("/api/v1/agents")
            .await
            .expect_status(StatusCode::OK);
    }
    // Ordered by events, not by a stopwatch: the receiver holds every delivery for 10 s, so had
    // any of these requests waited for one, that delivery would have been answered by now.
    let log = deliveries(&admin, &hook).await;
    assert!(!log.is_empty(), "the receiver's deliveries are in the log");
    assert!(
        log.iter().all(|d| d["status"] != "delivered"),
        "a request waited for the slow receiver: {log:?}"
    );
}

async fn create_acme(url: &str) {
    let store = deskward::store::connect(url).await.expect("connect");
    let svc = deskward::server::build(
        store,
        Arc::new(SystemClock),
        deskward::events::EventBus::new(),
        &Default::default(),
    );
    svc.create_account(
        NewAccountRequest {
            name: "Acme".into(),
            slug: Some("acme".into()),
            admin_name: "Pat".into(),
            admin_email: PRIMARY_EMAIL.into(),
            admin_password: PRIMARY_PASSWORD.into(),
        },
        true,
    )
    .await
    .expect("create the account");
}

async fn a_change_survives_kill_9_before_its_delivery(backend: Backend) {
    let db = TestDb::new(backend).await;
    create_acme(&db.url).await;
    let Some(rx) = Receiver::start().await else {
        return;
    };
    let server = Binary::serve(&db.url)
        .arg("--webhook-allow-private")
        .start()
        .await;
    let admin = client_for_base(&server.base);
    admin
        .login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let (_, secret) = register(&admin, &rx.url("/hook")).await;
    // The receiver is down: whatever the worker tries before the kill fails.
    let held = rx.stop();
    let ann = add_agent_api(&admin, "Ann", "ann@acme.test").await;
    server.kill9();

    let rx = Receiver::restart(held).await;
    rx.control(json!({"secret": secret})).await;
    // A new port: what matters is the outbox the killed process left in the database.
    let _server = Binary::serve(&db.url)
        .arg("--webhook-allow-private")
        .start()
        .await;
    let got = rx
        .wait_for(60, |got| !of_type(got, "member.created").is_empty())
        .await;
    all_verified(&got);
    let created = of_type(&got, "member.created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["body"]["data"]["person"]["id"], ann.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_deliver_each_event_once() {
    let db = TestDb::new(Backend::Postgres).await;
    create_acme(&db.url).await;
    let Some(rx) = Receiver::start().await else {
        return;
    };
    let mut servers = Vec::new();
    for _ in 0..2 {
        let store = deskward::store::connect(&db.url).await.unwrap();
        let events = deskward::relay::events_for(&db.url).await;
        let config = deskward::server::ServerConfig {
            webhooks: deskward::service::delivery::DeliveryConfig {
                allow_private: true,
                ..Default::default()
            },
            ..crate::support::server_config()
        };
        let svc = deskward::server::build(store, Arc::new(SystemClock), events, &config);
        servers.push(serve(svc, config).await);
    }
    let admins: Vec<Client> = {
        let mut v = Vec::new();
        for s in &servers {
            let c = client_for_base(&s.base);
            c.login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
                .await
                .expect_status(StatusCode::OK);
            v.push(c);
        }
        v
    };
    let (id, secret) = register(&admins[0], &rx.url("/hook")).await;
    rx.control(json!({"secret": secret})).await;
    let n = 40;
    for i in 0..n {
        add_agent_api(
            &admins[i % 2],
            &format!("Agent {i}"),
            &format!("a{i}@acme.test"),
        )
        .await;
    }
    rx.wait_for(30, |got| got.len() >= n).await;
    // Every delivery recorded as delivered: no claim is left that could still send one again.
    wait_log(&admins[0], &id, 30, |l| {
        l.len() == n && l.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    // And the instances are still sending: one more event arrives after all of that, so a
    // duplicate sent by either would have arrived before it.
    add_agent_api(&admins[1], "Last One", "last@acme.test").await;
    let got = rx
        .wait_for(30, |got| {
            got.iter()
                .any(|d| d["body"]["data"]["person"]["email"] == "last@acme.test")
        })
        .await;
    all_verified(&got);
    let ids: std::collections::BTreeSet<&str> =
        got.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(got.len(), n + 1, "each event delivered exactly once");
    assert_eq!(ids.len(), n + 1);
}

async fn retention_deletes_what_is_older_than_its_age(backend: Backend) {
    use deskward::service::retention::RetentionConfig;
    let app = allowing_private(backend).await;
    let admin = app.primary_client().await;
    let (id, _) = register(&admin, "http://127.0.0.1:9/nowhere").await;
    let ann = app.add_agent("Ann", "ann@acme.test").await;
    let (old_session, _) = app.start_session("ann@acme.test", PASSWORD).await;
    admin
        .delete(&format!("/api/v1/agents/{}/sessions", ann.id))
        .await;
    let config = RetentionConfig {
        days: 30,
        audit_days: 60,
        batch: 2,
        pause: Duration::from_millis(1),
        ..Default::default()
    };
    // Nothing is old yet.
    assert_eq!(
        app.svc.retention_sweep(&config).await.unwrap(),
        Default::default()
    );
    app.advance(31 * DAY);
    let (live, _) = app.start_session("ann@acme.test", PASSWORD).await;
    let purged = app.svc.retention_sweep(&config).await.unwrap();
    assert_eq!(purged.sessions, 1);
    assert!(purged.deliveries >= 3, "{purged:?}");
    assert_eq!(purged.audit_entries, 0, "the audit log is kept longer");
    assert!(
        app.store
            .session(&app.account.id, &old_session)
            .await
            .is_err()
    );
    assert!(app.store.session(&app.account.id, &live).await.is_ok());
    // The new session's delivery stays.
    let left = app
        .store
        .webhook_deliveries(&app.account.id, &id, 100)
        .await
        .unwrap();
    assert!(!left.is_empty());
    assert!(left.iter().all(|d| d.created_at > app.svc.now() - 30 * DAY));
    app.advance(30 * DAY);
    let purged = app.svc.retention_sweep(&config).await.unwrap();
    assert!(purged.audit_entries >= 2, "{purged:?}");
}

/// The Security section's pages work without JavaScript: add (the secret shown once), the
/// list, the delivery log with "send again", delete; forms need the CSRF token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_pages_manage_webhooks_without_javascript() {
    let app = allowing_private(Backend::Sqlite).await;
    let admin = app.primary_client().await;
    let security = admin.get("/security").await.expect_status(StatusCode::OK);
    assert!(security.text.contains("/security/webhooks"));
    let empty = admin
        .get("/security/webhooks")
        .await
        .expect_status(StatusCode::OK);
    assert!(empty.text.contains("No webhook endpoints yet"));

    let added = admin
        .post_form(
            "/security/webhooks",
            &[
                ("url", "http://127.0.0.1:9/hook"),
                ("events", "session.started"),
                ("events", "member.created"),
            ],
        )
        .await
        .expect_status(StatusCode::OK);
    assert!(
        added.text.contains("id=\"webhook-secret\">whsec_"),
        "{}",
        added.text
    );
    let list = admin.get("/security/webhooks").await;
    assert!(list.text.contains("http://127.0.0.1:9/hook"));
    assert!(list.text.contains("session.started, member.created"));
    assert!(
        !list.text.contains("whsec_"),
        "the secret is shown once only"
    );
    let bad = admin
        .post_form("/security/webhooks", &[("url", "not a url")])
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.text.contains("The URL is not a valid URL"),
        "{}",
        bad.text
    );

    let id = admin.get("/api/v1/webhooks").await.json()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.add_agent("Ann", "ann@acme.test").await;
    let log = admin
        .get(&format!("/security/webhooks/{id}"))
        .await
        .expect_status(StatusCode::OK);
    assert!(log.text.contains("member.created"));
    assert!(log.text.contains("Send again"));
    let msg = deliveries(&admin, &id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let again = admin
        .post_form(
            &format!("/security/webhooks/{id}/deliveries/{msg}/retry"),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);

    // Without the form's token nothing changes.
    let forged = app.client();
    forged.plant_cookie(&admin.session_token().unwrap());
    let r = forged
        .post_form(&format!("/security/webhooks/{id}/delete"), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(deliveries(&admin, &id).await.len(), 1);

    let deleted = admin
        .post_form(&format!("/security/webhooks/{id}/delete"), &[])
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        admin.get("/api/v1/webhooks").await.json()["items"],
        json!([])
    );
}
