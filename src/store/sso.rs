//! Single sign-on's storage: each account's provider settings, the sign-ins sent to the
//! provider and not back yet, and the back-channel logout tokens already used. The sessions
//! it opens and ends are the sessions store's (`NewSession::sso`, `Which::Sso`).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::time::Millis;

/// An account's provider settings as stored: the client secret sealed by the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSettingsRow {
    pub account_id: String,
    pub issuer: String,
    pub client_id: String,
    /// Sealed; empty when none was given.
    pub client_secret: String,
    pub button_label: String,
    /// `off`, `allowed` or `required`.
    pub agents: String,
    pub admins: String,
    pub allowed_domains: Vec<String>,
    pub create_agents: bool,
    pub updated_at: Millis,
}

/// A sign-in sent to the provider: what its callback needs, found by the SHA-256 of `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoState {
    pub state_hash: String,
    pub account_id: String,
    /// The SHA-256 of the browser's binding cookie: the callback must come from that browser.
    pub binding_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go once signed in (checked again at the callback); empty: the landing page.
    pub rd: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}

#[async_trait]
pub trait SsoStore: Send + Sync {
    async fn sso_settings(&self, account_id: &str) -> StoreResult<Option<SsoSettingsRow>>;
    /// Writes the whole row (insert or replace).
    async fn put_sso_settings(&self, row: &SsoSettingsRow) -> StoreResult<()>;
    async fn insert_sso_state(&self, state: &SsoState) -> StoreResult<()>;
    /// Takes (deletes and returns) the pending sign-in with this state, started by the
    /// browser holding this binding, not expired at `now`: one conditional `DELETE`, so of two
    /// callbacks at once only one gets it. Another browser's callback takes nothing and leaves
    /// the row for its own.
    async fn take_sso_state(
        &self,
        account_id: &str,
        state_hash: &str,
        binding_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<SsoState>>;
    /// Records a logout token's `jti` until `expires_at`; `false` (nothing written) when the
    /// account already has it: a replay.
    async fn remember_logout_jti(
        &self,
        account_id: &str,
        jti: &str,
        expires_at: Millis,
    ) -> StoreResult<bool>;
    /// Deletes expired pending sign-ins and `jti`s too old to replay; how many rows.
    async fn prune_sso(&self, now: Millis) -> StoreResult<u64>;
}
