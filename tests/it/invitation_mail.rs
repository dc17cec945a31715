//! An invitation sent for real through aiosmtpd (STARTTLS on the test's certificate, AUTH), in
//! the style of `mail.rs`: it arrives once, with both parts, the account's and the inviter's
//! names, the expiry in UTC, `Auto-Submitted` and `Message-ID`, a name beyond ASCII encoded
//! into the `To` header without defects, and a link that opens the invitation's page. Read back with Python's `email`
//! package, not with Deskward's own code.

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::mail_support::{
    SmtpApp, message_parts, no_alerts_for_admins, parse_eml, row_when, the_link,
};

backend_tests!(an_invitation_arrives_once_over_starttls);

async fn an_invitation_arrives_once_over_starttls(backend: Backend) {
    let Some(s) = SmtpApp::start(backend).await else {
        return;
    };
    let (py, smtp, app) = (&s.py, &s.smtp, &s.app);
    // Only the invitation is counted: the owner's sign-in sends no sign-in alert.
    no_alerts_for_admins(app).await;
    let owner = app.primary_client().await;
    let res = owner
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Ann Ünïcode", "email": "ann@acme.test"}),
        )
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(res.json()["invited"], json!(true));
    let row = row_when(app, "ann@acme.test", |m| m.status == "sent").await;
    assert_eq!(row.attempts, 1);
    let files = smtp.received();
    assert_eq!(files.len(), 1, "exactly once: {files:?}");
    assert!(
        files[0].to_string_lossy().ends_with("-tls-deskward.eml"),
        "over STARTTLS, authenticated: {files:?}"
    );
    assert_eq!(smtp.attempts(), 1);
    let (text, html) = message_parts(
        &parse_eml(py, &files[0]),
        "Ann Ünïcode <ann@acme.test>",
        "Pat Primary invited you to Acme Support",
    );
    let link = the_link(&text, &html, &app.base, "/invite");
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
        .get(link.strip_prefix(&app.base).unwrap())
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("Accept your invitation"),
        "{}",
        page.text
    );
    assert_eq!((row.text_body.as_str(), row.html_body.as_str()), ("", ""));
}
