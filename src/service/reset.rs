//! Self-service password reset: asking for links by e-mail (the same answer whether or not the
//! address is known, at most three messages an address an hour, throttled by client address
//! with sign-in), and setting a new password with one (single use, one hour), which ends every
//! session of that person through the one ending path and keeps their second factor.

use askama::Template;

use crate::domain::ClientIp;
use crate::domain::audit::AuditKind;
use crate::domain::email::Email;
use crate::domain::mail::{
    RESET_LINK_TTL, RESET_WINDOW, RESETS_PER_WINDOW, TOKEN_BYTES, human_time, one_line_name,
};
use crate::domain::member::MemberKind;
use crate::domain::session::EndReason;
use crate::domain::zone::Zone;
use crate::store::{NewMail, PasswordLink, ResetRequest, Which};

use super::ending::Scope;
use super::mail::render_parts;
use super::throttling::address_key;
use super::{Service, ServiceError, ServiceResult, limiter, new_id, random_hex, token_hash};

/// The kind of the outbox rows of reset messages.
pub const RESET_KIND: &str = "password_reset";

/// A link in the message, for one account on the address.
struct ResetLink {
    role: &'static str,
    url: String,
}

/// What a reset message says.
struct Reset<'a> {
    name: &'a str,
    account: &'a str,
    at: &'a str,
    ip: &'a str,
    links: &'a [ResetLink],
}

#[derive(Template)]
#[template(path = "mail/password_reset.txt")]
struct ResetText<'a> {
    m: &'a Reset<'a>,
}

#[derive(Template)]
#[template(path = "mail/password_reset.html")]
struct ResetHtml<'a> {
    m: &'a Reset<'a>,
}

impl Service {
    /// Queues a message with a reset link for each enabled account on `email` in the account,
    /// unless the address already had [`RESETS_PER_WINDOW`] of them within the hour. Unknown
    /// and disabled addresses get nothing, and the caller cannot tell: the answer is the same.
    /// Counted against the client's address like a sign-in attempt.
    #[tracing::instrument(skip_all, fields(account = %account_id))]
    pub async fn request_password_reset(
        &self,
        account_id: &str,
        email: &str,
        ip: ClientIp,
    ) -> ServiceResult<()> {
        let address =
            Email::parse(email).map_err(|e| ServiceError::invalid("email", e.to_string()))?;
        self.reserve_address_attempt(ip).await?;
        let norm = address.normalized().to_string();
        let people: Vec<_> = self
            .store
            .credentials_by_email(account_id, &norm)
            .await?
            .into_iter()
            .map(|c| c.member)
            .filter(|m| !m.disabled)
            .collect();
        // Read whoever asks, so that the known and the unknown path do the same reads.
        let account = self.store.account(account_id).await?;
        let now = self.now();
        let Some(first) = people.first() else {
            return self.reset_for_nobody(account_id, &norm, ip, now).await;
        };
        let mut links = Vec::new();
        let mut rows = Vec::new();
        // Agent first, then administrator, whatever order the store gave.
        let mut ordered = people.clone();
        ordered.sort_by_key(|m| m.kind != MemberKind::Agent);
        for m in &ordered {
            let token = random_hex(TOKEN_BYTES);
            rows.push((m.id.clone(), token_hash(&token)));
            links.push(ResetLink {
                role: match m.kind {
                    MemberKind::Agent => "agent",
                    MemberKind::Admin => "administrator",
                },
                url: self.link(&account.slug, &format!("/reset/{token}")),
            });
        }
        let name = one_line_name(&first.name);
        // In UTC, and in the person's own zone where they set one (the agent's first, as the
        // links are ordered, for a linked pair).
        let zone = ordered
            .iter()
            .find_map(|m| m.time_zone.as_deref())
            .map(|z| Zone::or_utc(Some(z)));
        let at = human_time(now, zone.as_ref());
        let account_name = one_line_name(&account.name);
        let shown_ip = ip.to_string();
        let m = Reset {
            name: &name,
            account: &account_name,
            at: &at,
            ip: &shown_ip,
            links: &links,
        };
        let (text, html) = render_parts(ResetText { m: &m }, ResetHtml { m: &m }, "reset")?;
        let request = ResetRequest {
            links: rows,
            expires_at: now + RESET_LINK_TTL,
            mail: NewMail {
                id: new_id("mail"),
                account_id: account_id.to_string(),
                kind: RESET_KIND.to_string(),
                recipient_norm: norm,
                recipient: first.email.clone(),
                recipient_name: first.name.clone(),
                subject: format!("Reset your password for {account_name}"),
                text_body: text,
                html_body: html,
            },
            now,
            max_per_window: RESETS_PER_WINDOW,
            window_start: now - RESET_WINDOW,
        };
        if !self.store.request_password_reset(&request).await? {
            tracing::info!("password reset not sent: this address had its messages this hour");
            return Ok(());
        }
        self.wake_mail();
        for m in &ordered {
            self.audit(
                account_id,
                AuditKind::PasswordResetRequested,
                None,
                Some(&m.id),
                Some(ip),
                format!("password reset link sent to {}", m.email),
            )
            .await;
        }
        Ok(())
    }

    /// A request for an address with no enabled account does the work a known address's
    /// does, minus the message: the address's count read in a write transaction under the
    /// same lock, and one audit write (an entry per client address and hour that counts such
    /// requests, as unknown sign-ins are counted), so the time of the answer does not tell
    /// whether the address is known. BENCHMARKS.md has the two measured side by side.
    async fn reset_for_nobody(
        &self,
        account_id: &str,
        norm: &str,
        ip: ClientIp,
        now: crate::domain::time::Millis,
    ) -> ServiceResult<()> {
        self.store
            .count_mail_to(account_id, RESET_KIND, norm, now - RESET_WINDOW)
            .await?;
        let hour = now.div_euclid(RESET_WINDOW);
        let address = address_key(ip);
        let key = token_hash(&format!("reset-unknown:{account_id}:{address}:{hour}"));
        let entry = crate::store::AuditEntry {
            id: format!("au_{}", &key[..24]),
            account_id: account_id.to_string(),
            at: now,
            kind: AuditKind::PasswordResetRequested.as_str().to_string(),
            actor: None,
            target: None,
            ip: Some(ip),
            detail: format!(
                "password resets asked from {address} for e-mail addresses with no enabled \
                 account here, this hour (nothing sent)"
            ),
            count: 1,
        };
        if let Err(e) = self.store.count_audit(&entry).await {
            tracing::error!(error = %e, "could not count a reset request");
        }
        Ok(())
    }

    /// Sets a new password with a reset link's token and ends every session of that person
    /// (reason `password_reset`); the second factor stays. An unknown, used or expired token
    /// is [`ServiceError::LinkExpired`], and changes nothing.
    #[tracing::instrument(skip_all)]
    pub async fn confirm_password_reset(
        &self,
        account_id: &str,
        token: &str,
        new_password: String,
        ip: ClientIp,
    ) -> ServiceResult<()> {
        let member = self
            .set_password_with_link(PasswordLink::Reset, account_id, token, new_password)
            .await?;
        self.audit(
            &member.account_id,
            AuditKind::PasswordReset,
            Some(&member.id),
            Some(&member.id),
            Some(ip),
            "password set with a link sent by e-mail".to_string(),
        )
        .await;
        self.end(
            Scope::Account(&member.account_id),
            Which::People {
                kind: member.kind,
                ids: vec![member.id.clone()],
            },
            EndReason::PasswordReset,
            None,
        )
        .await?;
        self.forget_person(&member.account_id, &member.id, member.kind)
            .await;
        Ok(())
    }

    /// Counts an attempt against the client's address, with sign-in's limit for addresses
    /// (and in the same counts), or refuses it (429).
    async fn reserve_address_attempt(&self, ip: ClientIp) -> ServiceResult<()> {
        let key = token_hash(&format!("ip:{}", address_key(ip)));
        self.reserve_limited(&[key], &[Some(limiter::PER_IP)])
            .await
            .map(drop)
    }
}
