//! E-mail as the service sends it: where links point (`--public-url`, per account under
//! `--base-domain`, never a request's `Host`), and the mail worker, one per instance, which
//! claims due messages from the outbox with a lease, sends them through the configured
//! transport (`mailer`), and records each result: sent, tried again later, or failed (audited
//! `mail.failed`, counted). Requests only write outbox rows; none waits for a mail server.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;

use crate::domain::audit::AuditKind;
use crate::domain::mail::{self, Failure};
use crate::domain::time::Millis;
use crate::store::{Mail, MailResult};

use super::Service;
use super::mailer::{Sender, Transport};

/// How the worker sends, and where links point.
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub transport: Transport,
    /// `--mail-from`.
    pub from: Mailbox,
    /// `--public-url`: the origin and prefix links point at. None: the address the server
    /// listens on (and its path prefix), which suits a single machine only.
    pub public_url: Option<url::Url>,
    /// How often the outbox is read when nothing wakes the worker (retries come due, other
    /// instances' messages).
    pub poll: Duration,
    /// Messages sent at once by this instance.
    pub concurrency: usize,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: Transport::default(),
            from: default_from(),
            public_url: None,
            poll: Duration::from_millis(250),
            concurrency: 4,
        }
    }
}

/// A message's two parts, rendered from the same values by its text and its HTML template
/// (`templates/mail/{kind}.txt` and `.html`); `what` names the message in an error.
pub(super) fn render_parts(
    text: impl askama::Template,
    html: impl askama::Template,
    what: &str,
) -> super::ServiceResult<(String, String)> {
    let failed = |e: askama::Error| super::ServiceError::Internal(format!("{what} message: {e}"));
    Ok((
        text.render().map_err(failed)?,
        html.render().map_err(failed)?,
    ))
}

/// The sender when `--mail-from` is not given.
pub fn default_from() -> Mailbox {
    Mailbox::new(
        Some("Deskward".to_string()),
        lettre::Address::new("deskward", "localhost").expect("a valid address"),
    )
}

/// How long a claim is held: four times the SMTP timeout, which a send that connects and
/// answers at all stays well inside, so a live instance finishes first; a crashed instance's
/// claims come free after it (a send slower than this may go out twice: at least once).
pub const MAIL_LEASE_MS: Millis = 60_000;

/// Where links in messages point, set once the server knows its address.
#[derive(Debug, Clone)]
pub(crate) struct MailLinks {
    pub public_url: url::Url,
    /// `--base-domain`: each account's links go to `{slug}.{host of public_url}`.
    pub per_account_host: bool,
}

impl Service {
    /// Sets where links point: `public_url`, and with `per_account_host` each account's
    /// subdomain of it.
    pub fn set_mail_links(&self, public_url: url::Url, per_account_host: bool) {
        let mut links = self.mail_links.write().unwrap_or_else(|e| e.into_inner());
        *links = Some(MailLinks {
            public_url,
            per_account_host,
        });
    }

    /// The absolute URL of `path` (starting with `/`) for the account `slug`.
    pub(crate) fn link(&self, slug: &str, path: &str) -> String {
        let links = self
            .mail_links
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(links) = links else {
            // Not served yet (a command-line use of the service): a relative link.
            return path.to_string();
        };
        let mut url = links.public_url;
        if links.per_account_host
            && let Some(host) = url.host_str().map(str::to_string)
        {
            let _ = url.set_host(Some(&format!("{slug}.{host}")));
        }
        let base = url.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// Wakes the worker: a message was just queued.
    pub(crate) fn wake_mail(&self) {
        self.mail_wake.notify_one();
    }

    /// Sends messages until `stop` turns true. Wakes when a message is queued here, and
    /// every `poll` (retries come due; other instances queue too).
    pub async fn run_mail(
        self: Arc<Self>,
        config: MailConfig,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let sender = match Sender::new(&config.transport) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                tracing::error!(error = %e, "e-mail disabled: the SMTP settings are unusable");
                return;
            }
        };
        let mut tick = tokio::time::interval(config.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let now = self.clock.now();
            let limit = config.concurrency.max(1) as i64;
            match self.store.claim_mail(now, now + MAIL_LEASE_MS, limit).await {
                Ok(batch) if !batch.is_empty() => {
                    let full = batch.len() as i64 == limit;
                    let sends = batch.into_iter().map(|m| {
                        let svc = self.clone();
                        let sender = sender.clone();
                        let from = config.from.clone();
                        async move { svc.send_mail(&sender, &from, m).await }
                    });
                    futures_util::future::join_all(sends).await;
                    if full {
                        // Probably more waiting.
                        continue;
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not read the mail outbox"),
            }
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.mail_wake.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One attempt of one message, and its result recorded.
    async fn send_mail(&self, sender: &Sender, from: &Mailbox, m: Mail) {
        let outcome = sender.send(&m, from).await;
        let now = self.clock.now();
        let attempts = m.attempts + 1;
        let result = match &outcome {
            Ok(()) => MailResult {
                status: "sent".into(),
                attempts,
                next_attempt_at: now,
                last_error: None,
                sent_at: Some(now),
            },
            Err(e) => match mail::next_attempt(attempts, e.failure, now) {
                Some(at) => MailResult {
                    status: "pending".into(),
                    attempts,
                    next_attempt_at: at,
                    last_error: Some(e.message.clone()),
                    sent_at: None,
                },
                None => MailResult {
                    status: "failed".into(),
                    attempts,
                    next_attempt_at: now,
                    last_error: Some(e.message.clone()),
                    sent_at: None,
                },
            },
        };
        // Not recorded (the database is unreachable): the lease runs out and the message is
        // sent again, at least once as promised.
        if let Err(e) = self.store.finish_mail(&m.id, &result).await {
            tracing::warn!(error = %e, mail = %m.id, "could not record an e-mail attempt");
            return;
        }
        match (result.status.as_str(), &outcome) {
            ("sent", _) => {
                self.metrics.mail_sent();
                tracing::debug!(mail = %m.id, kind = %m.kind, attempts, "e-mail sent");
            }
            ("failed", Err(e)) => {
                self.metrics.mail_failed();
                tracing::warn!(mail = %m.id, kind = %m.kind, attempts, error = %e.message, "e-mail failed");
                self.audit(
                    &m.account_id,
                    AuditKind::MailFailed,
                    None,
                    None,
                    None,
                    format!(
                        "{} message to {} not sent after {attempts} {}: {}",
                        m.kind.replace('_', " "),
                        m.recipient,
                        if attempts == 1 { "attempt" } else { "attempts" },
                        e.message
                    ),
                )
                .await;
            }
            (_, Err(e)) => {
                let kind = if e.failure == Failure::Permanent {
                    "refused"
                } else {
                    "not sent"
                };
                tracing::info!(mail = %m.id, attempts, error = %e.message, "e-mail {kind}; trying again later");
            }
            _ => {}
        }
    }
}
