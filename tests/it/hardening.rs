//! Transport hardening and resource limits: return paths that stay on the site,
//! `X-Forwarded-For` and `X-Forwarded-Proto` from trusted proxies, the HTTPS-only cookie and
//! HSTS, malformed requests answered in the right shape, the database file's mode, body-read
//! timeouts, the connection ceiling and the per-session cap on event streams.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api_events::EventStream;
use crate::db::Backend;
use crate::support::{Client, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, TestApp};

/// The `csrf_token` hidden field of a signed-in page, as a browser would post it back.
async fn page_csrf(c: &Client, path: &str) -> String {
    let html = c.get(path).await.expect_status(StatusCode::OK).text;
    let marker = "name=\"csrf_token\" value=\"";
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{path} has no CSRF field"))
        + marker.len();
    let end = html[at..].find('"').expect("end of the CSRF value") + at;
    html[at..end].to_string()
}

/// Whether a `Location` value stays on this site whatever a browser does with it: a path
/// with nothing a URL parser would strip or turn into a second slash.
fn on_site(location: &str) -> bool {
    location.starts_with('/')
        && !location.starts_with("//")
        && !location.starts_with("/\\")
        && location
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'\\')
}

/// Every form that takes `back` keeps the redirect on the site: control characters (a TAB, CR
/// or LF that browsers drop, turning `/\t/evil.test` into `//evil.test`), backslashes, `//`
/// and absolute URLs fall back to the default, and none of them reaches a 500.
async fn return_paths_stay_on_site(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann", "ann@acme.test").await;
    let admin = app.primary_client().await;
    let csrf = page_csrf(&admin, "/team/agents").await;
    let hostile = [
        "/\t/evil.test",
        "/\r/evil.test",
        "/\n/evil.test",
        "/\r\n/evil.test",
        "/\t\t/evil.test",
        "/\u{0}/evil.test",
        "/\u{7f}/evil.test",
        "/\u{b}/evil.test",
        "/\u{c}/evil.test",
        "/ /evil.test",
        "/\u{a0}/evil.test",
        "/\u{2028}/evil.test",
        "//evil.test",
        "/\\evil.test",
        "/\\/evil.test",
        "/team\\..\\evil",
        "https://evil.test/",
        "\t//evil.test",
        " /team",
        "evil.test",
        "",
    ];
    let default = "/team/agents?done=ended&n=0&people=0";
    for back in hostile {
        let res = admin
            .raw
            .post(app.url(&format!("/team/agents/{}/end-sessions", agent.id)))
            .form(&[("csrf_token", csrf.as_str()), ("back", back)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "back {back:?}");
        let location = res.headers()["location"].to_str().unwrap().to_string();
        assert!(on_site(&location), "back {back:?} led to {location:?}");
        assert_eq!(location, default, "back {back:?}");
        // The confirmation page carries the same value into its form: the default there too.
        let page = admin
            .raw
            .get(app.url(&format!(
                "/team/agents/{}/end-sessions?{}",
                agent.id,
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("back", back)
                    .finish()
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "back {back:?}");
        let html = page.text().await.unwrap();
        assert!(
            html.contains("name=\"back\" value=\"/team/agents\""),
            "back {back:?}: {html}"
        );
    }
    // An on-site path is kept, with the notice added.
    let res = admin
        .raw
        .post(app.url(&format!("/team/agents/{}/end-sessions", agent.id)))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("back", "/team/agents?q=ann&page=1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "/team/agents?q=ann&page=1&done=ended&n=0&people=0"
    );
}

/// Signs in through a proxy at 127.0.0.1 that sends this `X-Forwarded-For`; returns the
/// address the session was recorded with.
async fn ip_through_proxy(app: &TestApp, forwarded: &[&str]) -> String {
    let c = app.client();
    let mut rb = c
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"email": PRIMARY_EMAIL, "password": PRIMARY_PASSWORD}));
    for f in forwarded {
        rb = rb.header("x-forwarded-for", *f);
    }
    c.send(rb).await.expect_status(StatusCode::OK);
    c.me().await.expect_status(StatusCode::OK).json()["session"]["ip"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `X-Forwarded-For` entries with ports and bracketed IPv6 are read; the walk from the right
/// stops at the first entry that does not parse, and then the client is the nearest address
/// known (the trusted hop right of it, or the proxy itself), never a forgeable one left of it.
async fn forwarded_for_is_parsed_and_the_walk_stops_at_garbage(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.web.trusted_proxies = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ];
    })
    .await;
    let cases: &[(&[&str], &str)] = &[
        (&["203.0.113.7"], "203.0.113.7"),
        (&["203.0.113.7:4711"], "203.0.113.7"),
        (&["[2001:db8::1]:443"], "2001:db8::1"),
        (&["[2001:db8::2]"], "2001:db8::2"),
        (&["2001:db8::3"], "2001:db8::3"),
        (&["[::ffff:203.0.113.8]:80"], "203.0.113.8"),
        (
            &["198.51.100.1, 203.0.113.9:1234, 10.0.0.5:80"],
            "203.0.113.9",
        ),
        (&["198.51.100.1, [fd00::1]:8443"], "198.51.100.1"),
        (&["198.51.100.1", "203.0.113.10"], "203.0.113.10"),
        // Garbage ends the walk: nothing left of it is believed.
        (&["198.51.100.1, garbage"], "127.0.0.1"),
        (&["198.51.100.1, garbage, 10.1.2.3"], "10.1.2.3"),
        (&["198.51.100.1, 10.1.2.3:99999"], "127.0.0.1"),
        (&["198.51.100.1, 203.0.113.11:port"], "127.0.0.1"),
        (&["198.51.100.1, [2001:db8::4"], "127.0.0.1"),
        (&["198.51.100.1,, 10.1.2.4"], "10.1.2.4"),
        (&["198.51.100.1", "unknown"], "127.0.0.1"),
        (&["198.51.100.1, unknown", "10.1.2.5"], "10.1.2.5"),
        // Only our proxies: the one farthest from us.
        (&["10.9.9.9, 10.1.1.1"], "10.9.9.9"),
    ];
    for (forwarded, want) in cases {
        assert_eq!(
            ip_through_proxy(&app, forwarded).await,
            *want,
            "X-Forwarded-For {forwarded:?}"
        );
    }
}

/// The token of a sign-in answer's `Set-Cookie`, and the cookie's name.
fn issued_cookie(res: &crate::support::Response) -> (String, String) {
    let c = res.set_cookies().join("\n");
    let first = c.split(';').next().unwrap();
    let (name, value) = first.split_once('=').unwrap();
    (name.to_string(), value.to_string())
}

/// `GET /api/v1/me` with exactly this `Cookie` header (and any other headers).
async fn me_with(app: &TestApp, cookie: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = app
        .client()
        .raw
        .get(app.url("/api/v1/me"))
        .header("cookie", cookie);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.unwrap()
}

/// Over HTTPS (configured) only the `__Host-` cookie counts, wherever the other one stands.
async fn over_https_only_the_host_cookie_is_accepted(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.web.https = true).await;
    let res = app.client().login(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let res = res.expect_status(StatusCode::OK);
    let (name, token) = issued_cookie(&res);
    assert_eq!(name, "__Host-deskward_session");
    let ok = me_with(&app, &format!("__Host-deskward_session={token}"), &[]).await;
    assert_eq!(ok.status(), StatusCode::OK);
    for cookie in [
        format!("deskward_session={token}"),
        format!("deskward_session={token}; __Host-deskward_session=zz"),
        format!("a=b; deskward_session={token}"),
    ] {
        let res = me_with(&app, &cookie, &[]).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{cookie}");
    }
    // The pages too: without the `__Host-` cookie the browser is signed out.
    let res = app
        .client()
        .raw
        .get(app.url("/team/agents"))
        .header("cookie", format!("deskward_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");
    // The right one is found among others.
    let res = me_with(
        &app,
        &format!("deskward_session=zz; __Host-deskward_session={token}; x=y"),
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// A trusted proxy's `X-Forwarded-Proto: https` makes the request HTTPS: HSTS on the answer,
/// the `__Host-` cookie issued and the only one accepted. The same header from anyone else
/// changes nothing.
async fn forwarded_https_gets_hsts_and_the_host_cookie(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let https = [("x-forwarded-proto", "https")];
    let c = app.client();
    let res = c
        .send(
            c.request(Method::POST, "/api/v1/auth/login")
                .header("x-forwarded-proto", "https")
                .json(&json!({"email": PRIMARY_EMAIL, "password": PRIMARY_PASSWORD})),
        )
        .await
        .expect_status(StatusCode::OK);
    assert!(
        res.header("strict-transport-security")
            .is_some_and(|v| v.contains("max-age=")),
        "HSTS on the sign-in answer"
    );
    let (name, token) = issued_cookie(&res);
    assert_eq!(name, "__Host-deskward_session");
    let ok = me_with(&app, &format!("__Host-deskward_session={token}"), &https).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers().contains_key("strict-transport-security"));
    let plain = me_with(&app, &format!("deskward_session={token}"), &https).await;
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);
    assert!(
        plain.headers().contains_key("strict-transport-security"),
        "HSTS on errors too"
    );
    // Every answer over HTTPS carries it, pages and health checks included.
    for path in ["/login", "/healthz", "/nope"] {
        let res = app
            .client()
            .raw
            .get(app.url(path))
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap();
        assert!(
            res.headers().contains_key("strict-transport-security"),
            "{path}"
        );
    }
    // Plain HTTP through the same proxy: no HSTS.
    let res = app.client().get("/login").await;
    assert!(res.header("strict-transport-security").is_none());

    // From a peer that is not a trusted proxy the header is ignored.
    let untrusted = TestApp::spawn_with(backend, |c| {
        c.web.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let c = untrusted.client();
    let res = c
        .send(
            c.request(Method::POST, "/api/v1/auth/login")
                .header("x-forwarded-proto", "https")
                .json(&json!({"email": PRIMARY_EMAIL, "password": PRIMARY_PASSWORD})),
        )
        .await
        .expect_status(StatusCode::OK);
    assert!(res.header("strict-transport-security").is_none());
    let (name, _) = issued_cookie(&res);
    assert_eq!(name, "deskward_session");
}

/// Sends raw bytes on a new connection and reads until the server closes it; a server that
/// keeps the connection open fails the test (after 10 s) instead of hanging it.
async fn raw_exchange(app: &TestApp, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    assert!(
        read.is_ok(),
        "the server kept the connection open; it sent {text:?}"
    );
    text
}

/// Several `Host` headers are refused with 400; a single one is served as usual.
async fn several_host_headers_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/healthz", "/login", "/api/v1/me"] {
        let answer = raw_exchange(
            &app,
            format!(
                "GET {path} HTTP/1.1\r\nHost: acme.example.test\r\nHost: evil.test\r\n\
                 Connection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(
            answer.contains("Host"),
            "{path}: the answer says why: {answer}"
        );
    }
    let answer = raw_exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: acme.example.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A path id that is not UTF-8 (or otherwise unreadable) gets the API's JSON error, on every
/// route that takes one.
async fn malformed_path_ids_get_the_json_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.primary_client().await;
    let bad = ["%FF%FE", "%C3%28", "ok%80"];
    for id in bad {
        for (method, path) in [
            (Method::GET, format!("/api/v1/agents/{id}")),
            (Method::GET, format!("/api/v1/admins/{id}")),
            (Method::PATCH, format!("/api/v1/agents/{id}")),
            (Method::PATCH, format!("/api/v1/admins/{id}")),
            (Method::DELETE, format!("/api/v1/agents/{id}/sessions")),
            (Method::DELETE, format!("/api/v1/admins/{id}/sessions")),
            (Method::DELETE, format!("/api/v1/sessions/{id}")),
        ] {
            let res = admin
                .send(
                    admin
                        .request(method.clone(), &path)
                        .json(&json!({"name": "X"})),
                )
                .await;
            let message = res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
            assert!(message.contains("id"), "{method} {path}: {message}");
            assert!(
                res.header("content-type")
                    .is_some_and(|t| t.starts_with("application/json")),
                "{method} {path}"
            );
        }
    }
    // A well-formed unknown id is still a 404.
    admin
        .get("/api/v1/agents/mb_nobody")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

/// The 21st event stream of one session ends the oldest (which says why before closing);
/// the other twenty, and other sessions' streams, stay open.
async fn event_streams_per_session_are_capped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    let other = app.signed_in("ann@acme.test", PASSWORD).await;
    let mut elsewhere = EventStream::open(&other).await;
    let mut streams = Vec::new();
    for _ in 0..20 {
        streams.push(EventStream::open(&tab).await);
    }
    let mut newest = EventStream::open(&tab).await;
    let closed = streams[0]
        .until("stream_closed", Duration::from_secs(5))
        .await
        .expect("the oldest stream is told it is closed");
    assert_eq!(closed, json!({"reason": "too_many_streams"}));
    assert!(streams[0].closed(Duration::from_secs(5)).await);
    // Another one displaces the next oldest.
    let _newer = EventStream::open(&tab).await;
    assert!(
        streams[1]
            .until("stream_closed", Duration::from_secs(5))
            .await
            .is_some()
    );
    // The others still hear their session end.
    let session_id = tab.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = app.primary_client().await;
    admin
        .delete(&format!("/api/v1/sessions/{session_id}"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    for s in streams[2..].iter_mut().chain([&mut newest]) {
        assert_eq!(
            s.until("session_ended", Duration::from_secs(5)).await,
            Some(json!({"reason": "ended_by_admin"}))
        );
    }
    // The other session's stream was never affected.
    let other_id = other.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin
        .delete(&format!("/api/v1/sessions/{other_id}"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    assert_eq!(
        elsewhere
            .until("session_ended", Duration::from_secs(5))
            .await,
        Some(json!({"reason": "ended_by_admin"}))
    );
}

backend_tests!(
    return_paths_stay_on_site,
    forwarded_for_is_parsed_and_the_walk_stops_at_garbage,
    over_https_only_the_host_cookie_is_accepted,
    forwarded_https_gets_hsts_and_the_host_cookie,
    several_host_headers_are_refused,
    malformed_path_ids_get_the_json_error,
    event_streams_per_session_are_capped,
);

/// The SQLite database and the `-wal` and `-shm` files SQLite makes beside it are readable by
/// their owner only, whatever the process's umask.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deskward.db");
    let store = deskward::store::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open a new SQLite database");
    let svc = deskward::service::Service::new(
        store,
        std::sync::Arc::new(deskward::clock::SystemClock),
        deskward::events::EventBus::new(),
        deskward::service::ServiceConfig::default(),
    );
    let (account, _) = svc
        .create_account(
            deskward::service::NewAccountRequest {
                name: "Acme Support".to_string(),
                slug: Some("acme".to_string()),
                admin_name: "Pat Primary".to_string(),
                admin_email: PRIMARY_EMAIL.to_string(),
                admin_password: PRIMARY_PASSWORD.to_string(),
            },
            true,
        )
        .await
        .expect("writes to the new database");
    svc.login(deskward::service::LoginRequest {
        account_id: account.id,
        email: PRIMARY_EMAIL.to_string(),
        password: PRIMARY_PASSWORD.to_string(),
        as_kind: None,
        ip: crate::support::client_ip("127.0.0.1"),
        user_agent: "test".to_string(),
        device_pass: None,
    })
    .await
    .expect("a session is written")
    .started_session()
    .expect("signed in");
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        let mode = std::fs::metadata(&file)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} has mode {:o}", mode & 0o777);
    }
}

/// A request whose body stops arriving (its `Content-Length` promises more than it sends, or a
/// chunk never ends) gets 408 and its connection closed after the body-read timeout, on the
/// API and on page forms; bodies that arrive are served, and long-lived event streams (a
/// response, not a body) are not cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_cut_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.body_read_timeout = Duration::from_millis(300);
    })
    .await;
    let tab = app.primary_client().await;
    let mut stream = EventStream::open(&tab).await;
    let cases = [
        (
            "/api/v1/auth/login",
            "Content-Type: application/json\r\nContent-Length: 100",
            "{\"email\":",
        ),
        (
            "/login",
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100",
            "email=a",
        ),
        (
            "/api/v1/auth/login",
            "Content-Type: application/json\r\nTransfer-Encoding: chunked",
            "40\r\n{\"email\":",
        ),
    ];
    for (path, headers, partial) in cases {
        let answer = raw_exchange(
            &app,
            format!("POST {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n\r\n{partial}")
                .as_bytes(),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
    }
    // A whole body is read as usual.
    let whole = "{\"email\":\"owner@acme.test\",\"password\":\"wrong password here\"}";
    let answer = raw_exchange(
        &app,
        format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{whole}",
            whole.len()
        )
        .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // The event stream opened before all this is still open and still hears its session end:
    // each of the three cut-offs above waited out the timeout, so it has outlived it thrice.
    tab.logout().await.expect_status(StatusCode::NO_CONTENT);
    assert_eq!(
        stream.until("session_ended", Duration::from_secs(5)).await,
        Some(json!({"reason": "logout"}))
    );
}

/// Reads one `GET /healthz` answer (its body is `ok`) from a kept-alive connection.
async fn read_health_answer(tcp: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(b"\r\n\r\nok") {
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf).to_string()
}

/// With a ceiling of two connections, a third waits (unserved, in the listen backlog) while
/// both are open, and is served as soon as one of them closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_ceiling_wait_for_one_to_close() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.max_connections = 2;
        c.max_connections_per_client = Some(2);
    })
    .await;
    let health = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut first = TcpStream::connect(app.addr).await.unwrap();
    let mut second = TcpStream::connect(app.addr).await.unwrap();
    for c in [&mut first, &mut second] {
        c.write_all(health).await.unwrap();
        assert!(read_health_answer(c).await.starts_with("HTTP/1.1 200"));
    }
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    third.write_all(health).await.unwrap();
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), third.read(&mut byte))
            .await
            .is_err(),
        "a third connection was served past a ceiling of two"
    );
    // The first two are still served.
    second.write_all(health).await.unwrap();
    assert!(
        read_health_answer(&mut second)
            .await
            .starts_with("HTTP/1.1 200")
    );
    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(10), read_health_answer(&mut third))
        .await
        .expect("served once a connection closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// One client address holding its bound of idle connections gets 503 for more (and those
/// close), while another client is still served: one client cannot take the whole ceiling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_cannot_take_every_connection() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.max_connections = 4;
        c.max_connections_per_client = Some(2);
    })
    .await;
    let health = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    // 127.0.0.1 opens as many connections as the server serves, and sends nothing.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(app.addr).await.unwrap());
    }
    for c in &mut idle[2..] {
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut answer))
            .await
            .expect("a connection past the client's bound is answered and closed")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("too many open connections"), "{answer}");
    }
    // Another client, 127.0.0.2, is served while the first holds its idle connections.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = socket.connect(app.addr).await.unwrap();
    other.write_all(health).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_health_answer(&mut other))
        .await
        .expect("another client is served");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The first client's connections within its bound are served as usual.
    idle[0].write_all(health).await.unwrap();
    assert!(
        read_health_answer(&mut idle[0])
            .await
            .starts_with("HTTP/1.1 200")
    );
}
