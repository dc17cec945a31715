//! Browser tests, live state: closing the agent's browser turns them Offline, leaving a page
//! closes its event stream, and the guarded app behind nginx and Caddy signs its tab out.

use std::time::{Duration, Instant};

use serde_json::json;

use deskward::domain::member::{AgentStatus, MemberKind};

use crate::browser::{
    App, ChromeDriver, ENDED_BY_ADMIN, GRACE_MS, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, WAIT,
    card, eventually, truthy,
};
use crate::db::Backend;

/// The whole forward-auth flow in a browser: the app's page sends a newcomer to Deskward's
/// sign-in and back; the app sees who it is; guard.js (injected by nginx, included by the app
/// behind Caddy) keeps the agent Online; an administrator ends the session and the open tab is
/// on the sign-in page with the reason, and the next app request is redirected.
async fn the_guarded_app_signs_its_tab_out(backend: Backend, kind: crate::proxies::Kind) {
    use crate::proxies::Stack;
    use crate::proxies::encode;

    let stack = Stack::start(backend, kind).await;
    let app = &stack.app;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;

    let wanted = stack.proxy.url("/inbox/7?tab=open");
    let sign_in = format!("/deskward/login?rd={}", encode(&wanted));
    b.goto(&wanted).await;
    b.wait_path("the sign-in page with rd", |p| p == sign_in)
        .await;
    b.find("input[name=email]")
        .await
        .send_keys("ann@acme.test")
        .await
        .expect("type the e-mail");
    b.find("input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await
        .expect("type the password");
    b.click("main form button[type=submit]").await;
    b.wait_path("the page asked for", |p| p == "/inbox/7?tab=open")
        .await;
    assert_eq!(b.text("#who").await, "Ann Agent");
    assert_eq!(
        b.texts("#identity td").await,
        [
            "ann@acme.test",
            "ann@acme.test",
            "Ann%20Agent",
            ann.id.as_str(),
            "agent"
        ],
        "the Remote-User, -Email, -Name, -Id and -Groups the app received"
    );

    // guard.js holds the event stream: the tab counts for presence.
    eventually("guard.js to connect the tab", WAIT, async || {
        Ok((app.svc.connections().count(&app.account.id, &ann.id) > 0).then_some(()))
    })
    .await;
    eventually("the agent to be Online", WAIT, async || {
        Ok((app.stored_member(&ann.id).await.status == AgentStatus::Online).then_some(()))
    })
    .await;

    // An administrator ends the session in Deskward: the app's tab goes to sign-in at once.
    let ended_at = Instant::now();
    let n = app
        .svc
        .end_person_sessions(&app.primary_actor(), MemberKind::Agent, &ann.id)
        .await
        .expect("end the agent's sessions");
    assert_eq!(n.sessions, 1);
    let expected = format!(
        "/deskward/login?reason=ended_by_admin&rd={}",
        encode(&wanted)
    );
    b.wait_path("the tab on the sign-in page with the reason", |p| {
        p == expected
    })
    .await;
    eprintln!(
        "{kind:?}/{backend:?}: the tab reached the sign-in page {:?} after the ending",
        ended_at.elapsed()
    );
    assert_eq!(b.text("p.info").await, ENDED_BY_ADMIN);
    assert_eq!(
        app.stored_member(&ann.id).await.status,
        AgentStatus::Offline
    );

    // The next request to the app is redirected to sign-in, and signing in comes back.
    b.goto(&wanted).await;
    b.wait_path("the next app request to be redirected", |p| p == sign_in)
        .await;
    b.close().await;
}

backend_tests!(
    nginx_guarded_app_signs_its_tab_out,
    caddy_guarded_app_signs_its_tab_out,
);

/// Presence is not the session: closing the agent's browser makes them Offline on the
/// admin's open Agents page after the grace period, without a reload; the session stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_agents_browser_turns_them_offline_live() {
    let app = App::spawn().await;
    let olly = app.agent("Olly Online", "olly@acme.test").await;

    let driver = ChromeDriver::start().await;
    let agent = driver.browser().await;
    assert_eq!(agent.sign_in(&app, &olly.email, PASSWORD).await, "/agent");
    // The tab's own connection may already have brought back their Online choice (the
    // button then hides itself); otherwise they click it.
    agent
        .js(
            "const b = document.getElementById('go-online'); if (b && !b.hidden) b.click();",
            vec![],
        )
        .await;
    agent
        .wait_js(
            "the Go Offline button after going online",
            "return !!document.querySelector('button[name=status][value=offline]');",
            vec![],
        )
        .await;
    eventually("the agent's own status to read Online", WAIT, async || {
        let t = agent
            .c
            .execute(
                "return document.getElementById('my-status').textContent.trim();",
                vec![],
            )
            .await?;
        Ok((t == json!("Online")).then_some(()))
    })
    .await;
    app.wait_tab_connected(&olly).await;
    assert_eq!(app.member(&olly.id).await.status, AgentStatus::Online);

    let admin = driver.browser().await;
    admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let badge = format!("{} .badge.status", card(&olly));
    assert_eq!(admin.text(&badge).await, "Online");
    admin
        .js("window.__deskwardNoReload = 'still here';", vec![])
        .await;

    // The clock starts before the browser quits: its connections close while `close` runs.
    let closed = Instant::now();
    agent.close().await;
    let limit = Duration::from_millis(GRACE_MS as u64) + Duration::from_secs(5);
    eventually(
        "the admin's page to show the agent Offline",
        limit,
        async || {
            let v = admin
                .c
                .execute(
                    "const b = document.querySelector(arguments[0]);
                 return b && b.classList.contains('offline') ? b.textContent.trim() : null;",
                    vec![json!(badge)],
                )
                .await?;
            Ok(truthy(&v).then_some(()))
        },
    )
    .await;
    let took = closed.elapsed();
    assert_eq!(admin.text(&badge).await, "Offline");
    assert!(
        took >= Duration::from_millis(GRACE_MS as u64 - 200),
        "Offline after {took:?}, before the grace period"
    );
    assert_eq!(
        admin
            .js("return window.__deskwardNoReload || null;", vec![])
            .await,
        json!("still here"),
        "the admin's page was reloaded"
    );
    // The session is untouched: still green.
    assert!(
        admin
            .exists(&format!("{} a.sess.active", card(&olly)))
            .await
    );
    assert_eq!(app.sessions(&olly).await.len(), 1);
    assert_eq!(app.member(&olly.id).await.status, AgentStatus::Offline);

    admin.close().await;
}

/// Leaving a page must close its event stream. Chrome keeps pages in its back/forward cache,
/// and a cached page whose stream is still open holds one of the six connections Chrome allows
/// per host over HTTP/1.1: the seventh page view then stalls for about a minute. A page brought
/// back from that cache must be live again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_page_closes_its_event_stream() {
    let app = App::spawn().await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    for i in 1..=8 {
        let path = if i % 2 == 0 {
            "/team/admins".to_string()
        } else {
            format!("/team/agents?q=a{i}")
        };
        let started = Instant::now();
        // A hang detector, not a speed target: a page queued behind streams that pages left
        // behind still hold would never load.
        let loaded = tokio::time::timeout(Duration::from_secs(15), b.c.goto(&app.url(&path))).await;
        assert!(
            matches!(loaded, Ok(Ok(()))),
            "page view {i} ({path}) did not load within 15 s ({:?}): pages left behind still hold \
             their event streams open (static/app.js must close the EventSource on pagehide)",
            started.elapsed()
        );
    }

    // Back to a page from the cache: it must follow changes again.
    b.goto(&app.url("/team/agents")).await;
    b.find("#team-list").await;
    b.goto(&app.url("/team/admins")).await;
    b.c.back().await.expect("go back");
    b.wait_path("the page before", |p| p == "/team/agents")
        .await;
    b.wait_js(
        "the restored page",
        "return document.readyState === 'complete' && !!document.getElementById('team-list');",
        vec![],
    )
    .await;
    // However the page gets live again (loaded afresh, or restored from the cache and then
    // reloaded), its stream opens again: not the document first loaded, which went to the cache
    // with its stream marked open.
    b.wait_js(
        "the page's stream open again",
        "return document.body.getAttribute('data-live') === 'open' \
         && performance.getEntriesByType('navigation')[0].type !== 'navigate';",
        vec![],
    )
    .await;
    app.agent("Late Arrival", "late@acme.test").await;
    eventually(
        "the restored page to show a newcomer without reload",
        WAIT,
        async || {
            let names =
                b.c.execute(
                    "return Array.from(document.querySelectorAll('#team-list a.name'))
                     .map(a => a.textContent.trim());",
                    vec![],
                )
                .await?;
            Ok(names
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n == "Late Arrival"))
                .then_some(()))
        },
    )
    .await;
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// Deskward guarding an app behind real nginx and Caddy (forward auth), on both databases.

async fn nginx_guarded_app_signs_its_tab_out(backend: Backend) {
    the_guarded_app_signs_its_tab_out(backend, crate::proxies::Kind::Nginx).await
}

async fn caddy_guarded_app_signs_its_tab_out(backend: Backend) {
    the_guarded_app_signs_its_tab_out(backend, crate::proxies::Kind::Caddy).await
}
