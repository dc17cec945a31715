//! Two-factor sign-in through the API, on both databases: setting up an authenticator app with
//! codes computed here from its secret and the injected clock, the two-step sign-in, replayed
//! and skewed codes, recovery codes, the second step's throttling under concurrency, the
//! policy's enrollment-only sessions on every route, and administrators resetting a factor.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use deskward::domain::totp;

use crate::db::Backend;
use crate::support::{Client, PASSWORD, SECOND, TestApp};

/// The code the person's app shows now, `steps` steps away.
pub(crate) fn code(app: &TestApp, secret: &[u8], steps: i64) -> String {
    totp::code_for_step(secret, totp::step_at(app.svc.now()) + steps)
}

/// Sets up an app for the signed-in client; returns its secret and the recovery codes. The
/// current step's code is used by the confirmation.
pub(crate) async fn enroll(app: &TestApp, c: &Client, password: &str) -> (Vec<u8>, Vec<String>) {
    let setup = c
        .post_json("/api/v1/me/mfa/totp", &json!({"password": password}))
        .await
        .expect_status(StatusCode::OK)
        .json();
    let secret = totp::base32_decode(setup["secret"].as_str().unwrap()).unwrap();
    let codes = c
        .post_json(
            "/api/v1/me/mfa/totp/confirm",
            &json!({"code": code(app, &secret, 0)}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    let codes = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    (secret, codes)
}

/// The password step for a person with a second factor: the challenge, no cookie.
pub(crate) async fn password_step(c: &Client, email: &str, password: &str) -> String {
    let res = c.login(email, password).await.expect_status(StatusCode::OK);
    assert!(
        res.session_token().is_none(),
        "no session before the second step"
    );
    let body = res.json();
    assert_eq!(body["mfa_required"], json!(true), "{body}");
    body["challenge"].as_str().unwrap().to_string()
}

pub(crate) async fn second_step(
    c: &Client,
    challenge: &str,
    code: &str,
) -> crate::support::Response {
    c.post_json(
        "/api/v1/auth/login/mfa",
        &json!({"challenge": challenge, "code": code}),
    )
    .await
}

fn methods(v: &Value) -> Vec<String> {
    v["auth_methods"]
        .as_array()
        .unwrap_or_else(|| panic!("no auth_methods: {v}"))
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect()
}

async fn an_authenticator_app_guards_the_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    let me = ann.me().await.expect_status(StatusCode::OK).json();
    assert_eq!(
        me["mfa"],
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    assert_eq!(methods(&me["session"]), ["password"]);

    // The current password is needed, and a wrong one is a 422 naming it.
    let wrong = ann
        .post_json("/api/v1/me/mfa/totp", &json!({"password": "not it at all"}))
        .await;
    assert!(
        wrong
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")
            .contains("password")
    );
    ann.post_json("/api/v1/me/mfa/totp", &json!({}))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");

    let setup = ann
        .post_json("/api/v1/me/mfa/totp", &json!({"password": PASSWORD}))
        .await
        .expect_status(StatusCode::OK)
        .json();
    let b32 = setup["secret"].as_str().unwrap();
    let url = setup["otpauth_url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    assert!(url.contains(&format!("secret={b32}")), "{url}");
    let secret = totp::base32_decode(b32).unwrap();
    assert_eq!(secret.len(), 20);
    // Pending until confirmed: sign-in still takes the password alone.
    assert_eq!(ann.me().await.json()["mfa"]["totp"], json!(false));
    let other = app.client();
    other
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    assert!(other.session_token().is_some());

    // A wrong code, or one two steps away, does not confirm.
    let bad = ann
        .post_json(
            "/api/v1/me/mfa/totp/confirm",
            &json!({"code": code(&app, &secret, 2)}),
        )
        .await;
    assert!(
        bad.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input")
            .contains("code")
    );
    let codes = ann
        .post_json(
            "/api/v1/me/mfa/totp/confirm",
            &json!({"code": code(&app, &secret, 0)}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    let codes = codes["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let me = ann.me().await.json();
    assert_eq!(
        me["mfa"],
        json!({"totp": true, "passkeys": 0, "recovery_codes_left": 10})
    );
    // A second setup is refused while one is confirmed.
    ann.post_json("/api/v1/me/mfa/totp", &json!({"password": PASSWORD}))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");

    // Now the password alone opens nothing.
    let browser = app.client();
    let res = browser
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let body = res.json();
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    assert!(body.get("user").is_none() && body.get("csrf_token").is_none());
    assert!(res.session_token().is_none());
    let challenge = body["challenge"].as_str().unwrap().to_string();
    browser
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // The confirmation used this step's code: it is not accepted again (replay).
    second_step(&browser, &challenge, &code(&app, &secret, 0))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // Nor is an earlier step's, nor one two steps ahead; the challenge stays usable.
    second_step(&browser, &challenge, &code(&app, &secret, -1))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    second_step(&browser, &challenge, &code(&app, &secret, 2))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // The next step's code is within the allowed drift.
    let ok = second_step(&browser, &challenge, &code(&app, &secret, 1))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(methods(&ok["session"]), ["password", "totp"]);
    assert!(ok["csrf_token"].is_string());
    let me = browser.me().await.expect_status(StatusCode::OK).json();
    assert_eq!(methods(&me["session"]), ["password", "totp"]);
    // A challenge signs in once.
    second_step(&browser, &challenge, &code(&app, &secret, 1))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");

    // Half a minute later the same code (that step is used) fails, the new step's works.
    app.advance(30 * SECOND);
    let c2 = app.client();
    let ch = password_step(&c2, "ann@acme.test", PASSWORD).await;
    second_step(&c2, &ch, &code(&app, &secret, 0))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.advance(30 * SECOND);
    second_step(&c2, &ch, &code(&app, &secret, 0))
        .await
        .expect_status(StatusCode::OK);

    // A challenge expires after five minutes.
    let c3 = app.client();
    let ch = password_step(&c3, "ann@acme.test", PASSWORD).await;
    app.advance(5 * 60 * SECOND + SECOND);
    second_step(&c3, &ch, &code(&app, &secret, 0))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");

    // The team sees how each session was opened.
    let admin = app.primary_client().await;
    let list = admin
        .get("/api/v1/agents")
        .await
        .expect_status(StatusCode::OK)
        .json();
    let sessions = list["items"][0]["sessions"].as_array().unwrap();
    assert!(sessions.iter().any(|s| methods(s) == ["password", "totp"]));
    assert!(sessions.iter().any(|s| methods(s) == ["password"]));

    // The audit log has the setup and the failed second steps.
    let audit = admin.get("/api/v1/audit?kind=mfa.added").await.json();
    assert_eq!(audit["total"], json!(1));
    let failed = admin
        .get("/api/v1/audit?kind=signin.mfa_failed")
        .await
        .json();
    assert!(failed["total"].as_i64().unwrap() >= 4, "{failed}");

    // Removing it needs the password; then the password alone signs in again.
    ann.send(
        ann.request(reqwest::Method::DELETE, "/api/v1/me/mfa/totp")
            .json(&json!({"password": "wrong one"})),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    ann.send(
        ann.request(reqwest::Method::DELETE, "/api/v1/me/mfa/totp")
            .json(&json!({"password": PASSWORD})),
    )
    .await
    .expect_status(StatusCode::NO_CONTENT);
    assert_eq!(ann.me().await.json()["mfa"]["totp"], json!(false));
    let plain = app.signed_in("ann@acme.test", PASSWORD).await;
    assert_eq!(methods(&plain.me().await.json()["session"]), ["password"]);
    let removed = admin.get("/api/v1/audit?kind=mfa.removed").await.json();
    assert_eq!(removed["total"], json!(1));
}

async fn recovery_codes_work_once_and_say_how_many_are_left(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    let (_secret, codes) = enroll(&app, &ann, PASSWORD).await;
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), 10);

    let c = app.client();
    let ch = password_step(&c, "ann@acme.test", PASSWORD).await;
    // Typed in capitals and without the dash, as people do.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let ok = second_step(&c, &ch, &typed)
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(ok["recovery_codes_left"], json!(9));
    assert_eq!(methods(&ok["session"]), ["password", "recovery_code"]);
    assert_eq!(c.me().await.json()["mfa"]["recovery_codes_left"], json!(9));

    // Used once, never again.
    let again = app.client();
    let ch = password_step(&again, "ann@acme.test", PASSWORD).await;
    second_step(&again, &ch, &codes[3])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    second_step(&again, &ch, "ffffff-ffffff")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    second_step(&again, &ch, &"x".repeat(65))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    let ok = second_step(&again, &ch, &codes[0])
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(ok["recovery_codes_left"], json!(8));

    // Another person's codes open nothing here.
    app.add_agent("Bob", "bob@acme.test").await;
    let bob = app.signed_in("bob@acme.test", PASSWORD).await;
    let (_s, bobs) = enroll(&app, &bob, PASSWORD).await;
    let c = app.client();
    let ch = password_step(&c, "ann@acme.test", PASSWORD).await;
    second_step(&c, &ch, &bobs[0])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");

    let admin = app.primary_client().await;
    let used = admin
        .get("/api/v1/audit?kind=mfa.recovery_code_used")
        .await
        .json();
    assert_eq!(used["total"], json!(2));
}

/// Wrong codes are counted before they are checked, per person and per address, like wrong
/// passwords: many at once get no more checks than the limit lets through, and knowing the
/// password does not reset the count.
async fn wrong_codes_at_once_get_only_the_limit_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    let (secret, _codes) = enroll(&app, &ann, PASSWORD).await;
    let attacker = app.client();
    let ch = password_step(&attacker, "ann@acme.test", PASSWORD).await;
    let right = code(&app, &secret, 1);
    let wrong = if right == "000000" {
        "000001"
    } else {
        "000000"
    };
    let answers = join_all((0..30).map(|_| second_step(&attacker, &ch, wrong))).await;
    let refused = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    let limited = answers
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(refused + limited, 30, "only 401 and 429 answers");
    assert_eq!(refused, 5, "codes checked");
    // Even the right code waits now, and a new password step does not reset the count.
    second_step(&attacker, &ch, &right)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    app.client()
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // The wait over, the challenge given first still works with the right code.
    app.advance(60 * SECOND);
    second_step(&attacker, &ch, &right)
        .await
        .expect_status(StatusCode::OK);
    // Success forgives the person's failures: the next sign-in is not held back.
    app.advance(30 * SECOND);
    let next = app.client();
    let ch = password_step(&next, "ann@acme.test", PASSWORD).await;
    second_step(&next, &ch, &code(&app, &secret, 0))
        .await
        .expect_status(StatusCode::OK);
}

backend_tests!(
    an_authenticator_app_guards_the_sign_in,
    recovery_codes_work_once_and_say_how_many_are_left,
    wrong_codes_at_once_get_only_the_limit_checked,
);
