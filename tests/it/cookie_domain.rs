//! `--cookie-domain`: one sign-in for every host under a domain. Two host names resolved to
//! the test server by the client (`a.example.test`, `b.example.test`) share the session; the
//! cookies carry `Domain=` (and `__Secure-` over HTTPS, where `__Host-` is refused); sign-in
//! returns to a sibling host but never outside the domain; a bad value stops `serve`.

use std::net::SocketAddr;

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::forward_auth::{FORWARD_AUTH, PREFIX, guarded_with};
use crate::support::{PASSWORD, TestApp};

const DOMAIN: &str = "example.test";

async fn sharing(backend: Backend, domain: Option<&str>, https: bool) -> TestApp {
    let app = guarded_with(backend, |c| {
        c.web.cookie_domain = domain.map(str::to_string);
        c.web.https = https;
    })
    .await;
    app.add_agent("Ann", "ann@acme.test").await;
    app
}

/// A browser stand-in for which `a.`, `b.` and `deep.b.example.test` and `elsewhere.test`
/// are the test server.
fn browser(addr: SocketAddr) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none());
    for host in [
        "a.example.test",
        "b.example.test",
        "deep.b.example.test",
        "elsewhere.test",
    ] {
        b = b.resolve(host, addr);
    }
    b.build().unwrap()
}

fn on(app: &TestApp, host: &str, path: &str) -> String {
    format!("http://{host}:{}{PREFIX}{path}", app.addr.port())
}

async fn sign_in_at_a(app: &TestApp, b: &reqwest::Client) -> reqwest::Response {
    let r = b
        .post(on(app, "a.example.test", "/api/v1/auth/login"))
        .json(&json!({"email": "ann@acme.test", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r
}

async fn status(b: &reqwest::Client, url: &str) -> StatusCode {
    b.get(url).send().await.unwrap().status()
}

async fn hosts_under_the_domain_share_one_sign_in(backend: Backend) {
    let app = sharing(backend, Some(DOMAIN), false).await;
    let b = browser(app.addr);
    let r = sign_in_at_a(&app, &b).await;
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("deskward_session="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    assert!(
        session.contains("; Domain=example.test; Path=/; HttpOnly; SameSite=Lax;"),
        "{session}"
    );
    assert!(!session.contains("Secure"), "{session}");
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("deskward_device=") && c.contains("Domain=example.test")),
        "{cookies:?}"
    );
    // The sibling host, and one deeper, know the session: its pages and its verify checks.
    for host in ["b.example.test", "deep.b.example.test"] {
        assert_eq!(
            status(&b, &on(&app, host, "/api/v1/me")).await,
            StatusCode::OK
        );
        assert_eq!(
            status(&b, &on(&app, host, FORWARD_AUTH)).await,
            StatusCode::OK,
            "{host}"
        );
    }
    // A host outside the domain does not.
    assert_eq!(
        status(&b, &on(&app, "elsewhere.test", "/api/v1/me")).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Without the flag the cookie stays with its host: the sibling signs in separately.
async fn without_the_flag_each_host_signs_in_alone(backend: Backend) {
    let app = sharing(backend, None, false).await;
    let b = browser(app.addr);
    let r = sign_in_at_a(&app, &b).await;
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .all(|v| !v.to_str().unwrap().contains("Domain=")),
    );
    assert_eq!(
        status(&b, &on(&app, "a.example.test", "/api/v1/me")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&b, &on(&app, "b.example.test", "/api/v1/me")).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Over HTTPS the cookies are `__Secure-` with `Domain=`; only that name opens a session
/// (a `__Host-` or plain one with the same token does not).
async fn over_https_the_cookie_is_secure_prefixed(backend: Backend) {
    let app = sharing(backend, Some(DOMAIN), true).await;
    let b = browser(app.addr);
    let r = sign_in_at_a(&app, &b).await;
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Secure-deskward_session="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    assert!(
        session.ends_with("; Secure; Max-Age=34560000")
            && session.contains("; Domain=example.test; Path=/; HttpOnly; SameSite=Lax"),
        "{session}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Secure-deskward_device=") && c.contains("; Secure")),
        "{cookies:?}"
    );
    let token = session
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let plain = reqwest::Client::new();
    for (name, expected) in [
        ("__Secure-deskward_session", StatusCode::OK),
        ("__Host-deskward_session", StatusCode::UNAUTHORIZED),
        ("deskward_session", StatusCode::UNAUTHORIZED),
    ] {
        let r = plain
            .get(format!("{}{PREFIX}/api/v1/me", app.base))
            .header("Cookie", format!("{name}={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected, "{name}");
    }
}

/// Sign-in returns to a host under the domain, never outside it.
async fn rd_may_name_a_sibling_host_only(backend: Backend) {
    let app = sharing(backend, Some(DOMAIN), false).await;
    let port = app.addr.port();
    let b = browser(app.addr);
    for (rd, allowed) in [
        (format!("http://b.example.test:{port}/tickets/7"), true),
        (format!("http://deep.b.example.test:{port}/"), true),
        (format!("http://elsewhere.test:{port}/x"), false),
        ("http://example.test.elsewhere.test/".to_string(), false),
    ] {
        let r = b
            .post(on(&app, "a.example.test", "/login"))
            .form(&[
                ("email", "ann@acme.test"),
                ("password", PASSWORD),
                ("rd", rd.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{rd}");
        let to = r.headers()["location"].to_str().unwrap().to_string();
        if allowed {
            assert_eq!(to, rd);
        } else {
            assert_eq!(to, format!("{PREFIX}/agent"), "{rd} was followed");
        }
    }
}

/// A value that is no domain stops `serve` with the flag named (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_cookie_domain_stops_serve() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("never.db").display());
    for bad in [
        "localhost",
        "https://example.com",
        "example.com:443",
        "10.0.0.1",
    ] {
        let (code, err) = crate::support::refused_serve(&url, &["--cookie-domain", bad], &[]).await;
        assert_eq!(code, Some(2), "{bad}: {err}");
        assert!(
            err.contains("--cookie-domain: ") && err.contains("e.g. example.com"),
            "{bad}: {err}"
        );
    }
    let (code, err) =
        crate::support::refused_serve(&url, &[], &[("DESKWARD_COOKIE_DOMAIN", "com")]).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--cookie-domain"), "{err}");
}

backend_tests!(
    hosts_under_the_domain_share_one_sign_in,
    without_the_flag_each_host_signs_in_alone,
    over_https_the_cookie_is_secure_prefixed,
    rd_may_name_a_sibling_host_only,
);
