//! An invitation sent for real through aiosmtpd (STARTTLS on the test's certificate, AUTH), in
//! the style of `mail.rs`: it arrives once, with both parts, the account's and the inviter's
//! names, the expiry in UTC, `Auto-Submitted` and `Message-ID`, a name beyond ASCII encoded
//! into the `To` header without defects, and a link that opens the invitation's page. Read back with Python's `email`
//! package, not with Deskward's own code.

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::mail::{Smtp, parse_eml, row_when, smtp_settings};
use crate::support::{Certs, TestApp, test_python};

backend_tests!(an_invitation_arrives_once_over_starttls);

async fn an_invitation_arrives_once_over_starttls(backend: Backend) {
    let Some(py) = test_python("aiosmtpd") else {
        return;
    };
    let certs = Certs::make();
    let smtp = Smtp::start(&py, &certs, None);
    let port = smtp.port;
    let app =
        TestApp::spawn_with(backend, |c| c.mail.transport = smtp_settings(port, &certs)).await;
    let owner = app.primary_client().await;
    let res = owner
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Ann Ünïcode", "email": "ann@acme.test"}),
        )
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(res.json()["invited"], json!(true));
    let row = row_when(&app, "ann@acme.test", |m| m.status == "sent").await;
    assert_eq!(row.attempts, 1);
    let files = smtp.received();
    assert_eq!(files.len(), 1, "exactly once: {files:?}");
    assert!(
        files[0].to_string_lossy().ends_with("-tls-deskward.eml"),
        "over STARTTLS, authenticated: {files:?}"
    );
    assert_eq!(smtp.attempts(), 1);
    let msg = parse_eml(&py, &files[0]);
    assert_eq!(msg["defects"], 0, "{msg:#}");
    let h = &msg["headers"];
    assert_eq!(h["Auto-Submitted"], "auto-generated");
    assert!(
        h["Message-ID"].as_str().unwrap().starts_with("<mail_"),
        "{h:#}"
    );
    assert_eq!(h["To"], "Ann Ünïcode <ann@acme.test>");
    assert_eq!(h["Subject"], "Pat Primary invited you to Acme Support");
    assert_eq!(msg["type"], "multipart/alternative");
    let parts = msg["parts"].as_array().unwrap();
    let types: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let text = parts[0]["text"].as_str().unwrap();
    let html = parts[1]["text"].as_str().unwrap();
    let re = regex::Regex::new(&format!(
        "{}/invite/[0-9a-f]{{64}}",
        regex::escape(&app.base)
    ))
    .unwrap();
    let links: Vec<&str> = re.find_iter(text).map(|m| m.as_str()).collect();
    assert_eq!(links.len(), 1, "one link in the text: {text}");
    assert!(html.contains(&format!("href=\"{}\"", links[0])), "{html}");
    for words in [
        "Hello Ann Ünïcode,",
        "Pat Primary invited you",
        "Acme Support",
        "as an agent",
        " UTC, seven days",
    ] {
        assert!(text.contains(words), "{words}: {text}");
        assert!(html.contains(words), "{words}: {html}");
    }
    let page = app
        .client()
        .get(links[0].strip_prefix(&app.base).unwrap())
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("Accept your invitation"),
        "{}",
        page.text
    );
    assert_eq!((row.text_body.as_str(), row.html_body.as_str()), ("", ""));
}
