//! Signing in and out, first-run setup, and checking a session on every request.

use std::sync::Arc;

use crate::domain::audit::AuditKind;
use crate::domain::device;
use crate::domain::email::{self, Email};
use crate::domain::member::{MemberKind, Permissions};
use crate::domain::office::NetworkPolicy;
use crate::domain::password::{self, MAX_PASSWORD_CHARS};
use crate::domain::policy::Actor;
use crate::domain::session::{self, EndReason, Liveness};
use crate::domain::time::Millis;
use crate::store::{
    Account, AuthRecord, Member, NewAccount, NewMember, Session, SessionSeen, StoreError, Which,
};

use super::ending::{Scope, counted};
use super::signin::throttle_keys;
use super::{Service, ServiceError, ServiceResult, new_id, passwords, token_hash};

/// Where a request comes from, as the activity write records it.
struct Seen<'a> {
    ip: &'a str,
    user_agent: &'a str,
    /// The office-network mark the session should carry now.
    outside: bool,
}

/// A signed-in person on one request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: Actor,
    pub name: String,
    pub email: String,
    pub session: Session,
    pub csrf_token: String,
}

/// Input of first-run setup and `deskward account create`.
pub struct NewAccountRequest {
    pub name: String,
    pub slug: Option<String>,
    pub admin_name: String,
    pub admin_email: String,
    pub admin_password: String,
}

impl Service {
    /// Creates an account and its primary administrator. With `only_if_empty` (first-run
    /// setup) it fails when any account already exists.
    pub async fn create_account(
        &self,
        req: NewAccountRequest,
        only_if_empty: bool,
    ) -> ServiceResult<(Account, Member)> {
        let name = check_name("name", &req.name)?;
        let admin_name = check_name("admin_name", &req.admin_name)?;
        let email = Email::parse(&req.admin_email)
            .map_err(|e| ServiceError::invalid("admin_email", e.to_string()))?;
        password::check_new_password(&req.admin_password)
            .map_err(|e| ServiceError::invalid("password", e.to_string()))?;
        let slug = match req.slug {
            Some(s) => check_slug(s.trim())?,
            None => slugify(&name),
        };
        let hash = passwords::hash(req.admin_password).await?;
        let now = self.now();
        let account = NewAccount {
            id: new_id("ac"),
            slug,
            name,
            created_at: now,
        };
        let admin = NewMember {
            id: new_id("ad"),
            account_id: account.id.clone(),
            kind: MemberKind::Admin,
            name: admin_name,
            email: email.as_str().to_string(),
            email_norm: email.normalized().to_string(),
            password_hash: hash,
            primary: true,
            permissions: Permissions::all(),
            created_at: now,
        };
        let account = match self
            .store
            .create_account(&account, &admin, only_if_empty)
            .await
        {
            Err(StoreError::Conflict { field: "account" }) => {
                return Err(ServiceError::Forbidden(
                    "setup has already been completed".to_string(),
                ));
            }
            other => other?,
        };
        let member = self.store.member(&account.id, &admin.id).await?;
        self.audit(
            &account.id,
            AuditKind::AccountCreated,
            Some(&member.id),
            None,
            None,
            format!(
                "account {} created with primary administrator {}",
                account.slug, member.email
            ),
        )
        .await;
        Ok((account, member))
    }

    /// Checks the session a cookie names, on every authenticated request: memory first, else
    /// one indexed read; plus at most one write a minute to record activity (with the latest
    /// address and device). `ip` is where the request comes from: under an `enforce`
    /// office-network policy a request from outside ends the session there and then.
    /// Answers `Unavailable` at once when the check needs the database and it is known to be
    /// unreachable (see `reach`); a session held in memory is checked as before.
    pub async fn authenticate(
        &self,
        account_id: &str,
        token: &str,
        ip: &str,
        user_agent: &str,
    ) -> ServiceResult<Principal> {
        self.unless_unreachable(self.check_session(account_id, token, ip, user_agent))
            .await
    }

    async fn check_session(
        &self,
        account_id: &str,
        token: &str,
        ip: &str,
        user_agent: &str,
    ) -> ServiceResult<Principal> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ServiceError::Unauthenticated(None));
        }
        let hash = token_hash(token);
        let mut rec = self.auth_record(&hash).await?;
        if rec.session.account_id != account_id || rec.disabled {
            return Err(ServiceError::Unauthenticated(None));
        }
        let now = self.now();
        if liveness(&rec).is_expired(now) {
            rec = self.expire_unless_seen_elsewhere(&hash, &rec, now).await?;
        }
        let policy = self.session_policy(account_id).await?;
        let network = policy
            .roles
            .for_person(rec.session.member_kind, rec.primary);
        if network == NetworkPolicy::Enforce && policy.networks.is_outside(ip) {
            return Err(self.end_outside(&rec, ip).await);
        }
        // Only the once-a-minute activity write works out the mark it records.
        let session = if liveness(&rec).needs_touch(now) {
            let seen = Seen {
                ip,
                user_agent,
                outside: network != NetworkPolicy::Off
                    && (policy.networks.is_outside(&rec.session.ip)
                        || policy.networks.is_outside(ip)),
            };
            self.record_activity(&hash, &rec, now, &seen).await?
        } else {
            rec.session.clone()
        };
        Ok(Principal {
            actor: Actor {
                account_id: session.account_id.clone(),
                member_id: session.member_id.clone(),
                kind: session.member_kind,
                primary: rec.primary,
                permissions: rec.permissions.clone(),
                ip: ip.to_string(),
                session_id: Some(session.id.clone()),
            },
            name: rec.member_name.clone(),
            email: rec.member_email.clone(),
            csrf_token: rec.csrf_token.clone(),
            session,
        })
    }

    /// The live session a token hash names, from memory or else from the database (then kept).
    async fn auth_record(&self, hash: &str) -> ServiceResult<Arc<AuthRecord>> {
        if let Some(rec) = self.cache.get(hash) {
            return Ok(rec);
        }
        let rec = self
            .store
            .auth_record(hash)
            .await?
            .ok_or(ServiceError::Unauthenticated(None))?;
        self.cache.put(hash, rec.clone());
        Ok(Arc::new(rec))
    }

    /// A session that looks expired from here: another instance may have recorded newer
    /// activity, so the database's copy decides. Returns that copy when it is still live;
    /// otherwise ends the session (reason `expired`) and refuses.
    async fn expire_unless_seen_elsewhere(
        &self,
        hash: &str,
        rec: &AuthRecord,
        now: Millis,
    ) -> ServiceResult<Arc<AuthRecord>> {
        self.cache.forget_session(&rec.session.id);
        if let Some(fresh) = self.store.auth_record(hash).await?
            && !liveness(&fresh).is_expired(now)
        {
            self.cache.put(hash, fresh.clone());
            return Ok(Arc::new(fresh));
        }
        self.end(
            Scope::Account(&rec.session.account_id),
            Which::Session(rec.session.id.clone()),
            EndReason::Expired,
            None,
        )
        .await?;
        Err(ServiceError::Unauthenticated(Some(EndReason::Expired)))
    }

    /// Records activity at most once a minute per session, with the address and device of
    /// that request (a change is audited); the write also tells whether the session was ended
    /// elsewhere meanwhile (then it is refused here too).
    async fn record_activity(
        &self,
        hash: &str,
        rec: &AuthRecord,
        now: Millis,
        seen: &Seen<'_>,
    ) -> ServiceResult<Session> {
        if !liveness(rec).needs_touch(now) {
            return Ok(rec.session.clone());
        }
        let before = &rec.session;
        let touched = self
            .store
            .touch_session_seen(&SessionSeen {
                session_id: before.id.clone(),
                at: now,
                ip: seen.ip.to_string(),
                user_agent: seen.user_agent.to_string(),
                outside_office: seen.outside,
            })
            .await?;
        if !touched {
            self.cache.forget_session(&before.id);
            return Err(ServiceError::Unauthenticated(None));
        }
        let mut updated = rec.clone();
        let s = &mut updated.session;
        s.last_seen_at = now;
        s.outside_office = seen.outside;
        if before.last_ip != seen.ip {
            s.last_ip = seen.ip.to_string();
            s.ip_changed_at = Some(now);
            self.audit_moved(
                before,
                AuditKind::SessionIpChanged,
                seen.ip,
                format!(
                    "session {} IP changed: {} → {}",
                    before.id, before.last_ip, seen.ip
                ),
            )
            .await;
        }
        if before.last_user_agent != seen.user_agent {
            s.last_user_agent = seen.user_agent.to_string();
            s.device_changed_at = Some(now);
            self.audit_moved(
                before,
                AuditKind::SessionDeviceChanged,
                seen.ip,
                format!(
                    "session {} device changed: {} → {} ({})",
                    before.id,
                    device::describe(&before.last_user_agent),
                    device::describe(seen.user_agent),
                    seen.user_agent
                ),
            )
            .await;
        }
        let session = updated.session.clone();
        self.cache.put(hash, updated);
        self.cache.forget_view(&session.member_id);
        Ok(session)
    }

    async fn audit_moved(&self, s: &Session, kind: AuditKind, ip: &str, detail: String) {
        self.audit(
            &s.account_id,
            kind,
            Some(&s.member_id),
            Some(&s.member_id),
            Some(ip),
            detail,
        )
        .await;
    }

    /// Ends a session whose request came from outside the office networks under `enforce`
    /// (through the one ending path, by no one: a policy ended it; audited, pushed to its
    /// tabs) and returns the refusal. The address it came from is audited beside it.
    async fn end_outside(&self, rec: &AuthRecord, ip: &str) -> ServiceError {
        let s = &rec.session;
        let ended = self
            .end(
                Scope::Account(&s.account_id),
                Which::Session(s.id.clone()),
                EndReason::OutsideOfficeNetwork,
                None,
            )
            .await;
        match ended {
            Ok(ended) => {
                if ended
                    .iter()
                    .any(|e| e.reason == EndReason::OutsideOfficeNetwork)
                {
                    self.audit(
                        &s.account_id,
                        AuditKind::SessionIpChanged,
                        None,
                        Some(&s.member_id),
                        Some(ip),
                        format!(
                            "session {} used from {ip}, outside the office networks: ended",
                            s.id
                        ),
                    )
                    .await;
                }
                ServiceError::Unauthenticated(Some(EndReason::OutsideOfficeNetwork))
            }
            Err(e) => e,
        }
    }

    /// Why a session ended, if it has (an open stream re-checks its own after missed events).
    pub async fn session_end_reason(
        &self,
        account_id: &str,
        session_id: &str,
    ) -> ServiceResult<Option<EndReason>> {
        Ok(self.store.session(account_id, session_id).await?.end_reason)
    }

    /// The actor with their permissions as stored now; `None` once they are disabled.
    pub async fn refreshed(&self, actor: &Actor) -> ServiceResult<Option<Actor>> {
        let m = self
            .store
            .member(&actor.account_id, &actor.member_id)
            .await?;
        Ok((!m.disabled).then(|| Actor {
            permissions: m.permissions,
            ..actor.clone()
        }))
    }

    /// How a session that no longer authenticates ended, so the sign-in page can say why.
    pub async fn end_reason_of(&self, account_id: &str, token: &str) -> Option<EndReason> {
        if token.len() != 64 {
            return None;
        }
        self.store
            .ended_session_reason(account_id, &token_hash(token))
            .await
            .ok()?
    }

    /// The e-mail of the person whose (ended) session a token named, to fill in the sign-in
    /// form that tells them it ended.
    pub async fn email_of_session(&self, account_id: &str, token: &str) -> Option<String> {
        if token.len() != 64 {
            return None;
        }
        self.store
            .session_email(account_id, &token_hash(token))
            .await
            .ok()?
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

    /// Whether first-run setup is still open.
    pub async fn needs_setup(&self) -> ServiceResult<bool> {
        Ok(self.store.account_count().await? == 0)
    }
}

/// The timing facts of a session as its record carries them. The account's absolute lifetime
/// governs agents only: nothing in the Security section ends or shortens an administrator's
/// session.
fn liveness(rec: &AuthRecord) -> Liveness {
    let kind = rec.session.member_kind;
    Liveness {
        started_at: rec.session.started_at,
        last_seen_at: rec.session.last_seen_at,
        idle_timeout_minutes: session::idle_timeout_minutes(kind, rec.agent_idle_timeout_minutes),
        max_lifetime_minutes: rec
            .max_session_lifetime_minutes
            .filter(|_| kind == MemberKind::Agent),
    }
}

/// A person's or account's display name: trimmed, 1 to 100 characters, no control characters.
pub fn check_name(field: &str, raw: &str) -> ServiceResult<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ServiceError::invalid(field, format!("{field} is required")));
    }
    if name.chars().count() > 100 {
        return Err(ServiceError::invalid(
            field,
            format!("{field} must be at most 100 characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(name.to_string())
}

fn check_slug(slug: &str) -> ServiceResult<String> {
    let ok = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(slug.to_string())
    } else {
        Err(ServiceError::invalid(
            "slug",
            "slug must be 1 to 63 lowercase letters, digits or hyphens, not starting or ending with a hyphen",
        ))
    }
}

/// A host-label-safe slug from an account name: "Acme Support" → "acme-support".
fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out.trim_end_matches('-').chars().take(63).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "helpdesk".to_string()
    } else {
        out
    }
}

impl Service {
    /// The signed-in person's own record and live sessions.
    pub async fn me(&self, actor: &Actor) -> ServiceResult<std::sync::Arc<super::MemberView>> {
        let now = self.now();
        if let Some(v) = self.cache.view(&actor.member_id, now) {
            return Ok(v);
        }
        self.unless_unreachable(self.fresh_view(actor, now)).await
    }

    async fn fresh_view(
        &self,
        actor: &Actor,
        now: Millis,
    ) -> ServiceResult<std::sync::Arc<super::MemberView>> {
        let member = self
            .store
            .member(&actor.account_id, &actor.member_id)
            .await?;
        let sessions = self
            .sessions_of(&actor.account_id, &actor.member_id, actor.kind)
            .await?;
        let view = super::MemberView { member, sessions };
        Ok(self.cache.put_view(view, now))
    }
}

impl Service {
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
                &crate::store::MemberPatch {
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
        let keys = throttle_keys(&actor.account_id, &email::normalize(&me.email), &actor.ip);
        let attempt = self.reserve_attempt(&keys, false).await?;
        let stored = self
            .store
            .password_hash(&actor.account_id, &actor.member_id)
            .await?;
        if !passwords::verify(current, Some(stored)).await? {
            return Err(wrong());
        }
        self.forgive_attempt(&attempt, &keys[0], super::signin::sole_holder(&me))
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Support!"), "acme-support");
        assert_eq!(slugify("Ünïcode"), "n-code");
        assert_eq!(slugify("***"), "helpdesk");
        assert!(check_slug("acme-2").is_ok());
        assert!(check_slug("Acme").is_err());
        assert!(check_slug("-acme").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(check_name("name", "  Ann ").unwrap(), "Ann");
        assert!(check_name("name", " ").is_err());
        assert!(check_name("name", &"x".repeat(101)).is_err());
        assert!(check_name("name", "a\u{7}b").is_err());
    }
}
