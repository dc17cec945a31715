//! Accessibility, checked by a tool no one here wrote: axe-core (npm), injected into every page
//! of Deskward in its signed-in states, must find no violation of WCAG 2.2 A and AA.
//!
//! scripts/test.sh installs the pinned axe-core into `target/axe`; `DESKWARD_AXE_JS` may point
//! elsewhere. Without it the test fails with a message saying how to get it; it never skips.

use std::sync::Arc;

use serde_json::{Value, json};

use deskward::clock::SystemClock;
use deskward::domain::member::MemberKind;

use crate::browser::{
    App, Browser, CHROME_WINDOWS_UA, ChromeDriver, FIREFOX_LINUX_UA, PASSWORD, PRIMARY_EMAIL,
    PRIMARY_PASSWORD,
};
use crate::db::{Backend, TestDb};
use crate::mail_support::links_in_files;
use crate::support::{Serving, serve};

/// The WCAG levels axe checks here: 2.0, 2.1 and 2.2, A and AA.
const TAGS: [&str; 6] = [
    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa",
];

pub(crate) fn axe_source() -> String {
    let path = std::env::var("DESKWARD_AXE_JS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/axe/node_modules/axe-core/axe.min.js"
        )
        .to_string()
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the accessibility test needs axe-core at {path} ({e}); scripts/test.sh installs it \
             (npm install --prefix target/axe axe-core@4.14.1)"
        )
    })
}

/// Runs axe on the page as it is now; returns one line per violation and element.
pub(crate) async fn violations(b: &Browser, axe: &str) -> Vec<String> {
    // WebDriver's own script is not subject to the page's Content-Security-Policy, so the
    // library is evaluated there rather than through a <script> element the policy would stop.
    let loaded =
        b.c.execute(&format!("{axe}\n;return typeof axe;"), vec![])
            .await
            .expect("inject axe-core");
    assert_eq!(loaded, json!("object"), "axe-core did not load");
    let run = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, {
            runOnly: { type: 'tag', values: arguments[0] },
            resultTypes: ['violations'],
        }).then(
            r => done(r.violations.flatMap(v => v.nodes.map(n =>
                `${v.id} (${v.impact}): ${v.help} — ${n.target.join(' ')}: ${n.failureSummary}`))),
            e => done(['axe failed: ' + e]),
        );
    "#;
    let found =
        b.c.execute_async(run, vec![json!(TAGS)])
            .await
            .expect("run axe-core");
    match found {
        Value::Array(items) => items
            .into_iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        other => vec![format!("unexpected answer from axe: {other}")],
    }
}

/// Collects the violations of the current page under `state`.
async fn check(b: &Browser, axe: &str, state: &str, all: &mut Vec<String>) {
    for v in violations(b, axe).await {
        all.push(format!("[{state}] {v}"));
    }
}

/// A server with an empty database, for the first-run setup page.
pub(crate) async fn empty_server() -> (Serving, TestDb) {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = deskward::store::connect(&db.url)
        .await
        .expect("open the test database");
    let config = crate::support::server_config();
    let svc = deskward::server::build(
        store,
        Arc::new(SystemClock),
        deskward::events::EventBus::new(),
        &config,
    );
    (serve(svc, config).await, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_at_wcag_2_2_aa() {
    let axe = axe_source();
    let app = App::spawn().await;
    let ada = app.agent("Ada Active", "ada@acme.test").await;
    app.agent("Nina Nosession", "nina@acme.test").await;
    app.login(
        &ada.email,
        PASSWORD,
        MemberKind::Agent,
        "203.0.113.7",
        CHROME_WINDOWS_UA,
    )
    .await;
    // Linked accounts with one password: the sign-in chooser and the comparison.
    let lee = app.agent("Lee Linked", "lee@acme.test").await;
    app.add(
        MemberKind::Admin,
        "Lee Linked",
        "lee@acme.test",
        PASSWORD,
        &["audit"],
    )
    .await;
    app.login(
        &lee.email,
        PASSWORD,
        MemberKind::Agent,
        "198.51.100.4",
        FIREFOX_LINUX_UA,
    )
    .await;
    // Both accounts signed in, so the comparison marks the same address and a different
    // device ("(same)", "(different)"): the marks are text and need their contrast too.
    app.login(
        &lee.email,
        PASSWORD,
        MemberKind::Admin,
        "198.51.100.4",
        CHROME_WINDOWS_UA,
    )
    .await;
    app.add(
        MemberKind::Admin,
        "Sam Sub",
        "sam@acme.test",
        PASSWORD,
        &["team.agents"],
    )
    .await;

    // Invited, not signed in yet: the card's note and Resend, the profile, the link's page.
    let ivy = app
        .svc
        .add_person(
            &app.primary_actor(),
            deskward::service::NewPerson {
                kind: MemberKind::Agent,
                name: "Ivy Invited".to_string(),
                email: "ivy@acme.test".to_string(),
                password: None,
                permissions: Vec::new(),
            },
        )
        .await
        .expect("invite Ivy")
        .member;
    let invite_link =
        crate::browser::eventually("the invitation", crate::browser::WAIT, async || {
            let links = links_in_files(app.mail_dir.path(), &app.base, "/invite", None);
            Ok(links.first().map(|l| l[app.base.len()..].to_string()))
        })
        .await;

    let driver = ChromeDriver::start().await;
    let mut found = Vec::new();

    // Signed out: sign-in, the chooser, a 404, first-run setup.
    let visitor = driver.browser().await;
    visitor.goto(&app.url("/login")).await;
    check(&visitor, &axe, "sign-in", &mut found).await;
    visitor.goto(&app.url("/login?reason=ended_by_admin")).await;
    check(&visitor, &axe, "sign-in after an ending", &mut found).await;
    visitor.goto(&app.url("/no/such/page")).await;
    check(&visitor, &axe, "404 signed out", &mut found).await;
    // Password reset: the e-mail field, "check your e-mail", a spent link.
    visitor.goto(&app.url("/reset")).await;
    check(&visitor, &axe, "reset: ask for a link", &mut found).await;
    visitor
        .find("input[name=email]")
        .await
        .send_keys("lee@acme.test")
        .await
        .unwrap();
    visitor
        .click_and_load("main form button[type=submit]")
        .await;
    check(&visitor, &axe, "reset: check your e-mail", &mut found).await;
    visitor
        .goto(&app.url(&format!("/reset/{}", "0".repeat(64))))
        .await;
    check(&visitor, &axe, "reset: link expired", &mut found).await;
    // A sign-in alert's "This wasn't me": Lee's administrator sign-in above was from a new
    // browser.
    let alert = crate::browser_alerts::alert_link(&app, "lee@acme.test").await;
    visitor.goto(&alert).await;
    check(&visitor, &axe, "sign-in alert: was this you", &mut found).await;
    visitor
        .goto(&app.url(&format!("/signin-alert/{}", "0".repeat(64))))
        .await;
    check(&visitor, &axe, "sign-in alert: link expired", &mut found).await;
    visitor.goto(&app.url(&invite_link)).await;
    check(&visitor, &axe, "invitation: choose a password", &mut found).await;
    visitor
        .goto(&app.url(&format!("/invite/{}", "0".repeat(64))))
        .await;
    check(&visitor, &axe, "invitation: link expired", &mut found).await;
    visitor.goto(&app.url("/login")).await;
    visitor
        .find("input[name=email]")
        .await
        .send_keys("lee@acme.test")
        .await
        .unwrap();
    visitor
        .find("input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    visitor.click("main form button[type=submit]").await;
    visitor.find("input[name=challenge]").await;
    check(&visitor, &axe, "account chooser", &mut found).await;
    visitor.close().await;
    let (server, _db) = empty_server().await;
    let fresh = driver.browser().await;
    fresh.goto(&format!("{}/setup", server.base)).await;
    check(&fresh, &axe, "setup", &mut found).await;
    fresh.close().await;
    drop(server);

    // The primary administrator, everywhere.
    let admin = driver.browser().await;
    admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    admin.goto(&app.url("/team/agents")).await;
    assert!(
        admin
            .exists(&format!("#member-{} button.resend", ivy.id))
            .await,
        "the invited card with Resend"
    );
    check(&admin, &axe, "agents, with an invited card", &mut found).await;
    let green = format!("#member-{} .icons .sess.active", ada.id);
    admin.hover(&green).await;
    check(&admin, &axe, "agents, tooltip open", &mut found).await;
    admin.click(&green).await;
    assert!(admin.dialog_open().await, "the end-session dialog opens");
    check(&admin, &axe, "agents, dialog open", &mut found).await;
    for (state, path) in [
        (
            "agents filtered",
            "/team/agents?session=active&status=offline&q=a",
        ),
        ("administrators", "/team/admins"),
        (
            "agent profile with linked account, both signed in",
            &format!("/team/agents/{}", lee.id),
        ),
        ("add an agent", "/team/agents/new"),
        (
            "invited agent's profile",
            &format!("/team/agents/{}", ivy.id),
        ),
        ("add an administrator", "/team/admins/new"),
        (
            "confirmation page",
            &format!("/team/agents/{}/end-sessions", ada.id),
        ),
        ("security", "/security"),
        ("audit log", "/security/audit"),
        ("my sessions", "/me/sessions"),
        ("404 signed in", "/team/agents/no-such-id"),
    ] {
        admin.goto(&app.url(path)).await;
        check(&admin, &axe, state, &mut found).await;
    }
    admin
        .goto(&app.url(&format!("/team/agents/{}", lee.id)))
        .await;
    assert!(
        admin.exists("span.match").await && admin.exists("span.diff").await,
        "the comparison shows both marks"
    );
    admin.close().await;

    // An agent: their own page.
    let agent = driver.browser().await;
    agent.sign_in(&app, "nina@acme.test", PASSWORD).await;
    check(&agent, &axe, "agent home", &mut found).await;
    agent.goto(&app.url("/me/sessions")).await;
    check(&agent, &axe, "agent's sessions", &mut found).await;
    agent.close().await;

    assert!(
        found.is_empty(),
        "axe-core found {} violation(s):\n{}",
        found.len(),
        found.join("\n")
    );
}
