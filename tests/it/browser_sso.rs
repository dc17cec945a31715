//! Browser test of single sign-on in headless Chromium against the real provider: the sign-in
//! page's button, the provider's own sign-in page, back signed in; signing out at the provider
//! (its own page, in another tab of the same browser) sends the Deskward tab to the sign-in
//! page; axe-core on the Security page's single sign-on section and on the failure page.

use std::time::Instant;

use reqwest::StatusCode;

use crate::browser::{App, ChromeDriver, PRIMARY_EMAIL, PRIMARY_PASSWORD, WAIT, eventually};
use crate::browser_a11y::{axe_source, violations};
use crate::db::Backend;
use crate::sso::{ANN_EMAIL, ANN_SUB, BUTTON, save_sso, settings};
use crate::support::oidc::{Provider, Registration, User};
use deskward::store::Member;

backend_tests!(signing_in_and_out_at_the_provider_in_the_browser);

/// Deskward allowed to use a loopback provider, with the agent Ann; the provider knows Ann and
/// `users`; single sign-on configured through the API.
async fn setup(backend: Backend, users: &[User]) -> (App, Provider, Member) {
    let app = App::spawn_on(backend).await;
    crate::support::oidc::allow_private_issuer(&app.svc);
    let ann = app.agent("Ann Agent", ANN_EMAIL).await;
    let mut all = vec![User::verified(ANN_SUB, ANN_EMAIL, "Ann Agent")];
    all.extend_from_slice(users);
    let provider = Provider::start(&Registration::for_deskward(&app.base), &all).await;
    let admin = crate::support::client_for_base(&app.base);
    admin
        .login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let res = save_sso(&admin, settings(&provider)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    (app, provider, ann)
}

/// On the sign-in page, clicks "Sign in with …" and signs in as `login` on the provider's page.
async fn sign_in_with_sso(
    b: &crate::browser::Browser,
    app: &App,
    provider: &Provider,
    login: &str,
) {
    b.goto(&app.url("/login")).await;
    let label = format!("Sign in with {BUTTON}");
    let clicked = b
        .js(
            "const e = [...document.querySelectorAll('a, button')]
                 .find(e => e.textContent.trim() === arguments[0]);
             if (e) { e.click(); return true; } return false;",
            vec![serde_json::json!(label)],
        )
        .await;
    assert_eq!(
        clicked,
        serde_json::json!(true),
        "no {label:?} on the sign-in page"
    );
    let issuer: url::Url = provider.issuer().parse().unwrap();
    eventually("the provider's sign-in page", WAIT, async || {
        let u = b.c.current_url().await?;
        Ok((u.port() == issuer.port() && u.path().starts_with("/interaction/")).then_some(()))
    })
    .await;
    b.find("#login")
        .await
        .send_keys(login)
        .await
        .expect("type the e-mail");
    b.find("#password")
        .await
        .send_keys(User::PASSWORD)
        .await
        .expect("type the password");
    b.click("button[type=submit]").await;
}

async fn signing_in_and_out_at_the_provider_in_the_browser(backend: Backend) {
    let (app, provider, ann) = setup(backend, &[]).await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    sign_in_with_sso(&b, &app, &provider, ANN_EMAIL).await;
    let landed = b
        .wait_path("back at Deskward, signed in", |p| {
            !p.starts_with("/login") && !p.starts_with("/sso/") && !p.starts_with("/interaction/")
        })
        .await;
    assert_eq!(landed, "/agent");
    app.wait_tab_connected(&ann).await;

    // Another tab of the same browser signs out at the provider, on its own page.
    let deskward_tab = b.c.window().await.expect("this tab");
    let provider_tab = b.c.new_window(true).await.expect("open a tab");
    b.c.switch_to_window(provider_tab.handle)
        .await
        .expect("switch to the new tab");
    b.goto(&format!("{}/session/end", provider.issuer())).await;
    let clicked = Instant::now();
    b.click("button[value=yes]").await;
    b.c.switch_to_window(deskward_tab)
        .await
        .expect("back to Deskward's tab");
    eventually(
        "Deskward's tab to reach the sign-in page",
        WAIT,
        async || {
            let u = b.c.current_url().await?;
            Ok((u.path() == "/login").then_some(()))
        },
    )
    .await;
    // A figure for BENCHMARKS.md, not an assertion.
    eprintln!(
        "the tab was on the sign-in page {:?} after the provider's sign-out",
        clicked.elapsed()
    );
    let log = provider.backchannel_log().await;
    assert!(
        log.iter().all(|e| e["ok"] == true) && !log.is_empty(),
        "{log:?}"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sso_section_and_the_failure_page_pass_axe() {
    let axe = axe_source();
    let (app, provider, _) = setup(
        Backend::Sqlite,
        &[User::unverified(
            "una-sub",
            "una@acme.test",
            "Una Unverified",
        )],
    )
    .await;
    app.agent("Una Unverified", "una@acme.test").await;
    let driver = ChromeDriver::start().await;
    let mut found = Vec::new();

    // The Security page, with single sign-on configured.
    let admin = driver.browser().await;
    admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    admin.goto(&app.url("/security/sso")).await;
    // The URIs to copy (in read-only fields or as text).
    let page = admin
        .js("return document.querySelector('main').innerHTML;", vec![])
        .await;
    let page = page.as_str().unwrap_or_default();
    assert!(page.contains(&app.url("/sso/callback")), "{page}");
    assert!(page.contains(&app.url("/sso/backchannel-logout")), "{page}");
    for v in violations(&admin, &axe).await {
        found.push(format!("[security] {v}"));
    }

    // The page that says why nobody was signed in.
    let b = driver.browser().await;
    sign_in_with_sso(&b, &app, &provider, "una@acme.test").await;
    b.wait_path("the failure page", |p| p.starts_with("/sso/"))
        .await;
    let text = b.text("main").await;
    assert!(text.to_lowercase().contains("verified"), "{text}");
    for v in violations(&b, &axe).await {
        found.push(format!("[sso failure] {v}"));
    }
    assert!(found.is_empty(), "axe found:\n{}", found.join("\n"));
}
