//! Signing in: the password step, throttled per person and per address before any password is
//! checked; the choice between linked accounts (held server-side, never the password); the
//! known-device pass that keeps an owner from being locked out by a flood from elsewhere; and the
//! start of the session, within the cap on sessions per person.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::audit::AuditKind;
use crate::domain::device;
use crate::domain::email::{self, MAX_EMAIL_LEN};
use crate::domain::member::MemberKind;
use crate::domain::office::{self, NetworkPolicy};
use crate::domain::password::MAX_PASSWORD_CHARS;
use crate::domain::policy::Actor;
use crate::domain::session::{EndReason, MAX_SESSIONS_PER_PERSON};
use crate::domain::time::{DAY, MINUTE, Millis};
use crate::events::Event;
use crate::store::{
    AuditEntry, Challenge, Credentials, FailureWindow, Member, NewSession, Session, SessionSeen,
    Which,
};

use super::ending::Scope;
use super::{
    Service, ServiceError, ServiceResult, limiter, new_id, passwords, random_hex, token_hash,
};

pub struct LoginRequest {
    pub account_id: String,
    pub email: String,
    pub password: String,
    pub as_kind: Option<MemberKind>,
    pub ip: String,
    pub user_agent: String,
    /// The browser's known-device pass, if it sent one.
    pub device_pass: Option<String>,
}

/// The second half of a sign-in whose password opened two linked accounts: which one.
pub struct ChosenLogin {
    pub account_id: String,
    pub challenge: String,
    pub as_kind: MemberKind,
    pub ip: String,
    pub user_agent: String,
}

/// A successful sign-in: the raw token goes into the cookie and nowhere else.
pub struct LoginOutcome {
    pub token: String,
    /// The person, as the new session's requests will act.
    pub actor: Actor,
    pub member: Member,
    pub session: Session,
    pub csrf_token: String,
    /// A fresh known-device pass for this browser and e-mail (a cookie).
    pub device_pass: String,
    /// After a recovery code: how many are left.
    pub recovery_codes_left: Option<i64>,
}

/// The second step of a sign-in: a code for the challenge the password step gave.
pub struct MfaLogin {
    pub account_id: String,
    pub challenge: String,
    pub code: String,
    pub ip: String,
    pub user_agent: String,
    pub device_pass: Option<String>,
    /// A passkey's answer instead of a code.
    pub passkey: Option<super::passkeys::PasskeyAnswer>,
}

/// How long the choice between linked accounts may take.
const CHOICE_TTL: Millis = 5 * MINUTE;
/// How long a known-device pass is honoured after the last sign-in that issued it.
pub const DEVICE_PASS_TTL: Millis = 90 * DAY;
const CHOOSE: &str = "choose";
const SECOND_STEP: &str = "mfa";

impl Service {
    /// Signs a person in with their password and starts a fresh session. Unknown e-mail and
    /// wrong password are indistinguishable, in answer and in time. When the password opens
    /// both accounts of a linked pair and no kind was asked for, the answer is
    /// `ChooseAccount` with a short-lived challenge that [`Service::login_chosen`] completes.
    pub async fn login(&self, req: LoginRequest) -> ServiceResult<LoginOutcome> {
        let result = self.login_uncounted(req).await;
        self.metrics.signin(&result);
        result
    }

    async fn login_uncounted(&self, req: LoginRequest) -> ServiceResult<LoginOutcome> {
        check_input(&req.email, &req.password)?;
        let norm = email::normalize(&req.email);
        let holder = self
            .device_pass_holder(req.device_pass.as_deref(), &req.account_id, &norm, None)
            .await;
        let (keys, attempt, lifted) = self
            .reserve_signin(&req.account_id, &norm, &req.ip, holder)
            .await?;
        let candidates: Vec<Credentials> = self
            .store
            .credentials_by_email(&req.account_id, &norm)
            .await?
            .into_iter()
            .filter(|c| req.as_kind.is_none_or(|k| c.member.kind == k))
            // Past the address's limit only the pass's own person may be opened: a linked
            // account's pass is no key to its twin.
            .filter(|c| lifted.as_ref().is_none_or(|l| l.holder == c.member.id))
            .collect();
        let known_email = !candidates.is_empty();
        let mut matched = matching(&req.password, candidates, req.as_kind.is_some()).await?;
        if matched.is_empty() {
            // The reservation stays: it is this failure, counted before the check.
            self.audit_failed_signin(&req, &norm, known_email).await;
            return Err(match lifted {
                // Whoever else was tried is still limited: the same answer as without a pass.
                Some(l) => ServiceError::RateLimited {
                    retry_after_secs: l.retry_after_secs,
                },
                None => ServiceError::InvalidCredentials,
            });
        }
        if matched.len() > 1 {
            self.forgive_attempt(&attempt, &keys[0], false).await;
            let challenge = self.choice_challenge(&req, &matched).await?;
            let name_of = |k: MemberKind| {
                matched
                    .iter()
                    .find(|m| m.kind == k)
                    .map(|m| m.name.clone())
                    .unwrap_or_default()
            };
            return Err(ServiceError::ChooseAccount {
                challenge,
                agent_name: name_of(MemberKind::Agent),
                admin_name: name_of(MemberKind::Admin),
            });
        }
        let member = matched.pop().expect("one match");
        self.password_proven(member, &norm, &req.ip, &req.user_agent, Some(&attempt))
            .await
    }

    /// The password was right: a person with a second factor goes on to the second step
    /// (their earlier failures are not forgiven until it passes, so knowing the password does
    /// not reset the count of wrong codes); anyone else is signed in.
    async fn password_proven(
        &self,
        member: Member,
        norm: &str,
        ip: &str,
        user_agent: &str,
        attempt: Option<&str>,
    ) -> ServiceResult<LoginOutcome> {
        let methods = if member.disabled {
            Vec::new()
        } else {
            self.second_factor_methods(&member.id).await?
        };
        if methods.is_empty() {
            if let Some(attempt) = attempt {
                let keys = throttle_keys(&member.account_id, norm, ip);
                self.forgive_attempt(attempt, &keys[0], sole_holder(&member))
                    .await;
            }
            return self
                .start_session(member, norm, ip, user_agent, "password")
                .await;
        }
        if let Some(attempt) = attempt
            && let Err(e) = self.store.forgive_signin_attempt(attempt).await
        {
            tracing::warn!(error = %e, "could not forgive a sign-in attempt");
        }
        let challenge = random_hex(32);
        let now = self.now();
        self.store
            .insert_challenge(&Challenge {
                id_hash: token_hash(&challenge),
                account_id: member.account_id.clone(),
                purpose: SECOND_STEP.to_string(),
                member_ids: vec![member.id.clone()],
                ip: ip.to_string(),
                user_agent: user_agent.to_string(),
                data: String::new(),
                created_at: now,
                expires_at: now + super::mfa::SECOND_STEP_TTL,
                failures: 0,
            })
            .await?;
        Err(ServiceError::MfaRequired { challenge, methods })
    }

    /// The second step: a code of the person's authenticator app or a recovery code, for a
    /// challenge the password step gave to this address. A wrong code counts like a wrong
    /// password (reserved before the check, per person and per address) and leaves the
    /// challenge usable until it expires.
    pub async fn login_mfa(&self, req: MfaLogin) -> ServiceResult<LoginOutcome> {
        let result = self.login_mfa_uncounted(req).await;
        self.metrics.signin(&result);
        result
    }

    async fn login_mfa_uncounted(&self, req: MfaLogin) -> ServiceResult<LoginOutcome> {
        let code = req.code.trim();
        if code.is_empty() && req.passkey.is_none() {
            return Err(ServiceError::invalid("code", "code is required"));
        }
        if code.chars().count() > 64 {
            return Err(ServiceError::invalid(
                "code",
                "code is longer than 64 characters",
            ));
        }
        let hash = token_hash(&req.challenge);
        let c = self
            .store
            .challenge(&hash, self.now())
            .await?
            .filter(|c| {
                c.purpose == SECOND_STEP && c.account_id == req.account_id && c.ip == req.ip
            })
            .ok_or(ServiceError::InvalidCredentials)?;
        let member_id = c
            .member_ids
            .first()
            .ok_or(ServiceError::InvalidCredentials)?;
        let member = self.store.member(&c.account_id, member_id).await?;
        let norm = email::normalize(&member.email);
        // The pass lifts the limit only for the person it was issued to.
        let holder = self
            .device_pass_holder(
                req.device_pass.as_deref(),
                &req.account_id,
                &norm,
                Some(&member.id),
            )
            .await;
        let (keys, attempt, _) = self
            .reserve_signin(&req.account_id, &norm, &req.ip, holder)
            .await?;
        let checked = match &req.passkey {
            Some(answer) => self.check_passkey(&member, &req.challenge, answer).await?,
            None => self.check_second_factor(&member, code).await?,
        };
        let Some(factor) = checked else {
            // The reservation stays: it is this failure.
            let _ = self.store.count_challenge_failure(&hash).await;
            self.audit(
                &member.account_id,
                AuditKind::MfaFailed,
                None,
                Some(&member.id),
                Some(&req.ip),
                format!("wrong second-step code for {norm}"),
            )
            .await;
            return Err(ServiceError::InvalidCredentials);
        };
        if self
            .store
            .take_challenge(&hash, self.now())
            .await?
            .is_none()
        {
            // Another request completed this sign-in first.
            return Err(ServiceError::InvalidCredentials);
        }
        self.forgive_attempt(&attempt, &keys[0], sole_holder(&member))
            .await;
        let methods = format!("password,{}", factor.method);
        let mut out = self
            .start_session(member, &norm, &req.ip, &req.user_agent, &methods)
            .await?;
        out.recovery_codes_left = factor.recovery_codes_left;
        Ok(out)
    }

    /// Completes a sign-in that had to choose between linked accounts. The challenge is taken
    /// once, from the address it was given to, within five minutes.
    pub async fn login_chosen(&self, req: ChosenLogin) -> ServiceResult<LoginOutcome> {
        let result = self.login_chosen_uncounted(req).await;
        self.metrics.signin(&result);
        result
    }

    async fn login_chosen_uncounted(&self, req: ChosenLogin) -> ServiceResult<LoginOutcome> {
        let refused = || ServiceError::InvalidCredentials;
        let hash = token_hash(&req.challenge);
        let c = self
            .store
            .take_challenge(&hash, self.now())
            .await?
            .filter(|c| c.purpose == CHOOSE && c.account_id == req.account_id && c.ip == req.ip)
            .ok_or_else(refused)?;
        let people = self.store.members(&c.account_id, &c.member_ids).await?;
        let member = people
            .into_iter()
            .find(|m| m.kind == req.as_kind)
            .ok_or_else(refused)?;
        let norm = email::normalize(&member.email);
        self.password_proven(member, &norm, &req.ip, &req.user_agent, None)
            .await
    }

    /// Starts a session for a person whose credentials were just proven; keeps them within the
    /// cap on live sessions (the oldest end, reason `replaced`).
    async fn start_session(
        &self,
        member: Member,
        email_norm: &str,
        ip: &str,
        user_agent: &str,
        auth_methods: &str,
    ) -> ServiceResult<LoginOutcome> {
        if member.disabled {
            self.audit(
                &member.account_id,
                AuditKind::SignInRefused,
                Some(&member.id),
                Some(&member.id),
                Some(ip),
                "sign-in refused: account disabled".to_string(),
            )
            .await;
            return Err(ServiceError::AccountDisabled);
        }
        // Read fresh: a policy set on another instance applies to the very next sign-in.
        let policy = self.fresh_session_policy(&member.account_id).await?;
        let network = policy.roles.for_person(member.kind, member.primary);
        let outside = network != NetworkPolicy::Off && policy.networks.is_outside(ip);
        if outside && network == NetworkPolicy::Enforce {
            self.audit(
                &member.account_id,
                AuditKind::SignInRefused,
                Some(&member.id),
                Some(&member.id),
                Some(ip),
                format!("sign-in refused: {ip} is outside the office networks"),
            )
            .await;
            return Err(ServiceError::OutsideOfficeNetwork);
        }
        // A person the account requires to have a second factor, who has none, may only set
        // one up in this session.
        let mfa_enrollment = auth_methods == "password" && self.must_enroll(&member).await?;
        let token = random_hex(32);
        let csrf_token = random_hex(32);
        let new = NewSession {
            id: new_id("se"),
            account_id: member.account_id.clone(),
            member_id: member.id.clone(),
            member_kind: member.kind,
            token_hash: token_hash(&token),
            csrf_token: csrf_token.clone(),
            started_at: self.now(),
            ip: ip.to_string(),
            device: device::describe(user_agent),
            user_agent: user_agent.to_string(),
            auth_methods: auth_methods.to_string(),
            mfa_enrollment,
        };
        let mut session = self.store.insert_session(&new).await?;
        if outside {
            // Marked for the Team lists' `network=outside` (only such sign-ins pay the write).
            self.store
                .touch_session_seen(&SessionSeen {
                    session_id: session.id.clone(),
                    at: session.started_at,
                    ip: ip.to_string(),
                    user_agent: user_agent.to_string(),
                    outside_office: true,
                })
                .await?;
            session.outside_office = true;
        }
        self.audit(
            &member.account_id,
            AuditKind::SignIn,
            Some(&member.id),
            Some(&member.id),
            Some(ip),
            format!("signed in from {}", session.device),
        )
        .await;
        self.publish(Event::SessionStarted {
            account_id: member.account_id.clone(),
            member_id: member.id.clone(),
            member_kind: member.kind,
            session_id: session.id.clone(),
        });
        let actor = Actor {
            account_id: member.account_id.clone(),
            member_id: member.id.clone(),
            kind: member.kind,
            primary: member.primary,
            permissions: member.permissions.clone(),
            ip: ip.to_string(),
            session_id: Some(session.id.clone()),
        };
        // Whatever a signed-in person does, they hold a bounded number of sessions (each holds
        // memory on every instance), fewer when the account limits agents' sessions; the
        // newest one, this one, is always kept.
        let limit = policy.max_sessions_per_person;
        let cap = Which::AllButNewest {
            member_id: member.id.clone(),
            keep: office::sessions_to_keep(member.kind, limit, MAX_SESSIONS_PER_PERSON),
        };
        self.end(
            Scope::Account(&member.account_id),
            cap,
            EndReason::Replaced,
            Some(&actor),
        )
        .await?;
        let device_pass = self
            .device_pass(&member.account_id, &member.id, email_norm)
            .await?;
        Ok(LoginOutcome {
            token,
            actor,
            member,
            session,
            csrf_token,
            device_pass,
            recovery_codes_left: None,
        })
    }

    /// Holds the people a password opened, server-side, for the choice between them.
    async fn choice_challenge(
        &self,
        req: &LoginRequest,
        matched: &[Member],
    ) -> ServiceResult<String> {
        let challenge = random_hex(32);
        let now = self.now();
        self.store
            .insert_challenge(&Challenge {
                id_hash: token_hash(&challenge),
                account_id: req.account_id.clone(),
                purpose: CHOOSE.to_string(),
                member_ids: matched.iter().map(|m| m.id.clone()).collect(),
                ip: req.ip.clone(),
                user_agent: req.user_agent.clone(),
                data: String::new(),
                created_at: now,
                expires_at: now + CHOICE_TTL,
                failures: 0,
            })
            .await?;
        Ok(challenge)
    }

    /// A failed sign-in in the audit log. For e-mails the account knows, one entry each; for
    /// e-mails it does not know (someone trying addresses), one entry per address and hour that
    /// counts them, so a flood cannot fill the log.
    async fn audit_failed_signin(&self, req: &LoginRequest, norm: &str, known_email: bool) {
        if known_email {
            self.audit(
                &req.account_id,
                AuditKind::SignInFailed,
                None,
                None,
                Some(&req.ip),
                format!("failed sign-in for {norm}"),
            )
            .await;
            return;
        }
        let now = self.now();
        let hour = now.div_euclid(60 * MINUTE);
        let address = address_key(&req.ip);
        let key = token_hash(&format!("unknown:{}:{address}:{hour}", req.account_id));
        let entry = AuditEntry {
            id: format!("au_{}", &key[..24]),
            account_id: req.account_id.clone(),
            at: now,
            kind: AuditKind::SignInFailed.as_str().to_string(),
            actor: None,
            target: None,
            ip: Some(req.ip.clone()),
            detail: format!(
                "failed sign-ins from {address} for e-mail addresses this account does not know, this hour"
            ),
            count: 1,
        };
        if let Err(e) = self.store.count_audit(&entry).await {
            tracing::error!(error = %e, "could not count a failed sign-in");
        }
    }

    /// Reserves an attempt of a sign-in step for the person (account and e-mail) and the
    /// address; returns the throttling keys (the person's first) and the attempt. When the
    /// address's limit refuses it and `holder` (the person a valid known-device pass was
    /// issued to) is given, the limit is lifted for that one person: the answer says so
    /// ([`Lifted`]), and the caller may then open nobody else.
    async fn reserve_signin(
        &self,
        account_id: &str,
        email_norm: &str,
        ip: &str,
        holder: Option<String>,
    ) -> ServiceResult<(Vec<String>, String, Option<Lifted>)> {
        let keys = throttle_keys(account_id, email_norm, ip);
        match self.reserve_attempt(&keys, false).await {
            Ok(attempt) => Ok((keys, attempt, None)),
            Err(ServiceError::RateLimited { retry_after_secs }) if holder.is_some() => {
                let attempt = self.reserve_attempt(&keys, true).await?;
                let lifted = holder.map(|holder| Lifted {
                    holder,
                    retry_after_secs,
                });
                Ok((keys, attempt, lifted))
            }
            Err(e) => Err(e),
        }
    }

    /// Counts an attempt for the person and the address before any password is checked, or
    /// refuses it (429) when either has failed too often lately. With a valid known-device
    /// pass the person's own limit does not apply (their address's still does): a flood
    /// against their e-mail from elsewhere cannot lock them out.
    pub(crate) async fn reserve_attempt(
        &self,
        keys: &[String],
        known_device: bool,
    ) -> ServiceResult<String> {
        let now = self.now();
        let limits = [limiter::PER_ACCOUNT, limiter::PER_IP];
        let applies = |i: usize| !(i == 0 && known_device);
        let wait = |windows: &[FailureWindow]| {
            windows
                .iter()
                .zip(limits)
                .enumerate()
                .filter(|(i, _)| applies(*i))
                .filter_map(|(_, (w, l))| limiter::wait_secs(*w, l, now))
                .max()
        };
        let allow = |windows: &[FailureWindow]| wait(windows).is_none();
        match self
            .store
            .reserve_signin_attempt(keys, now - limiter::WINDOW, now, &allow)
            .await?
        {
            Ok(attempt) => Ok(attempt),
            Err(windows) => Err(ServiceError::RateLimited {
                retry_after_secs: wait(&windows).unwrap_or(1),
            }),
        }
    }

    /// The password was right: the reserved attempt was no failure, and, when `clear` (the
    /// person is the only one on their address, see [`sole_holder`]), the address's earlier
    /// failures are forgiven.
    pub(crate) async fn forgive_attempt(&self, attempt: &str, person_key: &str, clear: bool) {
        if let Err(e) = self.store.forgive_signin_attempt(attempt).await {
            tracing::warn!(error = %e, "could not forgive a sign-in attempt");
        }
        if !clear {
            return;
        }
        if let Err(e) = self.store.clear_signin_failures(person_key).await {
            tracing::warn!(error = %e, "could not clear failed sign-ins");
        }
    }

    /// A pass for this browser and person: `expiry.person.mac`, where the MAC (HMAC-SHA256
    /// under a secret every instance shares) covers the account, the person's id, their
    /// e-mail and the expiry. Bound to the person, not the address: linked accounts share
    /// the address, and one's pass must not lift the other's limit.
    async fn device_pass(
        &self,
        account_id: &str,
        member_id: &str,
        email_norm: &str,
    ) -> ServiceResult<String> {
        let expires = self.now() + DEVICE_PASS_TTL;
        let mac = self
            .device_mac(account_id, member_id, email_norm, expires)
            .await?;
        Ok(format!("{expires}.{member_id}.{mac}"))
    }

    /// The person a valid, unexpired pass for this account and e-mail was issued to (and,
    /// with `only`, only if it is that person).
    async fn device_pass_holder(
        &self,
        pass: Option<&str>,
        account_id: &str,
        email_norm: &str,
        only: Option<&str>,
    ) -> Option<String> {
        let mut parts = pass?.splitn(3, '.');
        let (expires, member_id, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let expires = expires.parse::<Millis>().ok()?;
        if expires <= self.now() || only.is_some_and(|o| o != member_id) {
            return None;
        }
        match self
            .device_mac(account_id, member_id, email_norm, expires)
            .await
        {
            Ok(expected) => {
                crate::ids::constant_time_eq(mac, &expected).then(|| member_id.to_string())
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not check a known-device pass");
                None
            }
        }
    }

    async fn device_mac(
        &self,
        account_id: &str,
        member_id: &str,
        email_norm: &str,
        expires: Millis,
    ) -> ServiceResult<String> {
        let secret = self.secret("device-pass").await?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret)
            .map_err(|e| ServiceError::Internal(format!("device pass key: {e}")))?;
        mac.update(format!("{account_id}\n{member_id}\n{email_norm}\n{expires}").as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}

/// A sign-in past the address's limit, let through for the one person a known-device pass
/// was issued to.
struct Lifted {
    holder: String,
    /// What the limit answered, for anyone else.
    retry_after_secs: u64,
}

/// Whether a success may forgive the address's earlier failures: only when nobody else holds
/// the address. The count is per address (it must not tell known addresses from unknown
/// ones), so with linked accounts the failures may have been guesses at the twin, which one
/// account's sign-in must not wipe.
pub(crate) fn sole_holder(m: &Member) -> bool {
    m.linked.is_none()
}

/// Length and presence of the e-mail and password, before anything is counted or checked.
fn check_input(email: &str, password: &str) -> ServiceResult<()> {
    if email.trim().chars().count() > MAX_EMAIL_LEN {
        return Err(ServiceError::invalid(
            "email",
            "e-mail is longer than 254 characters",
        ));
    }
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ServiceError::invalid(
            "password",
            "password is longer than 128 characters",
        ));
    }
    if email.trim().is_empty() {
        return Err(ServiceError::invalid("email", "e-mail is required"));
    }
    if password.is_empty() {
        return Err(ServiceError::invalid("password", "password is required"));
    }
    Ok(())
}

/// The people among `candidates` whose password this is. Always as many password checks as
/// there could be candidates (one per kind, or one when the kind is given), padding with a
/// dummy hash, so the answer takes as long whether an e-mail names nobody, one account or a
/// linked pair. The checks run side by side.
async fn matching(
    password: &str,
    candidates: Vec<Credentials>,
    kind_given: bool,
) -> ServiceResult<Vec<Member>> {
    let slots = if kind_given { 1 } else { 2 };
    let mut candidates = candidates.into_iter();
    let checks = (0..slots).map(|_| {
        let c = candidates.next();
        let password = password.to_string();
        async move {
            let (member, hash) = match c {
                Some(c) => (Some(c.member), Some(c.password_hash)),
                None => (None, None),
            };
            passwords::verify(password, hash)
                .await
                .map(|ok| member.filter(|_| ok))
        }
    });
    let results = futures_util::future::join_all(checks).await;
    results.into_iter().filter_map(|r| r.transpose()).collect()
}

/// The sign-in throttling keys of an attempt: the person (account and e-mail) and the
/// address. Hashed: the throttling table holds no e-mail or address in the clear.
pub(crate) fn throttle_keys(account_id: &str, email_norm: &str, ip: &str) -> Vec<String> {
    vec![
        token_hash(&format!("account:{account_id}:{email_norm}")),
        token_hash(&format!("ip:{}", address_key(ip))),
    ]
}

/// What an address is counted as: itself for IPv4, its /64 for IPv6 (one subscriber usually
/// holds a whole /64 and can pick any address in it, so counting single addresses would
/// throttle nobody).
fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => {
            ipnet::Ipv6Net::new(v6, 64).map_or_else(|_| v6.to_string(), |n| n.trunc().to_string())
        }
        _ => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            address_key("2001:db8:1:2::")
        );
        assert_ne!(
            address_key("2001:db8:1:3::1"),
            address_key("2001:db8:1:2::1")
        );
        assert_eq!(address_key("203.0.113.9"), "203.0.113.9");
        assert_eq!(address_key("unknown"), "unknown");
    }

    #[test]
    fn bad_input_is_named_before_anything_is_counted() {
        assert!(check_input("", "x").is_err());
        assert!(check_input("a@b.c", "").is_err());
        assert!(check_input(&"a".repeat(255), "x").is_err());
        assert!(check_input("a@b.c", &"x".repeat(129)).is_err());
        assert!(check_input("a@b.c", "x").is_ok());
    }
}
