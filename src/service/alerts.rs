//! Sign-in alerts: a person who signs in from a browser without their device pass is told by
//! e-mail, when the account tells people of their kind (Security: `signin_alerts`, by default
//! administrators only). The message is written with the session it is about, in the one
//! transaction that starts it, and carries a single-use "This wasn't me" link that ends that
//! session (reason `ended_by_owner`, through the one ending path) and leads to setting a new
//! password.

use askama::Template;

use crate::domain::ClientIp;
use crate::domain::audit::AuditKind;
use crate::domain::email;
use crate::domain::mail::{
    RESET_LINK_TTL, SIGNIN_ALERT_LINK_TTL, SigninAlerts, TOKEN_BYTES, human_utc, one_line_name,
};
use crate::domain::policy::Actor;
use crate::domain::session::EndReason;
use crate::store::{Member, NewMail, NewSession, NewSigninAlert, SigninAlertLink, Which};

use super::ending::Scope;
use super::links::plausible_token;
use super::mail::render_parts;
use super::settings::{PerRoleChange, SecurityChange};
use super::{Service, ServiceError, ServiceResult, new_id, random_hex, token_hash};

/// The kind of the outbox rows of sign-in alerts.
pub const SIGNIN_ALERT_KIND: &str = "signin_alert";

/// What a sign-in alert says.
struct Alert<'a> {
    name: &'a str,
    account: &'a str,
    at: &'a str,
    device: &'a str,
    ip: &'a str,
    role: &'a str,
    url: &'a str,
}

#[derive(Template)]
#[template(path = "mail/signin_alert.txt")]
struct AlertText<'a> {
    m: &'a Alert<'a>,
}

#[derive(Template)]
#[template(path = "mail/signin_alert.html")]
struct AlertHtml<'a> {
    m: &'a Alert<'a>,
}

/// What using a "This wasn't me" link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertUsed {
    /// The session was live and this ended it (false: it had ended already).
    pub ended: bool,
    /// A reset link's token for the person (none when they are disabled): the page goes on to
    /// set a new password with it.
    pub reset_token: Option<String>,
}

impl Service {
    /// The alert to write with a session starting in a browser without the person's device
    /// pass, if the account tells people of their kind. Builds the message; the caller's
    /// transaction stores it.
    pub(crate) async fn signin_alert(
        &self,
        member: &Member,
        session: &NewSession,
    ) -> ServiceResult<Option<NewSigninAlert>> {
        let alerts = self.store.signin_alerts(&member.account_id).await?;
        if !alerts.for_kind(member.kind) {
            return Ok(None);
        }
        let account = self.store.account(&member.account_id).await?;
        let token = random_hex(TOKEN_BYTES);
        let url = self.link(&account.slug, &format!("/signin-alert/{token}"));
        let name = one_line_name(&member.name);
        let account_name = one_line_name(&account.name);
        let at = human_utc(session.started_at);
        let ip = session.ip.to_string();
        let role = match member.kind {
            crate::domain::member::MemberKind::Agent => "agent",
            crate::domain::member::MemberKind::Admin => "administrator",
        };
        let m = Alert {
            name: &name,
            account: &account_name,
            at: &at,
            device: &session.device,
            ip: &ip,
            role,
            url: &url,
        };
        let (text, html) = render_parts(AlertText { m: &m }, AlertHtml { m: &m }, "alert")?;
        Ok(Some(NewSigninAlert {
            token_hash: token_hash(&token),
            expires_at: session.started_at + SIGNIN_ALERT_LINK_TTL,
            mail: NewMail {
                id: new_id("mail"),
                account_id: member.account_id.clone(),
                kind: SIGNIN_ALERT_KIND.to_string(),
                recipient_norm: email::normalize(&member.email),
                recipient: member.email.clone(),
                recipient_name: member.name.clone(),
                subject: format!("New sign-in to {account_name}"),
                text_body: text,
                html_body: html,
            },
        }))
    }

    /// The session a "This wasn't me" link is about, while the link still works.
    pub async fn signin_alert_link(
        &self,
        account_id: &str,
        token: &str,
    ) -> ServiceResult<Option<SigninAlertLink>> {
        let token = token.trim();
        if !plausible_token(token) {
            return Ok(None);
        }
        Ok(self
            .store
            .signin_alert_link(account_id, &token_hash(token), self.now())
            .await?)
    }

    /// Uses a "This wasn't me" link: ends the session it is about (reason `ended_by_owner`,
    /// by its owner, through the one ending path) and makes a password-reset link for them.
    /// Single use, also when two tabs use it at once; an unknown, used or expired token is
    /// [`ServiceError::LinkExpired`] and changes nothing.
    #[tracing::instrument(skip_all, fields(account = %account_id))]
    pub async fn use_signin_alert(
        &self,
        account_id: &str,
        token: &str,
        ip: ClientIp,
    ) -> ServiceResult<AlertUsed> {
        let token = token.trim();
        if !plausible_token(token) {
            return Err(ServiceError::LinkExpired);
        }
        let now = self.now();
        let reset_token = random_hex(TOKEN_BYTES);
        let Some(used) = self
            .store
            .use_signin_alert(
                account_id,
                &token_hash(token),
                &token_hash(&reset_token),
                now + RESET_LINK_TTL,
                now,
            )
            .await?
        else {
            return Err(ServiceError::LinkExpired);
        };
        let member = self.store.member(account_id, &used.member_id).await?;
        let owner = Actor {
            account_id: account_id.to_string(),
            member_id: member.id.clone(),
            kind: member.kind,
            primary: member.primary,
            permissions: member.permissions.clone(),
            ip,
            session_id: None,
        };
        let ended = self
            .end(
                Scope::Account(account_id),
                Which::Session(used.session_id.clone()),
                EndReason::EndedByOwner,
                Some(&owner),
            )
            .await?;
        self.audit_by(
            &owner,
            AuditKind::SigninAlertUsed,
            Some(&member.id),
            format!(
                "\"This wasn't me\" used for session {}{}",
                used.session_id,
                if ended.is_empty() {
                    " (already ended)"
                } else {
                    ""
                }
            ),
        )
        .await;
        Ok(AlertUsed {
            ended: !ended.is_empty(),
            reset_token: used.reset_link.then_some(reset_token),
        })
    }

    /// Who the account tells about sign-ins from new browsers.
    pub async fn signin_alerts(&self, account_id: &str) -> ServiceResult<SigninAlerts> {
        Ok(self.store.signin_alerts(account_id).await?)
    }

    /// Only the primary administrator may change whether administrators are told (a
    /// sub-administrator could otherwise silence what would tell their superiors of an
    /// intruder), as with the other `admins` settings.
    pub(crate) fn check_signin_alerts_change(
        &self,
        actor: &Actor,
        before: SigninAlerts,
        change: &SecurityChange,
    ) -> ServiceResult<()> {
        signin_alerts_change(before, change).check(
            actor,
            "only the primary administrator may change sign-in alerts for administrators",
        )
    }

    /// Applies the sign-in alerts part of a Security change (checked before anything was
    /// applied), audited.
    pub(crate) async fn change_signin_alerts(
        &self,
        actor: &Actor,
        before: SigninAlerts,
        change: &SecurityChange,
    ) -> ServiceResult<()> {
        let c = signin_alerts_change(before, change);
        let (agents, admins) = c.after();
        if (agents, admins) == c.before {
            return Ok(());
        }
        self.store
            .set_signin_alerts(&actor.account_id, SigninAlerts { agents, admins })
            .await?;
        self.audit_per_role(actor, &c).await;
        Ok(())
    }
}

fn signin_alerts_change(before: SigninAlerts, change: &SecurityChange) -> PerRoleChange {
    PerRoleChange {
        what: "sign-in alerts",
        shown: ("on", "off"),
        before: (before.agents, before.admins),
        agents: change.signin_alerts_agents,
        admins: change.signin_alerts_admins,
    }
}
