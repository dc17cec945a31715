//! Invitations: a person added without a password gets an e-mail with a single-use link (seven
//! days); the link's page sets their password and signs them in (through the second-factor
//! set-up where the account requires one). A new link spends the earlier ones. Nobody signs in
//! as an invited person with a password before they accept.

use askama::Template;

use crate::domain::ClientIp;
use crate::domain::audit::AuditKind;
use crate::domain::email;
use crate::domain::mail::{INVITATION_LINK_TTL, TOKEN_BYTES, human_time, one_line_name};
use crate::domain::member::MemberKind;
use crate::domain::password::{self, MAX_PASSWORD_CHARS};
use crate::domain::policy::Actor;
use crate::events::Event;
use crate::store::{Member, NewInvitation, NewMail, NewMember};

use super::reset::plausible_token;
use super::signin::SignInStep;
use super::team::address_rule;
use super::{Service, ServiceError, ServiceResult, new_id, passwords, random_hex, token_hash};

/// The kind of the outbox rows of invitation messages.
pub const INVITATION_KIND: &str = "invitation";

#[derive(Template)]
#[template(path = "mail/invitation.txt")]
struct InvitationText<'a> {
    name: &'a str,
    inviter: &'a str,
    account: &'a str,
    role: &'a str,
    url: &'a str,
    expires: &'a str,
    mfa_required: bool,
}

#[derive(Template)]
#[template(path = "mail/invitation.html")]
struct InvitationHtml<'a> {
    name: &'a str,
    inviter: &'a str,
    account: &'a str,
    role: &'a str,
    url: &'a str,
    expires: &'a str,
    mfa_required: bool,
}

/// Whom an invitation is for, as the message names them.
struct Invitee<'a> {
    kind: MemberKind,
    name: &'a str,
    email: &'a str,
}

impl Service {
    /// Adds `m` as an invited person and queues their invitation, in one transaction (the
    /// caller audits both).
    pub(super) async fn add_invited(&self, actor: &Actor, m: &NewMember) -> ServiceResult<Member> {
        let invitation = self
            .invitation(
                actor,
                Invitee {
                    kind: m.kind,
                    name: &m.name,
                    email: &m.email,
                },
            )
            .await?;
        let member = self
            .store
            .insert_invited_member(m, &address_rule(actor), &invitation)
            .await?;
        self.wake_mail();
        Ok(member)
    }

    /// Sends a person who has not accepted yet a new invitation; their earlier links stop
    /// working. Needs what changing their password needs; someone who already chose a
    /// password (or is disabled) is [`ServiceError::NotInvited`].
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, kind = ?kind, id = %id))]
    pub async fn resend_invitation(
        &self,
        actor: &Actor,
        kind: MemberKind,
        id: &str,
    ) -> ServiceResult<()> {
        let member = self.get_person(actor, kind, id).await?.member;
        self.require_administer(actor, &member)?;
        if !member.invited || member.disabled {
            return Err(ServiceError::NotInvited);
        }
        let invitation = self
            .invitation(
                actor,
                Invitee {
                    kind: member.kind,
                    name: &member.name,
                    email: &member.email,
                },
            )
            .await?;
        if !self
            .store
            .renew_invitation(&actor.account_id, &member.id, &invitation)
            .await?
        {
            // Accepted (or disabled) between the read and the write.
            return Err(ServiceError::NotInvited);
        }
        self.wake_mail();
        self.audit_by(
            actor,
            AuditKind::InvitationSent,
            Some(&member.id),
            format!(
                "invitation sent again to {}; earlier links no longer work",
                member.email
            ),
        )
        .await;
        Ok(())
    }

    /// Accepts an invitation: sets the person's password and signs them in like a sign-in's
    /// password step would (a restricted session to set up the second factor first, where the
    /// account requires one). An unknown, used or expired token is [`ServiceError::LinkExpired`]
    /// and changes nothing.
    #[tracing::instrument(skip_all, fields(account = %account_id))]
    pub async fn accept_invitation(
        &self,
        account_id: &str,
        token: &str,
        new_password: String,
        ip: ClientIp,
        user_agent: &str,
    ) -> ServiceResult<SignInStep> {
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
        let Some(accepted) = self
            .store
            .accept_invitation(account_id, &token_hash(token), &hash, self.now())
            .await?
        else {
            return Err(ServiceError::LinkExpired);
        };
        let member = self
            .store
            .member(&accepted.account_id, &accepted.member_id)
            .await?;
        self.audit(
            &member.account_id,
            AuditKind::InvitationAccepted,
            Some(&member.id),
            Some(&member.id),
            Some(ip),
            format!("invitation accepted by {}: password chosen", member.email),
        )
        .await;
        self.cache.forget_view(&member.id);
        self.publish(Event::MemberChanged {
            account_id: member.account_id.clone(),
            member_id: member.id.clone(),
            member_kind: member.kind,
        });
        let norm = email::normalize(&member.email);
        self.password_proven(member, &norm, ip, user_agent, None)
            .await
    }

    /// Whether an invitation token still works, for the page that asks for the password
    /// (which says at once when the link is spent).
    pub async fn invitation_usable(&self, account_id: &str, token: &str) -> ServiceResult<bool> {
        let token = token.trim();
        if !plausible_token(token) {
            return Ok(false);
        }
        Ok(self
            .store
            .usable_invitation(account_id, &token_hash(token), self.now())
            .await?
            .is_some())
    }

    /// A new link for `who` and the message that carries it, rendered.
    async fn invitation(&self, actor: &Actor, who: Invitee<'_>) -> ServiceResult<NewInvitation> {
        let account = self.store.account(&actor.account_id).await?;
        let inviter = self
            .store
            .member(&actor.account_id, &actor.member_id)
            .await?;
        let policy = self.store.mfa_policy(&actor.account_id).await?;
        let mfa_required = match who.kind {
            MemberKind::Agent => policy.agents,
            MemberKind::Admin => policy.admins,
        };
        let now = self.now();
        let expires_at = now + INVITATION_LINK_TTL;
        let token = random_hex(TOKEN_BYTES);
        let url = self.link(&account.slug, &format!("/invite/{token}"));
        let name = one_line_name(who.name);
        let inviter = one_line_name(&inviter.name);
        let account_name = one_line_name(&account.name);
        // In UTC: someone not yet signed in has set no time zone of their own.
        let expires = human_time(expires_at, None);
        let role = match who.kind {
            MemberKind::Agent => "an agent",
            MemberKind::Admin => "an administrator",
        };
        let failed = |e: askama::Error| ServiceError::Internal(format!("invitation message: {e}"));
        let text = InvitationText {
            name: &name,
            inviter: &inviter,
            account: &account_name,
            role,
            url: &url,
            expires: &expires,
            mfa_required,
        }
        .render()
        .map_err(failed)?;
        let html = InvitationHtml {
            name: &name,
            inviter: &inviter,
            account: &account_name,
            role,
            url: &url,
            expires: &expires,
            mfa_required,
        }
        .render()
        .map_err(failed)?;
        Ok(NewInvitation {
            token_hash: token_hash(&token),
            expires_at,
            mail: NewMail {
                id: new_id("mail"),
                account_id: actor.account_id.clone(),
                kind: INVITATION_KIND.to_string(),
                recipient_norm: email::normalize(who.email),
                recipient: who.email.to_string(),
                recipient_name: who.name.to_string(),
                subject: format!("{inviter} invited you to {account_name}"),
                text_body: text,
                html_body: html,
            },
            now,
        })
    }
}
