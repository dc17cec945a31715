//! Invitations: a person added without a password gets an e-mail with a single-use link (seven
//! days); the link's page sets their password and signs them in (through the second-factor
//! set-up where the account requires one). A new link spends the earlier ones. Nobody signs in
//! as an invited person with a password before they accept.

use askama::Template;

use crate::domain::ClientIp;
use crate::domain::audit::AuditKind;
use crate::domain::email;
use crate::domain::mail::{
    INVITATION_LINK_TTL, RESENDS_PER_HOUR, TOKEN_BYTES, human_time, one_line_name, wait_in_words,
};
use crate::domain::member::MemberKind;
use crate::domain::policy::Actor;
use crate::events::Event;
use crate::store::{Member, NewInvitation, NewMail, NewMember, PasswordLink};

use super::mail::render_parts;
use super::signin::SignInStep;
use super::team::address_rule;
use super::{Service, ServiceError, ServiceResult, limiter, new_id, random_hex, token_hash};

/// The kind of the outbox rows of invitation messages.
pub const INVITATION_KIND: &str = "invitation";

/// What an invitation message says.
struct Invitation<'a> {
    name: &'a str,
    inviter: &'a str,
    account: &'a str,
    role: &'a str,
    url: &'a str,
    expires: &'a str,
    mfa_required: bool,
}

#[derive(Template)]
#[template(path = "mail/invitation.txt")]
struct InvitationText<'a> {
    m: &'a Invitation<'a>,
}

#[derive(Template)]
#[template(path = "mail/invitation.html")]
struct InvitationHtml<'a> {
    m: &'a Invitation<'a>,
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
    /// password (or is disabled) is [`ServiceError::NotInvited`]. At most
    /// [`RESENDS_PER_HOUR`] within an hour: past that it is
    /// [`ServiceError::TooManyInvitations`], and nothing is sent.
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
        let attempt = self.reserve_resend(&member).await?;
        let renewed = self.renew_invitation(actor, &member).await;
        if !matches!(renewed, Ok(true)) {
            // Nothing was sent: it does not count against the limit.
            self.forgive(&attempt).await;
        }
        if !renewed? {
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

    /// Counts a new invitation for `member` against [`limiter::INVITATION_RESENDS`], or
    /// refuses it, saying in words when the next may go.
    async fn reserve_resend(&self, member: &Member) -> ServiceResult<String> {
        let key = token_hash(&format!(
            "invitation-resend:{}:{}",
            member.account_id, member.id
        ));
        match self
            .reserve_limited(&[key], &[Some(limiter::INVITATION_RESENDS)])
            .await
        {
            Err(ServiceError::RateLimited { retry_after_secs }) => {
                Err(ServiceError::TooManyInvitations {
                    retry_after_secs,
                    message: format!(
                        "{} was sent {RESENDS_PER_HOUR} new invitations within the last hour, \
                         as many as an hour allows; nothing was sent now. Another can be sent \
                         in {}",
                        one_line_name(&member.name),
                        wait_in_words(retry_after_secs)
                    ),
                })
            }
            other => other,
        }
    }

    /// A new link and its message for `member`, in place of their earlier links: whether
    /// they were still invited (and enabled) to receive it.
    async fn renew_invitation(&self, actor: &Actor, member: &Member) -> ServiceResult<bool> {
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
        Ok(self
            .store
            .renew_invitation(&actor.account_id, &member.id, &invitation)
            .await?)
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
        let member = self
            .set_password_with_link(PasswordLink::Invitation, account_id, token, new_password)
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
        // The person has just used a link sent to their address: no sign-in alert about it.
        self.password_proven(member, &norm, ip, user_agent, None, true)
            .await
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
        let m = Invitation {
            name: &name,
            inviter: &inviter,
            account: &account_name,
            role,
            url: &url,
            expires: &expires,
            mfa_required,
        };
        let (text, html) = render_parts(
            InvitationText { m: &m },
            InvitationHtml { m: &m },
            "invitation",
        )?;
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
