//! Browser tests, times: a viewer in Los Angeles reads every time of a page in one zone, named,
//! with UTC on hover; the audit log's "Dec 6" is Dec 6 in Los Angeles; a guarded app's tab
//! warns a minute before the idle timeout and "Stay signed in" keeps the session.

use serde_json::json;

use deskward::clock::Clock;
use deskward::domain::member::MemberKind;
use deskward::domain::zone::Zone;
use deskward::store::AuditEntry;

use crate::browser::{
    App, ChromeDriver, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, WAIT, eventually,
};
use crate::db::Backend;

const LA: &str = "America/Los_Angeles";

/// Every `<time>` of the page: (text, title, the zone the script used).
async fn times(b: &crate::browser::Browser) -> Vec<(String, String, String)> {
    let v = b
        .js(
            "return Array.from(document.querySelectorAll('time')).map(t =>
                 [t.textContent.trim(), t.title, t.getAttribute('data-zone') || '']);",
            vec![],
        )
        .await;
    serde_json::from_value(v).expect("a list of times")
}

/// Each time names the Los Angeles zone, shows UTC on hover, and was written by the script in
/// that zone; none is left in UTC.
fn all_in_los_angeles(page: &str, found: &[(String, String, String)], label: &str) {
    assert!(!found.is_empty(), "{page}: no times");
    let utc = regex::Regex::new(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$").unwrap();
    for (text, title, zone) in found {
        assert!(
            text.contains(&format!(" {label} (")),
            "{page}: {text:?} does not name {label}"
        );
        assert!(!text.contains("UTC"), "{page}: {text:?} is in UTC");
        assert!(
            utc.is_match(title),
            "{page}: the title {title:?} is not UTC"
        );
        assert_eq!(zone, LA, "{page}: {text:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_in_los_angeles_reads_every_time_in_that_zone() {
    let app = App::spawn().await;
    let ann = app.agent("Ann Agent", "ann@acme.test").await;
    app.login(
        "ann@acme.test",
        PASSWORD,
        MemberKind::Agent,
        "203.0.113.7",
        crate::browser::CHROME_WINDOWS_UA,
    )
    .await;
    let label = Zone::parse(LA).unwrap().label(app.svc.now());
    let driver = ChromeDriver::start_in_zone(LA).await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;

    // The profile's "Started … · last activity …", the tooltip on the Team list, My sessions,
    // the audit log: one zone, named, everywhere.
    for path in [
        format!("/team/agents/{}", ann.id),
        "/team/agents".to_string(),
        "/me/sessions".to_string(),
        "/security/audit".to_string(),
    ] {
        b.goto(&app.url(&path)).await;
        b.wait_js(
            "the script to write the times",
            "return document.querySelectorAll('time:not([data-local])').length === 0;",
            vec![],
        )
        .await;
        all_in_los_angeles(&path, &times(&b).await, &label);
    }
    b.goto(&app.url(&format!("/team/agents/{}", ann.id))).await;
    let line = b.text(".session-list .muted").await;
    assert!(
        line.starts_with("Started ") && line.matches(&format!(" {label} (")).count() == 2,
        "start and last activity in one zone: {line}"
    );
    // The person's page says which zone pages use when they set none.
    b.goto(&app.url("/me/sessions")).await;
    assert_eq!(
        b.text("[data-browser-zone]").await,
        format!("({LA})"),
        "My sessions names the browser's zone"
    );

    // The person's own zone, once set, wins over the browser's.
    app.svc
        .set_own_time_zone(&app.primary_actor(), Some("Europe/Berlin"))
        .await
        .expect("set the zone");
    let berlin = Zone::parse("Europe/Berlin").unwrap().label(app.svc.now());
    b.goto(&app.url(&format!("/team/agents/{}", ann.id))).await;
    b.wait_js(
        "the script to write the times",
        "return document.querySelectorAll('time:not([data-local])').length === 0;",
        vec![],
    )
    .await;
    for (text, _, zone) in times(&b).await {
        assert!(text.contains(&format!(" {berlin} (")), "{text:?}");
        assert_eq!(zone, "Europe/Berlin", "{text:?}");
    }
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_filter_finds_the_rows_that_read_dec_6_in_los_angeles() {
    let app = App::spawn().await;
    // Around midnight UTC: Dec 6 in UTC only, Dec 6 in Los Angeles only, Dec 7 in both.
    for (i, (at, who)) in [
        (1_796_542_200_000, "early@acme.test"),
        (1_796_622_900_000, "evening@acme.test"),
        (1_796_634_000_000, "night@acme.test"),
    ]
    .into_iter()
    .enumerate()
    {
        app.store
            .insert_audit(&AuditEntry {
                id: format!("au_zone_{i}"),
                account_id: app.account.id.clone(),
                at,
                kind: "member.created".to_string(),
                actor: None,
                target: None,
                ip: None,
                detail: format!("added agent {who}"),
                count: 1,
            })
            .await
            .expect("an audit entry");
    }
    let driver = ChromeDriver::start_in_zone(LA).await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url("/security/audit?kind=member.created"))
        .await;
    // Nobody set a zone: the browser's goes into the form, and the page says so.
    b.wait_js(
        "the browser's zone in the filter",
        "return document.getElementById('audit-tz').value === arguments[0];",
        vec![json!(LA)],
    )
    .await;
    assert!(
        b.text("#audit-zone")
            .await
            .starts_with("Dates are days in America/Los_Angeles (your browser's time zone)"),
        "the page names the filter's zone"
    );
    b.js(
        "document.querySelector('input[name=from]').value = '2026-12-06';
         document.querySelector('input[name=to]').value = '2026-12-06';",
        vec![],
    )
    .await;
    b.click_and_load("form.filters button[type=submit]").await;
    let path = b.path().await;
    assert!(path.contains("tz=America%2FLos_Angeles"), "{path}");
    assert_eq!(b.text("p.count").await, "1 entry");
    let rows = b.texts("table.audit tbody tr").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("Dec 6, 2026") && rows[0].contains("9:55 PM PST"),
        "the row reads Dec 6: {}",
        rows[0]
    );
    assert!(rows[0].contains("evening@acme.test"), "{}", rows[0]);
    assert!(
        b.text("#audit-zone")
            .await
            .starts_with("Dates are days in America/Los_Angeles"),
    );
    // The export says its zone too.
    let href = b
        .js(
            "return document.getElementById('audit-csv').getAttribute('href');",
            vec![],
        )
        .await;
    assert!(
        href.as_str()
            .unwrap_or_default()
            .contains("tz=America%2FLos_Angeles"),
        "{href}"
    );
    b.close().await;
}

/// A guarded app's tab, untouched: a minute before the idle timeout a warning appears (from
/// the server's event, the tab's own timers may be throttled); "Stay signed in" keeps the
/// session; the next time nobody clicks, the session ends and the tab goes to sign-in.
async fn the_guarded_tab_warns_before_the_idle_timeout(backend: Backend) {
    use crate::proxies::{Kind, Stack, encode};
    use crate::support::{HOUR, SECOND};

    let stack = Stack::start(backend, Kind::Nginx).await;
    let app = &stack.app;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    let wanted = stack.proxy.url("/inbox/7");
    b.goto(&wanted).await;
    b.fill_in_sign_in("ann@acme.test", PASSWORD).await;
    b.wait_path("the app's page", |p| p == "/inbox/7").await;
    eventually("guard.js to connect the tab", WAIT, async || {
        Ok((app.svc.connections().count(&app.account.id, &ann.id) > 0).then_some(()))
    })
    .await;
    let session = app
        .svc
        .sessions_of(&app.account.id, &ann.id, MemberKind::Agent)
        .await
        .expect("the agent's sessions");
    assert_eq!(session.len(), 1);
    let session_id = session[0].id.clone();
    assert!(!b.exists("#deskward-expiry").await);

    // 30 seconds before the 72 hours are up: the warning, with focus on its button.
    app.advance(72 * HOUR - 30 * SECOND);
    b.wait_js(
        "the warning",
        "return !!document.getElementById('deskward-expiry');",
        vec![],
    )
    .await;
    assert_eq!(
        b.text("#deskward-expiry-title").await,
        "You will be signed out soon"
    );
    assert!(b.text("#deskward-expiry-text").await.contains("ends at"));
    let focused = b
        .js(
            "return document.activeElement && document.activeElement.id;",
            vec![],
        )
        .await;
    assert_eq!(focused, json!("deskward-stay"));
    let axe = crate::browser_a11y::axe_source();
    let found = crate::browser_a11y::violations(&b, &axe).await;
    assert!(found.is_empty(), "axe on the warning: {found:#?}");

    // Staying: the warning goes, the session's activity moved.
    b.click("#deskward-stay").await;
    b.wait_js(
        "the warning to go",
        "return !document.getElementById('deskward-expiry');",
        vec![],
    )
    .await;
    let s = app.stored_session(&session_id).await;
    assert_eq!(s.ended_at, None);
    assert_eq!(s.last_seen_at, app.clock.now());

    // Later, nobody there: warned again, then signed out as expired.
    app.advance(72 * HOUR - 20 * SECOND);
    b.wait_js(
        "the second warning",
        "return !!document.getElementById('deskward-expiry');",
        vec![],
    )
    .await;
    app.advance(21 * SECOND);
    assert_eq!(app.sweep().await, 1);
    let expected = format!("/deskward/login?reason=expired&rd={}", encode(&wanted));
    b.wait_path("the tab on the sign-in page", |p| p == expected)
        .await;
    assert_eq!(
        app.stored_session(&session_id).await.end_reason,
        Some(deskward::domain::EndReason::Expired)
    );
    b.close().await;
}

/// SQLite only: the HTTP test `time_zones::the_stream_warns_before_the_idle_timeout` runs the
/// stream's side on both databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guarded_tab_warns_before_the_idle_timeout() {
    the_guarded_tab_warns_before_the_idle_timeout(Backend::Sqlite).await
}
