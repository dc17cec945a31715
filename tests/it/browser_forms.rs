//! Browser tests of forms and live updates: every invalid field reported at once next to its
//! field (setup, adding an agent), the Security form's limits following the unit, the audit log
//! fitting its panel with the demo's data, and live updates announced politely.

use std::sync::Arc;

use serde_json::{Value, json};

use deskward::clock::SystemClock;
use deskward::domain::member::MemberKind;

use crate::browser::{
    App, Browser, CHROME_WINDOWS_UA, ChromeDriver, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, WAIT,
    eventually,
};
use crate::browser_a11y::{axe_source, empty_server, violations};
use crate::db::{Backend, TestDb};

/// On the common-passwords list, yet long enough for the browser's own `minlength`.
const COMMON_PASSWORD: &str = "1qaz2wsx3edc";

/// Every field the page marks invalid: its name, and the text of the element its
/// `aria-describedby` names (empty when that element is missing).
async fn invalid_fields(b: &Browser) -> Vec<(String, String)> {
    let v = b
        .js(
            "return [...document.querySelectorAll('[aria-invalid=true]')].map(e => {
                 const m = document.getElementById(e.getAttribute('aria-describedby') || '');
                 return [e.name, m ? m.textContent.trim() : ''];
             });",
            vec![],
        )
        .await;
    serde_json::from_value(v).expect("pairs of strings")
}

async fn value_of(b: &Browser, css: &str) -> String {
    b.js(
        "return document.querySelector(arguments[0]).value;",
        vec![json!(css)],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

async fn type_into(b: &Browser, css: &str, text: &str) {
    let el = b.find(css).await;
    el.clear().await.expect("clear the field");
    el.send_keys(text).await.expect("type");
}

async fn assert_no_axe_violations(b: &Browser, axe: &str, state: &str) {
    let found = violations(b, axe).await;
    assert!(
        found.is_empty(),
        "axe-core on {state}:\n{}",
        found.join("\n")
    );
}

/// First-run setup with several bad fields: each is named next to it, what was typed stays
/// (not the password), and the page passes axe-core in that state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_reports_every_invalid_field_next_to_it() {
    let axe = axe_source();
    let (server, _db) = empty_server().await;
    let base = server.base.clone();
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.goto(&format!("{base}/setup")).await;
    // Values the browser's own checks let through; the server refuses three of them.
    type_into(&b, "input[name=name]", "   ").await;
    type_into(&b, "input[name=admin_name]", "Pat Primary").await;
    type_into(&b, "input[name=admin_email]", "pat@localhost").await;
    type_into(&b, "input[name=password]", COMMON_PASSWORD).await;
    b.click("main form button[type=submit]").await;
    b.find(".field-error").await;

    let fields = invalid_fields(&b).await;
    assert_eq!(
        fields,
        vec![
            (
                "name".to_string(),
                "The company or team name is required.".to_string()
            ),
            (
                "admin_email".to_string(),
                "E-mail must look like name@example.com.".to_string()
            ),
            (
                "password".to_string(),
                "Password is one of the most commonly used passwords; choose another.".to_string()
            ),
        ]
    );
    assert_eq!(
        b.text("main .error[role=alert]").await,
        "Please correct the 3 fields marked below."
    );
    assert_eq!(value_of(&b, "input[name=admin_name]").await, "Pat Primary");
    assert_eq!(
        value_of(&b, "input[name=admin_email]").await,
        "pat@localhost"
    );
    assert_eq!(value_of(&b, "input[name=password]").await, "");
    assert_no_axe_violations(&b, &axe, "setup with errors").await;

    // Corrected, it goes through.
    type_into(&b, "input[name=name]", "Acme Support").await;
    type_into(&b, "input[name=admin_email]", "pat@acme.test").await;
    type_into(&b, "input[name=password]", PRIMARY_PASSWORD).await;
    b.click("main form button[type=submit]").await;
    b.wait_path("setup to finish", |p| p.starts_with("/team/agents"))
        .await;
    b.close().await;
    drop(server);
}

/// Adding an agent with several bad fields: all named at once, nobody added; the page passes
/// axe-core in that state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_an_agent_reports_every_invalid_field_next_to_it() {
    let axe = axe_source();
    let app = App::spawn().await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url("/team/agents/new")).await;
    type_into(&b, "input[name=name]", " ").await;
    type_into(&b, "input[name=email]", "sam@intranet").await;
    b.click("#how-password").await;
    type_into(&b, "input[name=password]", COMMON_PASSWORD).await;
    b.click("main form button[type=submit]").await;
    b.find(".field-error").await;
    let fields = invalid_fields(&b).await;
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["name", "email", "password"], "{fields:?}");
    assert!(fields.iter().all(|(_, m)| !m.is_empty()), "{fields:?}");
    assert_eq!(value_of(&b, "input[name=email]").await, "sam@intranet");
    assert_no_axe_violations(&b, &axe, "add an agent with errors").await;
    let total = app
        .svc
        .list_team(&app.primary_actor(), MemberKind::Agent, &Default::default())
        .await
        .expect("list agents")
        .total;
    assert_eq!(total, 0, "nobody was added");
    b.close().await;
}

/// The Security form: the browser's limits follow the unit chosen; a value beyond them that
/// still reaches the server is refused in the unit typed, and the form keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_timeout_limits_follow_the_unit() {
    let app = App::spawn().await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url("/security")).await;
    let limits = async || -> Value {
        b.js(
            "const a = document.getElementById('amount');
             return [a.min, a.max, a.validity.rangeOverflow, a.validity.rangeUnderflow];",
            vec![],
        )
        .await
    };
    // The default, 72 hours.
    assert_eq!(value_of(&b, "#unit").await, "hours");
    assert_eq!(limits().await, json!(["1", "2160", false, false]));
    b.find("#unit option[value=minutes]")
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(limits().await, json!(["5", "129600", false, false]));
    type_into(&b, "#amount", "3000").await;
    assert_eq!(limits().await, json!(["5", "129600", false, false]));
    b.find("#unit option[value=hours]")
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(
        limits().await,
        json!(["1", "2160", true, false]),
        "3000 hours is beyond the browser's limit"
    );

    // Past the browser's check (as an old browser would send it), the server says it in hours.
    b.js(
        "document.querySelector('#amount').form.noValidate = true;",
        vec![],
    )
    .await;
    b.click("#security-save").await;
    b.find("#amount-error").await;
    assert_eq!(
        b.text("#amount-error").await,
        "The timeout must be at most 2160 hours (90 days)."
    );
    assert_eq!(value_of(&b, "#amount").await, "3000");
    assert_eq!(value_of(&b, "#unit").await, "hours");
    assert_eq!(limits().await, json!(["1", "2160", true, false]));
    assert_eq!(
        app.svc
            .security_settings(&app.primary_actor())
            .await
            .unwrap()
            .agent_idle_timeout_minutes,
        72 * 60,
        "nothing saved"
    );
    b.close().await;
}

/// A server seeded with `deskward demo`'s data, plus people and sessions as long as allowed.
async fn demo_server() -> (crate::support::Serving, TestDb) {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = deskward::store::connect(&db.url)
        .await
        .expect("open the test database");
    let mut config = crate::support::server_config();
    // The test's client says where it signs in from, as a proxy would.
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let svc = deskward::server::build(
        store,
        Arc::new(SystemClock),
        deskward::events::EventBus::new(),
        &config,
    );
    deskward::demo::seed(&svc, 20).await.expect("seed the demo");
    let server = crate::support::serve(svc, config).await;
    // Rows as long as the rules allow: a 100-character name, a 254-character e-mail, an IPv6
    // address and a long user agent.
    let base = server.base.clone();
    let c = crate::support::client_for_base(&base);
    c.login(deskward::demo::DEMO_ADMIN, deskward::demo::DEMO_PASSWORD)
        .await;
    let email = format!(
        "{}@{}.{}.{}.example",
        "e".repeat(64),
        "d".repeat(60),
        "d".repeat(60),
        "d".repeat(59)
    );
    let name = "N".repeat(100);
    let res = c
        .post_json(
            "/api/v1/agents",
            &json!({"name": name, "email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let long = crate::support::forwarded_client(
        &base,
        "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe",
        &format!("{CHROME_WINDOWS_UA} {}", "Extension/1.0 ".repeat(20)),
    );
    long.login(&email, PASSWORD).await;
    long.logout().await;
    (server, db)
}

/// The audit log at 1280 px with the demo's data and rows as long as allowed: the table fits
/// its panel (nothing scrolls inside it) and the page does not scroll sideways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_fits_its_panel_at_1280_px_with_demo_data() {
    let (server, _db) = demo_server().await;
    let base = server.base.clone();
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.c.set_window_size(1280, 900)
        .await
        .expect("resize the window");
    b.goto(&format!("{base}/login")).await;
    type_into(&b, "input[name=email]", deskward::demo::DEMO_ADMIN).await;
    type_into(&b, "input[name=password]", deskward::demo::DEMO_PASSWORD).await;
    b.click("main form button[type=submit]").await;
    b.wait_path("the demo administrator to sign in", |p| {
        !p.starts_with("/login")
    })
    .await;
    b.goto(&format!("{base}/security/audit")).await;
    let fit = b
        .js(
            "const wrap = document.querySelector('.table-wrap');
             const table = wrap.querySelector('table.audit');
             const d = document.documentElement;
             const cut = [...table.querySelectorAll('td.cut')]
               .filter(td => td.scrollWidth > td.clientWidth);
             return {
               rows: table.tBodies[0].rows.length,
               table: table.getBoundingClientRect().width,
               panel: wrap.clientWidth,
               inner: wrap.scrollWidth - wrap.clientWidth,
               page: d.scrollWidth - d.clientWidth,
               cut: cut.length,
               titled: cut.every(td => td.title === td.textContent),
             };",
            vec![],
        )
        .await;
    assert!(
        fit["rows"].as_i64().unwrap() >= 20,
        "the demo's rows: {fit}"
    );
    assert_eq!(fit["inner"], 0, "the table scrolls inside its panel: {fit}");
    assert!(
        fit["table"].as_f64().unwrap() <= fit["panel"].as_f64().unwrap() + 0.5,
        "the table is wider than its panel: {fit}"
    );
    assert_eq!(fit["page"], 0, "the page scrolls sideways: {fit}");
    assert!(
        fit["cut"].as_i64().unwrap() > 0,
        "the long e-mail is cut: {fit}"
    );
    assert_eq!(fit["titled"], true, "cut text is whole on hover: {fit}");
    b.close().await;
    drop(server);
}

/// Live updates on the Team page are announced in a polite status region: one person's
/// session, then several people's, ended from another tab.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_updates_are_announced_politely() {
    let app = App::spawn().await;
    let sam = app.agent("Sam Agent", "sam@acme.test").await;
    let kim = app.agent("Kim Agent", "kim@acme.test").await;
    let lou = app.agent("Lou Agent", "lou@acme.test").await;
    for a in [&sam, &kim, &lou] {
        app.login(
            &a.email,
            PASSWORD,
            MemberKind::Agent,
            "203.0.113.9",
            CHROME_WINDOWS_UA,
        )
        .await;
    }
    app.login(
        &lou.email,
        PASSWORD,
        MemberKind::Agent,
        "198.51.100.4",
        CHROME_WINDOWS_UA,
    )
    .await;

    let driver = ChromeDriver::start().await;
    let watcher = driver.browser().await;
    watcher.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    watcher.goto(&app.url("/team/agents")).await;
    watcher
        .wait_js(
            "the page's event stream to open",
            "return document.body.getAttribute('data-live') === 'open';",
            vec![],
        )
        .await;
    let region = watcher
        .js(
            "const r = document.getElementById('live-status');
             return [r.getAttribute('aria-live'), r.getAttribute('role'), r.textContent];",
            vec![],
        )
        .await;
    assert_eq!(region, json!(["polite", "status", ""]));

    // Another tab ends Sam's session through its confirmation page.
    let other = driver.browser().await;
    other.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    other
        .goto(&app.url(&format!("/team/agents/{}/end-sessions", sam.id)))
        .await;
    other.click("main form button.danger").await;
    other
        .wait_path("the ending", |p| p.contains("done=ended"))
        .await;
    eventually("the announcement of Sam's ending", WAIT, async || {
        let t = watcher.text("#live-status").await;
        Ok((t == "Sam Agent's session ended").then_some(()))
    })
    .await;

    // Several people at once (Kim's one session and Lou's two). The page refreshes once for
    // events that arrive together, else once per person: every announcement is kept here.
    watcher
        .js(
            "window.__said = [];
             new MutationObserver(() => window.__said.push(
                 document.getElementById('live-status').textContent))
               .observe(document.getElementById('live-status'),
                        {childList: true, characterData: true, subtree: true});",
            vec![],
        )
        .await;
    app.svc
        .bulk_end_agent_sessions(&app.primary_actor(), &[kim.id.clone(), lou.id.clone()])
        .await
        .expect("end in bulk");
    let together = json!(["3 sessions of 2 people ended"]);
    let one_by_one = ["Kim Agent's session ended", "Lou Agent's 2 sessions ended"];
    eventually("the announcement of the bulk ending", WAIT, async || {
        let said = watcher.js("return window.__said;", vec![]).await;
        let mut each: Vec<String> = serde_json::from_value(said.clone()).unwrap_or_default();
        each.sort();
        Ok((said == together || each == one_by_one).then_some(()))
    })
    .await;
    other.close().await;
    watcher.close().await;
}
