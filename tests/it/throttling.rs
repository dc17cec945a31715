//! Sign-in throttling as an attacker meets it: many addresses of one IPv6 subscriber, and
//! (with the store's reservations) many attempts at once; the person's count over its window,
//! and which right passwords forgive it (written to kill the mutants `cargo mutants` left alive
//! in `service/throttling.rs`, see TESTING.md).

use reqwest::{Method, StatusCode};
use serde_json::json;

use deskward::domain::member::MemberKind;
use deskward::domain::time::HOUR;

use crate::db::Backend;
use crate::support::{Client, PASSWORD, SECOND, TestApp};

/// A sign-in attempt that claims, through the trusted proxy, to come from `ip`.
async fn attempt_from(c: &Client, ip: &str, email: &str) -> StatusCode {
    let rb = c
        .request(Method::POST, "/api/v1/auth/login")
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": "not the password"}));
    c.send(rb).await.status
}

/// One IPv6 subscriber holds a /64 and can pick any address in it: failures count per /64.
async fn ipv6_clients_are_throttled_by_their_64(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let c = app.client();
    // Unknown e-mails, so only the address's limit can apply (20 free failures).
    for i in 0..20 {
        let ip = format!("2001:db8:1:2:{i:x}::1");
        let status = attempt_from(&c, &ip, &format!("nobody{i}@acme.test")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let status = attempt_from(&c, "2001:db8:1:2:ffff::9", "someone@acme.test").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "another address, same /64"
    );
    let status = attempt_from(&c, "2001:db8:1:3::1", "someone@acme.test").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the next /64 is someone else"
    );
}

backend_tests!(
    ipv6_clients_are_throttled_by_their_64,
    failures_older_than_the_window_no_longer_count,
    a_right_password_forgives_the_persons_failures,
    a_linked_twins_right_password_forgives_nothing,
);

/// `n` wrong passwords for `email`, one after another; their answers.
async fn wrong(app: &TestApp, email: &str, n: usize) -> Vec<StatusCode> {
    let c = app.client();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(c.login(email, "not the password").await.status);
    }
    out
}

const FREE: [StatusCode; 1] = [StatusCode::UNAUTHORIZED];

/// Five failures within the window are free for a person; the sixth waits. Failures older
/// than the window (an hour) no longer count: four, an hour, then two more are all answered.
async fn failures_older_than_the_window_no_longer_count(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    assert_eq!(wrong(&app, "ann@acme.test", 4).await, FREE.repeat(4));
    app.advance(HOUR + SECOND);
    assert_eq!(
        wrong(&app, "ann@acme.test", 2).await,
        FREE.repeat(2),
        "the old failures still counted"
    );
    // The count itself works: four more make six within the hour, and the sixth waits.
    assert_eq!(
        wrong(&app, "ann@acme.test", 4).await,
        [FREE.repeat(3), vec![StatusCode::TOO_MANY_REQUESTS]].concat()
    );
}

/// The right password of the only person on an address forgives that address's earlier
/// failures: four wrong, one right, then four wrong again are all answered.
async fn a_right_password_forgives_the_persons_failures(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    assert_eq!(wrong(&app, "ann@acme.test", 4).await, FREE.repeat(4));
    app.client()
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        wrong(&app, "ann@acme.test", 4).await,
        FREE.repeat(4),
        "the right password did not forgive the earlier failures"
    );
}

/// With linked accounts the failures on the shared address may have been guesses at the
/// twin: one account's right password forgives only its own attempt, not those.
async fn a_linked_twins_right_password_forgives_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_person(
        MemberKind::Agent,
        "Lee Agent",
        "lee@acme.test",
        "agent password 123",
        &[],
    )
    .await;
    app.add_person(
        MemberKind::Admin,
        "Lee Admin",
        "lee@acme.test",
        "admin password 456",
        &[],
    )
    .await;
    assert_eq!(wrong(&app, "lee@acme.test", 4).await, FREE.repeat(4));
    app.client()
        .login("lee@acme.test", "agent password 123")
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        wrong(&app, "lee@acme.test", 2).await,
        [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS],
        "the agent's sign-in wiped guesses that may have been at the administrator"
    );
}
