//! Session policies in the browser: the Security form (office networks, policies, the limit
//! of sessions), the outside-office icon and tooltip on the Team page, and the confirmation
//! step before a change that would lock out the administrator saving it.

use deskward::domain::member::MemberKind;
use deskward::domain::office::NetworkPolicy;
use deskward::service::settings::SecurityChange;
use serde_json::json;

use crate::browser::{
    App, CHROME_WINDOWS_UA, ChromeDriver, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, WAIT,
    eventually,
};

/// Sets networks and policies as the primary administrator (exempt wherever they are).
async fn set_policy(app: &App, networks: &[&str], agents: &str, admins: &str) {
    app.svc
        .change_security_settings(
            &app.primary_actor(),
            SecurityChange {
                office_networks: Some(
                    networks
                        .iter()
                        .map(|c| (c.to_string(), String::new()))
                        .collect(),
                ),
                agents_network_policy: Some(agents.to_string()),
                admins_network_policy: Some(admins.to_string()),
                ..Default::default()
            },
        )
        .await
        .expect("set the office-network policy");
}

/// The Security form reads as sentences: each two-factor checkbox on the line of its words,
/// "At most [n] sessions per person" on one line, and the note on administrators names the
/// settings that do apply to them (it once said nothing here ends an administrator's session,
/// beside the administrators' network policy and two-factor requirement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_form_controls_sit_with_their_words() {
    let app = App::spawn().await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url("/security")).await;
    // How many lines of text a label takes beside its control: the label's height against
    // the taller of its control and one line of its own text.
    let lines = |css: &str| {
        let css = css.to_string();
        let b = &b;
        async move {
            b.js(
                "const l = document.querySelector(arguments[0]);
                 const c = l.querySelector('input');
                 const line = parseFloat(getComputedStyle(l).lineHeight) || 20;
                 const one = Math.max(c.getBoundingClientRect().height, line);
                 return l.getBoundingClientRect().height / one;",
                vec![json!(css)],
            )
            .await
            .as_f64()
            .expect("a number")
        }
    };
    for css in [
        "#mfa-policy label:nth-of-type(1)",
        "#mfa-policy label:nth-of-type(2)",
        "#max-sessions-label",
    ] {
        let n = lines(css).await;
        assert!(n < 1.5, "{css} takes {n:.1} lines: its control sits apart");
    }
    let note = b.text("#admins-fixed").await;
    assert!(!note.contains("nothing here ends"), "{note}");
    for named in [
        "office-network policy",
        "two-factor requirement",
        "72 hours",
    ] {
        assert!(note.contains(named), "the note leaves out {named}: {note}");
    }
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_form_saves_networks_policies_and_limit() {
    let app = App::spawn().await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url("/security")).await;
    b.js(
        "document.querySelector('#networks').value = arguments[0];
         document.querySelector('#max-sessions').value = '3';
         document.querySelector('#agents-policy').value = 'flag';
         document.querySelector('#admins-policy').value = 'flag';",
        vec![json!(
            "203.0.113.0/24 Riga office\n2001:db8:aa::/48 Riga IPv6"
        )],
    )
    .await;
    b.click("#security-save").await;
    eventually("the saved notice", WAIT, async || {
        Ok(b.exists("p.notice").await.then_some(()))
    })
    .await;
    assert_eq!(b.text("p.notice").await, "Security settings saved.");
    let s = app
        .svc
        .security_settings(&app.primary_actor())
        .await
        .expect("read settings");
    assert_eq!(s.max_sessions_per_person, Some(3));
    assert_eq!(s.office_network_policy.agents, NetworkPolicy::Flag);
    assert_eq!(s.office_network_policy.admins, NetworkPolicy::Flag);
    let cidrs: Vec<(&str, &str)> = s
        .office_networks
        .iter()
        .map(|n| (n.cidr.as_str(), n.name.as_str()))
        .collect();
    assert_eq!(
        cidrs,
        [
            ("203.0.113.0/24", "Riga office"),
            ("2001:db8:aa::/48", "Riga IPv6")
        ]
    );
    // The form shows what is saved; a bad entry is named and nothing changes.
    let shown = b
        .js("return document.querySelector('#networks').value;", vec![])
        .await;
    assert_eq!(
        shown,
        json!("203.0.113.0/24 Riga office\n2001:db8:aa::/48 Riga IPv6")
    );
    b.js(
        "document.querySelector('#networks').value = '10.0.0.0/33 Nowhere';",
        vec![],
    )
    .await;
    b.click("#security-save").await;
    eventually("the error naming the entry", WAIT, async || {
        Ok(b.exists("#office-networks-error").await.then_some(()))
    })
    .await;
    assert!(
        b.text("#office-networks-error")
            .await
            .contains("10.0.0.0/33")
    );
    let s = app
        .svc
        .security_settings(&app.primary_actor())
        .await
        .unwrap();
    assert_eq!(s.office_networks.len(), 2);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_page_flags_a_session_outside_the_office() {
    let app = App::spawn().await;
    set_policy(&app, &["203.0.113.0/24"], "flag", "off").await;
    let otto = app.agent("Otto Outside", "otto@acme.test").await;
    let ina = app.agent("Ina Inside", "ina@acme.test").await;
    app.login(
        &otto.email,
        PASSWORD,
        MemberKind::Agent,
        "198.51.100.7",
        CHROME_WINDOWS_UA,
    )
    .await;
    app.login(
        &ina.email,
        PASSWORD,
        MemberKind::Agent,
        "203.0.113.9",
        CHROME_WINDOWS_UA,
    )
    .await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url("/team/agents")).await;
    let icon = format!("#member-{} .icons .outside", otto.id);
    assert!(
        b.exists(&icon).await,
        "the outside icon beside the session icon"
    );
    assert!(
        !b.exists(&format!("#member-{} .icons .outside", ina.id))
            .await
    );
    let tip = format!("tip-o-{}", otto.id);
    assert!(!b.tip_visible(&tip).await);
    b.js(
        "document.querySelector(arguments[0]).focus();",
        vec![json!(icon)],
    )
    .await;
    eventually("the outside tooltip on focus", WAIT, async || {
        Ok(b.tip_visible(&tip).await.then_some(()))
    })
    .await;
    assert_eq!(
        b.text(&format!("#{tip}")).await,
        "Outside office networks: 198.51.100.7"
    );
    // The session tooltip carries the line too.
    let line = b
        .js(
            "return document.querySelector(arguments[0]).textContent;",
            vec![json!(format!("#tip-s-{} .outside-line", otto.id))],
        )
        .await;
    assert_eq!(line, json!("Outside office networks: 198.51.100.7"));
    // The Session filter's "Outside office networks" option.
    b.goto(&app.url("/team/agents?session=outside")).await;
    let names = b.texts("#team-list li.card a.name").await;
    assert_eq!(names, ["Otto Outside"]);
    b.close().await;
}

/// While the administrators' policy is on, the ranges decide which administrators may stay
/// signed in: a sub-administrator sees them read-only, a forced change is refused and nothing
/// is saved; with that policy off the ranges are theirs to change. (Only such a change could
/// lock a sub-administrator out, so the "Save anyway" step no longer arises for anyone: the
/// primary administrator is never locked out.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ranges_under_the_administrators_policy_are_the_primarys() {
    let app = App::spawn().await;
    set_policy(&app, &["127.0.0.0/8"], "off", "enforce").await;
    let sub = app
        .add(
            MemberKind::Admin,
            "Sam Security",
            "sam@acme.test",
            PASSWORD,
            &["security", "team.agents"],
        )
        .await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, &sub.email, PASSWORD).await;
    b.goto(&app.url("/security")).await;
    let readonly = b
        .js(
            "return document.querySelector('#networks').readOnly;",
            vec![],
        )
        .await;
    assert_eq!(readonly, json!(true));
    let why = b.text("#networks-locked").await;
    assert!(why.contains("only the primary administrator"), "{why}");
    // Forced past the page, the server refuses it and keeps the ranges.
    b.js(
        "const t = document.querySelector('#networks'); t.readOnly = false; \
         t.value = '0.0.0.0/0 Anywhere';",
        vec![],
    )
    .await;
    b.click("#security-save").await;
    eventually("the refusal", WAIT, async || {
        let text = b.text("main").await;
        Ok(text
            .contains("primary administrator may change the office networks")
            .then_some(()))
    })
    .await;
    let s = app
        .svc
        .security_settings(&app.primary_actor())
        .await
        .unwrap();
    assert_eq!(s.office_networks.len(), 1);
    assert_eq!(s.office_networks[0].cidr, "127.0.0.0/8");
    // With the administrators' policy off, the ranges are the Security section's again.
    set_policy(&app, &["127.0.0.0/8"], "off", "off").await;
    b.goto(&app.url("/security")).await;
    assert!(!b.exists("#networks-locked").await);
    b.js(
        "document.querySelector('#networks').value = '127.0.0.0/8 Here\\n203.0.113.0/24 Riga';",
        vec![],
    )
    .await;
    b.click("#security-save").await;
    eventually("the save", WAIT, async || {
        let s = app
            .svc
            .security_settings(&app.primary_actor())
            .await
            .unwrap();
        Ok((s.office_networks.len() == 2).then_some(()))
    })
    .await;
    b.close().await;
}
