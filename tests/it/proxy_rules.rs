//! The guide's access rules through the real nginx and Caddy running the guide's blocks as
//! written: public paths open without a session, `deny` and unmet requirements refused with
//! the refused page for a browser (nginx too, through its `/_deskward/refused` location) and
//! JSON for scripts, methods, the host rule and office networks. (Every spelling of the
//! administrators' part: proxy_blocks.rs.)

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, HOST};
use serde_json::{Value, json};

use crate::db::Backend;
use crate::forward_auth::{PREFIX, desk_signed_in};
use crate::proxies::{Kind, Stack};
use crate::support::{COOKIE as COOKIE_NAME, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD};

const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

/// A request through the proxy with a session cookie (or none), not following redirects.
async fn ask(
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    cookie: Option<&str>,
    accept: &str,
) -> reqwest::Response {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut rb = http
        .request(method, stack.proxy.url(path))
        .header(ACCEPT, accept);
    if let Some(c) = cookie {
        rb = rb.header(COOKIE, c);
    }
    rb.send().await.unwrap()
}

async fn cookie_of(stack: &Stack, email: &str, password: &str) -> String {
    let token = desk_signed_in(&stack.app, email, password)
        .await
        .session_token()
        .expect("signed in");
    format!("{COOKIE_NAME}={token}")
}

async fn the_guides_rules_hold_through_the_proxy(backend: Backend, kind: Kind) {
    use reqwest::Method;
    let stack = Stack::start(backend, kind).await;
    stack.app.add_agent("Ann Agent", "ann@acme.test").await;
    let agent = cookie_of(&stack, "ann@acme.test", PASSWORD).await;
    let owner = cookie_of(&stack, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let is_the_app = async |r: reqwest::Response| {
        let status = r.status();
        let body = r.text().await.unwrap();
        status == StatusCode::OK && body.contains("Sample helpdesk")
    };

    // Public: the help pages open without a session.
    let r = ask(&stack, Method::GET, "/help/faq", None, HTML).await;
    assert!(is_the_app(r).await, "{kind:?}: /help is public");
    let r = ask(&stack, Method::GET, "/HELP;x/./faq", None, HTML).await;
    assert!(is_the_app(r).await, "{kind:?}: /help in another spelling");
    // Anything else needs a session.
    let r = ask(&stack, Method::GET, "/helpdesk", None, HTML).await;
    assert_eq!(r.status(), StatusCode::FOUND, "{kind:?}");

    // An agent at the administrators' part: the refused page, as HTML, through the proxy.
    let r = ask(&stack, Method::GET, "/admin/settings", Some(&agent), HTML).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{kind:?}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{kind:?}: {ct}");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("This page needs an administrator account."),
        "{kind:?}: {html}\n{}",
        stack.proxy.log()
    );
    assert!(
        html.contains("signed in as <b>Ann Agent</b>"),
        "{kind:?}: {html}"
    );
    assert!(
        html.contains(&format!("href=\"{PREFIX}/logout?rd=")),
        "{kind:?}: {html}"
    );
    // The app's scripts get JSON.
    let r = ask(
        &stack,
        Method::GET,
        "/admin/api/x",
        Some(&agent),
        "application/json",
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{kind:?}");
    let body: Value = r.json().await.expect("a JSON error");
    assert_eq!(body["error"]["code"], "forbidden", "{kind:?}");

    // Deny: the friendly page, for everyone.
    for cookie in [None, Some(owner.as_str())] {
        let r = ask(&stack, Method::GET, "/export/all.csv", cookie, HTML).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{kind:?}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("This page is not available"),
            "{kind:?}: {html}"
        );
    }

    // Methods: nobody deletes cases; reading them is for anyone signed in.
    let r = ask(
        &stack,
        Method::DELETE,
        "/api/cases/7",
        Some(&owner),
        "application/json",
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{kind:?}");
    let r = ask(
        &stack,
        Method::POST,
        "/api/cases/7",
        Some(&agent),
        "application/json",
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "{kind:?}");
    let r = ask(
        &stack,
        Method::DELETE,
        "/inbox/api/7",
        Some(&agent),
        "application/json",
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "{kind:?}");

    // Office networks: none yet, so reports open from nowhere; the proxy's client (loopback)
    // in them, they open to the administrator.
    let r = ask(&stack, Method::GET, "/reports/q3", Some(&owner), HTML).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{kind:?}");
    assert!(r.text().await.unwrap().contains("office"), "{kind:?}");
    let admin = desk_signed_in(&stack.app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    admin
        .put_json(
            "/api/v1/settings/security",
            &json!({"office_networks": ["127.0.0.0/8"]}),
        )
        .await
        .expect_status(StatusCode::OK);
    let r = ask(&stack, Method::GET, "/reports/q3", Some(&owner), HTML).await;
    assert!(is_the_app(r).await, "{kind:?}: reports from the office");
    let r = ask(&stack, Method::GET, "/reports/q3", Some(&agent), HTML).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "{kind:?}: an agent lacks audit"
    );
}

/// The host rule (the status host is public) through nginx, whose loopback server answers
/// `status.localhost` for the guide's status host.
async fn nginx_applies_host_rules(backend: Backend) {
    let stack = Stack::start(backend, Kind::Nginx).await;
    let port = stack.proxy.base.rsplit_once(':').unwrap().1.to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = async |host: String| {
        http.get(stack.proxy.url("/inbox"))
            .header(HOST, host)
            .header(ACCEPT, HTML)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(
        get(format!("status.localhost:{port}")).await,
        StatusCode::OK
    );
    assert_eq!(
        get(format!("Status.LOCALHOST:{port}")).await,
        StatusCode::OK
    );
    assert_eq!(get(format!("localhost:{port}")).await, StatusCode::FOUND);
    assert_eq!(get(format!("127.0.0.1:{port}")).await, StatusCode::FOUND);
}

async fn nginx_applies_the_guides_rules(backend: Backend) {
    the_guides_rules_hold_through_the_proxy(backend, Kind::Nginx).await
}
async fn caddy_applies_the_guides_rules(backend: Backend) {
    the_guides_rules_hold_through_the_proxy(backend, Kind::Caddy).await
}

backend_tests!(
    nginx_applies_the_guides_rules,
    caddy_applies_the_guides_rules,
    nginx_applies_host_rules,
);
