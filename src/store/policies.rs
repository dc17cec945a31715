//! Session policies as stored: the limit of sessions per person, office networks and the
//! network policy per role; the service reads them into domain types.

use async_trait::async_trait;

use super::StoreResult;

/// An account's session policies as stored; the service reads them into domain types.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionPolicyRecord {
    pub max_sessions_per_person: Option<i64>,
    /// A JSON array of `{"cidr", "name"}`.
    pub office_networks: String,
    pub agents_network_policy: String,
    pub admins_network_policy: String,
}

impl Default for SessionPolicyRecord {
    fn default() -> Self {
        SessionPolicyRecord {
            max_sessions_per_person: None,
            office_networks: "[]".to_string(),
            agents_network_policy: "off".to_string(),
            admins_network_policy: "off".to_string(),
        }
    }
}

/// An account's session policies.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// The account's session policies as stored (the defaults when it never set any).
    async fn session_policy(&self, account_id: &str) -> StoreResult<SessionPolicyRecord>;
    async fn set_session_policy(
        &self,
        account_id: &str,
        p: &SessionPolicyRecord,
    ) -> StoreResult<()>;
}
