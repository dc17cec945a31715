//! Passkeys in headless Chromium with its virtual authenticator (WebDriver's WebAuthn
//! commands): register one on the Sign-in methods page, sign in with it as the second step,
//! remove it, and a removed key signs nobody in. The site is opened as `localhost`: WebAuthn
//! takes no IP address as relying party.

use axum::http::Method;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};

use crate::browser::{App, Browser, ChromeDriver, PASSWORD, WAIT, eventually};

/// A raw WebDriver command of the WebAuthn extension.
#[derive(Debug)]
struct WebAuthnCmd {
    method: Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for WebAuthnCmd {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}

/// Adds a virtual platform authenticator that verifies its user; returns its id.
async fn add_authenticator(b: &Browser) -> String {
    let v =
        b.c.issue_cmd(WebAuthnCmd {
            method: Method::POST,
            path: "authenticator".to_string(),
            body: Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserConsenting": true,
                "isUserVerified": true,
            })),
        })
        .await
        .expect("add a virtual authenticator");
    v.as_str()
        .map(str::to_string)
        .or_else(|| v["authenticatorId"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("authenticator id in {v}"))
}

async fn credentials(b: &Browser, authenticator: &str) -> Vec<Value> {
    let v =
        b.c.issue_cmd(WebAuthnCmd {
            method: Method::GET,
            path: format!("authenticator/{authenticator}/credentials"),
            body: None,
        })
        .await
        .expect("list the authenticator's credentials");
    v.as_array().cloned().unwrap_or_default()
}

async fn type_into(b: &Browser, css: &str, text: &str) {
    b.find(css)
        .await
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

async fn password_step(b: &Browser, base: &str, email: &str) {
    b.goto(&format!("{base}/login")).await;
    type_into(b, "input[name=email]", email).await;
    type_into(b, "input[name=password]", PASSWORD).await;
    b.click("main form button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_register_sign_in_and_are_removed() {
    let app = App::spawn().await;
    let ann = app.agent("Ann Archer", "ann@acme.test").await;
    let base = app.base.replace("127.0.0.1", "localhost");
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.goto(&format!("{base}/login")).await;
    let authenticator = add_authenticator(&b).await;

    // Register one, named.
    type_into(&b, "input[name=email]", "ann@acme.test").await;
    type_into(&b, "input[name=password]", PASSWORD).await;
    b.click("main form button[type=submit]").await;
    b.wait_path("Ann's home", |p| p == "/agent").await;
    b.goto(&format!("{base}/me/security")).await;
    type_into(&b, "#add-passkey input[name=name]", "Work laptop").await;
    type_into(&b, "#add-passkey input[name=password]", PASSWORD).await;
    b.click("#add-passkey button[type=submit]").await;
    eventually("the new passkey in the list", WAIT, async || {
        let names = b.texts(".passkey-name").await;
        if b.exists("#passkey-message:not([hidden])").await {
            panic!("registration failed: {}", b.text("#passkey-message").await);
        }
        Ok((names == ["Work laptop"]).then_some(()))
    })
    .await;
    assert_eq!(credentials(&b, &authenticator).await.len(), 1);
    let stored = app.store.passkeys(&ann.id).await.expect("passkeys");
    assert_eq!(stored.len(), 1);

    // Sign in with it as the second step.
    b.click(".who form button[type=submit]").await;
    b.wait_path("signed out", |p| p.starts_with("/login")).await;
    password_step(&b, &base, "ann@acme.test").await;
    b.find("#second-step").await;
    b.click("#use-passkey").await;
    b.wait_path("Ann's home after the passkey", |p| p == "/agent")
        .await;
    let live = app.sessions(&ann).await;
    assert!(
        live.iter().any(|s| s.auth_methods == "password,webauthn"),
        "{live:?}"
    );

    // A key removed meanwhile signs nobody in.
    b.click(".who form button[type=submit]").await;
    b.wait_path("signed out", |p| p.starts_with("/login")).await;
    password_step(&b, &base, "ann@acme.test").await;
    b.find("#use-passkey").await;
    assert!(
        app.store
            .remove_passkey(&ann.id, &stored[0].id)
            .await
            .expect("remove")
    );
    b.click("#use-passkey").await;
    eventually("the refusal", WAIT, async || {
        Ok(b.exists("#passkey-message:not([hidden])")
            .await
            .then_some(()))
    })
    .await;
    assert!(b.path().await.starts_with("/login"));

    // With no second factor left the password alone signs in; a passkey added again is
    // removed on the page, with the password.
    b.goto(&format!("{base}/login")).await;
    b.find("input[name=email]")
        .await
        .clear()
        .await
        .expect("clear");
    type_into(&b, "input[name=email]", "ann@acme.test").await;
    type_into(&b, "input[name=password]", PASSWORD).await;
    b.click("main form button[type=submit]").await;
    b.wait_path("Ann's home", |p| p == "/agent").await;
    b.goto(&format!("{base}/me/security")).await;
    type_into(&b, "#add-passkey input[name=name]", "Phone").await;
    type_into(&b, "#add-passkey input[name=password]", PASSWORD).await;
    b.click("#add-passkey button[type=submit]").await;
    eventually("the passkey added again", WAIT, async || {
        Ok((b.texts(".passkey-name").await == ["Phone"]).then_some(()))
    })
    .await;
    type_into(&b, ".passkey input[name=password]", PASSWORD).await;
    b.click(".passkey button[type=submit]").await;
    eventually("the passkey removed", WAIT, async || {
        Ok(b.text("main")
            .await
            .contains("The passkey was removed.")
            .then_some(()))
    })
    .await;
    assert!(b.texts(".passkey-name").await.is_empty());
    assert!(
        app.store
            .passkeys(&ann.id)
            .await
            .expect("passkeys")
            .is_empty()
    );
    b.close().await;
}
