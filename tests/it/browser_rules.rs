//! Browser tests of the guarded app behind nginx with the guide's access rules: an agent at
//! the administrators' part sees the refused page, switches accounts from it and comes back
//! as the administrator; `DeskwardGuard.signOut()` asks "Sign out?" and signs the tab out.

use crate::browser::{ChromeDriver, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD};
use crate::db::Backend;
use crate::proxies::{Kind, Stack, encode};

async fn the_refused_page_switches_accounts_and_guard_signs_out(backend: Backend) {
    let stack = Stack::start(backend, Kind::Nginx).await;
    stack.app.add_agent("Ann Agent", "ann@acme.test").await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;

    // Ann signs in on the way to the administrators' part, and is refused there.
    let wanted = stack.proxy.url("/admin/settings");
    b.goto(&wanted).await;
    b.wait_path("the sign-in page", |p| p.starts_with("/deskward/login?rd="))
        .await;
    b.fill_in_sign_in("ann@acme.test", PASSWORD).await;
    b.wait_path("back at the page asked for", |p| p == "/admin/settings")
        .await;
    assert_eq!(b.status().await, 403, "{}", stack.proxy.log());
    assert_eq!(
        b.text("h1").await,
        "You can’t open this page with this account"
    );
    assert_eq!(
        b.text("#refused-why").await,
        "This page needs an administrator account."
    );
    assert_eq!(
        b.text("#refused-who").await,
        "You are signed in as Ann Agent (ann@acme.test), an agent."
    );
    let axe = crate::browser_a11y::axe_source();
    let found = crate::browser_a11y::violations(&b, &axe).await;
    assert!(found.is_empty(), "axe on the refused page: {found:#?}");

    // Switching accounts: the sign-out page, confirmed, then sign-in with the page as rd.
    b.click("#refused-switch").await;
    b.wait_path("the sign-out page", |p| {
        p == format!("/deskward/logout?rd={}", encode(&wanted))
    })
    .await;
    assert_eq!(b.text("h1").await, "Sign out?");
    let found = crate::browser_a11y::violations(&b, &axe).await;
    assert!(found.is_empty(), "axe on the sign-out page: {found:#?}");
    b.click("#logout-confirm").await;
    b.wait_path("sign-in, to come back to the page", |p| {
        p == format!("/deskward/login?rd={}", encode(&wanted))
    })
    .await;
    b.fill_in_sign_in(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.wait_path("the administrators' part", |p| p == "/admin/settings")
        .await;
    assert_eq!(b.status().await, 200);
    assert_eq!(b.text("#who").await, "Pat Primary");

    // The app's sign-out button: DeskwardGuard.signOut() (guard.js, injected by nginx).
    let inbox = stack.proxy.url("/inbox/7");
    b.goto(&inbox).await;
    b.wait_js(
        "guard.js to load",
        "return typeof window.DeskwardGuard === 'object';",
        vec![],
    )
    .await;
    b.js("window.DeskwardGuard.signOut(); return true;", vec![])
        .await;
    b.wait_path("the sign-out page", |p| {
        p == format!("/deskward/logout?rd={}", encode(&inbox))
    })
    .await;
    b.click("#logout-confirm").await;
    b.wait_path("signed out, sign-in for the page", |p| {
        p == format!("/deskward/login?rd={}", encode(&inbox))
    })
    .await;
    b.close().await;
}

backend_tests!(the_refused_page_switches_accounts_and_guard_signs_out);
