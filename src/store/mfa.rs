//! Second factors: a person's authenticator app and recovery codes, their passkeys, and the
//! account's policy of who must have one.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::time::Millis;

/// A person's passkey as stored; `credential` is the WebAuthn credential as JSON.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PasskeyRecord {
    pub id: String,
    pub member_id: String,
    pub account_id: String,
    pub name: String,
    pub credential: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
}

/// A person's authenticator app as stored; `secret` is encrypted by the service.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TotpRecord {
    pub member_id: String,
    pub account_id: String,
    pub secret: String,
    pub confirmed_at: Option<Millis>,
    pub last_step: i64,
    pub created_at: Millis,
}

/// Who must have a second factor in an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MfaPolicy {
    pub agents: bool,
    pub admins: bool,
}

/// Second factors of people, and the account's policy.
#[async_trait]
pub trait MfaStore: Send + Sync {
    /// The person's authenticator app, confirmed or pending.
    async fn totp(&self, member_id: &str) -> StoreResult<Option<TotpRecord>>;
    /// Stores a pending app (replacing a pending one); `false` when a confirmed one exists.
    async fn put_pending_totp(
        &self,
        account_id: &str,
        member_id: &str,
        secret: &str,
        at: Millis,
    ) -> StoreResult<bool>;
    /// Confirms the pending app with the step its code was for, replaces the recovery codes
    /// and lifts the enrollment-only state of the person's live sessions, in one transaction;
    /// `false` when there was no pending app.
    async fn confirm_totp(
        &self,
        member_id: &str,
        step: i64,
        at: Millis,
        recovery_hashes: &[String],
    ) -> StoreResult<bool>;
    /// Records a code of `step` as used, if no code of that step or a later one was: `false`
    /// means a replay (or no confirmed app).
    async fn use_totp_step(&self, member_id: &str, step: i64) -> StoreResult<bool>;
    /// Marks an unused recovery code used; `false` if it is unknown or used.
    async fn use_recovery_code(
        &self,
        member_id: &str,
        code_hash: &str,
        at: Millis,
    ) -> StoreResult<bool>;
    async fn recovery_codes_left(&self, member_id: &str) -> StoreResult<i64>;
    /// Removes the app and the recovery codes; `false` when there was nothing to remove.
    async fn remove_mfa(&self, member_id: &str) -> StoreResult<bool>;
    async fn mfa_policy(&self, account_id: &str) -> StoreResult<MfaPolicy>;
    async fn set_mfa_policy(&self, account_id: &str, policy: MfaPolicy) -> StoreResult<()>;
    /// Stores a passkey and lifts the enrollment-only state of the person's live sessions.
    async fn insert_passkey(&self, p: &PasskeyRecord) -> StoreResult<()>;
    /// The person's passkeys, oldest first.
    async fn passkeys(&self, member_id: &str) -> StoreResult<Vec<PasskeyRecord>>;
    async fn remove_passkey(&self, member_id: &str, id: &str) -> StoreResult<bool>;
    async fn remove_all_passkeys(&self, member_id: &str) -> StoreResult<u64>;
    /// Records a sign-in with a passkey and its updated credential (signature counter).
    async fn passkey_used(&self, id: &str, credential: &str, at: Millis) -> StoreResult<()>;
}
