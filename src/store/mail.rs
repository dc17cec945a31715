//! E-mail: the outbox of messages (written inside the transaction of the change that causes
//! them, claimed by the mail worker with a lease), the password-reset links whose request
//! writes one, and the sign-in alerts' policy and "This wasn't me" links (written with the
//! session they are about, by `SessionStore::start_session`).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::ClientIp;
use crate::domain::mail::SigninAlerts;
use crate::domain::time::Millis;

/// A message to queue, as the service rendered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    /// `mail_…`; also the local part of the `Message-ID`.
    pub id: String,
    pub account_id: String,
    /// What the message is (`password_reset`); the per-address limit counts by it.
    pub kind: String,
    /// The address as normalised (`domain::email::normalize`), for the limit.
    pub recipient_norm: String,
    pub recipient: String,
    pub recipient_name: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Mail {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    pub recipient: String,
    pub recipient_name: String,
    pub subject: String,
    /// Empty once the message was sent or failed (it may have held a single-use link).
    pub text_body: String,
    pub html_body: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
}

/// What became of one attempt, as the worker decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailResult {
    /// `pending` (try again at `next_attempt_at`), `sent` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub sent_at: Option<Millis>,
}

/// A request for password-reset links, made in one transaction: a link (its token's hash) for
/// each account on the address, and the one message that carries them.
#[derive(Debug, Clone)]
pub struct ResetRequest {
    /// (member id, SHA-256 of the token) for each account the message links to.
    pub links: Vec<(String, String)>,
    pub expires_at: Millis,
    pub mail: NewMail,
    pub now: Millis,
    /// At most this many messages of this kind to this address since `window_start`; past
    /// it nothing is written.
    pub max_per_window: i64,
    pub window_start: Millis,
}

/// A sign-in alert, written in the transaction that starts the session it is about: its
/// "This wasn't me" link (the token's hash) and the message that carries it.
#[derive(Debug, Clone)]
pub struct NewSigninAlert {
    pub token_hash: String,
    pub expires_at: Millis,
    pub mail: NewMail,
}

/// The session a usable "This wasn't me" link is about, as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SigninAlertLink {
    pub member_id: String,
    pub session_id: String,
    pub started_at: Millis,
    pub ip: ClientIp,
    pub device: String,
    /// The session already ended (signed out, expired, ended by someone).
    pub session_ended: bool,
}

/// A "This wasn't me" link that was used: the session to end, and the reset link made for
/// its person (none when they are disabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedSigninAlert {
    pub member_id: String,
    pub session_id: String,
    pub reset_link: bool,
}

/// The outbox and reset links.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Writes the reset links and their message in one transaction, unless the address already
    /// had `max_per_window` messages of that kind since `window_start` (checked under a lock on
    /// the address, so requests at once cannot all slip under the limit). Returns whether it
    /// was written.
    async fn request_password_reset(&self, r: &ResetRequest) -> StoreResult<bool>;
    /// How many messages of `kind` the address had since `since`, read as
    /// [`MailStore::request_password_reset`] reads it (a write transaction, the address
    /// locked) and writing nothing: a request for an address nobody has does the same work.
    async fn count_mail_to(
        &self,
        account_id: &str,
        kind: &str,
        recipient_norm: &str,
        since: Millis,
    ) -> StoreResult<i64>;
    /// Claims up to `limit` messages due at `now` until `lease_until`, oldest first, never one
    /// another caller holds (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one
    /// `UPDATE … RETURNING` under the write lock). A claim whose lease ran out (its instance
    /// died) can be claimed again.
    async fn claim_mail(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
    ) -> StoreResult<Vec<Mail>>;
    /// Records an attempt's result and releases the claim; a message sent or failed keeps no
    /// body.
    async fn finish_mail(&self, id: &str, result: &MailResult) -> StoreResult<()>;
    /// One message by id.
    async fn mail(&self, id: &str) -> StoreResult<Mail>;
    /// The messages to an address (normalised) in an account, newest first.
    async fn mail_to(&self, account_id: &str, recipient_norm: &str) -> StoreResult<Vec<Mail>>;
    /// Messages neither sent nor failed, in every account (the backlog).
    async fn mail_backlog(&self) -> StoreResult<i64>;
    /// Who the account tells about sign-ins from new browsers (the defaults when it never
    /// said).
    async fn signin_alerts(&self, account_id: &str) -> StoreResult<SigninAlerts>;
    async fn set_signin_alerts(&self, account_id: &str, alerts: SigninAlerts) -> StoreResult<()>;
    /// The session an unused, unexpired "This wasn't me" link of the account is about.
    async fn signin_alert_link(
        &self,
        account_id: &str,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<SigninAlertLink>>;
    /// Uses a "This wasn't me" link of the account: one conditional UPDATE marks it used if
    /// it is unused and unexpired at `now` (of two uses at once exactly one gets it), and in
    /// the same transaction, unless the person is disabled, writes a password-reset link
    /// (`reset_token_hash`, expiring at `reset_expires_at`) for them. `None` for an unknown,
    /// used or expired token.
    async fn use_signin_alert(
        &self,
        account_id: &str,
        token_hash: &str,
        reset_token_hash: &str,
        reset_expires_at: Millis,
        now: Millis,
    ) -> StoreResult<Option<UsedSigninAlert>>;
}
