//! Accessibility of single sign-on's pages (axe-core, WCAG 2.2 A and AA, as
//! `browser_a11y.rs`): the sign-in page with the button, the page that says the provider cannot
//! be reached, a bad callback, the page the button replaces the form on, and the Security
//! section's settings page, as saved and after a failed connection test.

use deskward::store::SsoSettingsRow;

use crate::browser::{App, ChromeDriver, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD};
use crate::browser_a11y::{axe_source, violations};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_pages_pass_axe() {
    let axe = axe_source();
    let app = App::spawn().await;
    app.svc.set_sso_allow_private(true);
    app.agent("Ann Agent", "ann@acme.test").await;
    let (_held, closed) = crate::support::held_closed_port();
    app.store
        .put_sso_settings(&SsoSettingsRow {
            account_id: app.account.id.clone(),
            issuer: format!("http://127.0.0.1:{closed}"),
            client_id: "deskward".to_string(),
            client_secret: String::new(),
            button_label: "Acme Login".to_string(),
            agents: "required".to_string(),
            admins: "allowed".to_string(),
            allowed_domains: vec!["acme.test".to_string()],
            create_agents: true,
            updated_at: 1,
        })
        .await
        .expect("settings");
    let driver = ChromeDriver::start().await;
    let mut found = Vec::new();
    let visitor = driver.browser().await;
    let mut check = async |b: &crate::browser::Browser, state: &str| {
        for v in violations(b, &axe).await {
            found.push(format!("[{state}] {v}"));
        }
    };
    visitor.goto(&app.url("/login")).await;
    assert_eq!(visitor.text("#sso-button").await, "Sign in with Acme Login");
    check(&visitor, "sign-in with the button").await;
    visitor.click_and_load("#sso-button").await;
    assert!(visitor.text("main").await.contains("cannot be reached"));
    check(&visitor, "provider unreachable").await;
    visitor.goto(&app.url("/sso/callback?state=x&code=y")).await;
    check(&visitor, "bad callback").await;
    for (field, value) in [("email", "ann@acme.test"), ("password", PASSWORD)] {
        visitor
            .find(&format!("input[name={field}]"))
            .await
            .send_keys(value)
            .await
            .expect("type");
    }
    visitor
        .click_and_load("main form button[type=submit]")
        .await;
    assert!(
        !visitor.exists("input[name=password]").await,
        "the button instead"
    );
    check(&visitor, "password refused: single sign-on required").await;
    visitor.close().await;

    let admin = driver.browser().await;
    admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    admin.goto(&app.url("/security/sso")).await;
    check(&admin, "single sign-on settings").await;
    admin.click_and_load("#sso-test").await;
    assert!(admin.text("main").await.contains("connection test failed"));
    check(&admin, "connection test failed").await;
    admin.close().await;
    assert!(
        found.is_empty(),
        "axe-core found {} violation(s):\n{}",
        found.len(),
        found.join("\n")
    );
}
