//! Presence across instances: open tabs per agent per instance, with heartbeats, so several
//! instances agree and a dead instance's agents go Offline.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::time::Millis;

/// Open tabs per agent and instance.
#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// Records how many tabs of an agent this instance holds (0 removes the row).
    async fn presence_set(
        &self,
        instance_id: &str,
        account_id: &str,
        member_id: &str,
        tabs: i64,
        now: Millis,
    ) -> StoreResult<()>;
    /// Marks every row of this instance as alive.
    async fn presence_heartbeat(&self, instance_id: &str, now: Millis) -> StoreResult<()>;
    /// Open tabs of an agent on all instances whose heartbeat is newer than `fresh_after`.
    async fn presence_tabs(&self, member_id: &str, fresh_after: Millis) -> StoreResult<i64>;
    /// Removes rows of instances that stopped heartbeating; returns the agents that have no
    /// live tab anywhere any more, as (account id, member id).
    async fn presence_reap(&self, fresh_after: Millis) -> StoreResult<Vec<(String, String)>>;
    /// Agents who are Online without a live tab on any instance (set Online through the API
    /// without a tab, or left so by data from elsewhere), as (account id, member id).
    async fn online_without_tabs(&self, fresh_after: Millis) -> StoreResult<Vec<(String, String)>>;
}
