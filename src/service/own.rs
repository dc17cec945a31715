//! A signed-in person's own record and sessions: `/me`, signing out, "My sessions", their
//! own password, and the current-password check every change of their own credentials needs.

use std::sync::Arc;

use crate::domain::audit::AuditKind;
use crate::domain::email;
use crate::domain::password::{self, MAX_PASSWORD_CHARS};
use crate::domain::policy::Actor;
use crate::domain::session::EndReason;
use crate::domain::time::Millis;
use crate::domain::zone::Zone;
use crate::store::{Member, MemberPatch, Which};

use super::ending::counted;
use super::throttling::{sole_holder, throttle_keys};
use super::{MemberView, Service, ServiceError, ServiceResult, passwords};

impl Service {
    /// The signed-in person's own record and live sessions.
    pub async fn me(&self, actor: &Actor) -> ServiceResult<Arc<MemberView>> {
        let now = self.now();
        if let Some(v) = self.cache.view(&actor.member_id, now) {
            return Ok(v);
        }
        self.unless_unreachable(self.fresh_view(actor, now)).await
    }

    async fn fresh_view(&self, actor: &Actor, now: Millis) -> ServiceResult<Arc<MemberView>> {
        let member = self
            .store
            .member(&actor.account_id, &actor.member_id)
            .await?;
        let sessions = self
            .sessions_of(&actor.account_id, &actor.member_id, actor.kind)
            .await?;
        let view = MemberView { member, sessions };
        Ok(self.cache.put_view(view, now))
    }

    /// Sets the signed-in person's own time zone (an IANA name, matched without regard to
    /// case and stored as the database spells it); None or an empty name unsets it. A name
    /// the database does not know is refused and nothing changes.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id))]
    pub async fn set_own_time_zone(
        &self,
        actor: &Actor,
        time_zone: Option<&str>,
    ) -> ServiceResult<Member> {
        let zone = match time_zone.map(str::trim).filter(|z| !z.is_empty()) {
            None => None,
            Some(name) => {
                Some(Zone::parse(name).map_err(|e| ServiceError::invalid("time_zone", e))?)
            }
        };
        let m = self
            .store
            .set_time_zone(
                &actor.account_id,
                &actor.member_id,
                zone.as_ref().map(Zone::name),
            )
            .await?;
        // Drops the person's cached sessions and view, so their next page shows the new zone.
        self.publish(crate::events::Event::MemberChanged {
            account_id: m.account_id.clone(),
            member_id: m.id.clone(),
            member_kind: m.kind,
        });
        Ok(m)
    }

    /// Ends the session the actor acts through.
    pub async fn logout(&self, actor: &Actor) -> ServiceResult<()> {
        let session_id = actor
            .session_id
            .as_deref()
            .ok_or(ServiceError::Unauthenticated(None))?;
        self.end_by(
            actor,
            Which::Session(session_id.to_string()),
            EndReason::Logout,
        )
        .await?;
        Ok(())
    }

    /// Ends one of the caller's own other sessions ("My sessions").
    pub async fn end_own_session(&self, actor: &Actor, session_id: &str) -> ServiceResult<()> {
        let s = self.store.session(&actor.account_id, session_id).await?;
        if s.member_id != actor.member_id || s.ended_at.is_some() {
            return Err(ServiceError::NotFound);
        }
        self.end_by(
            actor,
            Which::Session(session_id.to_string()),
            EndReason::Logout,
        )
        .await?;
        Ok(())
    }

    /// Ends every session of the caller except the current one ("sign out my other sessions").
    pub async fn end_other_sessions(&self, actor: &Actor) -> ServiceResult<usize> {
        self.end_other_sessions_for(actor, EndReason::Logout).await
    }

    /// Ends every session of the actor except the one they act through, for `reason`.
    pub(crate) async fn end_other_sessions_for(
        &self,
        actor: &Actor,
        reason: EndReason,
    ) -> ServiceResult<usize> {
        let others = Which::PersonExcept {
            member_id: actor.member_id.clone(),
            keep: actor.session_id.clone(),
        };
        let ended = self.end_by(actor, others, reason).await?;
        Ok(counted(&ended, reason))
    }

    /// Changes the caller's own password; needs the current one. Ends every other session of
    /// theirs unless asked not to (returns how many).
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        current: String,
        new: String,
        end_others: bool,
    ) -> ServiceResult<usize> {
        password::check_new_password(&new)
            .map_err(|e| ServiceError::invalid("new_password", e.to_string()))?;
        if current == new {
            return Err(ServiceError::invalid(
                "new_password",
                "new password must differ from the current one",
            ));
        }
        self.check_own_password(actor, current, "current_password")
            .await?;
        let hash = passwords::hash(new).await?;
        self.store
            .update_member(
                &actor.account_id,
                &actor.member_id,
                &MemberPatch {
                    password_hash: Some(hash),
                    ..Default::default()
                },
            )
            .await?;
        self.audit_by(
            actor,
            AuditKind::PasswordChanged,
            Some(&actor.member_id),
            "own password changed".to_string(),
        )
        .await;
        if end_others {
            self.end_other_sessions_for(actor, EndReason::PasswordChanged)
                .await
        } else {
            Ok(0)
        }
    }

    /// Checks the password people give to change their own credentials. Wrong ones count
    /// towards sign-in throttling, by the person's e-mail and by address, exactly like failed
    /// sign-ins, so this is no side door for guessing.
    pub(crate) async fn check_own_password(
        &self,
        actor: &Actor,
        current: String,
        field: &str,
    ) -> ServiceResult<()> {
        let wrong = || ServiceError::invalid(field, "current password is incorrect");
        if current.is_empty() {
            return Err(ServiceError::invalid(
                field,
                format!("{field} is required to change your own password or e-mail"),
            ));
        }
        if current.chars().count() > MAX_PASSWORD_CHARS {
            return Err(wrong());
        }
        let me = self
            .store
            .member(&actor.account_id, &actor.member_id)
            .await?;
        let keys = throttle_keys(&actor.account_id, &email::normalize(&me.email), actor.ip);
        let attempt = self.reserve_attempt(&keys, false).await?;
        let stored = self
            .store
            .password_hash(&actor.account_id, &actor.member_id)
            .await?;
        if !passwords::verify(current, Some(stored)).await? {
            return Err(wrong());
        }
        self.forgive_attempt(&attempt, &keys[0], sole_holder(&me))
            .await;
        Ok(())
    }
}
