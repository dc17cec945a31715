//! The answers the server's limits give: a body that stops arriving gets 408 with the same
//! security headers as every other answer, and a body over the size limit gets 413 in the error
//! shape naming the limit (not 422), on the API and on forms.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::db::Backend;
use crate::support::TestApp;

/// The size limit of request bodies (2 MiB).
const LIMIT: usize = 2 * 1024 * 1024;

/// The security headers every answer carries; HSTS over HTTPS only.
const SECURITY: [&str; 6] = [
    "content-security-policy",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
    "cross-origin-opener-policy",
    "cache-control",
];

/// Sends raw bytes, reads until the server closes; the status line and the headers
/// (lower-cased names) of the answer.
async fn exchange(app: &TestApp, request: &[u8]) -> (String, Vec<(String, String)>) {
    let mut tcp = TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    assert!(read.is_ok(), "the connection stayed open; it sent {text:?}");
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The 408 of a body that stopped arriving carries every security header a normal answer to
/// the same request carries, with the same values, over HTTP and (through a trusted proxy)
/// HTTPS, where that includes HSTS; on the API and on a page form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_408_carries_the_security_headers() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.body_read_timeout = Duration::from_millis(300);
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let cases = [
        ("/api/v1/auth/login", "application/json", "{\"email\":"),
        ("/login", "application/x-www-form-urlencoded", "email=a"),
    ];
    for https in [false, true] {
        let proto = if https {
            "X-Forwarded-Proto: https\r\n"
        } else {
            ""
        };
        for (path, ct, partial) in cases {
            // The same request with its whole body: what every answer carries.
            let whole = format!("{partial}\"\"}}");
            let (status, normal) = exchange(
                &app,
                format!(
                    "POST {path} HTTP/1.1\r\nHost: localhost\r\n{proto}Connection: close\r\n\
                     Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{whole}",
                    whole.len()
                )
                .as_bytes(),
            )
            .await;
            assert!(!status.contains(" 408"), "{path}: {status}");
            let (status, cut) = exchange(
                &app,
                format!(
                    "POST {path} HTTP/1.1\r\nHost: localhost\r\n{proto}Content-Type: {ct}\r\n\
                     Content-Length: 100\r\n\r\n{partial}"
                )
                .as_bytes(),
            )
            .await;
            assert!(status.starts_with("HTTP/1.1 408"), "{path}: {status}");
            let mut names = SECURITY.to_vec();
            if https {
                names.push("strict-transport-security");
            }
            for name in names {
                let want = header(&normal, name)
                    .unwrap_or_else(|| panic!("{path}: a normal answer has {name}: {normal:?}"));
                let want = if name == "cache-control" {
                    "no-store"
                } else {
                    want
                };
                assert_eq!(
                    header(&cut, name),
                    Some(want),
                    "{path} (https: {https}): {name} on the 408: {cut:?}"
                );
            }
            if !https {
                assert_eq!(header(&cut, "strict-transport-security"), None, "{cut:?}");
            }
        }
    }
}

/// A body over the limit gets 413 and the error shape naming the limit, on a JSON endpoint
/// (signed out and signed in) and on page forms (signed out and signed in); a body of exactly
/// the limit is read as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_size_limit_gets_413_naming_the_limit() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.primary_client().await;
    let json_body = |size: usize| {
        let head = "{\"email\":\"owner@acme.test\",\"password\":\"";
        let tail = "\"}";
        format!("{head}{}{tail}", "x".repeat(size - head.len() - tail.len()))
    };
    let form_body = |size: usize| {
        let head = "email=owner%40acme.test&password=";
        format!("{head}{}", "x".repeat(size - head.len()))
    };
    let json = "application/json";
    let form = "application/x-www-form-urlencoded";
    let csrf = admin.csrf().unwrap();
    let cases = [
        ("/api/v1/auth/login", json, json_body(LIMIT + 1)),
        ("/api/v1/agents", json, json_body(LIMIT + 1)),
        ("/login", form, form_body(LIMIT + 1)),
        (
            "/security/webhooks",
            form,
            format!("csrf_token={csrf}&url={}", "x".repeat(LIMIT)),
        ),
    ];
    for (path, ct, body) in cases {
        let res = admin
            .send(
                admin
                    .request(reqwest::Method::POST, path)
                    .header("content-type", ct)
                    .body(body),
            )
            .await;
        let said = res.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        assert!(said.contains(&LIMIT.to_string()), "{path}: {said}");
    }
    // Exactly the limit is not too large: read, then refused for what it says.
    for (path, ct, body) in [
        ("/api/v1/auth/login", json, json_body(LIMIT)),
        ("/login", form, form_body(LIMIT)),
    ] {
        let res = app
            .client()
            .send(
                app.client()
                    .request(reqwest::Method::POST, path)
                    .header("content-type", ct)
                    .body(body),
            )
            .await;
        // Read whole, then refused for what it holds (a password longer than any may be):
        // 422, never 413.
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            res.text
        );
    }
    // Nothing was signed in or changed by the refused bodies.
    let agents = admin.get("/api/v1/agents").await.json();
    assert_eq!(agents["total"], 0, "{agents}");
}
