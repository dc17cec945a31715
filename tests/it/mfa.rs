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

/// Every route a session limited to enrolling might try, by method and path, with whether it
/// stays open to it.
const ROUTES: &[(&str, &str, bool)] = &[
    ("GET", "/api/v1/me", true),
    ("GET", "/api/v1/me/mfa", true),
    ("GET", "/api/v1/me/sessions", false),
    ("PUT", "/api/v1/me/status", false),
    ("PUT", "/api/v1/me/password", false),
    ("GET", "/api/v1/agents", false),
    ("POST", "/api/v1/agents", false),
    ("GET", "/api/v1/admins", false),
    ("GET", "/api/v1/agents/ag_x", false),
    ("PATCH", "/api/v1/agents/ag_x", false),
    ("DELETE", "/api/v1/agents/ag_x/sessions", false),
    ("DELETE", "/api/v1/agents/ag_x/mfa", false),
    ("POST", "/api/v1/agents/sessions/end", false),
    ("DELETE", "/api/v1/sessions/se_x", false),
    ("GET", "/api/v1/settings/security", false),
    ("PUT", "/api/v1/settings/security", false),
    ("GET", "/api/v1/audit", false),
    ("GET", "/api/v1/events", false),
];

async fn call(c: &Client, method: &str, path: &str) -> crate::support::Response {
    let m: reqwest::Method = method.parse().unwrap();
    let mut rb = c.request(m.clone(), path);
    if m != reqwest::Method::GET {
        rb = rb.json(&json!({}));
    }
    c.send(rb).await
}

/// The policy's enrollment-only sessions, for every role on every route: after the password
/// the person may see who they are, set up a second factor and sign out, nothing else, in the
/// API and on the pages, and the guarded app behind the proxy is closed to them too.
async fn a_required_second_factor_limits_the_session_to_enrolling(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    app.add_admin(
        "Sue",
        "sue@acme.test",
        &["team.agents", "team.admins", "security", "audit"],
    )
    .await;
    app.add_agent("Bob", "bob@acme.test").await;
    let bob = app.signed_in("bob@acme.test", PASSWORD).await;
    let (bob_secret, _) = enroll(&app, &bob, PASSWORD).await;

    let primary = app.primary_client().await;
    let sue = app.signed_in("sue@acme.test", PASSWORD).await;
    let got = sue.get("/api/v1/settings/security").await.json();
    assert_eq!(
        got["mfa_required"],
        json!({"agents": false, "admins": false})
    );
    // A sub-administrator with `security` may require it of agents, not of administrators.
    sue.put_json(
        "/api/v1/settings/security",
        &json!({"mfa_required": {"admins": true}}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    sue.put_json(
        "/api/v1/settings/security",
        &json!({"mfa_required": {"agents": true, "admins": false}}),
    )
    .await
    .expect_status(StatusCode::OK);
    sue.put_json(
        "/api/v1/settings/security",
        &json!({"mfa_required": {"agents": "yes"}}),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    let set = primary
        .put_json(
            "/api/v1/settings/security",
            &json!({"mfa_required": {"admins": true}}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(set["mfa_required"], json!({"agents": true, "admins": true}));
    // Sessions already open are untouched.
    sue.get("/api/v1/agents")
        .await
        .expect_status(StatusCode::OK);

    for (email, password) in [
        ("ann@acme.test", PASSWORD),
        ("sue@acme.test", PASSWORD),
        (
            crate::support::PRIMARY_EMAIL,
            crate::support::PRIMARY_PASSWORD,
        ),
    ] {
        let c = app.client();
        let res = c.login(email, password).await.expect_status(StatusCode::OK);
        assert!(
            res.session_token().is_some(),
            "{email} signs in with the password"
        );
        for (method, path, open) in ROUTES {
            let r = call(&c, method, path).await;
            let limited = r.status == StatusCode::FORBIDDEN
                && r.json()["error"]["code"] == json!("mfa_enrollment_required");
            assert_eq!(
                limited, !open,
                "{email} {method} {path}: {} {}",
                r.status, r.text
            );
        }
        // Pages lead to the setup page, which opens.
        let page = c.get("/me/sessions").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{email}");
        assert!(page.header("location").unwrap().ends_with("/me/security"));
        let page = c.get("/me/security").await.expect_status(StatusCode::OK);
        assert!(page.text.contains("requires two-factor sign-in"));
        // Nor does the session open anything behind the proxy.
        assert_eq!(
            c.get("/api/v1/verify/auth-request").await.status,
            StatusCode::FORBIDDEN
        );
        // Setting one up lifts the limit at once, in this session.
        enroll(&app, &c, password).await;
        // (The event stream would now stay open: it is left out.)
        for (method, path, _) in ROUTES.iter().filter(|r| r.1 != "/api/v1/events") {
            let r = call(&c, method, path).await;
            assert!(
                !r.text.contains("mfa_enrollment_required"),
                "{email} {method} {path} after enrolling: {}",
                r.text
            );
        }
        c.get("/me/sessions").await.expect_status(StatusCode::OK);
        c.logout().await.expect_status(StatusCode::NO_CONTENT);
    }

    // Someone who has a second factor gets the second step, then a full session.
    let c = app.client();
    let ch = password_step(&c, "bob@acme.test", PASSWORD).await;
    let ok = second_step(&c, &ch, &code(&app, &bob_secret, 1))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(methods(&ok["session"]), ["password", "totp"]);
    c.get("/api/v1/me/sessions")
        .await
        .expect_status(StatusCode::OK);

    // Signing out is open to a limited session.
    sue.put_json(
        "/api/v1/settings/security",
        &json!({"mfa_required": {"agents": true}}),
    )
    .await
    .expect_status(StatusCode::OK);
    app.add_agent("Cal", "cal@acme.test").await;
    let cal = app.signed_in("cal@acme.test", PASSWORD).await;
    cal.get("/api/v1/agents")
        .await
        .expect_error(StatusCode::FORBIDDEN, "mfa_enrollment_required");
    cal.logout().await.expect_status(StatusCode::NO_CONTENT);
    // With the requirement lifted, the next sign-in is a full session.
    sue.put_json(
        "/api/v1/settings/security",
        &json!({"mfa_required": {"agents": false}}),
    )
    .await
    .expect_status(StatusCode::OK);
    let cal = app.signed_in("cal@acme.test", PASSWORD).await;
    cal.get("/api/v1/me/sessions")
        .await
        .expect_status(StatusCode::OK);
}

/// Resetting someone's second factor takes the permission that changing their password
/// takes, and ends their sessions with reason `mfa_reset`.
async fn administrators_reset_a_second_factor_with_the_password_permission(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.add_agent("Ann", "ann@acme.test").await;
    let ann_c = app.signed_in("ann@acme.test", PASSWORD).await;
    enroll(&app, &ann_c, PASSWORD).await;
    let ann_session = ann_c.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let agents_admin = app
        .add_admin("Sue", "sue@acme.test", &["team.agents"])
        .await;
    app.add_admin("Aud", "aud@acme.test", &["audit"]).await;
    let sue = app.signed_in("sue@acme.test", PASSWORD).await;
    let aud = app.signed_in("aud@acme.test", PASSWORD).await;
    enroll(&app, &sue, PASSWORD).await;
    let ann_path = format!("/api/v1/agents/{}/mfa", ann.id);

    // Without the Agents section: refused, nothing changes.
    aud.delete(&ann_path)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    ann_c.me().await.expect_status(StatusCode::OK);
    // Unknown ids, another account's people, the wrong section: not found.
    sue.delete("/api/v1/agents/ag_nobody/mfa")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let other = app.other_account().await;
    sue.delete(&format!("/api/v1/agents/{}/mfa", other.agent.id))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // An administrator whose permissions the actor does not all hold: refused.
    app.add_admin("Ada", "ada@acme.test", &["team.admins"])
        .await;
    let ada = app.signed_in("ada@acme.test", PASSWORD).await;
    ada.delete(&format!("/api/v1/admins/{}/mfa", agents_admin.id))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // Nobody but the primary touches the primary's.
    let primary = app.primary_client().await;
    enroll(&app, &primary, crate::support::PRIMARY_PASSWORD).await;
    let granted = app
        .add_admin(
            "Max",
            "max@acme.test",
            &["team.agents", "team.admins", "security", "audit"],
        )
        .await;
    let max = app.signed_in("max@acme.test", PASSWORD).await;
    max.delete(&format!("/api/v1/admins/{}/mfa", app.primary.id))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    // With the permission: the factor goes, and every session of Ann ends.
    sue.delete(&ann_path)
        .await
        .expect_status(StatusCode::NO_CONTENT);
    ann_c
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let s = app.stored_session(&ann_session).await;
    assert_eq!(s.end_reason.map(|r| r.as_str()), Some("mfa_reset"));
    // Nothing left to reset.
    sue.delete(&ann_path)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    // Ann signs in with her password alone again.
    let again = app.signed_in("ann@acme.test", PASSWORD).await;
    assert_eq!(again.me().await.json()["mfa"]["totp"], json!(false));
    // The primary resets a sub-administrator's.
    primary
        .delete(&format!("/api/v1/admins/{}/mfa", agents_admin.id))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    sue.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");

    let audit = primary.get("/api/v1/audit?kind=mfa.reset").await.json();
    assert_eq!(audit["total"], json!(2));
    let ended = primary
        .get(&format!(
            "/api/v1/audit?kind=session.ended&target={}",
            ann.id
        ))
        .await
        .json();
    assert!(ended.to_string().contains("mfa_reset"), "{ended}");

    // The profile page offers the reset, which works without JavaScript.
    let enrolled = app.signed_in("max@acme.test", PASSWORD).await;
    enroll(&app, &enrolled, PASSWORD).await;
    let profile = primary
        .get(&format!("/team/admins/{}", granted.id))
        .await
        .expect_status(StatusCode::OK);
    assert!(profile.text.contains("Reset two-factor sign-in"));
    assert!(
        profile.text.contains("signed in with password"),
        "the sessions say how they were opened"
    );
    // It asks first, like disabling and ending: with JavaScript a dialog opened by the form's
    // data-confirm attributes, without it a confirmation page, and nothing is reset until then.
    let reset_path = format!("/team/admins/{}/mfa/reset", granted.id);
    let form_start = profile
        .text
        .find(&format!("action=\"{reset_path}\""))
        .expect("the reset form");
    let form_tag =
        &profile.text[form_start..form_start + profile.text[form_start..].find('>').unwrap()];
    assert!(
        form_tag.contains("data-confirm-title=\"Reset two-factor sign-in?\"")
            && form_tag.contains("data-confirm-ok=\"Reset two-factor sign-in\""),
        "the form opens the confirmation dialog: {form_tag}"
    );
    let asked = primary
        .post_form(&reset_path, &[])
        .await
        .expect_status(StatusCode::OK);
    assert!(
        asked.text.contains("<h1>Reset two-factor sign-in?</h1>"),
        "{}",
        asked.text
    );
    assert!(
        asked.text.contains("Max"),
        "names the person: {}",
        asked.text
    );
    assert!(
        asked.text.contains(&format!("action=\"{reset_path}\""))
            && asked.text.contains("name=\"confirm\" value=\"yes\""),
        "the page posts the reset again with confirm=yes: {}",
        asked.text
    );
    assert_eq!(
        enrolled.me().await.expect_status(StatusCode::OK).json()["mfa"]["totp"],
        json!(true),
        "nothing is reset before the confirmation"
    );
    let res = primary.post_form(&reset_path, &[("confirm", "yes")]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    enrolled
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let again = app.signed_in("max@acme.test", PASSWORD).await;
    assert_eq!(again.me().await.json()["mfa"]["totp"], json!(false));
}

/// Knowing the password does not reset the count of wrong codes: a correct password step
/// forgives only its own attempt, and the person's earlier failures stay until a second step
/// passes. And of two requests racing with the same code, one signs in.
async fn the_password_does_not_reset_the_count_and_a_code_signs_in_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    let (secret, _codes) = enroll(&app, &ann, PASSWORD).await;
    let right = code(&app, &secret, 1);
    let wrong = if right == "000000" {
        "000001"
    } else {
        "000000"
    };
    let attacker = app.client();
    for _ in 0..4 {
        let ch = password_step(&attacker, "ann@acme.test", PASSWORD).await;
        second_step(&attacker, &ch, wrong)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // Four wrong codes and four right passwords: one more wrong code is free, then none.
    let ch = password_step(&attacker, "ann@acme.test", PASSWORD).await;
    second_step(&attacker, &ch, wrong)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    second_step(&attacker, &ch, wrong)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    app.advance(60 * SECOND);
    let a = app.client();
    let b = app.client();
    let ch_a = password_step(&a, "ann@acme.test", PASSWORD).await;
    let ch_b = password_step(&b, "ann@acme.test", PASSWORD).await;
    let same = code(&app, &secret, 0);
    let (ra, rb) = tokio::join!(second_step(&a, &ch_a, &same), second_step(&b, &ch_b, &same));
    let ok = [&ra, &rb]
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "one code, one sign-in: {} / {}", ra.text, rb.text);
}

/// A sign-in whose next step is setting up a second factor goes straight to the page that
/// sets it up, from the sign-in form and in the API's `redirect_to`.
async fn the_enrol_step_leads_to_the_setup_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    app.primary_client()
        .await
        .put_json(
            "/api/v1/settings/security",
            &json!({"mfa_required": {"agents": true}}),
        )
        .await
        .expect_status(StatusCode::OK);

    let page = app
        .client()
        .post_form(
            "/login",
            &[("email", "ann@acme.test"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    assert_eq!(page.header("location"), Some("/me/security"));
    assert!(page.session_token().is_some());

    let api = app
        .client()
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(api["redirect_to"], json!("/me/security"), "{api}");
    assert_eq!(methods(&api["session"]), ["password"]);
}

backend_tests!(
    an_authenticator_app_guards_the_sign_in,
    recovery_codes_work_once_and_say_how_many_are_left,
    wrong_codes_at_once_get_only_the_limit_checked,
    a_required_second_factor_limits_the_session_to_enrolling,
    the_enrol_step_leads_to_the_setup_page,
    administrators_reset_a_second_factor_with_the_password_permission,
    the_password_does_not_reset_the_count_and_a_code_signs_in_once,
    a_passkey_on_an_ip_address_is_refused_with_what_to_do,
);

/// Passkeys cannot live on an IP address (WebAuthn scopes them to a domain name): adding one on
/// a page opened at `127.0.0.1` says so and how to go on, where it once said "origin:
/// passkeys: The configuration was invalid"; nothing is stored.
async fn a_passkey_on_an_ip_address_is_refused_with_what_to_do(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.add_agent("Ann", "ann@acme.test").await;
    let c = app.signed_in("ann@acme.test", PASSWORD).await;
    let said = c
        .post_json(
            "/api/v1/me/mfa/passkeys/options",
            &json!({"password": PASSWORD}),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    let port = app.addr.port();
    assert!(
        said.starts_with(
            "Passkeys need a host name: this page's origin is an IP address (127.0.0.1)."
        ),
        "{said}"
    );
    assert!(said.contains(&format!("http://localhost:{port}")), "{said}");
    assert!(app.store.passkeys(&ann.id).await.unwrap().is_empty());
}
