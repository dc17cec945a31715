//! Signing in, step by step: the password (throttled per person and per address before any
//! password is checked), the choice between linked accounts (held server-side, never the
//! password), and the second factor. Each step answers with a [`SignInStep`]: signed in, or
//! what comes next. Starting the session itself is `starting`.

use crate::domain::ClientIp;
use crate::domain::audit::AuditKind;
use crate::domain::email::{self, MAX_EMAIL_LEN};
use crate::domain::member::MemberKind;
use crate::domain::password::MAX_PASSWORD_CHARS;
use crate::domain::policy::Actor;
use crate::domain::signin::AuthMethod;
use crate::domain::signin::{AuthMethods, ChallengePurpose};
use crate::domain::time::{MINUTE, Millis};
use crate::store::{AuditEntry, Challenge, Credentials, Member, Session, SsoOrigin};

use super::mfa::SECOND_STEP_TTL;
use super::passkeys::PasskeyAnswer;
use super::throttling::{address_key, sole_holder, throttle_keys};
use super::{Service, ServiceError, ServiceResult, passwords, random_hex, token_hash};

pub struct LoginRequest {
    pub account_id: String,
    pub email: String,
    pub password: String,
    pub as_kind: Option<MemberKind>,
    pub ip: ClientIp,
    pub user_agent: String,
    /// The browser's known-device pass, if it sent one.
    pub device_pass: Option<String>,
}

/// The second half of a sign-in whose password opened two linked accounts: which one.
pub struct ChosenLogin {
    pub account_id: String,
    pub challenge: String,
    pub as_kind: MemberKind,
    pub ip: ClientIp,
    pub user_agent: String,
    /// The browser's known-device pass, if it sent one (no alert for its own person).
    pub device_pass: Option<String>,
}

/// The second step of a sign-in: a code for the challenge the password step gave.
pub struct MfaLogin {
    pub account_id: String,
    pub challenge: String,
    pub code: String,
    pub ip: ClientIp,
    pub user_agent: String,
    pub device_pass: Option<String>,
    /// A passkey's answer instead of a code.
    pub passkey: Option<PasskeyAnswer>,
}

/// A started session: the raw token goes into the cookie and nowhere else.
pub struct SignedIn {
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

/// Where a sign-in stands after one of its steps: done, or the step that comes next. Refusals
/// (wrong password, throttled, disabled, outside the office) are errors; these are not.
pub enum SignInStep {
    /// Signed in.
    SignedIn(Box<SignedIn>),
    /// Signed in with a session that may do nothing but set up a second factor: the account
    /// requires one and the person has none.
    Enrol(Box<SignedIn>),
    /// The password opened both accounts of a linked pair and no kind was asked for:
    /// `challenge` (held server-side for a few minutes) completes the sign-in through
    /// [`Service::login_chosen`] once the person says which.
    ChooseAccount {
        challenge: String,
        /// The two accounts' names, so the choice can name them.
        agent_name: String,
        admin_name: String,
    },
    /// The password was right and the person has a second factor: `challenge` (held
    /// server-side for a few minutes) completes the sign-in through [`Service::login_mfa`]
    /// with one of `methods`. No session yet.
    SecondFactor {
        challenge: String,
        methods: AuthMethods,
    },
}

impl SignInStep {
    /// A started session is the whole sign-in, or (restricted to enrolling) its next step.
    fn started(out: SignedIn) -> Self {
        if out.session.mfa_enrollment {
            SignInStep::Enrol(Box::new(out))
        } else {
            SignInStep::SignedIn(Box::new(out))
        }
    }

    /// The session this step started, if it started one (signed in, or to enrol).
    pub fn started_session(self) -> Option<SignedIn> {
        match self {
            SignInStep::SignedIn(out) | SignInStep::Enrol(out) => Some(*out),
            SignInStep::ChooseAccount { .. } | SignInStep::SecondFactor { .. } => None,
        }
    }

    /// How the sign-in metrics count it.
    fn outcome(&self) -> &'static str {
        match self {
            SignInStep::SignedIn(_) | SignInStep::Enrol(_) => "success",
            SignInStep::ChooseAccount { .. } => "choose_account",
            SignInStep::SecondFactor { .. } => "mfa_required",
        }
    }
}

/// How long the choice between linked accounts may take.
pub(super) const CHOICE_TTL: Millis = 5 * MINUTE;

/// How a sign-in proved who someone is so far, carried through its later steps (the choice
/// between linked accounts, the second factor) in the step's server-side challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proof {
    pub methods: AuthMethods,
    /// Through the identity provider: its subject and session.
    pub sso: Option<SsoOrigin>,
}

impl Proof {
    pub fn password() -> Self {
        Self {
            methods: AuthMethods::password(),
            sso: None,
        }
    }

    /// As a challenge's `data` holds it: empty for a password (what earlier versions wrote).
    pub fn to_data(&self) -> String {
        match &self.sso {
            None if self.methods == AuthMethods::password() => String::new(),
            sso => serde_json::json!({
                "methods": self.methods.to_db(),
                "sub": sso.as_ref().map(|o| o.sub.clone()),
                "sid": sso.as_ref().and_then(|o| o.sid.clone()),
            })
            .to_string(),
        }
    }

    pub fn from_data(data: &str) -> Self {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
            return Self::password();
        };
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        Self {
            methods: AuthMethods::from_db(&text("methods").unwrap_or_default()),
            sso: text("sub").map(|sub| SsoOrigin {
                sub,
                sid: text("sid"),
            }),
        }
    }
}

impl Service {
    /// The password step. Unknown e-mail and wrong password are indistinguishable, in answer
    /// and in time.
    pub async fn login(&self, req: LoginRequest) -> ServiceResult<SignInStep> {
        let result = self.login_uncounted(req).await;
        self.metrics
            .signin(result.as_ref().map(SignInStep::outcome));
        result
    }

    async fn login_uncounted(&self, req: LoginRequest) -> ServiceResult<SignInStep> {
        check_input(&req.email, &req.password)?;
        let norm = email::normalize(&req.email);
        let holder = self
            .device_pass_holder(req.device_pass.as_deref(), &req.account_id, &norm, None)
            .await;
        let (keys, attempt, lifted) = self
            .reserve_signin(&req.account_id, &norm, req.ip, holder.clone())
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
            return Ok(SignInStep::ChooseAccount {
                challenge,
                agent_name: name_of(MemberKind::Agent),
                admin_name: name_of(MemberKind::Admin),
            });
        }
        let member = matched.pop().expect("one match");
        let known_browser = holder.as_deref() == Some(member.id.as_str());
        self.password_proven(
            member,
            &norm,
            req.ip,
            &req.user_agent,
            Some(&attempt),
            known_browser,
        )
        .await
    }

    /// The password was right: a person with a second factor goes on to the second step
    /// (their earlier failures are not forgiven until it passes, so knowing the password does
    /// not reset the count of wrong codes); anyone else is signed in (`known_browser`: the
    /// browser holds their device pass, so no sign-in alert).
    pub(super) async fn password_proven(
        &self,
        member: Member,
        norm: &str,
        ip: ClientIp,
        user_agent: &str,
        attempt: Option<&str>,
        known_browser: bool,
    ) -> ServiceResult<SignInStep> {
        self.proven(
            member,
            norm,
            ip,
            user_agent,
            attempt,
            known_browser,
            Proof::password(),
        )
        .await
    }

    /// Who someone is has been proven by `proof` (a password, or the identity provider): as
    /// [`Self::password_proven`]. A password is refused for people whose role must use the
    /// identity provider (the primary administrator excepted); the identity provider's own
    /// second factor (its `amr`) stands for Deskward's.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn proven(
        &self,
        member: Member,
        norm: &str,
        ip: ClientIp,
        user_agent: &str,
        attempt: Option<&str>,
        known_browser: bool,
        proof: Proof,
    ) -> ServiceResult<SignInStep> {
        if proof.methods.contains(AuthMethod::Password) && !member.disabled {
            self.refuse_password_if_sso_required(&member).await?;
        }
        let methods = if member.disabled || proof.methods.contains(AuthMethod::Mfa) {
            AuthMethods::none()
        } else {
            self.second_factor_methods(&member.id).await?
        };
        if methods.is_empty() {
            if let Some(attempt) = attempt {
                let keys = throttle_keys(&member.account_id, norm, ip);
                self.forgive_attempt(attempt, &keys[0], sole_holder(&member))
                    .await;
            }
            let out = self
                .start_signin_session(
                    member,
                    norm,
                    ip,
                    user_agent,
                    proof.methods,
                    known_browser,
                    proof.sso,
                )
                .await?;
            return Ok(SignInStep::started(out));
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
                purpose: ChallengePurpose::SecondStep,
                member_ids: vec![member.id.clone()],
                ip,
                user_agent: user_agent.to_string(),
                data: proof.to_data(),
                created_at: now,
                expires_at: now + SECOND_STEP_TTL,
                failures: 0,
            })
            .await?;
        Ok(SignInStep::SecondFactor { challenge, methods })
    }

    /// The second step: a code of the person's authenticator app, a recovery code or a
    /// passkey, for a challenge the password step gave to this address. A wrong code counts
    /// like a wrong password (reserved before the check, per person and per address) and
    /// leaves the challenge usable until it expires. Nothing comes after it: it signs in.
    pub async fn login_mfa(&self, req: MfaLogin) -> ServiceResult<SignedIn> {
        let result = self.login_mfa_uncounted(req).await;
        self.metrics.signin(result.as_ref().map(|_| "success"));
        result
    }

    async fn login_mfa_uncounted(&self, req: MfaLogin) -> ServiceResult<SignedIn> {
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
                c.purpose == ChallengePurpose::SecondStep
                    && c.account_id == req.account_id
                    && c.ip == req.ip
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
            .reserve_signin(&req.account_id, &norm, req.ip, holder.clone())
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
                Some(req.ip),
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
        let proof = Proof::from_data(&c.data);
        let methods = proof.methods.with(factor.method);
        let known_browser = holder.as_deref() == Some(member.id.as_str());
        let mut out = self
            .start_signin_session(
                member,
                &norm,
                req.ip,
                &req.user_agent,
                methods,
                known_browser,
                proof.sso,
            )
            .await?;
        out.recovery_codes_left = factor.recovery_codes_left;
        Ok(out)
    }

    /// Completes a sign-in that had to choose between linked accounts. The challenge is taken
    /// once, from the address it was given to, within five minutes; the chosen account may
    /// still need its second factor.
    pub async fn login_chosen(&self, req: ChosenLogin) -> ServiceResult<SignInStep> {
        let result = self.login_chosen_uncounted(req).await;
        self.metrics
            .signin(result.as_ref().map(SignInStep::outcome));
        result
    }

    async fn login_chosen_uncounted(&self, req: ChosenLogin) -> ServiceResult<SignInStep> {
        let refused = || ServiceError::InvalidCredentials;
        let hash = token_hash(&req.challenge);
        let c = self
            .store
            .take_challenge(&hash, self.now())
            .await?
            .filter(|c| {
                c.purpose == ChallengePurpose::ChooseAccount
                    && c.account_id == req.account_id
                    && c.ip == req.ip
            })
            .ok_or_else(refused)?;
        let people = self.store.members(&c.account_id, &c.member_ids).await?;
        let member = people
            .into_iter()
            .find(|m| m.kind == req.as_kind)
            .ok_or_else(refused)?;
        let norm = email::normalize(&member.email);
        let known_browser = self
            .device_pass_holder(
                req.device_pass.as_deref(),
                &req.account_id,
                &norm,
                Some(&member.id),
            )
            .await
            .is_some();
        let proof = Proof::from_data(&c.data);
        self.proven(
            member,
            &norm,
            req.ip,
            &req.user_agent,
            None,
            known_browser,
            proof,
        )
        .await
    }

    /// Holds the people a password opened, server-side, for the choice between them.
    async fn choice_challenge(
        &self,
        req: &LoginRequest,
        matched: &[Member],
    ) -> ServiceResult<String> {
        self.hold_choice(
            &req.account_id,
            req.ip,
            &req.user_agent,
            matched,
            &Proof::password(),
        )
        .await
    }

    /// Holds the linked people a sign-in opened, and how it proved who they are,
    /// server-side, for the choice between them.
    pub(super) async fn hold_choice(
        &self,
        account_id: &str,
        ip: ClientIp,
        user_agent: &str,
        matched: &[Member],
        proof: &Proof,
    ) -> ServiceResult<String> {
        let challenge = random_hex(32);
        let now = self.now();
        self.store
            .insert_challenge(&Challenge {
                id_hash: token_hash(&challenge),
                account_id: account_id.to_string(),
                purpose: ChallengePurpose::ChooseAccount,
                member_ids: matched.iter().map(|m| m.id.clone()).collect(),
                ip,
                user_agent: user_agent.to_string(),
                data: proof.to_data(),
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
                Some(req.ip),
                format!("failed sign-in for {norm}"),
            )
            .await;
            return;
        }
        let now = self.now();
        let hour = now.div_euclid(60 * MINUTE);
        let address = address_key(req.ip);
        let key = token_hash(&format!("unknown:{}:{address}:{hour}", req.account_id));
        let entry = AuditEntry {
            id: format!("au_{}", &key[..24]),
            account_id: req.account_id.clone(),
            at: now,
            kind: AuditKind::SignInFailed.as_str().to_string(),
            actor: None,
            target: None,
            ip: Some(req.ip),
            detail: format!(
                "failed sign-ins from {address} for e-mail addresses this account does not know, this hour"
            ),
            count: 1,
        };
        if let Err(e) = self.store.count_audit(&entry).await {
            tracing::error!(error = %e, "could not count a failed sign-in");
        }
    }
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
                // Nobody signs in as an invited person before they accept: their row holds
                // no password of theirs. The dummy check keeps the time the same.
                Some(c) if c.member.invited => (None, None),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_named_before_anything_is_counted() {
        assert!(check_input("", "x").is_err());
        assert!(check_input("a@b.c", "").is_err());
        assert!(check_input(&"a".repeat(255), "x").is_err());
        assert!(check_input("a@b.c", &"x".repeat(129)).is_err());
        assert!(check_input("a@b.c", "x").is_ok());
    }
}
