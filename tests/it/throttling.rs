//! Sign-in throttling as an attacker meets it: many addresses of one IPv6 subscriber, and
//! (with the store's reservations) many attempts at once.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::db::Backend;
use crate::support::{Client, TestApp};

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

backend_tests!(ipv6_clients_are_throttled_by_their_64);
