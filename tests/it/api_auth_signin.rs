//! Signing in through the JSON API: answers that give nothing away, e-mails trimmed and
//! case-insensitive, linked accounts, input validation, disabled people, throttling, and the
//! client address and device recorded. Every test runs on SQLite and PostgreSQL.

use std::time::Duration;

use deskward::domain::member::MemberKind;
use deskward::domain::session::EndReason;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::db::Backend;
use crate::support::*;

backend_tests!(
    unknown_email_and_wrong_password_answer_identically,
    email_is_trimmed_and_case_insensitive,
    linked_accounts_password_picks_the_account,
    linked_accounts_with_one_password_must_choose,
    bad_login_input_is_422_naming_the_field,
    client_ip_is_the_peer_and_forwarded_for_is_ignored,
    forwarded_for_is_believed_from_a_trusted_proxy,
    device_is_readable_from_the_user_agent,
    disabled_person_cannot_sign_in,
    repeated_failures_are_throttled_at_once_with_retry_after,
);

async fn unknown_email_and_wrong_password_answer_identically(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let c = app.client();
    let unknown = c.login("nobody@acme.test", PASSWORD).await;
    let wrong = c.login("ann@acme.test", "not the password at all").await;
    let wrong_admin = c.login(PRIMARY_EMAIL, PASSWORD).await;
    unknown.expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    for r in [&wrong, &wrong_admin] {
        assert_eq!(r.status, unknown.status);
        assert_eq!(r.text, unknown.text, "identical bodies");
        assert!(r.set_cookies().is_empty(), "no cookie on failure");
    }
    assert!(unknown.set_cookies().is_empty());
    c.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

async fn email_is_trimmed_and_case_insensitive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "Ann.Lee@Acme.test").await;
    for typed in [
        "ann.lee@acme.test",
        "  ANN.LEE@ACME.TEST\t",
        "Ann.Lee@Acme.test ",
    ] {
        let body = app
            .client()
            .login(typed, PASSWORD)
            .await
            .expect_status(StatusCode::OK)
            .json();
        assert_eq!(
            body["user"]["id"],
            agent.id.as_str(),
            "signed in as {typed:?}"
        );
        assert_eq!(
            body["user"]["email"], "Ann.Lee@Acme.test",
            "shown as entered"
        );
    }
    // The password is not trimmed.
    app.client()
        .login("ann.lee@acme.test", &format!(" {PASSWORD}"))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

async fn linked_accounts_password_picks_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent_pw = "agent password 123";
    let admin_pw = "admin password 456";
    let agent = app
        .add_person(
            MemberKind::Agent,
            "Sam Agent",
            "sam@acme.test",
            agent_pw,
            &[],
        )
        .await;
    let admin = app
        .add_person(
            MemberKind::Admin,
            "Sam Admin",
            " SAM@Acme.TEST ",
            admin_pw,
            &["team.agents"],
        )
        .await;

    let as_agent = app.client().login("sam@acme.test", agent_pw).await;
    let v = as_agent.expect_status(StatusCode::OK).json();
    assert_eq!(v["user"]["id"], agent.id.as_str());
    assert_eq!(v["user"]["kind"], "agent");
    assert_eq!(v["user"]["linked"]["kind"], "admin");
    assert_eq!(v["user"]["linked"]["id"], admin.id.as_str());

    let v = app
        .client()
        .login("Sam@acme.test", admin_pw)
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["user"]["id"], admin.id.as_str());
    assert_eq!(v["user"]["kind"], "admin");
    assert_eq!(v["user"]["linked"]["id"], agent.id.as_str());

    // "as" narrows the choice: the other account's password does not open this one.
    app.client()
        .login_as("sam@acme.test", agent_pw, "admin")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let v = app
        .client()
        .login_as("sam@acme.test", admin_pw, "admin")
        .await;
    assert_eq!(
        v.expect_status(StatusCode::OK).json()["user"]["id"],
        admin.id.as_str()
    );
    app.client()
        .login("sam@acme.test", "neither password here")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

async fn linked_accounts_with_one_password_must_choose(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Lee Agent", "lee@acme.test").await;
    let admin = app.add_admin("Lee Admin", "LEE@acme.test", &[]).await;

    let c = app.client();
    let res = c.login("lee@acme.test", PASSWORD).await;
    res.expect_error(StatusCode::CONFLICT, "choose_account");
    assert!(res.set_cookies().is_empty(), "no session before the choice");
    c.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");

    let v = c
        .login_as("lee@acme.test", PASSWORD, "agent")
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(v.json()["user"]["id"], agent.id.as_str());
    assert_eq!(c.me().await.json()["user"]["kind"], "agent");
    let v = app
        .client()
        .login_as(" Lee@Acme.Test", PASSWORD, "admin")
        .await;
    assert_eq!(
        v.expect_status(StatusCode::OK).json()["user"]["id"],
        admin.id.as_str()
    );
}

async fn bad_login_input_is_422_naming_the_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long_email = format!("{}@example.com", "a".repeat(288));
    assert_eq!(long_email.chars().count(), 300);
    let long_password = "p".repeat(200);
    let cases: Vec<(String, &str)> = vec![
        (
            r#"{"email": "owner@acme.test", "password":"#.to_string(),
            "json",
        ),
        (
            r#"{"email": "owner@acme.test" "password": "x"}"#.to_string(),
            "json",
        ),
        (r#"{"email": "owner@acme.test"}"#.to_string(), "password"),
        (r#"{"password": "owner password 123"}"#.to_string(), "email"),
        (
            r#"{"email": 5, "password": "owner password 123"}"#.to_string(),
            "email",
        ),
        (
            r#"{"email": "owner@acme.test", "password": ["x"]}"#.to_string(),
            "password",
        ),
        (
            r#"{"email": "owner@acme.test", "password": null}"#.to_string(),
            "password",
        ),
        (
            r#"{"email": "owner@acme.test", "password": 12345678901234}"#.to_string(),
            "password",
        ),
        (
            r#"{"email": "", "password": "owner password 123"}"#.to_string(),
            "email",
        ),
        (
            r#"{"email": "owner@acme.test", "password": ""}"#.to_string(),
            "password",
        ),
        (
            json!({"email": long_email, "password": PRIMARY_PASSWORD}).to_string(),
            "email",
        ),
        (
            json!({"email": PRIMARY_EMAIL, "password": long_password}).to_string(),
            "password",
        ),
        (
            json!({"email": PRIMARY_EMAIL, "password": PRIMARY_PASSWORD, "as": "root"}).to_string(),
            "as",
        ),
        (
            json!({"email": PRIMARY_EMAIL, "password": PRIMARY_PASSWORD, "as": 1}).to_string(),
            "as",
        ),
        (
            json!({"email": PRIMARY_EMAIL, "password": PRIMARY_PASSWORD, "role": "x"}).to_string(),
            "role",
        ),
        ("[]".to_string(), ""),
        ("null".to_string(), ""),
        ("\"owner@acme.test\"".to_string(), ""),
        (String::new(), ""),
    ];
    let c = app.client();
    for (body, field) in &cases {
        let res = c
            .send(
                c.request(Method::POST, "/api/v1/auth/login")
                    .header("content-type", "application/json")
                    .body(body.clone()),
            )
            .await;
        let msg = res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(
            msg.to_lowercase().contains(field),
            "message for {body:.80} should name {field:?}: {msg}"
        );
        assert!(res.set_cookies().is_empty());
    }
    // No JSON content type.
    let res = c
        .send(
            c.request(Method::POST, "/api/v1/auth/login")
                .header("content-type", "text/plain")
                .body(json!({"email": PRIMARY_EMAIL, "password": PRIMARY_PASSWORD}).to_string()),
        )
        .await;
    res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    // The right credentials still work afterwards.
    c.login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .expect_status(StatusCode::OK);
}

async fn client_ip_is_the_peer_and_forwarded_for_is_ignored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.client();
    let res = c
        .send(
            c.request(Method::POST, "/api/v1/auth/login")
                .header("x-forwarded-for", "203.0.113.9")
                .header("x-real-ip", "203.0.113.10")
                .json(&json!({"email": PRIMARY_EMAIL, "password": PRIMARY_PASSWORD})),
        )
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(res.json()["session"]["ip"], "127.0.0.1");
    let me = c
        .send(
            c.request(Method::GET, "/api/v1/me")
                .header("x-forwarded-for", "198.51.100.7"),
        )
        .await
        .json();
    assert_eq!(me["session"]["ip"], "127.0.0.1");
    // Nor does X-Forwarded-Proto from an untrusted peer make the cookie Secure.
    let res = c
        .send(
            c.request(Method::POST, "/api/v1/auth/login")
                .header("x-forwarded-proto", "https")
                .json(&json!({"email": PRIMARY_EMAIL, "password": PRIMARY_PASSWORD})),
        )
        .await;
    let cookie = res
        .set_cookies()
        .into_iter()
        .find(|c| c.contains("deskward_session="))
        .unwrap();
    assert!(
        cookie.starts_with(&format!("{COOKIE}=")) && !cookie.contains("Secure"),
        "{cookie}"
    );
}

async fn forwarded_for_is_believed_from_a_trusted_proxy(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let c = &app.client();
    let login = move |xff: &'static str| {
        c.send(
            c.request(Method::POST, "/api/v1/auth/login")
                .header("x-forwarded-for", xff)
                .json(&json!({"email": PRIMARY_EMAIL, "password": PRIMARY_PASSWORD})),
        )
    };
    let v = login("203.0.113.9")
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["session"]["ip"], "203.0.113.9");
    // A client-forged entry on the left is not believed: the rightmost untrusted one is.
    let v = login("10.9.9.9, 203.0.113.9, 127.0.0.1")
        .await
        .expect_status(StatusCode::OK)
        .json();
    let sid = v["session"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["session"]["ip"], "203.0.113.9");
    assert_eq!(app.stored_session(&sid).await.ip.to_string(), "203.0.113.9");
    // Without the header the peer itself is the client.
    let v = c.login(PRIMARY_EMAIL, PRIMARY_PASSWORD).await.json();
    assert_eq!(v["session"]["ip"], "127.0.0.1");
}

async fn device_is_readable_from_the_user_agent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.client_with_user_agent(CHROME_WINDOWS_UA);
    let v = c
        .login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .expect_status(StatusCode::OK)
        .json();
    let s = &v["session"];
    assert_eq!(s["device"], "Chrome 131 on Windows 10");
    assert_eq!(
        s["user_agent"], CHROME_WINDOWS_UA,
        "the raw user agent is kept too"
    );
    let sid = s["id"].as_str().unwrap();
    assert_eq!(
        app.stored_session(sid).await.device,
        "Chrome 131 on Windows 10"
    );

    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let v = app
        .client_with_user_agent(firefox)
        .login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await;
    assert_eq!(v.json()["session"]["device"], "Firefox 133 on Linux");
    let v = app
        .client()
        .login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .json();
    assert_eq!(v["session"]["device"], "Unknown device");
    assert_eq!(v["session"]["user_agent"], "");
}

async fn disabled_person_cannot_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    let a = app.signed_in("ann@acme.test", PASSWORD).await;
    let sid = a.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = app.primary_client().await;
    p.patch_json(
        &format!("/api/v1/agents/{}", agent.id),
        &json!({"disabled": true}),
    )
    .await
    .expect_status(StatusCode::OK);
    a.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        app.stored_session(&sid).await.end_reason,
        Some(EndReason::Disabled)
    );
    let res = app.client().login("ann@acme.test", PASSWORD).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
    assert!(res.set_cookies().is_empty());
    // A wrong password reveals nothing about the account being disabled.
    app.client()
        .login("ann@acme.test", "some wrong password")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

async fn repeated_failures_are_throttled_at_once_with_retry_after(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let c = app.client();
    for _ in 0..5 {
        c.login("ann@acme.test", "not the password at all")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // Even the right password waits now; the answer comes at once, with Retry-After. The
    // injected clock never moves by itself, so a server that held the request until the wait
    // is over would never answer: the bound below is a hang detector, not a speed target.
    let res = tokio::time::timeout(Duration::from_secs(30), c.login("ann@acme.test", PASSWORD))
        .await
        .expect("answered while the wait is still on: no request is held open");
    res.expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(res.header("retry-after"), Some("1"));
    assert!(res.set_cookies().is_empty());
    app.advance(SECOND);
    c.login(" ANN@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);

    // An unknown address is throttled just the same: no way to tell who exists.
    for _ in 0..5 {
        c.login("nobody@acme.test", "not the password at all")
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let res = c.login("nobody@acme.test", "not the password at all").await;
    res.expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(res.header("retry-after"), Some("1"));
}
