//! The secrets every instance of a deployment shares (device passes, sealed second factors),
//! kept in the database unless a key outside it is given (`service/keys.rs`).

use async_trait::async_trait;

use super::StoreResult;

/// The `server_secrets` row that says the secrets are derived from a key kept outside the
/// database: an HMAC of a fixed text under that key (it checks the key, it does not reveal it).
pub const OUTSIDE_KEY_CHECK: &str = "outside-key-check";

/// Server secrets, and the move onto a key kept outside the database.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The 32 random bytes stored under `name`, shared by every instance on this database;
    /// made on first use (concurrent first uses agree on one value).
    async fn server_secret(&self, name: &str) -> StoreResult<Vec<u8>>;
    /// A stored secret, without making one.
    async fn stored_server_secret(&self, name: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Every stored authenticator secret, sealed: (person, sealed).
    async fn sealed_totp_secrets(&self) -> StoreResult<Vec<(String, String)>>;
    /// Every stored single sign-on client secret, sealed: (account, sealed).
    async fn sealed_sso_secrets(&self) -> StoreResult<Vec<(String, String)>>;
    /// Moves the database onto a secret key kept outside it, in one transaction: records
    /// `check` under [`OUTSIDE_KEY_CHECK`], replaces each sealed authenticator secret (person,
    /// old, new) and client secret (account, old, new) that is still the old one, and deletes
    /// the `retired` secrets. `false` (and nothing changed) when the check row is already there.
    async fn adopt_outside_key(
        &self,
        check: &[u8],
        resealed: &[(String, String, String)],
        resealed_sso: &[(String, String, String)],
        retired: &[&str],
    ) -> StoreResult<bool>;
}
