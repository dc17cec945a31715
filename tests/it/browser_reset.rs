//! Password reset in headless Chromium, on both databases: "Forgot your password?" on the
//! sign-in page, the message as the server wrote it, its link opened, a new password set and
//! used; the person's other browser, signed in before, is signed out at once and told why.

use deskward::domain::session::EndReason;

use crate::browser::{App, ChromeDriver, PASSWORD, WAIT, eventually};
use crate::db::Backend;
use crate::mail_support::links_in_files;

backend_tests!(forgot_password_to_a_new_password_in_the_browser);

const NEW_PASSWORD: &str = "a brand new passphrase";

/// The reset link of the one message written so far.
async fn link_in_mail(app: &App) -> String {
    eventually("the reset message", WAIT, async || {
        Ok(
            links_in_files(app.mail_dir.path(), &app.base, "/reset", None)
                .into_iter()
                .next(),
        )
    })
    .await
}

async fn forgot_password_to_a_new_password_in_the_browser(backend: Backend) {
    let app = App::spawn_on(backend).await;
    let kim = app.agent("Kim Forgetful", "kim@acme.test").await;
    let driver = ChromeDriver::start().await;
    // Kim is signed in on another computer.
    let other = driver.browser().await;
    assert_eq!(other.sign_in(&app, &kim.email, PASSWORD).await, "/agent");
    app.wait_tab_connected(&kim).await;

    let b = driver.browser().await;
    b.goto(&app.url("/login")).await;
    b.click_and_load("main a[href='/reset']").await;
    assert_eq!(b.path().await, "/reset");
    b.find("input[name=email]")
        .await
        .send_keys("kim@acme.test")
        .await
        .expect("type the e-mail");
    b.click_and_load("main form button[type=submit]").await;
    assert_eq!(b.text("main h1").await, "Check your e-mail");

    let link = link_in_mail(&app).await;
    b.goto(&link).await;
    assert_eq!(b.text("main h1").await, "Set a new password");
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
    assert_eq!(
        b.text("main .info").await,
        EndReason::PasswordReset.message()
    );
    assert_eq!(b.sign_in(&app, &kim.email, NEW_PASSWORD).await, "/agent");

    // The other computer's tab was signed out when the password was set, and told why.
    other
        .wait_path("the other tab to reach the sign-in page", |p| {
            p.starts_with("/login")
        })
        .await;
    assert_eq!(
        other.text("main .info").await,
        EndReason::PasswordReset.message()
    );
    // The link is spent: opened again, it says so in words.
    b.goto(&link).await;
    assert_eq!(b.text("main h1").await, "This link has expired");
    assert!(b.exists("main a[href='/reset']").await);
}
