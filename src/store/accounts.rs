//! Accounts (one helpdesk workspace each): creation with the primary administrator, reads,
//! and the per-account session settings of the Security section.

use async_trait::async_trait;

use super::{NewMember, StoreResult};
use crate::domain::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub agent_idle_timeout_minutes: i64,
    pub max_session_lifetime_minutes: Option<i64>,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: Millis,
}

/// Accounts and their settings.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn account_count(&self) -> StoreResult<i64>;
    /// Creates an account and its primary administrator atomically. With `only_if_empty`, it
    /// refuses (Conflict on `account`) when any account exists: first-run setup can't race.
    async fn create_account(
        &self,
        account: &NewAccount,
        primary: &NewMember,
        only_if_empty: bool,
    ) -> StoreResult<Account>;
    async fn account(&self, id: &str) -> StoreResult<Account>;
    async fn account_by_slug(&self, slug: &str) -> StoreResult<Account>;
    async fn first_account(&self) -> StoreResult<Account>;
    async fn set_agent_idle_timeout(&self, account_id: &str, minutes: i64) -> StoreResult<()>;
    async fn set_max_session_lifetime(
        &self,
        account_id: &str,
        minutes: Option<i64>,
    ) -> StoreResult<()>;
}
