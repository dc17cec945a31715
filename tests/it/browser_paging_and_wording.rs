//! Browser tests of list paging and of what pages say: paging a filtered list, ending on its
//! last page, a busy person's tooltip, words instead of codes, what the sign-in page says, the
//! 404 page, the favicon and the account chooser's way back.

use serde_json::json;

use deskward::domain::member::MemberKind;

use crate::browser::{
    App, Browser, CHROME_WINDOWS_UA, ChromeDriver, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, WAIT,
    eventually,
};
use crate::db::Backend;

// The flows that matter most run on PostgreSQL too (issue 32): the same body, both databases.
backend_tests!(the_sign_in_page_says_what_happened);

async fn type_into(b: &Browser, css: &str, text: &str) {
    let el = b.find(css).await;
    el.clear().await.expect("clear the field");
    el.send_keys(text).await.expect("type");
}

async fn sign_in_from(app: &App, email: &str, ip: &str, kind: MemberKind, password: &str) {
    app.login(email, password, kind, ip, CHROME_WINDOWS_UA)
        .await;
}

/// The demo's case: every administrator signed in, the primary several times. With one per
/// page, each administrator is on exactly one page and the count agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_list_pages_each_person_exactly_once() {
    let app = App::spawn().await;
    for (name, email, perms) in [
        ("Sam Agents-Only", "sam@acme.test", &["team.agents"][..]),
        ("Sid Security", "sid@acme.test", &["security", "audit"][..]),
        (
            "Tara Quinn",
            "tara@acme.test",
            &["team.agents", "team.admins"][..],
        ),
    ] {
        app.add(MemberKind::Admin, name, email, PASSWORD, perms)
            .await;
        sign_in_from(&app, email, "203.0.113.5", MemberKind::Admin, PASSWORD).await;
    }
    for ip in ["203.0.113.6", "203.0.113.7", "203.0.113.8"] {
        sign_in_from(&app, PRIMARY_EMAIL, ip, MemberKind::Admin, PRIMARY_PASSWORD).await;
    }
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let mut seen = Vec::new();
    for page in 1..=4 {
        b.goto(&app.url(&format!(
            "/team/admins?session=active&per_page=1&page={page}"
        )))
        .await;
        let names = b.texts("#team-list li.card a.name").await;
        assert_eq!(names.len(), 1, "page {page}: {names:?}");
        assert_eq!(
            b.text("#team-list .count").await,
            "4 administrators match the filters"
        );
        assert_eq!(b.text(".pager span").await, format!("Page {page} of 4"));
        seen.extend(names);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "Pat Primary",
            "Sam Agents-Only",
            "Sid Security",
            "Tara Quinn"
        ],
        "each administrator on exactly one page"
    );
    b.close().await;
}

/// Ending the only person on the last page of a filtered list lands on the new last page,
/// with the notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_on_the_last_filtered_page_lands_on_the_new_last_page() {
    let app = App::spawn().await;
    let mut agents = Vec::new();
    for (name, email) in [
        ("Ann Active", "ann@acme.test"),
        ("Bob Active", "bob@acme.test"),
        ("Cid Active", "cid@acme.test"),
    ] {
        agents.push(app.agent(name, email).await);
        sign_in_from(&app, email, "203.0.113.9", MemberKind::Agent, PASSWORD).await;
    }
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url("/team/agents?session=active&per_page=1&page=3"))
        .await;
    b.click(&format!("#member-{} .icons a.sess.active", agents[2].id))
        .await;
    assert!(b.dialog_open().await);
    b.click("#confirm-ok").await;
    let landed = b
        .wait_path("the new last page", |p| {
            p.contains("page=2") && p.contains("done=ended")
        })
        .await;
    assert!(landed.contains("session=active"), "{landed}");
    assert_eq!(
        b.text("main .notice").await,
        "1 session of 1 person ended. They have been signed out."
    );
    assert_eq!(b.texts("#team-list li.card a.name").await, ["Bob Active"]);
    assert!(!b.exists("main .error").await, "no error page");
    b.close().await;
}

/// A person with many sessions: the tooltip lists three and counts the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_persons_tooltip_lists_three_sessions_and_counts_the_rest() {
    let app = App::spawn().await;
    let busy = app.agent("Bea Busy", "bea@acme.test").await;
    for i in 1..=5 {
        sign_in_from(
            &app,
            &busy.email,
            &format!("198.51.100.{i}"),
            MemberKind::Agent,
            PASSWORD,
        )
        .await;
    }
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url("/team/agents")).await;
    let tip = format!("tip-s-{}", busy.id);
    b.hover(&format!("#member-{} .icons .sess.active", busy.id))
        .await;
    eventually("the tooltip on hover", WAIT, async || {
        Ok(b.tip_visible(&tip).await.then_some(()))
    })
    .await;
    assert_eq!(b.texts(&format!("#{tip} .tip-session")).await.len(), 3);
    assert_eq!(
        b.text(&format!("#{tip} .tip-more")).await,
        "and 2 more — open the profile"
    );
    b.close().await;
}

/// People read words: permissions by name on a profile, audit kinds by name with the code on
/// hover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_words_not_codes() {
    let app = App::spawn().await;
    let sam = app
        .add(
            MemberKind::Admin,
            "Sam Sub",
            "sam@acme.test",
            PASSWORD,
            &["team.agents"],
        )
        .await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url(&format!("/team/admins/{}", sam.id))).await;
    let labels = b.texts("fieldset label.check").await;
    assert!(labels.iter().any(|l| l == "Team → Agents"), "{labels:?}");
    let shown = b.js("return document.body.innerText;", vec![]).await;
    assert!(
        !shown.as_str().unwrap().contains("team.agents"),
        "a code on the profile"
    );
    b.goto(&app.url("/security/audit")).await;
    let signin = b
        .js(
            "const td = document.querySelector('table.audit td[title=\"signin\"]');
             return td && td.textContent.trim();",
            vec![],
        )
        .await;
    assert_eq!(signin, json!("Signed in"));
    b.close().await;
}

/// Signing out says so as information; repeated wrong passwords are told how long to wait,
/// in correct English.
async fn the_sign_in_page_says_what_happened(backend: Backend) {
    let app = App::spawn_on(backend).await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.click("header .who button[type=submit]").await;
    b.wait_path("the sign-in page", |p| p.starts_with("/login"))
        .await;
    assert_eq!(b.text("main p.info").await, "You have signed out.");
    assert!(!b.exists("main .notice").await, "information, not success");
    let padding = b
        .js(
            "const s = getComputedStyle(document.querySelector('main p.info'));
             return [s.paddingTop, s.paddingLeft];",
            vec![],
        )
        .await;
    assert_eq!(
        padding,
        json!(["10px", "14px"]),
        "the notice's words touch its border"
    );

    // Wrong passwords until the wait starts (each failure past the fifth doubles it).
    let mut said = String::new();
    for _ in 0..12 {
        type_into(&b, "input[name=email]", PRIMARY_EMAIL).await;
        type_into(&b, "input[name=password]", "not the password at all").await;
        b.click_and_load("main form button[type=submit]").await;
        said = b.text("main p.error").await;
        if said.starts_with("Too many failed attempts") {
            break;
        }
    }
    let n: u64 = said
        .strip_prefix("Too many failed attempts. Try again in ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no wait was asked for: {said}"));
    let unit = if n == 1 { "second" } else { "seconds" };
    assert_eq!(
        said,
        format!("Too many failed attempts. Try again in {n} {unit}.")
    );
    b.close().await;
}

/// An unknown address shows Deskward's 404 page with a way back; the site has a favicon; the
/// linked-account chooser names both accounts and offers a way back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_ends_offer_a_way_back() {
    let app = App::spawn().await;
    app.agent("Lee Agent", "lee@acme.test").await;
    app.add(
        MemberKind::Admin,
        "Lee Admin",
        "lee@acme.test",
        PASSWORD,
        &["audit"],
    )
    .await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.goto(&app.url("/no/such/page")).await;
    assert_eq!(b.text("main h1").await, "Not found");
    assert_eq!(b.text("main a[href='/']").await, "Back to Deskward");
    assert_eq!(
        b.js(
            "return document.querySelector('link[rel=icon]').getAttribute('href');",
            vec![]
        )
        .await,
        json!("/static/favicon.svg")
    );
    let icon = reqwest::get(app.url("/favicon.ico"))
        .await
        .expect("fetch the favicon");
    assert_eq!(icon.status(), 200);
    assert_eq!(
        icon.headers()["content-type"].to_str().unwrap(),
        "image/svg+xml"
    );

    b.goto(&app.url("/login")).await;
    type_into(&b, "input[name=email]", "lee@acme.test").await;
    type_into(&b, "input[name=password]", PASSWORD).await;
    b.click("main form button[type=submit]").await;
    b.find("input[name=challenge]").await;
    let text = b.text("main form p").await;
    assert!(
        text.contains("Lee Agent (agent)") && text.contains("Lee Admin (administrator)"),
        "{text}"
    );
    assert_eq!(
        b.texts("main form button[name=as]").await,
        [
            "Sign in as agent (Lee Agent)",
            "Sign in as administrator (Lee Admin)"
        ]
    );
    b.click("main form a[href='/login']").await;
    b.find("input[name=password]").await;
    assert!(!b.exists("input[name=challenge]").await, "back to the form");
    b.close().await;
}

/// Disabling a linked account asks first like ending sessions does; a green icon the viewer
/// cannot click looks different from one they can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_disabling_asks_first_and_an_unclickable_icon_looks_different() {
    let app = App::spawn().await;
    let lee = app.agent("Lee Agent", "lee@acme.test").await;
    let lee_admin = app
        .add(
            MemberKind::Admin,
            "Lee Admin",
            "lee@acme.test",
            PASSWORD,
            &["audit"],
        )
        .await;
    let sam = app
        .add(
            MemberKind::Admin,
            "Sam Sub",
            "sam@acme.test",
            PASSWORD,
            // Disabling someone needs every permission they hold.
            &["team.agents", "team.admins", "audit"],
        )
        .await;
    sign_in_from(
        &app,
        &lee_admin.email,
        "203.0.113.4",
        MemberKind::Admin,
        PASSWORD,
    )
    .await;
    sign_in_from(
        &app,
        PRIMARY_EMAIL,
        "203.0.113.5",
        MemberKind::Admin,
        PRIMARY_PASSWORD,
    )
    .await;

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, &sam.email, PASSWORD).await;
    b.goto(&app.url("/team/admins")).await;
    let looks = b
        .js(
            "const s = (css) => { const e = document.querySelector(css);
                                  const c = getComputedStyle(e);
                                  return [e.tagName, c.backgroundColor, c.borderTopColor, c.cursor]; };
             return [s(arguments[0]), s(arguments[1])];",
            vec![
                json!(format!("#member-{} .icons .sess.active", app.primary.id)),
                json!(format!("#member-{} .icons .sess.active", lee_admin.id)),
            ],
        )
        .await;
    let (locked, open) = (&looks[0], &looks[1]);
    assert_eq!(
        (locked[0].as_str(), open[0].as_str()),
        (Some("SPAN"), Some("A"))
    );
    assert_ne!(locked[1], open[1], "the same fill: {looks}");
    assert_eq!(locked[3], json!("default"), "{looks}");
    assert_eq!(open[3], json!("pointer"), "{looks}");

    // The agent's profile: disabling the linked administrator asks first.
    b.goto(&app.url(&format!("/team/agents/{}", lee.id))).await;
    b.click(&format!(
        "form[action$='/team/admins/{}/disabled'] button[type=submit]",
        lee_admin.id
    ))
    .await;
    assert!(b.dialog_open().await, "disabling asks first");
    assert_eq!(
        b.text("#confirm-title").await,
        "Disable the linked account?"
    );
    assert!(!app.member(&lee_admin.id).await.disabled);
    b.click("#confirm-cancel").await;
    assert!(
        !app.member(&lee_admin.id).await.disabled,
        "cancel does nothing"
    );
    b.click(&format!(
        "form[action$='/team/admins/{}/disabled'] button[type=submit]",
        lee_admin.id
    ))
    .await;
    b.click("#confirm-ok").await;
    eventually("the linked account to be disabled", WAIT, async || {
        Ok(app.member(&lee_admin.id).await.disabled.then_some(()))
    })
    .await;
    assert!(
        app.sessions(&lee_admin).await.is_empty(),
        "its sessions ended"
    );
    b.close().await;

    // Someone who may end sessions but not disable (they lack a permission the person holds)
    // is not offered a button that would only lead to a refusal.
    let kit = app
        .add(
            MemberKind::Admin,
            "Kit Team",
            "kit@acme.test",
            PASSWORD,
            &["team.agents", "team.admins"],
        )
        .await;
    let other = driver.browser().await;
    other.sign_in(&app, &kit.email, PASSWORD).await;
    other
        .goto(&app.url(&format!("/team/agents/{}", lee.id)))
        .await;
    other.find("#compare-h").await;
    assert!(
        !other
            .exists(&format!(
                "form[action$='/team/admins/{}/disabled']",
                lee_admin.id
            ))
            .await,
        "no button for the linked administrator"
    );
    assert!(
        other
            .exists(&format!("form[action$='/team/agents/{}/disabled']", lee.id))
            .await,
        "the agent's own one stays"
    );
    other
        .goto(&app.url(&format!("/team/admins/{}", sam.id)))
        .await;
    other.find("main h1").await;
    assert!(!other.exists("form[action$='/disabled']").await);
    other.close().await;
}
