//! Session policies of an account (the Security section's limit of sessions per person, office
//! networks and the network policy per role), read into domain types and kept in memory so the
//! office-network check on every request costs no database read.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::domain::audit::AuditKind;
use crate::domain::office::{Networks, OfficeNetwork, RolePolicies};
use crate::domain::policy::Actor;
use crate::events::Event;
use crate::store::SessionPolicyRecord;

use super::settings::SecurityChange;
use super::{Service, ServiceError, ServiceResult};

/// An account's session policies, with the office networks compiled for matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionPolicy {
    pub max_sessions_per_person: Option<i64>,
    pub office_networks: Vec<OfficeNetwork>,
    pub roles: RolePolicies,
    pub networks: Networks,
}

impl SessionPolicy {
    fn from_record(r: SessionPolicyRecord) -> ServiceResult<SessionPolicy> {
        let office_networks: Vec<OfficeNetwork> = serde_json::from_str(&r.office_networks)
            .map_err(|e| ServiceError::Internal(format!("bad office networks stored: {e}")))?;
        let roles = RolePolicies {
            agents: r.agents_network_policy.parse().unwrap_or_default(),
            admins: r.admins_network_policy.parse().unwrap_or_default(),
        };
        Ok(SessionPolicy {
            max_sessions_per_person: r.max_sessions_per_person,
            networks: Networks::compile(&office_networks),
            office_networks,
            roles,
        })
    }

    pub(crate) fn to_record(&self) -> SessionPolicyRecord {
        SessionPolicyRecord {
            max_sessions_per_person: self.max_sessions_per_person,
            office_networks: serde_json::to_string(&self.office_networks)
                .unwrap_or_else(|_| "[]".to_string()),
            agents_network_policy: self.roles.agents.as_str().to_string(),
            admins_network_policy: self.roles.admins.as_str().to_string(),
        }
    }
}

/// How long a policy read from the database is trusted without an event saying it changed:
/// instances that share no event relay (several processes on one SQLite file) agree within it.
#[allow(dead_code)]
const POLICY_TTL: Duration = Duration::from_secs(2);

/// Policies by account id, each with the moment it was read.
// Read on the hot path by the office-network check.
#[allow(dead_code)]
#[derive(Default)]
pub(crate) struct PolicyCache {
    map: RwLock<HashMap<String, (Instant, Arc<SessionPolicy>)>>,
}

#[allow(dead_code)]
impl PolicyCache {
    fn get(&self, account_id: &str) -> Option<Arc<SessionPolicy>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(account_id)
            .filter(|(at, _)| at.elapsed() < POLICY_TTL)
            .map(|(_, p)| p.clone())
    }

    fn put(&self, account_id: &str, p: Arc<SessionPolicy>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        map.insert(account_id.to_string(), (Instant::now(), p));
    }

    /// Drops what an event may have made wrong.
    pub(crate) fn apply(&self, event: &Event) {
        match event {
            Event::SettingsChanged { account_id } => {
                let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
                map.remove(account_id);
            }
            Event::Resync => self.map.write().unwrap_or_else(|e| e.into_inner()).clear(),
            _ => {}
        }
    }
}

impl Service {
    /// The account's session policies, from memory when read lately.
    #[allow(dead_code)]
    pub(crate) async fn session_policy(
        &self,
        account_id: &str,
    ) -> ServiceResult<Arc<SessionPolicy>> {
        if let Some(p) = self.policies.get(account_id) {
            return Ok(p);
        }
        let p = Arc::new(self.fresh_session_policy(account_id).await?);
        self.policies.put(account_id, p.clone());
        Ok(p)
    }

    /// The account's session policies as the database holds them now (sign-in and changes
    /// read these, so another instance's change applies at once).
    pub(crate) async fn fresh_session_policy(
        &self,
        account_id: &str,
    ) -> ServiceResult<SessionPolicy> {
        SessionPolicy::from_record(self.store.session_policy(account_id).await?)
    }
}

impl Service {
    /// Stores the session-policy part of a validated Security change, audited per field.
    /// Takes effect for the next sign-in; sessions already open beyond a new limit stay.
    pub(crate) async fn change_session_policy(
        &self,
        actor: &Actor,
        change: &SecurityChange,
    ) -> ServiceResult<()> {
        let before = self.fresh_session_policy(&actor.account_id).await?;
        let mut after = before.clone();
        if let Some(n) = change.max_sessions_per_person {
            after.max_sessions_per_person = n;
        }
        if after == before {
            return Ok(());
        }
        self.store
            .set_session_policy(&actor.account_id, &after.to_record())
            .await?;
        if after.max_sessions_per_person != before.max_sessions_per_person {
            let show = |v: Option<i64>| v.map_or("no limit".to_string(), |n| n.to_string());
            self.audit(
                &actor.account_id,
                AuditKind::SettingsChanged.as_str(),
                Some(&actor.member_id),
                None,
                Some(&actor.ip),
                format!(
                    "sessions per person {} → {}",
                    show(before.max_sessions_per_person),
                    show(after.max_sessions_per_person)
                ),
            )
            .await;
        }
        Ok(())
    }
}
