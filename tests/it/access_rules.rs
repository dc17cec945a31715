//! Access rules (`serve --access-rules`) at the verify endpoints, asked as a trusted proxy
//! asks: rules decide when the query has no `require=`, the path is judged normalized, what
//! cannot be read is refused, a refused page load gets the refused page and an API call the
//! JSON 403; and the sign-out page the guarded app links to.

use std::net::IpAddr;
use std::path::Path;

use deskward::access_rules::RulesFile;
use deskward::domain::access::AccessRules;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::db::Backend;
use crate::forward_auth::{AUTH_REQUEST, FORWARD_AUTH, PREFIX, desk, desk_signed_in, guarded_with};
use crate::support::{Client, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, Response, TestApp};

const RULES: &str = r#"
[[rule]]
path = "/help"
require = "public"

[[rule]]
path = "/admin"
require = "admin"

[[rule]]
path = "/reports"
require = "audit"
networks = "office"

[[rule]]
path = "/api/cases"
methods = ["DELETE"]
require = "deny"

[[rule]]
path = "/export"
require = "deny"

[[rule]]
host = "*.agents.test"
path = "/"
require = "agent"
"#;

/// Deskward in front of an app, with `rules` in force.
pub(crate) async fn ruled(backend: Backend, rules: &str) -> TestApp {
    let rules = AccessRules::parse(rules).expect("the test's rules");
    guarded_with(backend, |c| {
        c.web.access_rules = Some(RulesFile::with_rules(Path::new("access.toml"), rules));
    })
    .await
}

/// nginx's question about `GET url` (X-Original-URL), with `accept`.
async fn nginx(c: &Client, url: &str, method: &str, accept: &str) -> Response {
    let rb = c
        .request(Method::GET, AUTH_REQUEST)
        .header("x-original-url", url)
        .header("x-original-method", method)
        .header("accept", accept);
    c.send(rb).await
}

/// Caddy's and Traefik's question (X-Forwarded-*).
async fn caddy(c: &Client, host: &str, uri: &str, method: &str, accept: &str) -> Response {
    let rb = c
        .request(Method::GET, FORWARD_AUTH)
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", host)
        .header("x-forwarded-uri", uri)
        .header("x-forwarded-method", method)
        .header("accept", accept);
    c.send(rb).await
}

const JSON: &str = "application/json";
const HTML: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

async fn rules_decide_when_the_query_names_no_requirement(backend: Backend) {
    let app = ruled(backend, RULES).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let anonymous = desk(&app);
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let owner = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let url = |path: &str| format!("http://desk.test{path}");

    // Public: open without a session, and still says who it is with one.
    let r = nginx(&anonymous, &url("/help/faq"), "GET", HTML).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("remote-user"), None);
    let r = caddy(&agent, "desk.test", "/HELP/faq", "GET", HTML).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("remote-user"), Some("ann@acme.test"));
    // No rule: anyone signed in.
    let r = nginx(&anonymous, &url("/helpdesk"), "GET", JSON).await;
    r.expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    nginx(&agent, &url("/inbox/7"), "GET", HTML)
        .await
        .expect_status(StatusCode::OK);

    // The administrators' part, under every spelling, for nginx and Caddy alike.
    for path in [
        "/admin",
        "/admin/x",
        "/ADMIN/x",
        "/admin;/x",
        "/admin/../admin/x",
        "//admin",
        "/%61dmin/x",
        "/./admin",
        "/admin/.",
        "/x/..;/admin/",
        "/admin\\x",
    ] {
        nginx(&agent, &url(path), "GET", JSON)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        caddy(&agent, "desk.test", path, "GET", JSON)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        nginx(&owner, &url(path), "GET", JSON)
            .await
            .expect_status(StatusCode::OK);
        caddy(&owner, "desk.test", path, "GET", JSON)
            .await
            .expect_status(StatusCode::OK);
    }
    nginx(&agent, &url("/administrator"), "GET", JSON)
        .await
        .expect_status(StatusCode::OK);
    // What apps read differently is refused for everyone, the primary administrator too.
    for path in [
        "/admin%2Fx",
        "/admin%5cx",
        "/admin%3B/x",
        "/admin%00",
        "/admin%zz",
    ] {
        nginx(&owner, &url(path), "GET", JSON)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        caddy(&owner, "desk.test", path, "GET", JSON)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }

    // `require=` in the query is the whole question: the rules are not asked.
    let r = agent
        .send(
            agent
                .request(Method::GET, &format!("{AUTH_REQUEST}?require=agent"))
                .header("x-original-url", url("/admin/x")),
        )
        .await;
    r.expect_status(StatusCode::OK);

    // Methods: a DELETE of cases is refused to everyone; other methods are not concerned.
    nginx(&owner, &url("/api/cases/7"), "DELETE", JSON)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    caddy(&owner, "desk.test", "/api/cases/7", "delete", JSON)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    nginx(&owner, &url("/api/cases/7"), "GET", JSON)
        .await
        .expect_status(StatusCode::OK);
    // A rule names methods: a question without the method is refused, not guessed.
    let r = owner
        .send(
            owner
                .request(Method::GET, AUTH_REQUEST)
                .header("x-original-url", url("/inbox")),
        )
        .await;
    r.expect_error(StatusCode::FORBIDDEN, "forbidden");

    // Deny: nobody, signed in or not (signing in would not help).
    for c in [&anonymous, &agent, &owner] {
        nginx(c, &url("/export/all.csv"), "GET", JSON)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }

    // Host rules: any subdomain of agents.test is for agents only, the bare domain is not.
    for host in ["x.agents.test", "A.B.Agents.Test:8443"] {
        caddy(&owner, host, "/inbox", "GET", JSON)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        caddy(&agent, host, "/inbox", "GET", JSON)
            .await
            .expect_status(StatusCode::OK);
    }
    caddy(&owner, "agents.test", "/inbox", "GET", JSON)
        .await
        .expect_status(StatusCode::OK);

    // An original URL that cannot be read is refused, never let through.
    for bad in [
        "not a url",
        "ftp://desk.test/",
        "http://user@desk.test/x",
        "http:///x",
    ] {
        let r = owner
            .send(
                owner
                    .request(Method::GET, AUTH_REQUEST)
                    .header("x-original-url", bad)
                    .header("x-original-method", "GET"),
            )
            .await;
        r.expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
}

/// From a peer that is not a trusted proxy nothing describes the original request: someone
/// signed in is refused, nobody is sent to sign in without `rd`.
async fn untrusted_peers_get_no_judgement_of_their_own(backend: Backend) {
    let app = ruled(backend, RULES).await;
    let token = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .session_token()
        .expect("signed in");
    let peer = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ask = |cookie: Option<String>| {
        let mut rb = peer
            .get(app.url(&format!("{PREFIX}{AUTH_REQUEST}")))
            .header("x-original-url", "http://desk.test/help")
            .header("x-original-method", "GET")
            .header("accept", JSON);
        if let Some(c) = cookie {
            rb = rb.header("cookie", c);
        }
        rb.send()
    };
    let r = ask(Some(format!("{}={token}", crate::support::COOKIE)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = ask(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{}{PREFIX}/login", app.base)
    );
}

async fn office_rules_open_only_from_the_office_networks(backend: Backend) {
    let app = ruled(backend, RULES).await;
    let owner = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let url = "http://desk.test/reports/q3";
    // No office networks: from nowhere.
    nginx(&owner, url, "GET", JSON)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // The proxy says where the client is (X-Forwarded-For from the trusted proxy).
    let from = async |ip: &str| {
        owner
            .send(
                owner
                    .request(Method::GET, AUTH_REQUEST)
                    .header("x-original-url", url)
                    .header("x-original-method", "GET")
                    .header("x-forwarded-for", ip)
                    .header("accept", JSON),
            )
            .await
    };
    owner
        .put_json(
            "/api/v1/settings/security",
            &json!({"office_networks": ["10.1.0.0/16"]}),
        )
        .await
        .expect_status(StatusCode::OK);
    from("10.1.2.3").await.expect_status(StatusCode::OK);
    from("10.2.0.1")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // Other paths do not care where the client is.
    let r = owner
        .send(
            owner
                .request(Method::GET, AUTH_REQUEST)
                .header("x-original-url", "http://desk.test/inbox")
                .header("x-original-method", "GET")
                .header("x-forwarded-for", "10.2.0.1"),
        )
        .await;
    r.expect_status(StatusCode::OK);
    // An agent in the office still lacks the permission.
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let r = agent
        .send(
            agent
                .request(Method::GET, AUTH_REQUEST)
                .header("x-original-url", url)
                .header("x-original-method", "GET")
                .header("x-forwarded-for", "10.1.2.3"),
        )
        .await;
    r.expect_error(StatusCode::FORBIDDEN, "forbidden");
}

/// A refused page load is a page in Deskward's look: who is signed in, what the page needs,
/// the way to switch accounts; `deny` a friendly page; API calls the JSON 403.
async fn a_refused_page_load_gets_the_refused_page(backend: Backend) {
    let app = ruled(backend, RULES).await;
    app.add_agent("Ann O'Agent", "ann@acme.test").await;
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    // The page on the proxy's own origin (here Deskward's address, as the proxy's `Host`).
    let host = app.base.trim_start_matches("http://").to_string();
    let original = format!("{}/admin/settings?tab=1", app.base);
    let original = original.as_str();
    for r in [
        nginx(&agent, original, "GET", HTML).await,
        caddy(&agent, &host, "/admin/settings?tab=1", "GET", HTML).await,
    ] {
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            r.header("content-type").unwrap().starts_with("text/html"),
            "{:?}",
            r.headers
        );
        let html = &r.text;
        assert!(
            html.contains("<h1>You can’t open this page with this account</h1>"),
            "{html}"
        );
        assert!(
            html.contains("This page needs an administrator account."),
            "{html}"
        );
        assert!(
            html.contains("signed in as <b>Ann O&#39;Agent</b> (ann@acme.test), an agent"),
            "{html}"
        );
        assert!(
            html.contains(&format!(
                "href=\"{PREFIX}/logout?rd={}\"",
                crate::proxies::encode(original)
            )),
            "{html}"
        );
        assert!(html.contains(&format!("{PREFIX}/static/app.css")), "{html}");
    }
    // A way back on another origin is not offered: signing out goes to sign-in instead.
    let r = nginx(&agent, "http://elsewhere.test/admin", "GET", HTML).await;
    assert!(
        r.text.contains(&format!("href=\"{PREFIX}/logout\"")),
        "{}",
        r.text
    );
    // A script's call gets JSON.
    let r = nginx(&agent, original, "GET", JSON).await;
    r.expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("an administrator account")
    );
    // Deny: the friendly page, with or without a session.
    for c in [&agent, &desk(&app)] {
        let r = nginx(c, "http://desk.test/export", "GET", HTML).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            r.text.contains("<h1>This page is not available</h1>"),
            "{}",
            r.text
        );
    }
}

/// `GET /logout?rd=` asks first; the confirmation needs the CSRF token, ends the session
/// (reason `logout`) and goes to `rd` when sign-in would go there.
async fn the_sign_out_page_asks_then_ends_the_session(backend: Backend) {
    let app = ruled(backend, RULES).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let rd = format!("{}/inbox/7?tab=open", app.base);
    let page = agent
        .get(&format!("/logout?rd={}", crate::proxies::encode(&rd)))
        .await
        .expect_status(StatusCode::OK);
    assert!(page.text.contains("<h1>Sign out?</h1>"), "{}", page.text);
    assert!(page.text.contains("Ann Agent"));
    let csrf = agent.csrf().expect("the session's CSRF token");
    assert!(page.text.contains(&format!("value=\"{csrf}\"")));
    assert!(page.text.contains("name=\"rd\""));
    // The page itself ends nothing.
    agent.me().await.expect_status(StatusCode::OK);

    // Without the token: refused, still signed in.
    let r = agent
        .send(
            agent
                .raw
                .post(agent.url("/logout"))
                .form(&[("rd", rd.as_str())]),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    agent.me().await.expect_status(StatusCode::OK);

    // Confirmed: signed out, to rd.
    let id = crate::forward_auth::session_id(&agent).await;
    let r = agent.post_form("/logout", &[("rd", rd.as_str())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.header("location"), Some(rd.as_str()));
    agent
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        app.stored_session(&id)
            .await
            .end_reason
            .map(|r| r.to_string())
            .as_deref(),
        Some("logout")
    );

    // Another origin as rd: not offered, not followed.
    let again = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let page = again
        .get("/logout?rd=http%3A%2F%2Fevil.example%2F")
        .await
        .expect_status(StatusCode::OK);
    assert!(!page.text.contains("evil.example"), "{}", page.text);
    let r = again
        .post_form("/logout", &[("rd", "http://evil.example/")])
        .await;
    assert_eq!(
        r.header("location"),
        Some(&*format!("{PREFIX}/login?reason=logout"))
    );
    again
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

/// `require=` in the query (a simple set-up) refuses a page load with the same page, and a
/// script with the same JSON as before.
async fn a_require_query_refuses_a_page_load_with_the_refused_page(backend: Backend) {
    let app = ruled(backend, RULES).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let original = format!("{}/reports", app.base);
    let ask = |accept: &'static str| {
        agent
            .request(Method::GET, &format!("{AUTH_REQUEST}?require=admin"))
            .header("x-original-url", original.as_str())
            .header("accept", accept)
    };
    let r = agent.send(ask(HTML)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.header("content-type").unwrap().starts_with("text/html"),
        "{:?}",
        r.headers
    );
    assert!(
        r.text
            .contains("<h1>You can’t open this page with this account</h1>"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("This page needs an administrator account."),
        "{}",
        r.text
    );
    assert!(
        r.text.contains(&format!(
            "href=\"{PREFIX}/logout?rd={}\"",
            crate::proxies::encode(&original)
        )),
        "{}",
        r.text
    );
    agent
        .send(ask(JSON))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
}

backend_tests!(
    a_require_query_refuses_a_page_load_with_the_refused_page,
    rules_decide_when_the_query_names_no_requirement,
    untrusted_peers_get_no_judgement_of_their_own,
    office_rules_open_only_from_the_office_networks,
    a_refused_page_load_gets_the_refused_page,
    the_sign_out_page_asks_then_ends_the_session,
);
