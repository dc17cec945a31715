//! Two-factor sign-in in headless Chromium: setting up an authenticator app with its QR code
//! (the README's screenshot), the two-step sign-in, a recovery code, and enrollment forced by
//! the account's policy. The real clock runs here, so codes come from the real time.

use deskward::domain::signin::{AuthMethod, AuthMethods};
use deskward::domain::totp;
use deskward::service::settings::SecurityChange;

use crate::browser::{
    App, Browser, ChromeDriver, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, WAIT, eventually,
    save_screenshot,
};
use crate::db::Backend;

// The flows that matter most run on PostgreSQL too (issue 32): the same body, both databases.
backend_tests!(two_factor_sign_in_in_the_browser);

/// The code an app with `secret` shows `steps` steps from now.
fn code(secret: &[u8], steps: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time after 1970")
        .as_millis() as i64;
    totp::code_for_step(secret, totp::step_at(now) + steps)
}

async fn type_into(b: &Browser, css: &str, text: &str) {
    b.find(css)
        .await
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

async fn sign_out(b: &Browser) {
    b.click(".who form button[type=submit]").await;
    b.wait_path("sign-out", |p| p.starts_with("/login")).await;
}

/// Sets up an app on the Sign-in methods page; returns its secret and the recovery codes.
async fn set_up_app(b: &Browser, app: &App, screenshot: Option<&str>) -> (Vec<u8>, Vec<String>) {
    b.goto(&app.url("/me/security")).await;
    type_into(b, "#totp input[name=password]", PASSWORD).await;
    b.click("#totp button[type=submit]").await;
    b.find("#totp-qr svg").await;
    // The QR code is drawn, visible and large enough to scan.
    let size = b
        .js(
            "const r = document.querySelector('#totp-qr svg').getBoundingClientRect();
             return [r.width, r.height];",
            vec![],
        )
        .await;
    assert!(size[0].as_f64().unwrap() >= 150.0, "QR code size {size}");
    let secret = totp::base32_decode(&b.text("#totp-secret").await).expect("a base32 secret");
    assert_eq!(secret.len(), 20);
    if let Some(name) = screenshot {
        save_screenshot(name, &b.c.screenshot().await.expect("screenshot"));
    }
    type_into(b, "#totp input[name=code]", &code(&secret, 0)).await;
    b.click("#totp button[type=submit]").await;
    b.find("#recovery-codes").await;
    let codes = b.texts("#recovery-codes li code").await;
    assert_eq!(codes.len(), 10);
    assert!(b.text("#totp-on").await.contains("10 recovery codes left"));
    (secret, codes)
}

/// The second step of the sign-in form.
async fn second_step(b: &Browser, code: &str) {
    b.find("#second-step").await;
    type_into(b, "#second-step input[name=code]", code).await;
    b.click("#second-step button[type=submit]").await;
}

async fn two_factor_sign_in_in_the_browser(backend: Backend) {
    let app = App::spawn_on(backend).await;
    let ann = app.agent("Ann Archer", "ann@acme.test").await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;

    // Setup with the QR code visible.
    b.sign_in(&app, "ann@acme.test", PASSWORD).await;
    // The README's screenshot once, from the SQLite run.
    let screenshot = (backend == Backend::Sqlite).then_some("mfa-setup.png");
    let (secret, codes) = set_up_app(&b, &app, screenshot).await;
    // The codes can be kept: a text file to download, and a copy button.
    let file = b
        .js(
            "return decodeURIComponent(document.getElementById('recovery-download')
               .getAttribute('href').replace(/^data:text\\/plain;charset=utf-8,/, ''));",
            vec![],
        )
        .await;
    let file = file.as_str().expect("the file's text");
    assert!(
        file.starts_with("Deskward recovery codes for ann@acme.test\n"),
        "{file}"
    );
    assert!(
        file.ends_with(&format!("\n\n{}\n", codes.join("\n"))),
        "{file}"
    );
    b.js(
        "window.copied = null;
         navigator.clipboard.writeText = (t) => { window.copied = t; return Promise.resolve(); };",
        vec![],
    )
    .await;
    b.click("#recovery-copy").await;
    eventually("the copy to be confirmed", WAIT, async || {
        Ok((b.text("#recovery-copied").await == "Copied.").then_some(()))
    })
    .await;
    assert_eq!(
        b.js("return window.copied;", vec![]).await,
        serde_json::json!(format!("{}\n", codes.join("\n")))
    );
    sign_out(&b).await;

    // Two steps: a wrong code keeps the form, the next step's code signs in.
    b.goto(&app.url("/login")).await;
    type_into(&b, "input[name=email]", "ann@acme.test").await;
    type_into(&b, "input[name=password]", PASSWORD).await;
    b.click("main form button[type=submit]").await;
    let wrong = if code(&secret, 1) == "000000" {
        "000001"
    } else {
        "000000"
    };
    second_step(&b, wrong).await;
    eventually("the refusal", WAIT, async || {
        Ok(b.text("main")
            .await
            .contains("That code is not right")
            .then_some(()))
    })
    .await;
    assert!(b.exists("#second-step").await, "the challenge stays usable");
    second_step(&b, &code(&secret, 1)).await;
    b.wait_path("Ann's home", |p| p == "/agent").await;
    let live = app.sessions(&ann).await;
    assert!(
        live.iter()
            .any(|s| s.auth_methods == AuthMethods::password().with(AuthMethod::Totp))
    );
    sign_out(&b).await;

    // A recovery code signs in once and says how many are left.
    b.goto(&app.url("/login")).await;
    type_into(&b, "input[name=email]", "ann@acme.test").await;
    type_into(&b, "input[name=password]", PASSWORD).await;
    b.click("main form button[type=submit]").await;
    second_step(&b, &codes[0]).await;
    b.wait_path("the count of codes left", |p| p.starts_with("/me/security"))
        .await;
    assert!(b.text("main").await.contains("You have 9 left"));
    assert!(b.text("#totp-on").await.contains("9 recovery codes left"));
    sign_out(&b).await;

    // Enrollment forced by the policy: straight to the setup page, and nowhere else.
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
    app.agent("Bo Baker", "bo@acme.test").await;
    b.sign_in(&app, "bo@acme.test", PASSWORD).await;
    b.wait_path("the setup page", |p| p == "/me/security").await;
    assert!(b.exists("#enrollment-required").await);
    b.goto(&app.url("/me/sessions")).await;
    b.wait_path("back to the setup page", |p| p == "/me/security")
        .await;
    set_up_app(&b, &app, None).await;
    assert!(!b.exists("#enrollment-required").await);
    b.goto(&app.url("/me/sessions")).await;
    b.wait_path("My sessions, open now", |p| p == "/me/sessions")
        .await;

    sign_out(&b).await;
    b.close().await;
}

/// "Reset two-factor sign-in" on a profile asks first in a dialog, as disabling does; Cancel
/// leaves the factor in place, the dialog's button resets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resetting_someone_elses_second_factor_asks_first() {
    let app = App::spawn().await;
    let ann = app.agent("Ann Archer", "ann@acme.test").await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, "ann@acme.test", PASSWORD).await;
    set_up_app(&b, &app, None).await;
    sign_out(&b).await;

    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url(&format!("/team/agents/{}", ann.id))).await;
    b.click("#reset-mfa").await;
    assert!(b.dialog_open().await, "the reset asks first");
    assert_eq!(b.text("#confirm-title").await, "Reset two-factor sign-in?");
    assert!(b.text("#confirm-text").await.contains("Ann Archer"));
    b.click("#confirm-cancel").await;
    assert!(
        b.text("#two-factor").await.contains("On."),
        "cancelled: nothing is reset"
    );
    b.click("#reset-mfa").await;
    assert!(b.dialog_open().await);
    b.click("#confirm-ok").await;
    b.wait_path("the profile after the reset", |p| {
        p.contains("done=mfa_reset")
    })
    .await;
    assert!(b.text("#two-factor").await.contains("Off."));
}
