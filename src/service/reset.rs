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
use crate::domain::password::{self, MAX_PASSWORD_CHARS};
use crate::domain::session::EndReason;
use crate::domain::zone::Zone;
use crate::store::{NewMail, ResetRequest, Which};

use super::ending::Scope;
use super::throttling::address_key;
use super::{
    Service, ServiceError, ServiceResult, limiter, new_id, passwords, random_hex, token_hash,
};

/// The kind of the outbox rows of reset messages.
pub const RESET_KIND: &str = "password_reset";

/// A link in the message, for one account on the address.
struct ResetLink {
    role: &'static str,
    url: String,
}

#[derive(Template)]
#[template(path = "mail/password_reset.txt")]
struct ResetText<'a> {
    name: &'a str,
    account: &'a str,
    at: &'a str,
    ip: &'a str,
    links: &'a [ResetLink],
}

#[derive(Template)]
#[template(path = "mail/password_reset.html")]
struct ResetHtml<'a> {
    name: &'a str,
    account: &'a str,
    at: &'a str,
    ip: &'a str,
    links: &'a [ResetLink],
}

/// Tokens in links are hex: anything else (or longer) is no token of ours.
pub(super) fn plausible_token(token: &str) -> bool {
    token.len() == TOKEN_BYTES * 2 && token.bytes().all(|b| b.is_ascii_hexdigit())
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
        let Some(first) = people.first() else {
            return Ok(());
        };
        let account = self.store.account(account_id).await?;
        let now = self.now();
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
        let text = ResetText {
            name: &name,
            account: &account_name,
            at: &at,
            ip: &shown_ip,
            links: &links,
        }
        .render()
        .map_err(|e| ServiceError::Internal(format!("reset message: {e}")))?;
        let html = ResetHtml {
            name: &name,
            account: &account_name,
            at: &at,
            ip: &shown_ip,
            links: &links,
        }
        .render()
        .map_err(|e| ServiceError::Internal(format!("reset message: {e}")))?;
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
        password::check_new_password(&new_password)
            .map_err(|e| ServiceError::invalid("password", e.to_string()))?;
        if new_password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(ServiceError::invalid("password", "password is too long"));
        }
        let token = token.trim();
        if !plausible_token(token) {
            return Err(ServiceError::LinkExpired);
        }
        let hash = passwords::hash(new_password).await?;
        let Some(used) = self
            .store
            .use_password_reset(account_id, &token_hash(token), &hash, self.now())
            .await?
        else {
            return Err(ServiceError::LinkExpired);
        };
        let member = self.store.member(&used.account_id, &used.member_id).await?;
        self.audit(
            &used.account_id,
            AuditKind::PasswordReset,
            Some(&used.member_id),
            Some(&used.member_id),
            Some(ip),
            "password set with a link sent by e-mail".to_string(),
        )
        .await;
        self.end(
            Scope::Account(&used.account_id),
            Which::People {
                kind: member.kind,
                ids: vec![member.id.clone()],
            },
            EndReason::PasswordReset,
            None,
        )
        .await?;
        self.forget_person(&used.account_id, &member.id, member.kind)
            .await;
        Ok(())
    }

    /// Whether a reset token is one that still works, for the page that asks for the new
    /// password (which says at once when the link is spent).
    pub async fn reset_link_usable(&self, account_id: &str, token: &str) -> ServiceResult<bool> {
        let token = token.trim();
        if !plausible_token(token) {
            return Ok(false);
        }
        Ok(self
            .store
            .password_reset_usable(account_id, &token_hash(token), self.now())
            .await?)
    }

    /// Counts an attempt against the client's address, with sign-in's limit for addresses
    /// (and in the same counts), or refuses it (429).
    async fn reserve_address_attempt(&self, ip: ClientIp) -> ServiceResult<()> {
        let now = self.now();
        let keys = vec![token_hash(&format!("ip:{}", address_key(ip)))];
        let wait = |windows: &[crate::store::FailureWindow]| {
            windows
                .iter()
                .filter_map(|w| limiter::wait_secs(*w, limiter::PER_IP, now))
                .max()
        };
        let allow = |windows: &[crate::store::FailureWindow]| wait(windows).is_none();
        match self
            .store
            .reserve_signin_attempt(&keys, now - limiter::WINDOW, now, &allow)
            .await?
        {
            Ok(_) => Ok(()),
            Err(windows) => Err(ServiceError::RateLimited {
                retry_after_secs: wait(&windows).unwrap_or(1),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_have_one_shape() {
        assert!(super::plausible_token(&"ab".repeat(32)));
        assert!(!super::plausible_token(&"ab".repeat(31)));
        assert!(!super::plausible_token(&"zz".repeat(32)));
        assert!(!super::plausible_token(&"a".repeat(10_000)));
    }
}
