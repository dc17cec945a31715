//! Signing in with `rd`: back to the page the person wanted, only on an allowed origin (the
//! request's own as the browser saw it, or a `--return-origin`); agents without `rd` go to
//! `--agent-home`. And the reason guard.js passes along is shown.

use std::net::IpAddr;

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::forward_auth::{PREFIX, desk, desk_signed_in, guarded, guarded_with};
use crate::support::{Client, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, Response, TestApp};

fn location(r: &Response) -> &str {
    r.header("location")
        .unwrap_or_else(|| panic!("no Location: {:?} {}", r.status, r.text))
}

fn query(rd: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("rd", rd)
        .finish()
}

/// Signs in through the page's form with this `rd`; returns where the browser is sent.
async fn form_sign_in(c: &Client, email: &str, password: &str, rd: &str) -> String {
    let r = c
        .post_form(
            "/login",
            &[("email", email), ("password", password), ("rd", rd)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    location(&r).to_string()
}

async fn sign_in_goes_back_to_an_allowed_rd_only(backend: Backend) {
    let app = guarded_with(backend, |c| {
        c.web.return_origins =
            vec![deskward::web::return_to::parse_origin("https://help.example.com").unwrap()];
    })
    .await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let own = format!("{}/inbox/7?tab=open", app.base);

    // The page keeps an allowed rd in its form ...
    let page = desk(&app)
        .get(&format!("/login?{}", query(&own)))
        .await
        .expect_status(StatusCode::OK);
    assert!(
        page.text.contains(&format!(
            "name=\"rd\" value=\"{}\"",
            own.replace('&', "&#38;")
        )),
        "{}",
        page.text
    );
    // ... and signing in goes there.
    for rd in [
        own.clone(),
        "https://help.example.com/queue?x=1".to_string(),
        "/inbox/7".to_string(),
    ] {
        let expected = if rd.starts_with('/') {
            format!("{}{rd}", app.base)
        } else {
            rd.clone()
        };
        let c = desk(&app);
        assert_eq!(
            form_sign_in(&c, "ann@acme.test", PASSWORD, &rd).await,
            expected,
            "{rd}"
        );
    }

    // Anything else is ignored: the agent lands on Deskward's agent page.
    let host = app.addr.to_string();
    for rd in [
        "http://evil.example/".to_string(),
        "https://evil.example/".to_string(),
        "//evil.example/".to_string(),
        "/\\evil.example/".to_string(),
        format!("http://{host}@evil.example/"),
        format!("http://user@{host}/"),
        format!("https://{host}/inbox"),
        "http://127.0.0.1:1/".to_string(),
        format!("http://{host}/in\u{1}box"),
        format!("http://{host}\n.evil.example/"),
        "javascript:alert(document.cookie)".to_string(),
        "data:text/html,<script>alert(1)</script>".to_string(),
        "https://help.example.com.evil.example/".to_string(),
    ] {
        let page = desk(&app)
            .get(&format!("/login?{}", query(&rd)))
            .await
            .expect_status(StatusCode::OK);
        assert!(
            !page.text.contains("name=\"rd\""),
            "{rd:?} kept in the form"
        );
        let c = desk(&app);
        assert_eq!(
            form_sign_in(&c, "ann@acme.test", PASSWORD, &rd).await,
            "/deskward/agent",
            "{rd:?}"
        );
    }

    // Someone already signed in is sent on at once.
    let c = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let r = c.get(&format!("/login?{}", query(&own))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), own);
    let r = c
        .get(&format!("/login?{}", query("https://evil.example/")))
        .await;
    assert_eq!(location(&r), "/deskward/agent");
}

async fn the_origin_is_the_one_the_browser_saw(backend: Backend) {
    let app = guarded(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let rd = "https://desk.example.com/inbox";
    let behind_proxy = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "desk.example.com"),
    ];
    let fields = [
        ("email", "ann@acme.test"),
        ("password", PASSWORD),
        ("rd", rd),
    ];

    // Through the trusted proxy, the browser was on https://desk.example.com.
    let c = desk(&app);
    let mut rb = c.raw.post(c.url("/login")).form(&fields);
    for (k, v) in behind_proxy {
        rb = rb.header(k, v);
    }
    let r = c.send(rb).await;
    assert_eq!(location(&r), rd);

    // The same headers from a peer that is not a proxy describe nothing.
    let peer = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut rb = peer.post(app.url(&format!("{PREFIX}/login"))).form(&fields);
    for (k, v) in behind_proxy {
        rb = rb.header(k, v);
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/deskward/agent");
}

async fn api_sign_in_says_where_to_go(backend: Backend) {
    let app = guarded(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let own = format!("{}/inbox", app.base);
    let to = |body: serde_json::Value| {
        let app: &TestApp = &app;
        async move {
            let r = desk(app)
                .login_body(&body)
                .await
                .expect_status(StatusCode::OK);
            r.json()["redirect_to"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(
        to(json!({"email": "ann@acme.test", "password": PASSWORD, "rd": own})).await,
        own
    );
    assert_eq!(
        to(json!({"email": "ann@acme.test", "password": PASSWORD, "rd": "https://evil.example/"}))
            .await,
        "/deskward/agent"
    );
    assert_eq!(
        to(json!({"email": "ann@acme.test", "password": PASSWORD})).await,
        "/deskward/agent"
    );
    assert_eq!(
        to(json!({"email": PRIMARY_EMAIL, "password": PRIMARY_PASSWORD})).await,
        "/deskward/"
    );
}

async fn agents_without_rd_go_to_the_agent_home(backend: Backend) {
    for (home, expected) in [
        ("/", "/"),
        ("/inbox?view=mine", "/inbox?view=mine"),
        ("https://desk.example.com", "https://desk.example.com/"),
    ] {
        let app = guarded_with(backend, |c| {
            c.web.agent_home = Some(deskward::web::return_to::parse_agent_home(home).unwrap());
        })
        .await;
        app.add_agent("Ann Agent", "ann@acme.test").await;
        let c = desk(&app);
        let r = c
            .post_form(
                "/login",
                &[("email", "ann@acme.test"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(location(&r), expected, "{home}");
        // Coming back to the sign-in page signed in leads there too.
        assert_eq!(location(&c.get("/login").await), expected, "{home}");
        let r = desk(&app).login("ann@acme.test", PASSWORD).await;
        assert_eq!(r.json()["redirect_to"], expected, "{home}");
        // Administrators are not agents: their landing page stays Deskward's.
        let admin = desk(&app);
        let r = admin
            .post_form(
                "/login",
                &[("email", PRIMARY_EMAIL), ("password", PRIMARY_PASSWORD)],
            )
            .await;
        assert_eq!(location(&r), "/deskward/", "{home}");
        // An rd still wins.
        let c = desk(&app);
        let rd = format!("{}/case/9", app.base);
        assert_eq!(form_sign_in(&c, "ann@acme.test", PASSWORD, &rd).await, rd);
    }
}

async fn the_sign_in_page_says_why_the_tab_was_sent_there(backend: Backend) {
    let app = guarded(backend).await;
    let c = desk(&app);
    let page = c
        .get("/login?reason=ended_by_admin&rd=%2Finbox")
        .await
        .expect_status(StatusCode::OK);
    assert!(
        page.text
            .contains("Your session was ended by an administrator. Please sign in again."),
        "{}",
        page.text
    );
    for reason in ["bogus", "", "<script>"] {
        let page = c
            .get(&format!("/login?{}", {
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("reason", reason)
                    .finish()
            }))
            .await
            .expect_status(StatusCode::OK);
        assert!(!page.text.contains("class=\"info\""), "{reason:?}");
    }
}

backend_tests!(
    sign_in_goes_back_to_an_allowed_rd_only,
    the_origin_is_the_one_the_browser_saw,
    api_sign_in_says_where_to_go,
    agents_without_rd_go_to_the_agent_home,
    the_sign_in_page_says_why_the_tab_was_sent_there,
);
