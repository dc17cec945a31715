//! How e-mail leaves: an SMTP server (`--smtp-url`: STARTTLS or TLS from the first byte,
//! authentication, timeouts, one more trusted CA) or, without one, RFC 5322 `.eml` files in
//! `--mail-dir`. Builds each message from its outbox row with lettre's typed headers, so
//! nothing a person typed reaches a header unescaped.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::{self, ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::domain::mail::{Failure, one_line_name};
use crate::store::Mail;

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Smtp(SmtpSettings),
    /// One `.eml` file per message in this directory (created when missing).
    Files(PathBuf),
}

impl Default for Transport {
    fn default() -> Self {
        Transport::Files(PathBuf::from("deskward-mail"))
    }
}

/// How TLS is used with an `smtp://` or `smtps://` server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// `smtp://`: STARTTLS when the server offers it, plain otherwise.
    StartTlsIfOffered,
    /// `smtp://…?tls=required`: refuses to send without STARTTLS.
    StartTlsRequired,
    /// `smtps://`: TLS from the first byte.
    Implicit,
}

/// An SMTP server as `--smtp-url` names it.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub user: Option<String>,
    pub password: Option<String>,
    /// PEM text of one more CA to trust (`--smtp-ca-file`).
    pub extra_ca_pem: Option<Vec<u8>>,
    /// For connecting and for each command.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    // The password never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The timeout for connecting and for each SMTP command.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

impl SmtpSettings {
    /// Reads `smtp://[user:pass@]host[:port][?tls=required]` or `smtps://…`; the error says
    /// what is wrong (the caller names the flag).
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
        let (default_port, mut tls) = match url.scheme() {
            "smtp" => (25, TlsMode::StartTlsIfOffered),
            "smtps" => (465, TlsMode::Implicit),
            other => {
                return Err(format!(
                    "the scheme must be smtp:// or smtps://, not {other}://"
                ));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if !matches!(url.path(), "" | "/") {
            return Err(format!("the URL takes no path, found {}", url.path()));
        }
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), v.as_ref()) {
                ("tls", "required") if tls == TlsMode::StartTlsIfOffered => {
                    tls = TlsMode::StartTlsRequired
                }
                ("tls", "required") => {}
                ("tls", other) => {
                    return Err(format!(
                        "tls= takes only \"required\" (STARTTLS or nothing), not \"{other}\""
                    ));
                }
                (other, _) => {
                    return Err(format!(
                        "unknown parameter \"{other}\" (the only one is tls=required)"
                    ));
                }
            }
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| "the user or password is not UTF-8 once decoded".to_string())
        };
        let user = match url.username() {
            "" => None,
            u => Some(decode(u)?),
        };
        let password = url.password().map(decode).transpose()?;
        if password.is_some() && user.is_none() {
            return Err("a password without a user name".to_string());
        }
        Ok(SmtpSettings {
            host,
            port: url.port().unwrap_or(default_port),
            tls,
            user,
            password,
            extra_ca_pem: None,
            timeout: SMTP_TIMEOUT,
        })
    }

    /// Reads `--smtp-ca-file` (PEM) and checks that it holds a certificate.
    pub fn with_ca_file(mut self, path: &std::path::Path) -> Result<Self, String> {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        // lettre takes a file without any certificate in it as an empty list.
        let has_cert = String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----");
        if !has_cert || Certificate::from_pem(&pem).is_err() {
            return Err(format!("{} holds no PEM certificate", path.display()));
        }
        self.extra_ca_pem = Some(pem);
        Ok(self)
    }

    /// The lettre transport these settings describe.
    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let params = || -> Result<TlsParameters, String> {
            let mut b = TlsParameters::builder(self.host.clone());
            if let Some(pem) = &self.extra_ca_pem {
                let cert = Certificate::from_pem(pem).map_err(|e| e.to_string())?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| e.to_string())
        };
        let tls = match self.tls {
            TlsMode::StartTlsIfOffered => Tls::Opportunistic(params()?),
            TlsMode::StartTlsRequired => Tls::Required(params()?),
            TlsMode::Implicit => Tls::Wrapper(params()?),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.clone())
            .port(self.port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let Some(user) = &self.user {
            b = b.credentials(Credentials::new(
                user.clone(),
                self.password.clone().unwrap_or_default(),
            ));
        }
        Ok(b.build())
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): out-of-office replies and other robots leave
/// the message alone.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl header::Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

/// Why an attempt did not send, and what kind of failure it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub failure: Failure,
    pub message: String,
}

impl SendError {
    fn permanent(message: impl Into<String>) -> Self {
        SendError {
            failure: Failure::Permanent,
            message: message.into(),
        }
    }

    fn transient(message: impl Into<String>) -> Self {
        SendError {
            failure: Failure::Transient,
            message: message.into(),
        }
    }
}

/// The RFC 5322 message of an outbox row, from `from`. The recipient's name is made one line
/// and encoded by lettre; the subject and names are typed header values, never raw text.
pub fn build_message(mail: &Mail, from: &Mailbox) -> Result<Message, SendError> {
    let to_address = mail.recipient.parse().map_err(|_| {
        SendError::permanent(format!("\"{}\" is not an e-mail address", mail.recipient))
    })?;
    let name = one_line_name(&mail.recipient_name);
    let to = Mailbox::new((!name.is_empty()).then_some(name), to_address);
    let domain = from.email.domain().to_string();
    let date = std::time::UNIX_EPOCH
        + Duration::from_millis(u64::try_from(mail.created_at).unwrap_or_default());
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(one_line_name(&mail.subject))
        .message_id(Some(format!("<{}@{domain}>", mail.id)))
        .date(date)
        .header(AutoSubmitted)
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(mail.text_body.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(mail.html_body.clone()),
                ),
        )
        .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))
}

/// A ready transport: the SMTP connection settings, or the folder.
pub enum Sender {
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
    Files(PathBuf),
}

impl Sender {
    pub fn new(transport: &Transport) -> Result<Self, String> {
        Ok(match transport {
            Transport::Smtp(s) => Sender::Smtp(Box::new(s.transport()?)),
            Transport::Files(dir) => Sender::Files(dir.clone()),
        })
    }

    /// Sends one message. A 5xx answer is a permanent failure; no answer, a timeout, TLS
    /// trouble or a 4xx are transient.
    pub async fn send(&self, mail: &Mail, from: &Mailbox) -> Result<(), SendError> {
        let message = build_message(mail, from)?;
        match self {
            Sender::Smtp(t) => match t.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::permanent(smtp_error(&e))),
                Err(e) => Err(SendError::transient(smtp_error(&e))),
            },
            Sender::Files(dir) => {
                let path = write_eml(dir, mail, &message.formatted())
                    .await
                    .map_err(|e| {
                        SendError::transient(format!("cannot write the .eml file: {e}"))
                    })?;
                tracing::info!(file = %path.display(), kind = %mail.kind, "e-mail written");
                Ok(())
            }
        }
    }
}

/// What an SMTP error says, on one line.
fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    let text = e.to_string().replace(['\r', '\n'], " ");
    match e.status() {
        Some(code) => format!("SMTP {code}: {text}"),
        None if e.is_timeout() => format!("no answer within {} s: {text}", SMTP_TIMEOUT.as_secs()),
        None => text,
    }
}

/// Writes the message as `<created_at>-<id>.eml`, whole or not at all (a temporary file
/// renamed into place, so a reader of the folder never sees half a message).
async fn write_eml(dir: &std::path::Path, mail: &Mail, bytes: &[u8]) -> std::io::Result<PathBuf> {
    tokio::fs::create_dir_all(dir).await?;
    let path = dir.join(format!("{}-{}.eml", mail.created_at, mail.id));
    let tmp = dir.join(format!(".{}.tmp", mail.id));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, &path).await?;
    Ok(path)
}

/// Reads `--mail-from "Name <address>"` (or a bare address).
pub fn parse_from(text: &str) -> Result<Mailbox, String> {
    let t = text.trim();
    if t.contains(['\r', '\n']) {
        return Err("must be one line".to_string());
    }
    t.parse::<Mailbox>()
        .map_err(|e| format!("\"{t}\" is not \"Name <address>\" or an address ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let s = SmtpSettings::parse("smtp://bob:p%40ss@mail.example.com:587?tls=required").unwrap();
        assert_eq!(s.host, "mail.example.com");
        assert_eq!(s.port, 587);
        assert_eq!(s.tls, TlsMode::StartTlsRequired);
        assert_eq!(s.user.as_deref(), Some("bob"));
        assert_eq!(s.password.as_deref(), Some("p@ss"));
        let s = SmtpSettings::parse("smtps://mail.example.com").unwrap();
        assert_eq!((s.port, s.tls), (465, TlsMode::Implicit));
        let s = SmtpSettings::parse("smtp://127.0.0.1").unwrap();
        assert_eq!((s.port, s.tls), (25, TlsMode::StartTlsIfOffered));
        for bad in [
            "http://mail.example.com",
            "smtp://",
            "smtp://mail.example.com/x",
            "smtp://mail.example.com?tls=maybe",
            "smtp://mail.example.com?port=2",
            "not a url",
        ] {
            assert!(SmtpSettings::parse(bad).is_err(), "{bad}");
        }
        assert!(
            !format!("{:?}", SmtpSettings::parse("smtp://u:secret@h").unwrap()).contains("secret")
        );
    }

    fn row(name: &str, subject: &str) -> Mail {
        Mail {
            id: "mail_0123".into(),
            account_id: "ac_1".into(),
            kind: "password_reset".into(),
            recipient: "ann@example.com".into(),
            recipient_name: name.into(),
            subject: subject.into(),
            text_body: "Hello\r\n.\r\nBcc: x@y.z\r\n".into(),
            html_body: "<p>Hello</p>".into(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            created_at: 1_796_666_645_000,
            sent_at: None,
        }
    }

    /// The header section of a formatted message, unfolded (continuation lines joined).
    fn headers(m: &Message) -> Vec<String> {
        let text = String::from_utf8(m.formatted()).unwrap();
        let head = text.split("\r\n\r\n").next().unwrap().replace("\r\n ", " ");
        head.split("\r\n").map(str::to_string).collect()
    }

    #[test]
    fn what_people_typed_never_makes_a_header() {
        let from = parse_from("Deskward <noreply@example.com>").unwrap();
        for (name, subject) in [
            (
                "Ann\r\nBcc: evil@example.com",
                "Reset\r\nBcc: evil@example.com",
            ),
            ("Ann\nX-Injected: 1", "Subject\nX-Injected: 1"),
            (&"N".repeat(10_240) as &str, &"S".repeat(10_240) as &str),
            ("Ännchen \"the\" <boss>, Inc.", "Passwort zurücksetzen"),
        ] {
            let m = build_message(&row(name, subject), &from).unwrap();
            let hs = headers(&m);
            let names: Vec<&str> = hs.iter().map(|h| h.split(':').next().unwrap()).collect();
            assert_eq!(
                names,
                [
                    "From",
                    "To",
                    "Subject",
                    "Message-ID",
                    "Date",
                    "Auto-Submitted",
                    "MIME-Version",
                    "Content-Type"
                ],
                "{hs:#?}"
            );
            // The text stays inside its own header, as words, on no line of its own.
            let text = String::from_utf8(m.formatted()).unwrap();
            let head = text.split("\r\n\r\n").next().unwrap();
            assert!(
                !head.contains("\nBcc") && !head.contains("\nX-Injected"),
                "{head}"
            );
            // Folded into lines of at most 998 octets (RFC 5322).
            assert!(
                text.split("\r\n").all(|l| l.len() <= 998),
                "a line too long"
            );
        }
        let m = build_message(&row("Ann", "Hi"), &from).unwrap();
        let hs = headers(&m);
        assert!(
            hs.contains(&"Auto-Submitted: auto-generated".to_string()),
            "{hs:#?}"
        );
        assert!(
            hs.contains(&"Message-ID: <mail_0123@example.com>".to_string()),
            "{hs:#?}"
        );
        assert!(
            hs.iter()
                .any(|h| h.starts_with("Date: Mon, 07 Dec 2026 18:04:05")),
            "{hs:#?}"
        );
    }

    #[test]
    fn an_address_that_is_not_one_fails_for_good() {
        let from = parse_from("noreply@example.com").unwrap();
        let mut m = row("Ann", "Hi");
        m.recipient = "not an address".into();
        let e = build_message(&m, &from).unwrap_err();
        assert_eq!(e.failure, Failure::Permanent);
    }

    #[test]
    fn from_addresses() {
        let m = parse_from("Deskward <noreply@example.com>").unwrap();
        assert_eq!(m.email.to_string(), "noreply@example.com");
        assert!(parse_from("noreply@example.com").is_ok());
        assert!(parse_from("Deskward <not an address>").is_err());
        assert!(parse_from("a@b.c\r\nBcc: x@y.z").is_err());
    }
}
