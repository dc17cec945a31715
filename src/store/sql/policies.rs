//! Session policies: one row per account that changed them (the limit of sessions per person,
//! office networks, the network policy per role); no row reads as the defaults.

use super::{SqlStore, query, query_as};
use async_trait::async_trait;

use crate::store::{PolicyStore, SessionPolicyRecord, StoreResult};

#[async_trait]
impl PolicyStore for SqlStore {
    async fn session_policy(&self, account_id: &str) -> StoreResult<SessionPolicyRecord> {
        let row: Option<SessionPolicyRecord> = query_as(
            "SELECT max_sessions_per_person, office_networks, agents_network_policy, \
             admins_network_policy FROM session_policies WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.unwrap_or_default())
    }

    async fn set_session_policy(
        &self,
        account_id: &str,
        p: &SessionPolicyRecord,
    ) -> StoreResult<()> {
        query(
            "INSERT INTO session_policies (account_id, max_sessions_per_person, \
             office_networks, agents_network_policy, admins_network_policy) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id) DO UPDATE SET \
             max_sessions_per_person = excluded.max_sessions_per_person, \
             office_networks = excluded.office_networks, \
             agents_network_policy = excluded.agents_network_policy, \
             admins_network_policy = excluded.admins_network_policy",
        )
        .bind(account_id)
        .bind(p.max_sessions_per_person)
        .bind(&p.office_networks)
        .bind(&p.agents_network_policy)
        .bind(&p.admins_network_policy)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
