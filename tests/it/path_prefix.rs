//! `serve --path-prefix`: every page, route, static file, redirect, event stream and the CSRF
//! and cross-site checks under `/deskward`, so Deskward can share a host with the app it guards.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ORIGIN};

use crate::api_events::EventStream;
use crate::db::Backend;
use crate::forward_auth::{PREFIX, desk, desk_signed_in, guarded, session_id};
use crate::support::{PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, Response, run_binary};

fn location(r: &Response) -> &str {
    r.header("location")
        .unwrap_or_else(|| panic!("no Location: {:?} {}", r.status, r.text))
}

async fn pages_routes_and_assets_live_under_the_prefix(backend: Backend) {
    let app = guarded(backend).await;
    let root = app.client();
    let c = desk(&app);

    let page = c.get("/login").await.expect_status(StatusCode::OK);
    for needle in [
        "<link rel=\"stylesheet\" href=\"/deskward/static/app.css\">",
        "<script src=\"/deskward/static/app.js\" defer></script>",
        "action=\"/deskward/login\"",
        "data-prefix=\"/deskward\"",
    ] {
        assert!(
            page.text.contains(needle),
            "{needle} missing:\n{}",
            page.text
        );
    }
    // Nothing of Deskward's is left at the root but the health check.
    for path in [
        "/login",
        "/team/agents",
        "/api/v1/me",
        "/static/app.js",
        "/guard.js",
    ] {
        root.get(path).await.expect_status(StatusCode::NOT_FOUND);
    }
    root.get("/healthz").await.expect_status(StatusCode::OK);
    c.get("/healthz").await.expect_status(StatusCode::OK);
    c.get("/api/v1/me")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    c.get("/api/v1/nothing-here")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    // The prefix itself, with or without its slash, leads to sign-in.
    for path in [PREFIX.to_string(), format!("{PREFIX}/")] {
        let r = root.get(&path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&r), "/deskward/login", "{path}");
    }
    let r = c.get("/team/agents").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/deskward/login");

    for (path, kind) in [
        ("/static/app.css", "text/css"),
        ("/static/app.js", "text/javascript"),
        ("/guard.js", "text/javascript"),
    ] {
        let r = c.get(path).await.expect_status(StatusCode::OK);
        assert!(
            r.header(CONTENT_TYPE.as_str()).unwrap().starts_with(kind),
            "{path}"
        );
    }
    let guard = c.get("/guard.js").await.text;
    assert!(guard.contains("session_ended") && guard.contains("/api/v1/events"));

    // The 404 page, inside the prefix or outside it, still finds its stylesheet.
    for r in [
        c.get("/nothing-here").await,
        root.get("/nothing-here").await,
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(
            r.text.contains("href=\"/deskward/static/app.css\""),
            "{}",
            r.text
        );
        assert!(r.text.contains("<a href=\"/deskward/\">"), "{}", r.text);
    }
}

async fn page_flows_redirect_within_the_prefix(backend: Backend) {
    let app = guarded(backend).await;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;

    // Sign-in by form, as a browser without JavaScript.
    let admin = desk(&app);
    let r = admin
        .post_form(
            "/login",
            &[("email", PRIMARY_EMAIL), ("password", PRIMARY_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(location(&r), "/deskward/");
    let r = admin.get("/").await;
    assert_eq!(location(&r), "/deskward/team/agents");
    let list = admin
        .get("/team/agents")
        .await
        .expect_status(StatusCode::OK);
    for needle in [
        format!("href=\"/deskward/team/agents/{}\"", ann.id),
        "action=\"/deskward/team/agents/bulk-end\"".to_string(),
        "href=\"/deskward/security\"".to_string(),
        "action=\"/deskward/logout\"".to_string(),
        // Paths the server keeps for coming back are relative to the prefix.
        "name=\"back\" value=\"/team/agents\"".to_string(),
    ] {
        assert!(list.text.contains(&needle), "{needle} missing");
    }

    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let r = agent
        .post_form(
            "/login",
            &[("email", "ann@acme.test"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(location(&r), "/deskward/agent");
    let sid = session_id(&agent).await;

    // A form whose `back` names a page: the redirect lands there, under the prefix.
    let csrf = page_csrf(&admin.get("/team/agents").await.text);
    admin.set_csrf(Some(&csrf));
    let r = admin
        .post_form(
            &format!("/sessions/{sid}/end"),
            &[("back", "/team/agents?q=ann")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(
        location(&r),
        "/deskward/team/agents?q=ann&done=ended&n=1&people=1"
    );
    // A `back` pointing elsewhere is not followed.
    let r = admin
        .post_form(
            &format!("/team/agents/{}/end-sessions", ann.id),
            &[("back", "//evil.example/")],
        )
        .await;
    assert_eq!(
        location(&r),
        "/deskward/team/agents?done=ended&n=1&people=1"
    );

    let r = admin.post_form("/logout", &[]).await;
    assert_eq!(location(&r), "/deskward/login?reason=logout");
}

/// The CSRF token a page embeds for its forms.
fn page_csrf(html: &str) -> String {
    let marker = "name=\"csrf-token\" content=\"";
    let start = html.find(marker).expect("a signed-in page") + marker.len();
    html[start..start + 64].to_string()
}

async fn event_stream_and_checks_work_under_the_prefix(backend: Backend) {
    let app = guarded(backend).await;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let admin = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let sid = session_id(&agent).await;

    // Opened at /deskward/api/v1/events, and `ready` read.
    let mut tab = EventStream::open(&agent).await;

    // State-changing calls still need the session's token and a same-site origin.
    let no_token = desk(&app);
    no_token.plant_cookie(&agent.session_token().unwrap());
    no_token
        .post_json("/api/v1/auth/logout", &serde_json::json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "csrf");
    let r = agent
        .send(
            agent
                .request(reqwest::Method::POST, "/api/v1/auth/logout")
                .header(ORIGIN, "http://evil.example"),
        )
        .await;
    r.expect_error(StatusCode::FORBIDDEN, "csrf");

    admin
        .delete(&format!("/api/v1/agents/{}/sessions", ann.id))
        .await
        .expect_status(StatusCode::OK);
    let ended = tab
        .until("session_ended", Duration::from_secs(5))
        .await
        .expect("session_ended on the stream under the prefix");
    assert_eq!(ended["reason"], "ended_by_admin");
    assert!(app.stored_session(&sid).await.ended_at.is_some());
}

/// The new flags check their values before anything starts: bad input is a one-line error and
/// exit status 2.
#[test]
fn serve_refuses_malformed_guard_flags() {
    for (flag, value, names) in [
        ("--path-prefix", "desk ward", "--path-prefix"),
        ("--path-prefix", "/a/../b", "--path-prefix"),
        (
            "--return-origin",
            "https://help.example.com/app",
            "--return-origin",
        ),
        ("--return-origin", "help.example.com", "--return-origin"),
        ("--agent-home", "//evil.example/", "--agent-home"),
        ("--agent-home", "inbox", "--agent-home"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}/x.db", dir.path().display());
        let out = run_binary([
            "serve",
            "--bind",
            "127.0.0.1:0",
            flag,
            value,
            "--database-url",
            &db,
        ]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(names),
            "{flag} {value}: {stderr}"
        );
        assert!(
            !dir.path().join("x.db").exists(),
            "{flag} {value}: the database was created anyway"
        );
    }
}

backend_tests!(
    pages_routes_and_assets_live_under_the_prefix,
    page_flows_redirect_within_the_prefix,
    event_stream_and_checks_work_under_the_prefix,
);
