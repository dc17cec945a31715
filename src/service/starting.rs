//! Starting a session, the counterpart of `ending`: once a sign-in has proven who someone is,
//! the session, its audit row and the sessions it replaces (the cap on sessions per person)
//! are written in one transaction (`Store::start_session`), so a crash or a failed write
//! leaves no half-started sign-in; the replaced sessions end through the same store path as
//! every other ending. Events follow the commit.

use crate::domain::ClientIp;
use crate::domain::audit::AuditKind;
use crate::domain::device;
use crate::domain::office::{self, NetworkPolicy};
use crate::domain::policy::Actor;
use crate::domain::session::{EndReason, MAX_SESSIONS_PER_PERSON};
use crate::domain::signin::AuthMethods;
use crate::events::Event;
use crate::store::{EndSessions, Member, NewSession, SsoOrigin, StartSession, Which};

use super::signin::SignedIn;
use super::{Service, ServiceError, ServiceResult, audit_entry, new_id, random_hex, token_hash};

impl Service {
    /// Starts a session for a person whose credentials were just proven by `auth_methods`,
    /// unless they are disabled or the office-network policy refuses where they are. Keeps
    /// them within the cap on live sessions: the oldest end, reason `replaced`, by them. In a
    /// browser without their device pass (`known_browser` false), the sign-in alert, where
    /// the account sends one, is written in the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start_signin_session(
        &self,
        member: Member,
        email_norm: &str,
        ip: ClientIp,
        user_agent: &str,
        auth_methods: AuthMethods,
        known_browser: bool,
        sso: Option<SsoOrigin>,
    ) -> ServiceResult<SignedIn> {
        if member.disabled {
            self.refuse_start(&member, ip, "sign-in refused: account disabled".to_string())
                .await;
            return Err(ServiceError::AccountDisabled);
        }
        // Read fresh: a policy set on another instance applies to the very next sign-in.
        let policy = self.fresh_session_policy(&member.account_id).await?;
        let network = policy.roles.for_person(member.kind, member.primary);
        let outside = network != NetworkPolicy::Off && policy.networks.is_outside(ip);
        if outside && network == NetworkPolicy::Enforce {
            let why = format!("sign-in refused: {ip} is outside the office networks");
            self.refuse_start(&member, ip, why).await;
            return Err(ServiceError::OutsideOfficeNetwork);
        }
        // A person the account requires to have a second factor, who has none, may only set
        // one up in this session.
        let mfa_enrollment = auth_methods.single_factor() && self.must_enroll(&member).await?;
        let token = random_hex(32);
        let csrf_token = random_hex(32);
        let now = self.now();
        let session = NewSession {
            id: new_id("se"),
            account_id: member.account_id.clone(),
            member_id: member.id.clone(),
            member_kind: member.kind,
            token_hash: token_hash(&token),
            csrf_token: csrf_token.clone(),
            started_at: now,
            ip,
            device: device::describe(user_agent),
            user_agent: user_agent.to_string(),
            auth_methods,
            mfa_enrollment,
            sso,
        };
        let alert = if known_browser {
            None
        } else {
            self.signin_alert(&member, &session).await?
        };
        let queued_mail = alert.is_some();
        let audit = audit_entry(
            &member.account_id,
            AuditKind::SignIn,
            Some(&member.id),
            Some(&member.id),
            Some(ip),
            format!("signed in from {}", session.device),
            now,
        );
        // Whatever a signed-in person does, they hold a bounded number of sessions (each holds
        // memory on every instance), fewer when the account limits agents' sessions; the
        // newest one, this one, is always kept.
        let keep = office::sessions_to_keep(
            member.kind,
            policy.max_sessions_per_person,
            MAX_SESSIONS_PER_PERSON,
        );
        let cap = EndSessions {
            account_id: Some(member.account_id.clone()),
            which: Which::AllButNewest {
                member_id: member.id.clone(),
                keep,
            },
            reason: EndReason::Replaced,
            by: Some(member.id.clone()),
            ip: Some(ip),
            at: now,
        };
        let started = self
            .store
            .start_session(&StartSession {
                session,
                outside_office: outside,
                audit,
                cap,
                alert,
            })
            .await?;
        if queued_mail {
            self.wake_mail();
        }
        self.publish(Event::SessionStarted {
            account_id: member.account_id.clone(),
            member_id: member.id.clone(),
            member_kind: member.kind,
            session_id: started.session.id.clone(),
        });
        self.announce_ended(&started.ended);
        let actor = Actor {
            account_id: member.account_id.clone(),
            member_id: member.id.clone(),
            kind: member.kind,
            primary: member.primary,
            permissions: member.permissions.clone(),
            ip,
            session_id: Some(started.session.id.clone()),
        };
        let device_pass = self
            .device_pass(&member.account_id, &member.id, email_norm)
            .await?;
        Ok(SignedIn {
            token,
            actor,
            member,
            session: started.session,
            csrf_token,
            device_pass,
            recovery_codes_left: None,
        })
    }

    /// Audits a sign-in refused although its credentials were right.
    async fn refuse_start(&self, member: &Member, ip: ClientIp, why: String) {
        self.audit(
            &member.account_id,
            AuditKind::SignInRefused,
            Some(&member.id),
            Some(&member.id),
            Some(ip),
            why,
        )
        .await;
    }
}
