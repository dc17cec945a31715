//! Prometheus metrics (`serve --metrics-bind`): served on their own listener only, counters
//! that move when things happen, output and the documented alert rules accepted by promtool.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::api_events::EventStream;
use crate::db::Backend;
use crate::support::{PASSWORD, TestApp};

/// The server with metrics on, and the URL of its `/metrics`.
pub(crate) async fn spawn_with_metrics(backend: Backend) -> (TestApp, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind metrics port");
    let addr = listener.local_addr().expect("metrics address");
    let app = TestApp::spawn_with(backend, move |c| c.metrics_listener = Some(listener)).await;
    (app, format!("http://{addr}/metrics"))
}

pub(crate) async fn scrape_text(url: &str) -> String {
    let res = reqwest::get(url).await.expect("scrape");
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    res.text().await.expect("metrics body")
}

/// Every sample of the exposition, by its name with labels as written.
pub(crate) fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series and value");
            (series.to_string(), value.parse().expect("numeric value"))
        })
        .collect()
}

async fn scrape(url: &str) -> HashMap<String, f64> {
    samples(&scrape_text(url).await)
}

fn value(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

/// Waits until `series` has the value `want` (gauges follow events that settle in the
/// background, such as a closed stream or a status change).
async fn eventually(url: &str, series: &str, want: f64) -> HashMap<String, f64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let m = scrape(url).await;
        if value(&m, series) == want || tokio::time::Instant::now() > deadline {
            assert_eq!(value(&m, series), want, "{series}");
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Sign-ins by result, throttling, open streams, Online agents, live sessions by role,
/// endings by reason and request timings by route pattern all move with what happens.
async fn the_counters_move_when_things_happen(backend: Backend) {
    let (app, url) = spawn_with_metrics(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    let before = scrape(&url).await;
    assert_eq!(
        value(&before, r#"deskward_signins_total{result="success"}"#),
        0.0
    );
    assert_eq!(
        value(&before, r#"deskward_sessions_active{role="agent"}"#),
        0.0
    );
    assert_eq!(value(&before, "deskward_event_streams_open"), 0.0);

    let admin = app.primary_client().await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    app.client()
        .login("ann@acme.test", "not her password")
        .await
        .expect_status(StatusCode::UNAUTHORIZED);
    // Five failures are free for an address; then answers are 429 at once.
    let guesser = app.client();
    let mut limited = 0;
    for _ in 0..8 {
        let r = guesser.login("nobody@acme.test", "guessing").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(limited > 0, "the guesser was throttled");
    let stream = EventStream::open(&tab).await;

    let m = eventually(&url, "deskward_agents_online", 1.0).await;
    assert_eq!(
        value(&m, r#"deskward_signins_total{result="success"}"#),
        2.0
    );
    assert_eq!(
        value(&m, r#"deskward_signins_total{result="rate_limited"}"#),
        f64::from(limited)
    );
    assert_eq!(
        value(
            &m,
            r#"deskward_signins_total{result="invalid_credentials"}"#
        ),
        f64::from(9 - limited),
        "every refused attempt is counted once, as refused or as throttled"
    );
    assert_eq!(value(&m, "deskward_event_streams_open"), 1.0);
    assert_eq!(value(&m, r#"deskward_sessions_active{role="agent"}"#), 1.0);
    assert_eq!(value(&m, r#"deskward_sessions_active{role="admin"}"#), 1.0);

    admin
        .get(&format!("/api/v1/agents/{}", agent.id))
        .await
        .expect_status(StatusCode::OK);
    admin
        .delete(&format!("/api/v1/agents/{}/sessions", agent.id))
        .await
        .expect_status(StatusCode::OK);
    admin.get("/no/such/page").await;
    drop(stream);
    let m = eventually(&url, "deskward_event_streams_open", 0.0).await;
    assert_eq!(
        value(
            &m,
            r#"deskward_session_endings_total{reason="ended_by_admin"}"#
        ),
        1.0
    );
    assert_eq!(value(&m, r#"deskward_sessions_active{role="agent"}"#), 0.0);
    assert_eq!(value(&m, "deskward_agents_online"), 0.0);
    admin.logout().await.expect_status(StatusCode::NO_CONTENT);
    let m = scrape(&url).await;
    assert_eq!(
        value(&m, r#"deskward_session_endings_total{reason="logout"}"#),
        1.0
    );
    assert_eq!(value(&m, r#"deskward_sessions_active{role="admin"}"#), 0.0);

    // Requests are timed by route pattern: never the raw path with its id.
    let text = scrape_text(&url).await;
    let m = samples(&text);
    assert!(
        value(
            &m,
            r#"deskward_http_request_duration_seconds_count{method="GET",route="/api/v1/agents/{id}",status="2xx"}"#
        ) >= 1.0,
        "{text}"
    );
    assert!(
        value(
            &m,
            r#"deskward_http_request_duration_seconds_count{method="POST",route="/api/v1/auth/login",status="4xx"}"#
        ) >= 1.0
    );
    assert!(
        value(
            &m,
            r#"deskward_http_request_duration_seconds_count{method="GET",route="unmatched",status="4xx"}"#
        ) >= 1.0
    );
    assert!(!text.contains(&agent.id), "a raw path leaked into a label");
    assert!(!text.contains("/no/such/page"));
}

/// `/metrics` is served on the metrics listener only: the main one answers 404, and without
/// `--metrics-bind` nothing serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_on_their_own_listener_only() {
    let (app, url) = spawn_with_metrics(Backend::Sqlite).await;
    scrape(&url).await;
    let main = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);
    let other = reqwest::get(url.replace("/metrics", "/api/v1/me"))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);

    let plain = TestApp::spawn(Backend::Sqlite).await;
    let main = reqwest::get(plain.url("/metrics")).await.unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);
}

/// promtool, from the Debian package `prometheus`; missing, the test is skipped, except in CI.
pub(crate) fn promtool() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "promtool is missing (apt-get install prometheus); CI=true needs it"
        );
        eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
    }
    found
}

pub(crate) fn run_promtool(
    promtool: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(promtool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("promtool output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{said}");
    said
}

/// The sample alert rules of docs/operations.md, as written there.
pub(crate) fn sample_alert_rules() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .expect("docs/operations.md");
    doc.split("<!-- alert-rules:begin -->")
        .nth(1)
        .and_then(|s| s.split("<!-- alert-rules:end -->").next())
        .expect("the alert rules block in docs/operations.md")
        .trim()
        .trim_start_matches("```yaml")
        .trim_end_matches("```")
        .to_string()
}

/// The exposition, with every family in use, passes `promtool check metrics` (syntax and the
/// naming lint), and docs/operations.md's sample alert rules pass `promtool check rules`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_metrics_and_the_sample_alert_rules() {
    let Some(promtool) = promtool() else { return };
    let (app, url) = spawn_with_metrics(Backend::Sqlite).await;
    // The e-mail counts below are the ones this test makes: no sign-in alert besides.
    crate::mail_support::no_alerts_for_admins(&app).await;
    let admin = app.primary_client().await;
    admin
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Bo", "email": "bo@acme.test", "password": PASSWORD}),
        )
        .await
        .expect_status(StatusCode::CREATED);
    let tab = app.signed_in("bo@acme.test", PASSWORD).await;
    let _stream = EventStream::open(&tab).await;
    tab.logout().await.expect_status(StatusCode::NO_CONTENT);
    app.svc.metrics().webhook_delivery("delivered");
    app.svc.metrics().mail_sent();
    app.svc.metrics().mail_failed();
    let text = scrape_text(&url).await;
    let said = run_promtool(&promtool, &["check", "metrics"], Some(&text));
    assert!(!said.contains("problem"), "promtool lint: {said}\n{text}");
    // The e-mail families, named as docs/operations.md lists them.
    for line in [
        "# TYPE deskward_mail_sent_total counter",
        "deskward_mail_sent_total 1",
        "# TYPE deskward_mail_failed_total counter",
        "deskward_mail_failed_total 1",
        "# TYPE deskward_mail_backlog gauge",
        "deskward_mail_backlog 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deskward-rules.yml");
    std::fs::write(&file, sample_alert_rules()).unwrap();
    let said = run_promtool(&promtool, &["check", "rules", file.to_str().unwrap()], None);
    assert!(said.contains("SUCCESS: 3 rules found"), "{said}");
}

backend_tests!(the_counters_move_when_things_happen);

/// Webhook deliveries are counted by result, and the outbox's backlog is a gauge: a receiver
/// that refuses connections leaves the delivery pending (a retry), one that answers 2xx
/// empties it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_and_the_backlog_are_counted() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind metrics port");
    let metrics = format!("http://{}/metrics", listener.local_addr().unwrap());
    let app = TestApp::spawn_with(Backend::Sqlite, move |c| {
        c.metrics_listener = Some(listener);
        c.webhooks.allow_private = true;
    })
    .await;
    // A port nobody listens on: every attempt fails and is scheduled again. The socket stays
    // bound (not listening: connections are refused) for the whole test, so no other test's
    // server can take the port meanwhile.
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead = format!("http://{}/hook", closed.local_addr().unwrap());
    let owner = app.primary_client().await;
    owner
        .post_json(
            "/api/v1/webhooks",
            &json!({"url": dead, "events": ["member.created"]}),
        )
        .await
        .expect_status(StatusCode::CREATED);
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let m = eventually(
        &metrics,
        "deskward_webhook_deliveries_total{result=\"retry\"}",
        1.0,
    )
    .await;
    assert_eq!(value(&m, "deskward_webhook_outbox_backlog"), 1.0);
    assert_eq!(
        value(
            &m,
            "deskward_webhook_deliveries_total{result=\"delivered\"}"
        ),
        0.0
    );

    // A receiver that answers 204 to everything.
    let ok = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let live = format!("http://{}/hook", ok.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in ok.incoming().flatten() {
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    owner
        .post_json(
            "/api/v1/webhooks",
            &json!({"url": live, "events": ["member.created"]}),
        )
        .await
        .expect_status(StatusCode::CREATED);
    app.add_agent("Bob Agent", "bob@acme.test").await;
    eventually(
        &metrics,
        "deskward_webhook_deliveries_total{result=\"delivered\"}",
        1.0,
    )
    .await;
}
