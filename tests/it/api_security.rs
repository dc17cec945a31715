//! Security properties (OWASP ASVS level 2 items) checked over HTTP: headers, CSRF and
//! cross-site refusal, throttling, passwords, the audit log, logs without secrets, and a
//! fuzzing pass that must never produce a 500 or change stored data.

use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::db::Backend;
use crate::support::{Client, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, TestApp};

async fn headers_on_pages_and_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.primary_client().await;
    for path in [
        "/login",
        "/team/agents",
        "/api/v1/me",
        "/api/v1/agents",
        "/healthz",
        "/nope",
    ] {
        let res = c.get(path).await;
        let csp = res
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP"));
        for part in [
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "script-src 'self'",
        ] {
            assert!(csp.contains(part), "{path}: CSP lacks {part}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(
            res.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(res.header("referrer-policy").is_some(), "{path}");
        assert!(
            res.header("strict-transport-security").is_none(),
            "no HSTS over plain HTTP"
        );
    }
    // Every authenticated answer is not to be stored by caches.
    for path in [
        "/api/v1/me",
        "/api/v1/me/sessions",
        "/team/agents",
        "/me/sessions",
    ] {
        assert_eq!(
            c.get(path).await.header("cache-control"),
            Some("no-store"),
            "{path}"
        );
    }
    // Pages hold no inline script: every <script> has a src.
    let html = c.get("/team/agents").await.text;
    assert!(!html.contains("<script>"), "inline script on the page");
    assert!(!html.contains(" onclick="), "inline handler on the page");
}

async fn https_adds_hsts_and_host_cookie(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.web.https = true).await;
    let res = app.client().login(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK);
    let cookie = res.set_cookies().join("\n");
    assert!(cookie.starts_with("__Host-deskward_session="), "{cookie}");
    for attr in ["HttpOnly", "Secure", "Path=/", "SameSite=Lax"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    assert!(
        res.header("strict-transport-security")
            .unwrap()
            .contains("max-age=")
    );
}

async fn cross_site_requests_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.primary_client().await;
    let body = json!({"name": "Eve", "email": "eve@acme.test", "password": PASSWORD});
    let with = |h: &'static str, v: &'static str| {
        c.request(Method::POST, "/api/v1/agents")
            .header(h, v)
            .json(&body)
    };
    c.send(with("origin", "https://evil.example"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "csrf");
    c.send(with("sec-fetch-site", "cross-site"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "csrf");
    c.send(with("origin", "null"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "csrf");
    // The sign-in form too (login CSRF).
    let res = app
        .client()
        .raw
        .post(app.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", PRIMARY_EMAIL), ("password", PRIMARY_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A page form without the session's token changes nothing.
    let res = c
        .raw
        .post(app.url("/team/agents"))
        .form(&[
            ("name", "Eve"),
            ("email", "eve@acme.test"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Same-origin with the token works.
    let origin = app.base.clone();
    let res = c
        .send(
            c.request(Method::POST, "/api/v1/agents")
                .header("origin", origin)
                .json(&body),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    assert_eq!(c.get("/api/v1/agents").await.json()["total"], 1);
    // No state change on GET.
    let res = c.get("/api/v1/agents/sessions/end").await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED, "{}", res.text);
    // GET /logout only asks "Sign out?"; signing out is the form's POST.
    let asked = c.get("/logout").await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.text.contains("Sign out?"), "{}", asked.text);
    c.me().await.expect_status(StatusCode::OK);
}

/// A sign-in through the trusted proxy, claiming to come from `ip`.
async fn from(c: &Client, email: &str, password: &str, ip: &str) -> crate::support::Response {
    let rb = c
        .request(Method::POST, "/api/v1/auth/login")
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}));
    c.send(rb).await
}

async fn a_flood_neither_locks_out_the_owner_nor_slows_others(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.add_agent("Ann", "ann@acme.test").await;
    app.add_agent("Bob", "bob@acme.test").await;
    let login = |email: &'static str, password: &'static str, ip: &'static str| {
        let c = app.client();
        async move { from(&c, email, password, ip).await }
    };
    // Ann has signed in from her office browser before: it holds her known-device pass.
    let office = app.client();
    from(&office, "ann@acme.test", PASSWORD, "203.0.113.5")
        .await
        .expect_status(StatusCode::OK);
    let mut limited = None;
    for _ in 0..12 {
        let res = login("ann@acme.test", "wrong password here", "198.51.100.7").await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(res);
            break;
        }
        res.expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let res = limited.expect("failures are throttled");
    res.expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    // Unknown e-mails are throttled the same way (no account enumeration by the limiter).
    // Bob is not slowed by the flood on Ann, even from the attacker's address.
    login("bob@acme.test", PASSWORD, "198.51.100.7")
        .await
        .expect_status(StatusCode::OK);
    login("bob@acme.test", PASSWORD, "192.0.2.44")
        .await
        .expect_status(StatusCode::OK);
    // A browser without her pass must wait out the delay, even at her office's address: an
    // address that once had a session is no pass...
    login("ann@acme.test", PASSWORD, "203.0.113.5")
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // ...but her own browser, holding its known-device pass, still gets her in.
    from(&office, "ann@acme.test", PASSWORD, "203.0.113.5")
        .await
        .expect_status(StatusCode::OK);
    // The delays are over after a while (and a success resets the count).
    app.advance(16 * crate::support::MINUTE);
    login("ann@acme.test", PASSWORD, "192.0.2.99")
        .await
        .expect_status(StatusCode::OK);
}

async fn changing_ones_own_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let here = app.signed_in("ann@acme.test", PASSWORD).await;
    let elsewhere = app.signed_in("ann@acme.test", PASSWORD).await;
    let put = |body: Value| {
        let here = &here;
        async move { here.put_json("/api/v1/me/password", &body).await }
    };
    let m =
        put(json!({"current_password": "not my password", "new_password": "fresh secret phrase"}))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(m.contains("current"), "{m}");
    for (new, why) in [
        ("short", "12"),
        (&*"x".repeat(129), "128"),
        ("password1234", "common"),
        ("qwertyuiop123", "common"),
    ] {
        let m = put(json!({"current_password": PASSWORD, "new_password": new}))
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(m.contains(why), "{new}: {m}");
    }
    let v = put(json!({"current_password": PASSWORD, "new_password": "fresh secret phrase", "end_other_sessions": true}))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["ended"], 1);
    here.me().await.expect_status(StatusCode::OK);
    elsewhere
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    app.client()
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.client()
        .login("ann@acme.test", "fresh secret phrase")
        .await
        .expect_status(StatusCode::OK);
    // Adding people with a common password is refused as well.
    let admin = app.primary_client().await;
    let m = admin
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Cy", "email": "cy@acme.test", "password": "1q2w3e4r5t6y"}),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(m.contains("common"), "{m}");
}

async fn the_audit_log_records_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann", "ann@acme.test").await;
    let sub = app
        .add_admin("Sam", "sam@acme.test", &["team.agents"])
        .await;
    let admin = app.primary_client().await;
    app.client()
        .login("ann@acme.test", "wrong password here")
        .await;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    admin
        .delete(&format!("/api/v1/agents/{}/sessions", agent.id))
        .await
        .expect_status(StatusCode::OK);
    let ann2 = app.signed_in("ann@acme.test", PASSWORD).await;
    ann2.logout().await.expect_status(StatusCode::NO_CONTENT);
    admin
        .patch_json(
            &format!("/api/v1/agents/{}", agent.id),
            &json!({"disabled": true}),
        )
        .await
        .expect_status(StatusCode::OK);
    admin
        .patch_json(
            &format!("/api/v1/agents/{}", agent.id),
            &json!({"disabled": false}),
        )
        .await
        .expect_status(StatusCode::OK);
    admin
        .patch_json(
            &format!("/api/v1/agents/{}", agent.id),
            &json!({"password": "another fine phrase"}),
        )
        .await
        .expect_status(StatusCode::OK);
    admin
        .patch_json(
            &format!("/api/v1/admins/{}", sub.id),
            &json!({"permissions": []}),
        )
        .await
        .expect_status(StatusCode::OK);
    admin
        .put_json(
            "/api/v1/settings/security",
            &json!({"agent_idle_timeout_minutes": 60}),
        )
        .await
        .expect_status(StatusCode::OK);
    let _ = ann;
    let v = admin
        .get("/api/v1/audit?per_page=200")
        .await
        .expect_status(StatusCode::OK)
        .json();
    let kinds: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "signin",
        "signin.failed",
        "session.ended",
        "signout",
        "member.disabled",
        "member.enabled",
        "password.changed",
        "permissions.changed",
        "settings.changed",
        "member.created",
    ] {
        assert!(kinds.contains(&k), "no {k} entry in {kinds:?}");
    }
    // Newest first.
    let ats: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["at"].as_str().unwrap())
        .collect();
    let mut sorted = ats.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ats, sorted);
    let ended = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "session.ended")
        .unwrap();
    assert_eq!(ended["actor"], app.primary.id.as_str());
    assert_eq!(ended["target"], agent.id.as_str());
    assert_eq!(ended["ip"], "127.0.0.1");
    assert!(ended["detail"].as_str().unwrap().contains("ended_by_admin"));
    // Filters.
    let v = admin.get("/api/v1/audit?kind=member.disabled").await.json();
    assert_eq!(v["total"], 1);
    let v = admin
        .get(&format!("/api/v1/audit?target={}&kind=signin", agent.id))
        .await
        .json();
    assert_eq!(v["total"], 2);
    let v = admin.get("/api/v1/audit?from=2100-01-01").await.json();
    assert_eq!(v["total"], 0);
    let v = admin.get("/api/v1/audit?per_page=2&page=2").await.json();
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    admin
        .get("/api/v1/audit?from=yesterday")
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    // CSV, by Accept or by format.
    let res = admin
        .send(
            admin
                .request(Method::GET, "/api/v1/audit?kind=member.disabled")
                .header("accept", "text/csv"),
        )
        .await;
    assert!(res.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = res.text.lines().collect();
    assert_eq!(lines[0], "id,at (UTC),kind,actor,target,ip,detail,count");
    assert_eq!(lines.len(), 2);
    assert!(lines[1].contains("member.disabled"));
    let res = admin.get("/api/v1/audit?format=csv").await;
    assert!(res.text.lines().count() > 10);
    // Only the primary administrator or the audit permission.
    let sam = app.signed_in("sam@acme.test", PASSWORD).await;
    sam.get("/api/v1/audit")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.add_admin("Aud", "aud@acme.test", &["audit"]).await;
    let aud = app.signed_in("aud@acme.test", PASSWORD).await;
    aud.get("/api/v1/audit").await.expect_status(StatusCode::OK);
    let page = aud.get("/security/audit?kind=signin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Audit log"));
}

async fn expiry_is_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    app.signed_in("ann@acme.test", PASSWORD).await;
    app.advance(73 * crate::support::HOUR);
    assert_eq!(app.sweep().await, 1);
    let admin = app.primary_client().await;
    let v = admin.get("/api/v1/audit?kind=session.expired").await.json();
    assert_eq!(v["total"], 1);
}

/// Failed sign-ins are kept (hashed) for the throttling window and forgotten by the background
/// housekeeping after it, not by anything on a request's path.
async fn housekeeping_forgets_failed_sign_ins_after_the_window(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.client()
        .login(PRIMARY_EMAIL, "not the password at all")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let ip_key = deskward::service::token_hash("ip:127.0.0.1");
    let count = || async { app.store.signin_failures(&ip_key, 0).await.unwrap().count };
    assert_eq!(count().await, 1);
    app.advance(2 * crate::support::HOUR);
    // Ending sessions (which sweeps idle ones first) leaves the failures alone...
    app.sweep().await;
    assert_eq!(count().await, 1);
    // ...the housekeeping drops them.
    app.svc.housekeeping().await;
    assert_eq!(count().await, 0);
}

/// A sign-in left at its choice of account leaves a challenge behind; the housekeeping of the
/// sweep deletes it once expired, and not before.
async fn housekeeping_forgets_expired_sign_in_challenges(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Lee Agent", "lee@acme.test").await;
    app.add_admin("Lee Admin", "lee@acme.test", &[]).await;
    app.client()
        .login("lee@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::CONFLICT, "choose_account");
    let stored = || async { app.store.stored_challenges().await.unwrap() };
    assert_eq!(stored().await, 1);
    // Still live (the choice lasts 5 minutes): kept.
    app.advance(4 * crate::support::MINUTE);
    app.svc.housekeeping().await;
    assert_eq!(stored().await, 1);
    // Expired: gone.
    app.advance(2 * crate::support::MINUTE);
    app.svc.housekeeping().await;
    assert_eq!(stored().await, 0);
}

/// A client that never finishes its request head (a slow-header attack) loses the connection
/// after the header-read timeout; a well-behaved request on another connection is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_that_never_ends_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.header_read_timeout = std::time::Duration::from_millis(300)
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        slow.read_to_end(&mut buf),
    )
    .await
    .expect("the server must close the connection, not wait for ever");
    // Closed (possibly after a 408 answer), and not before the timeout.
    assert!(read.is_ok() || buf.is_empty(), "{read:?}");
    assert!(
        buf.is_empty() || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    assert_eq!(
        app.client().get("/healthz").await.status,
        StatusCode::OK,
        "others are served as usual"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_unique_and_long_over_a_thousand_sign_ins() {
    let app = Arc::new(TestApp::spawn(Backend::Sqlite).await);
    let mut tasks = Vec::new();
    // Four at a time: attempts in flight count against the person's free failures (5) until
    // their password is found right, so more in parallel from one address would be throttled.
    for _ in 0..4 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for _ in 0..250 {
                let res = app.client().login(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
                assert_eq!(res.status, StatusCode::OK);
                out.push((
                    res.session_token().unwrap(),
                    res.json()["csrf_token"].as_str().unwrap().to_string(),
                ));
            }
            out
        }));
    }
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        for (token, csrf) in t.await.unwrap() {
            // 64 hex digits: 256 bits from the OS.
            assert_eq!(token.len(), 64);
            assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_ne!(token, csrf);
            assert!(tokens.insert(token), "a token repeated");
        }
    }
    assert_eq!(tokens.len(), 1000);
}

/// A writer collecting everything the process logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_password_and_no_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Everything the server side logs, at the most verbose level; the test's own HTTP client
    // (cookie_store, reqwest) logs the cookies it keeps, which is not the server's doing.
    let installed = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,cookie_store=off,reqwest=off",
        ))
        .with_writer(move || writer.clone())
        .try_init()
        .is_ok();
    assert!(
        installed,
        "this test needs the process's log output to itself (run under nextest)"
    );
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.primary_client().await;
    let secret = "a very secret passphrase";
    let agent = admin
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Ann", "email": "ann@acme.test", "password": secret}),
        )
        .await
        .expect_status(StatusCode::CREATED)
        .json();
    let ann = app.signed_in("ann@acme.test", secret).await;
    app.client()
        .login("ann@acme.test", "wrong but secret words")
        .await;
    admin
        .patch_json(
            &format!("/api/v1/agents/{}", agent["id"].as_str().unwrap()),
            &json!({"password": "next secret passphrase"}),
        )
        .await;
    ann.put_json(
        "/api/v1/me/password",
        &json!({"current_password": secret, "new_password": "x"}),
    )
    .await;
    admin.logout().await.expect_status(StatusCode::NO_CONTENT);
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(
        log.len() > 1000,
        "the scenario logged (requests, SQL): {} bytes",
        log.len()
    );
    for s in [
        secret,
        "wrong but secret words",
        "next secret passphrase",
        PRIMARY_PASSWORD,
    ] {
        assert!(!log.contains(s), "a password is in the log");
    }
    for t in [
        admin.session_token().unwrap(),
        ann.session_token().unwrap(),
        admin.csrf().unwrap(),
    ] {
        if let Some(at) = log.find(&t) {
            let line_start = log[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = log[at..].find('\n').map_or(log.len(), |i| at + i);
            panic!("a token is in the log: {}", &log[line_start..line_end]);
        }
    }
}

/// A small deterministic generator, so a failing case can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
    fn junk(&mut self, max: usize) -> String {
        let n = (self.next() % max as u64) as usize;
        (0..n)
            .map(|_| {
                let c = (self.next() % 0x2FF) as u32;
                char::from_u32(c).filter(|c| !c.is_control()).unwrap_or('~')
            })
            .collect()
    }
}

/// What the fuzzer must not change: people, their live sessions and the settings.
async fn snapshot(admin: &crate::support::Client) -> (Value, Value, Value) {
    let strip = |mut v: Value| {
        for m in v["items"].as_array_mut().unwrap() {
            for s in m["sessions"].as_array_mut().unwrap() {
                s.as_object_mut().unwrap().remove("last_seen_at");
            }
        }
        v
    };
    let a = admin.get("/api/v1/agents").await.json();
    let d = admin.get("/api/v1/admins").await.json();
    let s = admin.get("/api/v1/settings/security").await.json();
    (strip(a), strip(d), s)
}

async fn fuzzed_requests_never_fail_or_change_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann", "ann@acme.test").await;
    let admin = app.primary_client().await;
    let token = admin.session_token().unwrap();
    let csrf = admin.csrf().unwrap();
    let before = snapshot(&admin).await;
    let paths = [
        "/api/v1/auth/login".to_string(),
        "/api/v1/me".into(),
        "/api/v1/me/status".into(),
        "/api/v1/me/password".into(),
        "/api/v1/agents".into(),
        "/api/v1/admins".into(),
        format!("/api/v1/agents/{}", agent.id),
        format!("/api/v1/agents/{}/sessions", agent.id),
        "/api/v1/agents/sessions/end".into(),
        "/api/v1/sessions/se_x".into(),
        "/api/v1/settings/security".into(),
        "/api/v1/audit".into(),
        "/login".into(),
        "/setup".into(),
        "/team/agents".into(),
        "/team/agents/bulk-end".into(),
        format!("/team/agents/{}", agent.id),
        "/security".into(),
        "/me/sessions".into(),
        "/team/x/y/z".into(),
        "/static/../Cargo.toml".into(),
    ];
    let bodies = [
        "{",
        "{\"email\":",
        "[]",
        "null",
        "{\"ids\": \"all\"}",
        "{\"ids\": [1,2]}",
        "{\"status\": 1}",
        "{\"agent_idle_timeout_minutes\": 1e400}",
        "{\"agent_idle_timeout_minutes\": -1}",
        "{\"name\": null, \"email\": []}",
        "{\"disabled\": \"maybe\"}",
        "{\"permissions\": [\"root\"]}",
        "\u{0}\u{1}",
        "{\"email\":\"a@b.c\",\"password\":\"x\",\"as\":\"root\"}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "email=%ZZ&password=%",
        "csrf_token=&name=&email=",
    ];
    let cookies = [
        "",
        "deskward_session=",
        "deskward_session=zz",
        "deskward_session=;;;;",
        "deskward_session=%00%00",
    ];
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    let types = [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/json; charset=utf-16",
        "",
    ];
    let mut rng = Rng(0xDE5C_0A2D_0000_0001);
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for i in 0..400 {
        let path = rng.pick(&paths).clone();
        let query = match rng.next() % 4 {
            0 => String::new(),
            1 => format!(
                "?page={}&per_page={}&q={}",
                rng.junk(6),
                rng.junk(6),
                rng.junk(30)
            ),
            2 => "?session=%FF%FE&status=%00&page=99999999999999999999".to_string(),
            _ => format!("?{}", rng.junk(50).replace(' ', "&")),
        };
        let method = rng.pick(&methods).clone();
        let mut rb = raw.request(method.clone(), app.url(&format!("{path}{query}")));
        // Half the requests carry the administrator's real session but a wrong or missing
        // CSRF token, or malformed bodies: none may change anything.
        let cookie = if rng.next().is_multiple_of(2) {
            format!("deskward_session={token}")
        } else {
            format!("{}{}", rng.pick(&cookies), rng.junk(10))
        };
        rb = rb.header("cookie", cookie);
        match rng.next() % 3 {
            0 => rb = rb.header("x-csrf-token", format!("{}{}", &csrf[..10], rng.junk(5))),
            1 => rb = rb.header("x-csrf-token", csrf.clone()),
            _ => {}
        }
        let ct = *rng.pick(&types);
        if !ct.is_empty() {
            rb = rb.header("content-type", ct);
        }
        if rng.next().is_multiple_of(5) {
            rb = rb
                .header("x-forwarded-for", rng.junk(40))
                .header("host", "x".repeat(300));
        }
        let body = if rng.next().is_multiple_of(3) {
            rng.junk(200)
        } else {
            rng.pick(&bodies).to_string()
        };
        let res = rb.body(body.clone()).send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert!(
            status.as_u16() < 500,
            "case {i}: {method} {path}{query} body {body:?} → {status}: {text}"
        );
    }
    let after = snapshot(&admin).await;
    assert_eq!(before, after, "a fuzzed request changed stored data");
}

async fn people_end_their_own_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let laptop = app.signed_in("ann@acme.test", PASSWORD).await;
    let phone = app.signed_in("ann@acme.test", PASSWORD).await;
    let items = laptop.get("/api/v1/me/sessions").await.json()["items"].clone();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let other = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    laptop
        .delete(&format!("/api/v1/sessions/{other}"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    phone
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        app.stored_session(&other)
            .await
            .end_reason
            .map(|r| r.as_str()),
        Some("logout")
    );
    // Someone else's session stays out of an agent's reach; its id names nothing to them.
    let admin = app.primary_client().await;
    let admin_sid = admin.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    laptop
        .delete(&format!("/api/v1/sessions/{admin_sid}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    admin.me().await.expect_status(StatusCode::OK);
}

backend_tests!(
    housekeeping_forgets_failed_sign_ins_after_the_window,
    housekeeping_forgets_expired_sign_in_challenges,
    people_end_their_own_other_sessions,
    headers_on_pages_and_api,
    https_adds_hsts_and_host_cookie,
    cross_site_requests_are_refused,
    a_flood_neither_locks_out_the_owner_nor_slows_others,
    changing_ones_own_password,
    the_audit_log_records_and_filters,
    expiry_is_audited,
    fuzzed_requests_never_fail_or_change_data,
);
