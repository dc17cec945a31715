//! E-mail sent for real: a password-reset message through aiosmtpd (a real SMTP server, with
//! STARTTLS on a certificate the test issues, trusted through `--smtp-ca-file`'s setting, and
//! AUTH), and as an `.eml` file without one. Each message arrives once with its text and HTML
//! parts and the right link; a server that is down at first gets it once it is up; a 4xx is
//! tried again; a 5xx is tried again and then failed, audited and counted; a `kill -9` between
//! the change and the send loses nothing. Messages are read back with Python's `email`
//! package, not with Deskward's own code.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deskward::service::mailer::{SmtpSettings, Transport};
use deskward::store::Mail;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db::{Backend, TestDb};
use crate::support::{Binary, Certs, PASSWORD, SECOND, TestApp, test_python};
use crate::webhooks::HeldPort;

backend_tests!(
    a_reset_message_arrives_once_over_starttls,
    a_server_down_at_first_gets_the_message_once_up,
    a_4xx_is_tried_again,
    a_5xx_is_retried_then_failed_audited_and_counted,
    without_smtp_the_message_is_an_eml_file,
    kill_9_after_the_request_loses_no_message,
);

const SMTP_USER: &str = "deskward";
const SMTP_PASSWORD: &str = "smtp s3cret";
const WAIT: Duration = Duration::from_secs(30);

/// aiosmtpd running `tests/smtp_receiver.py`, saving what it accepts into a directory.
pub(crate) struct Smtp {
    child: Child,
    pub port: u16,
    inbox: tempfile::TempDir,
    /// Keeps the port ours for as long as the server may run.
    _held: HeldPort,
}

impl Smtp {
    /// Starts the server on a port of its choosing, or on the port `held` keeps for it.
    pub(crate) fn start(py: &Path, certs: &Certs, held: Option<HeldPort>) -> Smtp {
        let inbox = tempfile::tempdir().expect("a directory for received mail");
        let port = held.as_ref().map_or(0, |h| h.port);
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_receiver.py");
        let mut child = Command::new(py)
            .arg(script)
            .arg(port.to_string())
            .arg(inbox.path())
            .arg(certs.path("server.pem"))
            .arg(certs.path("server.key"))
            .args([SMTP_USER, SMTP_PASSWORD])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("read the SMTP server's port");
        let port: u16 = line
            .trim()
            .parse()
            .expect("the SMTP server prints its port");
        Smtp {
            child,
            port,
            inbox,
            _held: held.unwrap_or_else(|| HeldPort::hold(port)),
        }
    }

    /// From now on DATA is answered with `answer` (`None`: accepted).
    pub(crate) fn answer(&self, answer: Option<&str>) {
        let path = self.inbox.path().join("_answer");
        match answer {
            Some(a) => std::fs::write(path, a).expect("write the answer"),
            None => std::fs::remove_file(path).expect("remove the answer"),
        }
    }

    /// How many DATA commands the server has seen.
    pub(crate) fn attempts(&self) -> usize {
        std::fs::read_to_string(self.inbox.path().join("_attempts"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// The names of the messages accepted so far, in order.
    pub(crate) fn received(&self) -> Vec<PathBuf> {
        eml_files(self.inbox.path())
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `.eml` files in a directory, by name.
pub(crate) fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A message as Python's `email` package reads it: its headers, the content type and each
/// part's type and decoded text.
pub(crate) fn parse_eml(py: &Path, file: &Path) -> Value {
    let code = r#"
import email, email.policy, json, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print(json.dumps({
    "headers": {k: str(v) for k, v in m.items()},
    "defects": len(m.defects),
    "type": m.get_content_type(),
    "parts": [{"type": p.get_content_type(), "text": p.get_content()} for p in m.iter_parts()],
}))
"#;
    let out = Command::new(py)
        .args(["-c", code])
        .arg(file)
        .output()
        .expect("run Python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from Python")
}

/// Polls until `probe` holds; fails the test after [`WAIT`].
pub(crate) async fn until<T>(what: &str, probe: impl AsyncFnMut() -> Option<T>) -> T {
    until_within(what, WAIT, probe).await
}

/// Polls until `probe` holds; fails the test after `within`.
async fn until_within<T>(
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The SMTP settings for a server on `port` that requires STARTTLS and AUTH.
pub(crate) fn smtp_settings(port: u16, certs: &Certs) -> Transport {
    let url = format!("smtp://{SMTP_USER}:smtp%20s3cret@127.0.0.1:{port}?tls=required");
    Transport::Smtp(
        SmtpSettings::parse(&url)
            .expect("an SMTP URL")
            .with_ca_file(&certs.path("ca.pem"))
            .expect("the CA file"),
    )
}

/// The outbox rows to an address.
pub(crate) async fn outbox(app: &TestApp, to: &str) -> Vec<Mail> {
    app.store
        .mail_to(&app.account.id, &to.to_lowercase())
        .await
        .expect("read the outbox")
}

/// Waits for the one outbox row to `to` to satisfy `done`.
pub(crate) async fn row_when(app: &TestApp, to: &str, done: impl Fn(&Mail) -> bool) -> Mail {
    until("the outbox row", async || {
        let rows = outbox(app, to).await;
        rows.first().filter(|m| done(m)).cloned()
    })
    .await
}

async fn ask_reset(app: &TestApp, email: &str) {
    let res = app
        .client()
        .post_json("/api/v1/auth/password-reset", &json!({ "email": email }))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
}

/// Checks a reset message as received: headers, both parts, the link; returns the link.
pub(crate) fn check_reset_message(msg: &Value, base: &str, to_name: &str, to: &str) -> String {
    assert_eq!(msg["defects"], 0, "{msg:#}");
    let h = &msg["headers"];
    assert_eq!(h["Auto-Submitted"], "auto-generated");
    assert!(
        h["Message-ID"].as_str().unwrap().starts_with("<mail_"),
        "{h:#}"
    );
    assert!(h["Date"].as_str().is_some_and(|d| !d.is_empty()), "{h:#}");
    assert_eq!(h["To"], format!("{to_name} <{to}>"));
    assert_eq!(h["Subject"], "Reset your password for Acme Support");
    assert_eq!(msg["type"], "multipart/alternative");
    let parts = msg["parts"].as_array().unwrap();
    let types: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let text = parts[0]["text"].as_str().unwrap();
    let html = parts[1]["text"].as_str().unwrap();
    let re = regex::Regex::new(&format!("{}/reset/[0-9a-f]{{64}}", regex::escape(base))).unwrap();
    let links: Vec<&str> = re.find_iter(text).map(|m| m.as_str()).collect();
    assert_eq!(links.len(), 1, "one link in the text: {text}");
    assert!(html.contains(&format!("href=\"{}\"", links[0])), "{html}");
    assert!(
        text.contains("Acme Support") && text.contains(" UTC, from the address"),
        "{text}"
    );
    assert!(text.contains(&format!("Hello {to_name},")), "{text}");
    links[0].to_string()
}

async fn a_reset_message_arrives_once_over_starttls(backend: Backend) {
    let Some(py) = test_python("aiosmtpd") else {
        return;
    };
    let certs = Certs::make();
    let smtp = Smtp::start(&py, &certs, None);
    let port = smtp.port;
    let app =
        TestApp::spawn_with(backend, |c| c.mail.transport = smtp_settings(port, &certs)).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    ask_reset(&app, "  Ann@Acme.test ").await;
    let row = row_when(&app, "ann@acme.test", |m| m.status == "sent").await;
    assert_eq!(row.attempts, 1);
    let files = smtp.received();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // Over STARTTLS, authenticated with the URL's user, exactly once.
    assert_eq!(names, ["0001-tls-deskward.eml"]);
    assert_eq!(smtp.attempts(), 1);
    let msg = parse_eml(&py, &files[0]);
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
    ask_reset(&app, "bo@acme.test").await;
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
    let Some(py) = test_python("aiosmtpd") else {
        return;
    };
    let certs = Certs::make();
    let smtp = Smtp::start(&py, &certs, None);
    smtp.answer(Some("451 4.3.0 Try again later"));
    let port = smtp.port;
    let app =
        TestApp::spawn_with(backend, |c| c.mail.transport = smtp_settings(port, &certs)).await;
    app.add_agent("Cy Agent", "cy@acme.test").await;
    ask_reset(&app, "cy@acme.test").await;
    let row = row_when(&app, "cy@acme.test", |m| m.attempts == 1).await;
    assert_eq!(row.status, "pending");
    assert!(
        row.last_error.as_deref().unwrap().contains("451"),
        "{row:?}"
    );
    smtp.answer(None);
    app.advance(30 * SECOND);
    let row = row_when(&app, "cy@acme.test", |m| m.status == "sent").await;
    assert_eq!(row.attempts, 2);
    assert_eq!(smtp.received().len(), 1);
    assert_eq!(smtp.attempts(), 2);
}

async fn a_5xx_is_retried_then_failed_audited_and_counted(backend: Backend) {
    let Some(py) = test_python("aiosmtpd") else {
        return;
    };
    let certs = Certs::make();
    let smtp = Smtp::start(&py, &certs, None);
    smtp.answer(Some("550 5.1.1 Mailbox unavailable"));
    let port = smtp.port;
    let app =
        TestApp::spawn_with(backend, |c| c.mail.transport = smtp_settings(port, &certs)).await;
    app.add_agent("Di Agent", "di@acme.test").await;
    ask_reset(&app, "di@acme.test").await;
    let row = row_when(&app, "di@acme.test", |m| m.attempts == 1).await;
    assert_eq!(row.status, "pending", "a first 5xx is tried again");
    app.advance(30 * SECOND);
    let row = row_when(&app, "di@acme.test", |m| m.attempts == 2).await;
    assert_eq!(row.status, "pending");
    app.advance(10 * 60 * SECOND);
    let row = row_when(&app, "di@acme.test", |m| m.status == "failed").await;
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
    ask_reset(&app, "ed@acme.test").await;
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
    let url = format!(
        "smtp://{SMTP_USER}:smtp%20s3cret@127.0.0.1:{}?tls=required",
        held.port
    );
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
