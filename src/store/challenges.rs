//! Short-lived sign-in challenges: the server-side state between the steps of a sign-in
//! ("choose an account", a second factor, a passkey ceremony).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::ClientIp;
use crate::domain::signin::ChallengePurpose;
use crate::domain::time::Millis;

/// Server-side state of a sign-in in progress ("choose an account", a second step), kept
/// under the hash of the id the client holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub id_hash: String,
    pub account_id: String,
    pub purpose: ChallengePurpose,
    /// The people this sign-in may end as.
    pub member_ids: Vec<String>,
    pub ip: ClientIp,
    pub user_agent: String,
    /// Whatever else the step needs, as the service encodes it.
    pub data: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub failures: i64,
}

/// Sign-in challenges, kept under the hash of the id the client holds.
#[async_trait]
pub trait ChallengeStore: Send + Sync {
    /// Stores a challenge; a taken `id_hash` is a `Conflict` on `id`.
    async fn insert_challenge(&self, c: &Challenge) -> StoreResult<()>;
    /// A challenge not yet expired at `now` (live while `now < expires_at`).
    async fn challenge(&self, id_hash: &str, now: Millis) -> StoreResult<Option<Challenge>>;
    /// Removes and returns a challenge not yet expired at `now`: of concurrent callers, at
    /// most one gets it.
    async fn take_challenge(&self, id_hash: &str, now: Millis) -> StoreResult<Option<Challenge>>;
    /// Adds one to a challenge's failures and returns the new count; `NotFound` if it is gone.
    async fn count_challenge_failure(&self, id_hash: &str) -> StoreResult<i64>;
    /// Forgets challenges expired at `now`; returns how many.
    async fn prune_challenges(&self, now: Millis) -> StoreResult<u64>;
}
