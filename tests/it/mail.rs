//! E-mail sent for real: a password-reset message through aiosmtpd (a real SMTP server, with
//! STARTTLS on a certificate the test issues, trusted through `--smtp-ca-file`'s setting, and
//! AUTH), and as an `.eml` file without one. Each message arrives once with its text and HTML
//! parts and the right link; a server that is down at first gets it once it is up; a 4xx is
//! tried again; a 5xx is tried again and then failed, audited and counted; a `kill -9` between
//! the change and the send loses nothing. Messages are read back with Python's `email`
//! package, not with Deskward's own code.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::db::{Backend, TestDb};
use crate::mail_support::{
    Smtp, SmtpApp, ask_reset, check_reset_message, eml_files, message_parts, no_alerts_for_admins,
    parse_eml, row_when, smtp_settings, smtp_url, the_link, until, until_within,
};
use crate::support::{Binary, Certs, PASSWORD, SECOND, TestApp, test_python};
use crate::webhooks::HeldPort;

backend_tests!(
    a_reset_message_arrives_once_over_starttls,
    a_server_down_at_first_gets_the_message_once_up,
    a_4xx_is_tried_again,
    a_5xx_is_retried_then_failed_audited_and_counted,
    without_smtp_the_message_is_an_eml_file,
    kill_9_after_the_request_loses_no_message,
    a_signin_alert_arrives_once_with_its_link,
);

/// Asks for a reset link for `email`; it is accepted.
async fn ask(app: &TestApp, email: &str) {
    let (status, body) = ask_reset(app, email).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

async fn a_reset_message_arrives_once_over_starttls(backend: Backend) {
    let Some(s) = SmtpApp::start(backend).await else {
        return;
    };
    let (py, smtp, app) = (&s.py, &s.smtp, &s.app);
    app.add_agent("Ann Agent", "ann@acme.test").await;
    ask(app, "  Ann@Acme.test ").await;
    let row = row_when(app, "ann@acme.test", |m| m.status == "sent").await;
    assert_eq!(row.attempts, 1);
    let files = smtp.received();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // Over STARTTLS, authenticated with the URL's user, exactly once.
    assert_eq!(names, ["0001-tls-deskward.eml"]);
    assert_eq!(smtp.attempts(), 1);
    let msg = parse_eml(py, &files[0]);
    let link = check_reset_message(&msg, &app.base, "Ann Agent", "ann@acme.test");
    // The link works: it opens the new password's form.
    let page = app
        .client()
        .get(link.strip_prefix(&app.base).unwrap())
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Set a new password"), "{}", page.text);
    // What was sent is no longer kept: the row held a single-use link.
    assert_eq!((row.text_body.as_str(), row.html_body.as_str()), ("", ""));
}

async fn a_server_down_at_first_gets_the_message_once_up(backend: Backend) {
    let Some(py) = test_python("aiosmtpd") else {
        return;
    };
    let certs = Certs::make();
    // The port is held (bound, not listening): connections are refused as by a stopped server.
    let held = HeldPort::fresh();
    let port = held.port;
    let app =
        TestApp::spawn_with(backend, |c| c.mail.transport = smtp_settings(port, &certs)).await;
    app.add_agent("Bo Agent", "bo@acme.test").await;
    ask(&app, "bo@acme.test").await;
    let row = row_when(&app, "bo@acme.test", |m| m.attempts >= 1).await;
    assert_eq!(row.status, "pending");
    assert!(row.last_error.is_some());
    // The first retry is due within 30 s.
    assert!(
        row.next_attempt_at - row.created_at <= 30 * SECOND,
        "{row:?}"
    );
    let smtp = Smtp::start(&py, &certs, Some(held));
    app.advance(30 * SECOND);
    let row = row_when(&app, "bo@acme.test", |m| m.status == "sent").await;
    assert_eq!(row.attempts, 2);
    let files = smtp.received();
    assert_eq!(files.len(), 1);
    check_reset_message(
        &parse_eml(&py, &files[0]),
        &app.base,
        "Bo Agent",
        "bo@acme.test",
    );
}

async fn a_4xx_is_tried_again(backend: Backend) {
    let Some(s) = SmtpApp::start(backend).await else {
        return;
    };
    let (smtp, app) = (&s.smtp, &s.app);
    smtp.answer(Some("451 4.3.0 Try again later"));
    app.add_agent("Cy Agent", "cy@acme.test").await;
    ask(app, "cy@acme.test").await;
    let row = row_when(app, "cy@acme.test", |m| m.attempts == 1).await;
    assert_eq!(row.status, "pending");
    assert!(
        row.last_error.as_deref().unwrap().contains("451"),
        "{row:?}"
    );
    smtp.answer(None);
    app.advance(30 * SECOND);
    let row = row_when(app, "cy@acme.test", |m| m.status == "sent").await;
    assert_eq!(row.attempts, 2);
    assert_eq!(smtp.received().len(), 1);
    assert_eq!(smtp.attempts(), 2);
}

async fn a_5xx_is_retried_then_failed_audited_and_counted(backend: Backend) {
    let Some(s) = SmtpApp::start(backend).await else {
        return;
    };
    let (smtp, app) = (&s.smtp, &s.app);
    smtp.answer(Some("550 5.1.1 Mailbox unavailable"));
    // Only the reset message is counted: the primary administrator's sign-in below (to read
    // the audit log) sends no sign-in alert.
    no_alerts_for_admins(app).await;
    app.add_agent("Di Agent", "di@acme.test").await;
    ask(app, "di@acme.test").await;
    let row = row_when(app, "di@acme.test", |m| m.attempts == 1).await;
    assert_eq!(row.status, "pending", "a first 5xx is tried again");
    app.advance(30 * SECOND);
    let row = row_when(app, "di@acme.test", |m| m.attempts == 2).await;
    assert_eq!(row.status, "pending");
    app.advance(10 * 60 * SECOND);
    let row = row_when(app, "di@acme.test", |m| m.status == "failed").await;
    assert_eq!(row.attempts, 3);
    assert!(
        row.last_error.as_deref().unwrap().contains("550"),
        "{row:?}"
    );
    assert_eq!(smtp.attempts(), 3);
    assert!(smtp.received().is_empty());
    // Nothing more is tried, however long we wait.
    app.advance(2 * 24 * 3600 * SECOND);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(smtp.attempts(), 3);
    let audit = app
        .primary_client()
        .await
        .get("/api/v1/audit?kind=mail.failed")
        .await
        .json();
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit:#}");
    let detail = items[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("di@acme.test") && detail.contains("550"),
        "{detail}"
    );
    let metrics = app.svc.metrics_text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l == "deskward_mail_failed_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l == "deskward_mail_sent_total 0"),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l == "deskward_mail_backlog 0"),
        "{metrics}"
    );
}

async fn without_smtp_the_message_is_an_eml_file(backend: Backend) {
    let Some(py) = test_python("aiosmtpd") else {
        return;
    };
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ed Agent", "ed@acme.test").await;
    ask(&app, "ed@acme.test").await;
    let file = until("the .eml file", async || {
        eml_files(app.mail_dir.path()).into_iter().next()
    })
    .await;
    let row = row_when(&app, "ed@acme.test", |m| m.status == "sent").await;
    assert!(
        file.file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with(&format!("-{}.eml", row.id)),
        "{file:?}"
    );
    check_reset_message(
        &parse_eml(&py, &file),
        &app.base,
        "Ed Agent",
        "ed@acme.test",
    );
    assert_eq!(eml_files(app.mail_dir.path()).len(), 1);
    let metrics = app.svc.metrics_text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l == "deskward_mail_sent_total 1"),
        "{metrics}"
    );
}

async fn kill_9_after_the_request_loses_no_message(backend: Backend) {
    let Some(py) = test_python("aiosmtpd") else {
        return;
    };
    let certs = Certs::make();
    let db = TestDb::new(backend).await;
    let held = HeldPort::fresh();
    let url = smtp_url(held.port);
    let ca = certs.path("ca.pem").display().to_string();
    let serve = || {
        Binary::serve(&db.url)
            .arg("--smtp-url")
            .arg(&url)
            .arg("--smtp-ca-file")
            .arg(&ca)
    };
    let first = serve().start().await;
    let first_base = first.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let setup = http
        .post(format!("{}/setup", first.base))
        .form(&[
            ("name", "Acme Support"),
            ("admin_name", "Fay Owner"),
            ("admin_email", "fay@acme.test"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(setup.status(), StatusCode::SEE_OTHER);
    let res = http
        .post(format!("{}/api/v1/auth/password-reset", first.base))
        .json(&json!({ "email": "fay@acme.test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // Killed right after the answer: no mail server was there to take the message.
    first.kill9();
    let smtp = Smtp::start(&py, &certs, Some(held));
    let _second = serve().start().await;
    let store = deskward::store::connect(&db.url).await.unwrap();
    let account = store.first_account().await.unwrap();
    // Within the lease (60 s) and the first retry: the killed instance may have claimed the
    // message just before it died, and its claim must run out first.
    until_within(
        "the message sent after the restart",
        Duration::from_secs(90),
        async || {
            let rows = store.mail_to(&account.id, "fay@acme.test").await.unwrap();
            rows.first().filter(|m| m.status == "sent").cloned()
        },
    )
    .await;
    let files = smtp.received();
    assert_eq!(files.len(), 1, "sent once");
    // The link points where the message was made: the first instance's address (no
    // --public-url was given).
    check_reset_message(
        &parse_eml(&py, &files[0]),
        &first_base,
        "Fay Owner",
        "fay@acme.test",
    );
}

/// A mail flag Deskward cannot use stops `serve` before it opens anything: exit status 2 and
/// one line naming the flag.
#[test]
fn bad_mail_flags_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("never.db").display());
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let not_pem = not_pem.display().to_string();
    for (args, flag, says) in [
        (
            vec!["--smtp-url", "http://mail.example.com"],
            "--smtp-url",
            "smtp://",
        ),
        (
            vec!["--smtp-url", "smtp://mail.example.com?tls=maybe"],
            "--smtp-url",
            "tls=",
        ),
        (vec!["--smtp-url", "smtp://"], "--smtp-url", "host"),
        (
            vec![
                "--smtp-url",
                "smtp://mail.example.com",
                "--smtp-ca-file",
                &not_pem,
            ],
            "--smtp-ca-file",
            "no PEM certificate",
        ),
        (
            vec![
                "--smtp-url",
                "smtp://mail.example.com",
                "--smtp-ca-file",
                "/no/such/file",
            ],
            "--smtp-ca-file",
            "cannot read",
        ),
        (
            vec!["--smtp-ca-file", &not_pem],
            "--smtp-ca-file",
            "needs --smtp-url",
        ),
        (
            vec!["--mail-from", "Deskward <not an address>"],
            "--mail-from",
            "not",
        ),
        (
            vec!["--public-url", "ftp://help.example.com"],
            "--public-url",
            "https://",
        ),
        (
            vec!["--public-url", "https://help.example.com/?x=1"],
            "--public-url",
            "query",
        ),
    ] {
        let out = crate::support::run_binary(
            ["serve", "--bind", "127.0.0.1:0", "--database-url", &db]
                .into_iter()
                .chain(args.iter().copied()),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let line = stderr.lines().last().unwrap_or_default();
        assert!(
            line.starts_with(&format!("error: {flag}:")) && line.contains(says),
            "{args:?}: {stderr}"
        );
    }
    assert!(!dir.path().join("never.db").exists(), "nothing was opened");
}

/// A sign-in alert through the real server: once, both parts, the session's device and
/// address, and a "This wasn't me" link that opens its page.
async fn a_signin_alert_arrives_once_with_its_link(backend: Backend) {
    let Some(s) = SmtpApp::start(backend).await else {
        return;
    };
    let (py, smtp, app) = (&s.py, &s.smtp, &s.app);
    app.add_admin("Sue Sub", "sue@acme.test", &["audit"]).await;
    let browser = app.client_with_user_agent(crate::support::CHROME_WINDOWS_UA);
    browser
        .login_as("sue@acme.test", PASSWORD, "admin")
        .await
        .expect_status(StatusCode::OK);
    let row = row_when(app, "sue@acme.test", |m| m.status == "sent").await;
    assert_eq!((row.kind.as_str(), row.attempts), ("signin_alert", 1));
    let files = smtp.received();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(smtp.attempts(), 1);
    let (text, html) = message_parts(
        &parse_eml(py, &files[0]),
        "Sue Sub <sue@acme.test>",
        "New sign-in to Acme Support",
    );
    for said in [
        "Hello Sue Sub,",
        "Acme Support",
        "(UTC)",
        "Device: Chrome 131 on Windows 10",
        "Address: 127.0.0.1",
        "If this was you, there is nothing to do.",
    ] {
        assert!(text.contains(said), "{said:?} in {text}");
    }
    let link = the_link(&text, &html, &app.base, "/signin-alert");
    assert!(html.contains("Chrome 131 on Windows 10"), "{html}");
    let page = app
        .client()
        .get(link.strip_prefix(&app.base).unwrap())
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Was this you?"), "{}", page.text);
    // What was sent is no longer kept: the row held a single-use link.
    assert_eq!((row.text_body.as_str(), row.html_body.as_str()), ("", ""));
}
