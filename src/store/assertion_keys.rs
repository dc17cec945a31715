//! The keys that sign `Remote-Assertion`, shared by every instance on the database; the
//! schedule they follow is `domain::assertion`.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::time::Millis;

/// A signing key as stored: the public half in the clear (it is published), the private half
/// sealed by the service.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AssertionKey {
    pub kid: String,
    pub generation: i64,
    pub signs_from: Millis,
    /// The Ed25519 public key, base64url without padding (a JWK's `x`).
    pub public_key: String,
    /// The private key's seed, sealed.
    pub private_key: String,
    pub created_at: Millis,
}

/// Signing keys.
#[async_trait]
pub trait AssertionKeyStore: Send + Sync {
    /// Every stored key, oldest generation first.
    async fn assertion_keys(&self) -> StoreResult<Vec<AssertionKey>>;
    /// Stores a key; `false` (and nothing written) when its generation is already taken:
    /// another instance rotated first.
    async fn add_assertion_key(&self, key: &AssertionKey) -> StoreResult<bool>;
    /// Deletes the keys of generations below `generation` (none of their tokens is valid any
    /// more); how many.
    async fn delete_assertion_keys_below(&self, generation: i64) -> StoreResult<u64>;
}
