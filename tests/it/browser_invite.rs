//! Invitations in headless Chromium, on both databases: the primary administrator adds an
//! agent with the Add page's default (an invitation), the card says "Invited, not signed in
//! yet" with a Resend button that sends a new link (the old one then says in words that it no
//! longer works); the agent opens the link, chooses a password and is signed in. Where the
//! account requires a second factor, the link leads through the authenticator app's set-up
//! before anything else. The real clock runs here, so codes come from the real time.

use deskward::domain::totp;
use deskward::service::settings::SecurityChange;

use crate::browser::{
    App, Browser, ChromeDriver, PRIMARY_EMAIL, PRIMARY_PASSWORD, WAIT, eventually,
};
use crate::db::Backend;
use crate::mail_support::links_in_files;

backend_tests!(
    an_invitation_from_the_add_page_to_a_signed_in_agent,
    an_invitation_leads_through_required_two_factor,
);

const CHOSEN: &str = "my own chosen passphrase";

/// The invitation links of the messages written so far, oldest first.
async fn links_in_mail(app: &App, at_least: usize) -> Vec<String> {
    eventually("the invitation messages", WAIT, async || {
        let links = links_in_files(app.mail_dir.path(), &app.base, "/invite", None);
        Ok((links.len() >= at_least).then_some(links))
    })
    .await
}

async fn type_into(b: &Browser, css: &str, text: &str) {
    b.find(css)
        .await
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

/// Chooses the password on the invitation page shown.
async fn choose_password(b: &Browser) {
    assert_eq!(b.text("main h1").await, "Accept your invitation");
    type_into(b, "input[name=password]", CHOSEN).await;
    type_into(b, "input[name=confirm]", CHOSEN).await;
    b.click_and_load("main form button[type=submit]").await;
}

/// Adds an agent from the Add page as it comes (an invitation).
async fn invite_from_the_add_page(b: &Browser, app: &App, name: &str, email: &str) {
    b.goto(&app.url("/team/agents/new")).await;
    assert!(
        b.js(
            "return document.getElementById('how-invite').checked",
            vec![]
        )
        .await
        .as_bool()
        .unwrap(),
        "an invitation is the default"
    );
    type_into(b, "input[name=name]", name).await;
    type_into(b, "input[name=email]", email).await;
    b.click_and_load("main form button[type=submit]").await;
    b.wait_path("the agents list", |p| p.starts_with("/team/agents"))
        .await;
}

async fn an_invitation_from_the_add_page_to_a_signed_in_agent(backend: Backend) {
    let app = App::spawn_on(backend).await;
    let driver = ChromeDriver::start().await;
    let admin = driver.browser().await;
    admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    invite_from_the_add_page(&admin, &app, "Nia Newcomer", "nia@acme.test").await;
    assert!(
        admin
            .text("p.notice")
            .await
            .starts_with("Invited. They get an e-mail"),
        "the notice"
    );
    let nia = app
        .store
        .credentials_by_email(&app.account.id, "nia@acme.test")
        .await
        .expect("read")
        .remove(0)
        .member;
    let card = format!("#member-{}", nia.id);
    assert_eq!(
        admin.text(&format!("{card} .invited-note")).await,
        "Invited, not signed in yet"
    );
    assert!(
        admin.exists(&format!("{card} .sess.none")).await,
        "the red icon"
    );
    let first = links_in_mail(&app, 1).await.remove(0);

    // Resend: a new link, the first one spent.
    admin.click_and_load(&format!("{card} button.resend")).await;
    admin
        .wait_path("back on the list", |p| p.starts_with("/team/agents"))
        .await;
    assert_eq!(
        admin.text("p.notice").await,
        "A new invitation is on its way. Earlier links no longer work."
    );
    assert!(!admin.dialog_open().await, "no bulk dialog for Resend");
    let links = links_in_mail(&app, 2).await;
    let second = links.into_iter().find(|l| *l != first).expect("a new link");

    let b = driver.browser().await;
    b.goto(&first).await;
    assert_eq!(
        b.text("main h1").await,
        "This invitation link no longer works"
    );
    b.goto(&second).await;
    choose_password(&b).await;
    b.wait_path("the agent's page", |p| p == "/agent").await;
    // The card follows: no longer invited.
    eventually("the card to lose its invitation", WAIT, async || {
        admin.goto(&app.url("/team/agents")).await;
        Ok((!admin.exists(&format!("{card} .invited-note")).await).then_some(()))
    })
    .await;
    b.goto(&second).await;
    assert_eq!(
        b.text("main h1").await,
        "This invitation link no longer works"
    );
    b.close().await;
    admin.close().await;
}

async fn an_invitation_leads_through_required_two_factor(backend: Backend) {
    let app = App::spawn_on(backend).await;
    app.svc
        .change_security_settings(
            &app.primary_actor(),
            SecurityChange {
                mfa_required_agents: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("require a second factor of agents");
    let driver = ChromeDriver::start().await;
    let admin = driver.browser().await;
    admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    invite_from_the_add_page(&admin, &app, "Oz Guarded", "oz@acme.test").await;
    admin.close().await;
    let link = links_in_mail(&app, 1).await.remove(0);

    let b = driver.browser().await;
    b.goto(&link).await;
    choose_password(&b).await;
    b.wait_path("the set-up page", |p| p == "/me/security")
        .await;
    assert!(b.exists("#enrollment-required").await);
    // Nothing else until the second factor is set up.
    b.goto(&app.url("/agent")).await;
    b.wait_path("back to the set-up page", |p| p == "/me/security")
        .await;
    type_into(&b, "#totp input[name=password]", CHOSEN).await;
    b.click("#totp button[type=submit]").await;
    b.find("#totp-qr svg").await;
    let secret = totp::base32_decode(&b.text("#totp-secret").await).expect("a base32 secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time after 1970")
        .as_millis() as i64;
    type_into(
        &b,
        "#totp input[name=code]",
        &totp::code_for_step(&secret, totp::step_at(now)),
    )
    .await;
    b.click("#totp button[type=submit]").await;
    b.find("#recovery-codes").await;
    assert!(!b.exists("#enrollment-required").await);
    b.goto(&app.url("/agent")).await;
    b.wait_path("the agent's page, open now", |p| p == "/agent")
        .await;
    b.close().await;
}
