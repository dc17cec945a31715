//! What the e-mail tests share: the real SMTP server (aiosmtpd), the `.eml` files a server
//! writes without one, reading messages back (Python's `email` package, not Deskward's own
//! code) and the links in them, the outbox, and the calls that ask for, accept and confirm
//! links.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deskward::service::mailer::{SmtpSettings, Transport};
use deskward::store::Mail;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::support::{Certs, Client, Response, TestApp, test_python};
use crate::webhooks::HeldPort;

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
pub(crate) async fn until_within<T>(
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

/// `--smtp-url` for the server on `port`, requiring STARTTLS, with its user and password.
pub(crate) fn smtp_url(port: u16) -> String {
    format!("smtp://{SMTP_USER}:smtp%20s3cret@127.0.0.1:{port}?tls=required")
}

/// The SMTP settings for a server on `port` that requires STARTTLS and AUTH.
pub(crate) fn smtp_settings(port: u16, certs: &Certs) -> Transport {
    Transport::Smtp(
        SmtpSettings::parse(&smtp_url(port))
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

/// A test server whose messages go to a real SMTP server (STARTTLS required, AUTH); `None`
/// where the test environment has no aiosmtpd (and, with CI set, the test fails instead).
pub(crate) struct SmtpApp {
    pub py: PathBuf,
    /// The certificates the server and the transport were given, kept while they run.
    _certs: Certs,
    pub smtp: Smtp,
    pub app: TestApp,
}

impl SmtpApp {
    pub(crate) async fn start(backend: Backend) -> Option<SmtpApp> {
        let py = test_python("aiosmtpd")?;
        let certs = Certs::make();
        let smtp = Smtp::start(&py, &certs, None);
        let transport = smtp_settings(smtp.port, &certs);
        let app = TestApp::spawn_with(backend, |c| c.mail.transport = transport).await;
        Some(SmtpApp {
            py,
            _certs: certs,
            smtp,
            app,
        })
    }
}

/// Turns off sign-in alerts for administrators, so that a test counts only the messages it
/// makes (the primary administrator's own sign-ins send none).
pub(crate) async fn no_alerts_for_admins(app: &TestApp) {
    app.svc
        .change_security_settings(
            &app.primary_actor(),
            deskward::service::settings::SecurityChange {
                signin_alerts_admins: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("turn administrators' sign-in alerts off");
}

/// Checks what every message has (no defects, `Auto-Submitted`, `Message-ID`, `Date`, the
/// recipient and subject, a text and an HTML part); returns the two parts' text.
pub(crate) fn message_parts(msg: &Value, to: &str, subject: &str) -> (String, String) {
    assert_eq!(msg["defects"], 0, "{msg:#}");
    let h = &msg["headers"];
    assert_eq!(h["Auto-Submitted"], "auto-generated");
    assert!(
        h["Message-ID"].as_str().unwrap().starts_with("<mail_"),
        "{h:#}"
    );
    assert!(h["Date"].as_str().is_some_and(|d| !d.is_empty()), "{h:#}");
    assert_eq!(h["To"], to);
    assert_eq!(h["Subject"], subject);
    assert_eq!(msg["type"], "multipart/alternative");
    let parts = msg["parts"].as_array().unwrap();
    let types: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    (
        parts[0]["text"].as_str().unwrap().to_string(),
        parts[1]["text"].as_str().unwrap().to_string(),
    )
}

/// The one link to `{base}{path}/{token}` in a message's text part, which its HTML part
/// links to as well.
pub(crate) fn the_link(text: &str, html: &str, base: &str, path: &str) -> String {
    let links = links_in(text, base, path);
    assert_eq!(links.len(), 1, "one link in the text: {text}");
    assert!(html.contains(&format!("href=\"{}\"", links[0])), "{html}");
    links[0].clone()
}

/// The links to `{base}{path}/{token}` in a text, in order.
pub(crate) fn links_in(text: &str, base: &str, path: &str) -> Vec<String> {
    let re = regex::Regex::new(&format!(
        "{}{}/[0-9a-f]{{64}}",
        regex::escape(base),
        regex::escape(path)
    ))
    .expect("a pattern");
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

/// A message file's text as written, quoted-printable's soft line breaks ("=" at a line's
/// end) undone.
pub(crate) fn eml_text(file: &Path) -> String {
    std::fs::read_to_string(file)
        .expect("read the message")
        .replace("=\r\n", "")
}

/// The links to `{base}{path}/…` in the `.eml` files of `dir` addressed to `to` (any, with
/// `None`), oldest file first.
pub(crate) fn links_in_files(dir: &Path, base: &str, path: &str, to: Option<&str>) -> Vec<String> {
    eml_files(dir)
        .iter()
        .map(|f| eml_text(f))
        .filter(|text| to.is_none_or(|to| text.contains(&format!("<{to}>"))))
        .flat_map(|text| links_in(&text, base, path))
        .collect()
}

/// The tokens of the links to `{base}{path}/{token}` in the text part of the newest message
/// of `kind` to `to`, once it was sent as an `.eml` file (the test server's transport).
pub(crate) async fn sent_tokens(app: &TestApp, to: &str, kind: &str, path: &str) -> Vec<String> {
    let row = until("the message sent", async || {
        outbox(app, to)
            .await
            .into_iter()
            .find(|m| m.kind == kind)
            .filter(|m| m.status == "sent")
    })
    .await;
    let file = eml_files(app.mail_dir.path())
        .into_iter()
        .find(|f| f.to_string_lossy().ends_with(&format!("-{}.eml", row.id)))
        .expect("the message's file");
    let text = eml_text(&file);
    let text = text.split("Content-Type: text/html").next().unwrap();
    let prefix = format!("{}{path}/", app.base);
    links_in(text, &app.base, path)
        .into_iter()
        .map(|l| l[prefix.len()..].to_string())
        .collect()
}

/// The token of the one link of the newest message of `kind` to `to`.
pub(crate) async fn sent_token(app: &TestApp, to: &str, kind: &str, path: &str) -> String {
    let tokens = sent_tokens(app, to, kind, path).await;
    assert_eq!(tokens.len(), 1, "one link: {tokens:?}");
    tokens[0].clone()
}

/// `POST /auth/password-reset`: the status and body.
pub(crate) async fn ask_reset(app: &TestApp, email: &str) -> (StatusCode, Value) {
    let res = app
        .client()
        .post_json("/api/v1/auth/password-reset", &json!({ "email": email }))
        .await;
    let status = res.status;
    (status, res.json())
}

/// `POST /auth/password-reset/confirm`.
pub(crate) async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> Response {
    app.client()
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({ "token": token, "password": password }),
        )
        .await
}

/// `POST /invitations/accept`.
pub(crate) async fn accept_invitation(app: &TestApp, token: &str, password: &str) -> Response {
    app.client()
        .post_json(
            "/api/v1/invitations/accept",
            &json!({ "token": token, "password": password }),
        )
        .await
}

/// Checks a reset message as received: what every message has, the words, the link; returns
/// the link.
pub(crate) fn check_reset_message(msg: &Value, base: &str, to_name: &str, to: &str) -> String {
    let (text, html) = message_parts(
        msg,
        &format!("{to_name} <{to}>"),
        "Reset your password for Acme Support",
    );
    assert!(
        text.contains("Acme Support") && text.contains(" UTC, from the address"),
        "{text}"
    );
    assert!(text.contains(&format!("Hello {to_name},")), "{text}");
    the_link(&text, &html, base, "/reset")
}

/// Sets a password on a link's page (`/invite/…`, `/reset/…`) as a person would: typed twice
/// differently first (refused with the form again, the link still working), then the same
/// twice. The answer to that; it must redirect.
pub(crate) async fn set_password_on_page(browser: &Client, page: &str, password: &str) -> Response {
    let differ = browser
        .post_form(
            page,
            &[
                ("password", password),
                ("confirm", "something else entirely"),
            ],
        )
        .await;
    assert_eq!(differ.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        differ.text.contains("The two passwords differ"),
        "{}",
        differ.text
    );
    browser
        .post_form(page, &[("password", password), ("confirm", password)])
        .await
        .expect_status(StatusCode::SEE_OTHER)
}
