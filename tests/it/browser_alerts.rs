//! Sign-in alerts in headless Chromium: the Security page's two checkboxes (saving changes only
//! the box its user changed, never a value someone else set meanwhile), and a sign-in alert's
//! "This wasn't me" link followed from the message as the server wrote it: that browser is
//! signed out at once and told why, and the owner goes on to set a new password.

use crate::browser::{App, Browser, ChromeDriver, PASSWORD, WAIT, eventually, truthy};
use crate::mail_support::links_in_files;
use crate::support::{PRIMARY_EMAIL, PRIMARY_PASSWORD};
use deskward::domain::session::EndReason;
use deskward::service::settings::SecurityChange;

const NEW_PASSWORD: &str = "a brand new passphrase";

/// The "This wasn't me" link of the newest alert written so far that is addressed to `to`.
pub(crate) async fn alert_link(app: &App, to: &str) -> String {
    eventually("the alert message", WAIT, async || {
        Ok(
            links_in_files(app.mail_dir.path(), &app.base, "/signin-alert", Some(to))
                .into_iter()
                .next_back(),
        )
    })
    .await
}

async fn checked(b: &Browser, id: &str) -> bool {
    truthy(
        &b.js(
            &format!("return document.getElementById('{id}').checked"),
            vec![],
        )
        .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_checkboxes_change_only_what_was_touched() {
    let app = App::spawn().await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url("/security")).await;
    assert!(
        !checked(&b, "alerts-agents").await,
        "off for agents by default"
    );
    assert!(
        checked(&b, "alerts-admins").await,
        "on for administrators by default"
    );
    // The label is the box's own, on its line: clicking the words ticks it.
    b.click("label:has(#alerts-agents)").await;
    assert!(checked(&b, "alerts-agents").await);
    // Meanwhile someone else turns administrators' alerts off.
    app.svc
        .change_security_settings(
            &app.primary_actor(),
            SecurityChange {
                signin_alerts_admins: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("turn administrators' alerts off");
    b.click_and_load("#security-save").await;
    assert_eq!(b.text("main .notice").await, "Security settings saved.");
    let now = app
        .svc
        .signin_alerts(&app.account.id)
        .await
        .expect("read the setting");
    assert!(now.agents, "the box ticked was saved");
    assert!(!now.admins, "the box not touched kept the other change");
    assert!(checked(&b, "alerts-agents").await);
    assert!(!checked(&b, "alerts-admins").await);
    // Unticking saves too.
    b.click("#alerts-agents").await;
    b.click_and_load("#security-save").await;
    let now = app.svc.signin_alerts(&app.account.id).await.unwrap();
    assert!(!now.agents && !now.admins);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_wasnt_me_signs_that_browser_out_and_leads_to_a_new_password() {
    let app = App::spawn().await;
    app.svc
        .change_security_settings(
            &app.primary_actor(),
            SecurityChange {
                signin_alerts_agents: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("turn agents' alerts on");
    let kim = app.agent("Kim Careful", "kim@acme.test").await;
    let driver = ChromeDriver::start().await;
    // Someone else signs in as Kim from a browser she never used.
    let intruder = driver.browser().await;
    assert_eq!(intruder.sign_in(&app, &kim.email, PASSWORD).await, "/agent");
    app.wait_tab_connected(&kim).await;
    let link = alert_link(&app, &kim.email).await;

    // Kim opens the link from the message.
    let b = driver.browser().await;
    b.goto(&link).await;
    assert_eq!(b.text("main h1").await, "Was this you?");
    assert!(b.exists("#alert-session").await);
    b.click_and_load("#alert-end").await;
    b.wait_path("the new password's page", |p| p.starts_with("/reset/"))
        .await;
    assert_eq!(b.text("main h1").await, "Set a new password");
    assert!(
        b.text("main .notice")
            .await
            .starts_with("That session has ended"),
    );
    // The intruder's tab was signed out at once, and told why.
    intruder
        .wait_path("the intruder's tab to reach the sign-in page", |p| {
            p.starts_with("/login")
        })
        .await;
    assert_eq!(
        intruder.text("main .info").await,
        EndReason::EndedByOwner.message()
    );
    for field in ["password", "confirm"] {
        b.find(&format!("input[name={field}]"))
            .await
            .send_keys(NEW_PASSWORD)
            .await
            .expect("type the new password");
    }
    b.click_and_load("main form button[type=submit]").await;
    b.wait_path("the sign-in page", |p| p.starts_with("/login"))
        .await;
    assert_eq!(b.sign_in(&app, &kim.email, NEW_PASSWORD).await, "/agent");
    // The link is spent: opened again, it says so in words.
    b.goto(&link).await;
    assert_eq!(b.text("main h1").await, "This link has expired");
}
