//! Two-factor sign-in: setting up and removing an authenticator app (the current password
//! needed), recovery codes, checking a second step's code, the account's policy of who must
//! have a second factor, and administrators resetting a person's.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::audit::AuditKind;
use crate::domain::member::MemberKind;
use crate::domain::policy::Actor;
use crate::domain::session::EndReason;
use crate::domain::signin::{AuthMethod, AuthMethods};
use crate::domain::time::Millis;
use crate::domain::totp;
use crate::store::{Member, MfaPolicy, TotpRecord};

use super::{Service, ServiceError, ServiceResult, random_hex, token_hash};

/// How many recovery codes a person gets when they confirm an app.
pub const RECOVERY_CODES: usize = 10;

/// What `/me` tells about a person's second factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct MfaStatus {
    pub totp: bool,
    pub passkeys: i64,
    pub recovery_codes_left: i64,
}

impl MfaStatus {
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

/// An app being set up: the secret as apps take it and the URL the QR code holds.
#[derive(Debug, Clone)]
pub struct TotpSetup {
    pub secret: String,
    pub otpauth_url: String,
}

/// A second step that passed: how, and (for a recovery code) how many are left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondFactor {
    pub method: AuthMethod,
    pub recovery_codes_left: Option<i64>,
}

impl Service {
    /// The second factors a person has.
    pub async fn mfa_status(&self, member_id: &str) -> ServiceResult<MfaStatus> {
        let totp = self
            .store
            .totp(member_id)
            .await?
            .is_some_and(|t| t.confirmed_at.is_some());
        let passkeys = self.store.passkeys(member_id).await?.len() as i64;
        let recovery_codes_left = if totp || passkeys > 0 {
            self.store.recovery_codes_left(member_id).await?
        } else {
            0
        };
        Ok(MfaStatus {
            totp,
            passkeys,
            recovery_codes_left,
        })
    }

    /// Starts setting up an authenticator app (replacing one being set up); needs the current
    /// password, checked and throttled like a sign-in.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id))]
    pub async fn start_totp(&self, actor: &Actor, password: String) -> ServiceResult<TotpSetup> {
        self.check_own_password(actor, password, "password").await?;
        let me = self
            .store
            .member(&actor.account_id, &actor.member_id)
            .await?;
        let account = self.store.account(&actor.account_id).await?;
        let secret = crate::ids::random_bytes(totp::SECRET_BYTES);
        let sealed = self.seal(&actor.member_id, &secret).await?;
        if !self
            .store
            .put_pending_totp(&actor.account_id, &actor.member_id, &sealed, self.now())
            .await?
        {
            return Err(ServiceError::invalid(
                "totp",
                "an authenticator app is already set up; remove it first",
            ));
        }
        let b32 = totp::base32_encode(&secret);
        Ok(TotpSetup {
            otpauth_url: totp::otpauth_url(&format!("Deskward {}", account.name), &me.email, &b32),
            secret: b32,
        })
    }

    /// The app being set up, for the setup page to show again (its QR code and secret).
    pub async fn pending_totp(&self, actor: &Actor) -> ServiceResult<Option<TotpSetup>> {
        let Some(t) = self.store.totp(&actor.member_id).await? else {
            return Ok(None);
        };
        if t.confirmed_at.is_some() {
            return Ok(None);
        }
        let me = self
            .store
            .member(&actor.account_id, &actor.member_id)
            .await?;
        let account = self.store.account(&actor.account_id).await?;
        let b32 = totp::base32_encode(&self.open(&t).await?);
        Ok(Some(TotpSetup {
            otpauth_url: totp::otpauth_url(&format!("Deskward {}", account.name), &me.email, &b32),
            secret: b32,
        }))
    }

    /// Confirms the app being set up with a code from it; returns the new recovery codes,
    /// shown this once (only their hashes are kept).
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id))]
    pub async fn confirm_totp(&self, actor: &Actor, code: &str) -> ServiceResult<Vec<String>> {
        let pending = self
            .store
            .totp(&actor.member_id)
            .await?
            .filter(|t| t.confirmed_at.is_none())
            .ok_or_else(|| {
                ServiceError::invalid(
                    "code",
                    "no authenticator app is being set up; start with POST /api/v1/me/mfa/totp",
                )
            })?;
        let secret = self.open(&pending).await?;
        let now = self.now();
        let step = totp::matching_step(&secret, code, now)
            .ok_or_else(|| ServiceError::invalid("code", "code is incorrect or expired"))?;
        let codes: Vec<String> = (0..RECOVERY_CODES)
            .map(|_| format!("{}-{}", random_hex(3), random_hex(3)))
            .collect();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| token_hash(&totp::normalize_recovery_code(c)))
            .collect();
        if !self
            .store
            .confirm_totp(&actor.member_id, step, now, &hashes)
            .await?
        {
            return Err(ServiceError::invalid(
                "code",
                "no authenticator app is being set up; start with POST /api/v1/me/mfa/totp",
            ));
        }
        self.audit_by(
            actor,
            AuditKind::MfaAdded,
            Some(&actor.member_id),
            "authenticator app set up".to_string(),
        )
        .await;
        self.forget_person(&actor.account_id, &actor.member_id, actor.kind)
            .await;
        Ok(codes)
    }

    /// Removes the caller's own authenticator app and recovery codes; needs the password.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id))]
    pub async fn remove_totp(&self, actor: &Actor, password: String) -> ServiceResult<()> {
        self.check_own_password(actor, password, "password").await?;
        if !self.store.remove_mfa(&actor.member_id).await? {
            return Err(ServiceError::NotFound);
        }
        self.audit_by(
            actor,
            AuditKind::MfaRemoved,
            Some(&actor.member_id),
            "authenticator app removed".to_string(),
        )
        .await;
        self.forget_person(&actor.account_id, &actor.member_id, actor.kind)
            .await;
        Ok(())
    }

    /// An administrator resets a person's second factor (they lost their phone): allowed to
    /// whoever may change that person's password; ends the person's sessions.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, kind = ?kind, id = %id))]
    pub async fn reset_mfa(&self, actor: &Actor, kind: MemberKind, id: &str) -> ServiceResult<()> {
        let target = self.person_to_reset_mfa(actor, kind, id).await?.member;
        let app = self.store.remove_mfa(&target.id).await?;
        let keys = self.store.remove_all_passkeys(&target.id).await?;
        if !app && keys == 0 {
            return Err(ServiceError::invalid(
                "mfa",
                format!("{} has no second factor to reset", target.name),
            ));
        }
        self.audit_by(
            actor,
            AuditKind::MfaReset,
            Some(&target.id),
            format!("second factor of {} reset", target.email),
        )
        .await;
        self.end_sessions_of(
            actor,
            target.kind,
            std::slice::from_ref(&target.id),
            EndReason::MfaReset,
        )
        .await?;
        self.forget_person(&target.account_id, &target.id, target.kind)
            .await;
        Ok(())
    }

    /// A person whose second factor the actor may reset, with their live sessions: what the
    /// confirmation shows before the reset. The same refusals as the reset itself, so nobody
    /// is asked to confirm what they may not do.
    pub async fn person_to_reset_mfa(
        &self,
        actor: &Actor,
        kind: MemberKind,
        id: &str,
    ) -> ServiceResult<crate::service::team::MemberView> {
        let view = self.get_person(actor, kind, id).await?;
        let target = &view.member;
        if target.id == actor.member_id {
            // The administrators' reset asks for no password; one's own factor goes only with
            // it, or a stolen session would strip the factor that guards the account.
            return Err(ServiceError::Forbidden(
                "you cannot reset your own second factor here: remove it from your own security \
                 page (/me/security, or DELETE /api/v1/me/mfa/totp), which asks for your password"
                    .to_string(),
            ));
        }
        self.require_administer(actor, target)?;
        // The agent twin of an administrator is a way in as that administrator, as with a
        // password set on it.
        self.require_address_allowed(
            actor,
            &crate::domain::email::normalize(&target.email),
            Some(&target.id),
        )
        .await?;
        Ok(view)
    }

    /// The methods a person's second step offers; empty when they have no second factor.
    pub(crate) async fn second_factor_methods(
        &self,
        member_id: &str,
    ) -> ServiceResult<AuthMethods> {
        let status = self.mfa_status(member_id).await?;
        let has = [
            (AuthMethod::Totp, status.totp),
            (AuthMethod::Webauthn, status.passkeys > 0),
            (AuthMethod::RecoveryCode, status.recovery_codes_left > 0),
        ];
        Ok(has
            .into_iter()
            .filter(|(_, has)| *has)
            .map(|(m, _)| m)
            .collect())
    }

    /// Checks a second step's code: a current code of the person's app, used once, or one of
    /// their unused recovery codes. `None` when it is neither.
    pub(crate) async fn check_second_factor(
        &self,
        member: &Member,
        code: &str,
    ) -> ServiceResult<Option<SecondFactor>> {
        let now = self.now();
        if totp::is_totp_code(code) {
            let Some(t) = self
                .store
                .totp(&member.id)
                .await?
                .filter(|t| t.confirmed_at.is_some())
            else {
                return Ok(None);
            };
            let secret = self.open(&t).await?;
            let Some(step) = totp::matching_step(&secret, code, now) else {
                return Ok(None);
            };
            if !self.store.use_totp_step(&member.id, step).await? {
                return Ok(None);
            }
            return Ok(Some(SecondFactor {
                method: AuthMethod::Totp,
                recovery_codes_left: None,
            }));
        }
        let norm = totp::normalize_recovery_code(code);
        if norm.is_empty() || norm.len() > 64 {
            return Ok(None);
        }
        if !self
            .store
            .use_recovery_code(&member.id, &token_hash(&norm), now)
            .await?
        {
            return Ok(None);
        }
        let left = self.store.recovery_codes_left(&member.id).await?;
        self.audit(
            &member.account_id,
            AuditKind::RecoveryCodeUsed,
            Some(&member.id),
            Some(&member.id),
            None,
            format!("recovery code used to sign in; {left} left"),
        )
        .await;
        self.forget_person(&member.account_id, &member.id, member.kind)
            .await;
        Ok(Some(SecondFactor {
            method: AuthMethod::RecoveryCode,
            recovery_codes_left: Some(left),
        }))
    }

    /// Who must have a second factor in the account.
    pub async fn mfa_policy(&self, account_id: &str) -> ServiceResult<MfaPolicy> {
        Ok(self.store.mfa_policy(account_id).await?)
    }

    /// Only the primary administrator may change whether administrators must have a second
    /// factor (a sub-administrator could otherwise lock out or unguard their superiors).
    pub(crate) fn check_mfa_policy_change(
        &self,
        actor: &Actor,
        before: &MfaPolicy,
        change: &super::settings::SecurityChange,
    ) -> ServiceResult<()> {
        mfa_policy_change(before, change).check(
            actor,
            "only the primary administrator may change whether administrators need a second \
             factor",
        )
    }

    /// Applies the policy part of a Security change (checked before anything was applied).
    /// It governs sign-ins from now on: sessions already open stay as they are.
    pub(crate) async fn change_mfa_policy(
        &self,
        actor: &Actor,
        before: MfaPolicy,
        change: &super::settings::SecurityChange,
    ) -> ServiceResult<()> {
        let c = mfa_policy_change(&before, change);
        let (agents, admins) = c.after();
        if (agents, admins) == c.before {
            return Ok(());
        }
        self.store
            .set_mfa_policy(&actor.account_id, MfaPolicy { agents, admins })
            .await?;
        self.audit_per_role(actor, &c).await;
        Ok(())
    }

    /// Whether a person who signs in now must set up a second factor before anything else.
    pub(crate) async fn must_enroll(&self, member: &Member) -> ServiceResult<bool> {
        let policy = self.store.mfa_policy(&member.account_id).await?;
        let required = match member.kind {
            MemberKind::Agent => policy.agents,
            MemberKind::Admin => policy.admins,
        };
        Ok(required && !self.mfa_status(&member.id).await?.any())
    }

    /// Drops what this instance keeps of a person whose second factors changed: their view,
    /// `/me` bodies and sessions (whose enrollment-only state may have been lifted).
    pub(crate) async fn forget_person(&self, account_id: &str, member_id: &str, kind: MemberKind) {
        self.cache.forget_view(member_id);
        if let Ok(sessions) = self.sessions_of(account_id, member_id, kind).await {
            for s in sessions {
                self.cache.forget_session(&s.id);
            }
        }
    }

    /// Encrypts a secret for storage: XOR with an HMAC-SHA256 key stream under a server
    /// secret, bound to the person and a random nonce. With the secret key kept outside the
    /// database (`service/keys.rs`), a copy of the database alone does not yield anyone's
    /// codes. Stored as `nonce.ciphertext`, hex.
    async fn seal(&self, member_id: &str, secret: &[u8]) -> ServiceResult<String> {
        let key = self.secret("mfa-totp").await?;
        seal_under(&key, member_id, secret)
    }

    async fn open(&self, t: &TotpRecord) -> ServiceResult<Vec<u8>> {
        let key = self.secret("mfa-totp").await?;
        open_under(&key, &t.member_id, &t.secret)
    }
}

/// [`Service::seal`] under a given key (also used when the key moves out of the database).
pub(crate) fn seal_under(key: &[u8], member_id: &str, secret: &[u8]) -> ServiceResult<String> {
    let nonce = crate::ids::random_bytes(16);
    let pad = pad(key, member_id, &nonce)?;
    let ct: Vec<u8> = secret.iter().zip(pad.iter()).map(|(a, b)| a ^ b).collect();
    Ok(format!("{}.{}", hex::encode(nonce), hex::encode(ct)))
}

/// Opens what [`seal_under`] sealed with the same key.
pub(crate) fn open_under(key: &[u8], member_id: &str, sealed: &str) -> ServiceResult<Vec<u8>> {
    let bad = || ServiceError::Internal("unreadable authenticator secret".to_string());
    let (nonce, ct) = sealed.split_once('.').ok_or_else(bad)?;
    let nonce = hex::decode(nonce).map_err(|_| bad())?;
    let ct = hex::decode(ct).map_err(|_| bad())?;
    let pad = pad(key, member_id, &nonce)?;
    if ct.len() > pad.len() {
        return Err(bad());
    }
    Ok(ct.iter().zip(pad.iter()).map(|(a, b)| a ^ b).collect())
}

fn pad(key: &[u8], member_id: &str, nonce: &[u8]) -> ServiceResult<Vec<u8>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .map_err(|e| ServiceError::Internal(format!("totp key: {e}")))?;
    mac.update(member_id.as_bytes());
    mac.update(b"\n");
    mac.update(nonce);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// How long the second step of a sign-in may take.
pub const SECOND_STEP_TTL: Millis = 5 * crate::domain::time::MINUTE;

fn mfa_policy_change(
    before: &MfaPolicy,
    change: &super::settings::SecurityChange,
) -> super::settings::PerRoleChange {
    super::settings::PerRoleChange {
        what: "second factor",
        shown: ("required", "optional"),
        before: (before.agents, before.admins),
        agents: change.mfa_required_agents,
        admins: change.mfa_required_admins,
    }
}
