//! Checking a session on every request: memory first, else one indexed read; activity
//! recorded at most once a minute (with the latest address and device); an expired session, or
//! one used from outside the office networks under `enforce`, ended there and then.

use std::sync::Arc;

use crate::domain::ClientIp;
use crate::domain::audit::AuditKind;
use crate::domain::device;
use crate::domain::member::MemberKind;
use crate::domain::office::NetworkPolicy;
use crate::domain::policy::Actor;
use crate::domain::session::{self, Deadline, EndReason, Liveness};
use crate::domain::time::Millis;
use crate::store::{AuthRecord, Session, SessionSeen, Which};

use super::ending::Scope;
use super::{Service, ServiceError, ServiceResult, TokenHash, token_hash};

/// Where a request comes from, as the activity write records it.
struct Seen<'a> {
    ip: ClientIp,
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
    /// The account (the helpdesk's team) the person belongs to, by its name.
    pub account_name: String,
    /// Shared with the in-memory record: a request reads it, never changes it.
    pub session: Arc<Session>,
    pub csrf_token: String,
    /// The person's own IANA time zone, when they set one: pages show times in it.
    pub time_zone: Option<String>,
    /// When the session ends unless there is more activity, as known on this request.
    pub deadline: Deadline,
}

impl Service {
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
        ip: ClientIp,
        user_agent: &str,
    ) -> ServiceResult<Principal> {
        self.unless_unreachable(self.check_session(account_id, token, ip, user_agent))
            .await
    }

    async fn check_session(
        &self,
        account_id: &str,
        token: &str,
        ip: ClientIp,
        user_agent: &str,
    ) -> ServiceResult<Principal> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ServiceError::Unauthenticated(None));
        }
        let hash = TokenHash::of(token);
        let hash = hash.as_str();
        let mut rec = self.auth_record(hash).await?;
        if rec.session.account_id != account_id || rec.disabled {
            return Err(ServiceError::Unauthenticated(None));
        }
        let now = self.now();
        if liveness(&rec).is_expired(now) {
            rec = self.expire_unless_seen_elsewhere(hash, &rec, now).await?;
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
                    && (policy.networks.is_outside(rec.session.ip)
                        || policy.networks.is_outside(ip)),
            };
            self.record_activity(hash, &rec, now, &seen).await?
        } else {
            rec.session.clone()
        };
        let deadline = Liveness {
            last_seen_at: session.last_seen_at,
            ..liveness(&rec)
        }
        .deadline();
        Ok(Principal {
            actor: Actor {
                account_id: session.account_id.clone(),
                member_id: session.member_id.clone(),
                kind: session.member_kind,
                primary: rec.primary,
                permissions: rec.permissions.clone(),
                ip,
                session_id: Some(session.id.clone()),
            },
            name: rec.member_name.clone(),
            account_name: rec.account_name.clone(),
            email: rec.member_email.clone(),
            csrf_token: rec.csrf_token.clone(),
            time_zone: rec.time_zone.clone(),
            deadline,
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
    ) -> ServiceResult<Arc<Session>> {
        if !liveness(rec).needs_touch(now) {
            return Ok(rec.session.clone());
        }
        let before = &rec.session;
        let touched = self
            .store
            .touch_session_seen(&SessionSeen {
                session_id: before.id.clone(),
                at: now,
                ip: seen.ip,
                user_agent: seen.user_agent.to_string(),
                outside_office: seen.outside,
            })
            .await?;
        if !touched {
            self.cache.forget_session(&before.id);
            return Err(ServiceError::Unauthenticated(None));
        }
        let mut updated = rec.clone();
        let s = Arc::make_mut(&mut updated.session);
        s.last_seen_at = now;
        s.outside_office = seen.outside;
        if before.last_ip != seen.ip {
            s.last_ip = seen.ip;
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

    async fn audit_moved(&self, s: &Session, kind: AuditKind, ip: ClientIp, detail: String) {
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
    /// tabs) and returns the refusal. When the request's address is not the session's latest,
    /// that change is audited beside it; an ending at the same address is only the ending.
    async fn end_outside(&self, rec: &AuthRecord, ip: ClientIp) -> ServiceError {
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
                if s.last_ip != ip
                    && ended
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
                            "session {} IP changed: {} → {ip}, outside the office networks: \
                             ended",
                            s.id, s.last_ip
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

    /// When a live session ends unless there is activity, as stored now (another tab's
    /// requests, on any instance, move it); `None` once it has ended. For the event stream's
    /// warning before the idle timeout.
    pub async fn session_deadline(
        &self,
        account_id: &str,
        session_id: &str,
    ) -> ServiceResult<Option<Deadline>> {
        let s = self.store.session(account_id, session_id).await?;
        if s.ended_at.is_some() {
            return Ok(None);
        }
        let account = self.store.account(account_id).await?;
        let kind = s.member_kind;
        Ok(Some(
            Liveness {
                started_at: s.started_at,
                last_seen_at: s.last_seen_at,
                idle_timeout_minutes: session::idle_timeout_minutes(
                    kind,
                    account.agent_idle_timeout_minutes,
                ),
                max_lifetime_minutes: account
                    .max_session_lifetime_minutes
                    .filter(|_| kind == MemberKind::Agent),
            }
            .deadline(),
        ))
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
