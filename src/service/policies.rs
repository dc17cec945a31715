//! Session policies of an account (the Security section's limit of sessions per person, office
//! networks and the network policy per role), read into domain types and kept in memory so the
//! office-network check on every request costs no database read.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::domain::audit::AuditKind;
use crate::domain::member::MemberKind;
use crate::domain::office::{
    MAX_OFFICE_NETWORKS, NetworkPolicy, Networks, OfficeNetwork, RolePolicies, parse_network,
};
use crate::domain::policy::Actor;
use crate::domain::session::EndReason;
use crate::events::Event;
use crate::store::{LiveSessionAddress, SessionPolicyRecord, Which};

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
const POLICY_TTL: Duration = Duration::from_secs(2);

/// Policies by account id, each with the moment it was read.
#[derive(Default)]
pub(crate) struct PolicyCache {
    map: RwLock<HashMap<String, (Instant, Arc<SessionPolicy>)>>,
}

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

    /// Whether `ip` lies in one of the account's office networks (an access rule with
    /// `networks = "office"`); with none configured nobody does, and an unknown address
    /// never does.
    pub async fn in_office_network(
        &self,
        account_id: &str,
        ip: crate::domain::ClientIp,
    ) -> ServiceResult<bool> {
        let p = self.session_policy(account_id).await?;
        Ok(ip.ip().is_some_and(|a| p.networks.contains(a)))
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
    /// Validates and stores the session-policy part of a Security change, audited per field.
    /// Nothing is stored when any part is refused: a bad network entry (422 naming it), a
    /// sub-administrator changing the administrators' policy (403), or a change that would
    /// lock the saving administrator out from where they are, unless confirmed (409). A new
    /// limit applies from the next sign-in; new networks or policies re-mark live sessions at
    /// once, and under `enforce` a session ends at its next request from outside.
    pub(crate) async fn change_session_policy(
        &self,
        actor: &Actor,
        change: &SecurityChange,
    ) -> ServiceResult<()> {
        let before = self.fresh_session_policy(&actor.account_id).await?;
        let after = proposed(&before, change)?;
        if after == before {
            return Ok(());
        }
        if after.roles.admins != before.roles.admins && !actor.primary {
            return Err(ServiceError::Forbidden(
                "only the primary administrator may change the administrators' office-network \
                 policy"
                    .to_string(),
            ));
        }
        // The ranges decide whom the administrators' policy flags or signs out: while it is on,
        // they are as much the primary's as the policy itself (renaming a range changes
        // nobody's access and stays open).
        let admins_on = before.roles.admins != NetworkPolicy::Off;
        if admins_on && after.networks != before.networks && !actor.primary {
            return Err(ServiceError::Forbidden(
                "only the primary administrator may change the office networks while the \
                 administrators' office-network policy is on"
                    .to_string(),
            ));
        }
        if !change.confirm
            && let Some(why) = locks_out(&before, &after, actor)
        {
            return Err(ServiceError::WouldLockOutSelf(why));
        }
        self.store
            .set_session_policy(&actor.account_id, &after.to_record())
            .await?;
        for line in changes(&before, &after) {
            self.audit_by(actor, AuditKind::SettingsChanged, None, line)
                .await;
        }
        if after.networks != before.networks || after.roles != before.roles {
            let live = self.mark_outside(&actor.account_id, &after).await?;
            self.end_refused_sessions(actor, &after, live).await?;
        }
        Ok(())
    }

    /// Marks the account's live sessions outside the office networks afresh (for the Team
    /// lists' filter and the flag), in one read and one write. Returns the live sessions read.
    async fn mark_outside(
        &self,
        account_id: &str,
        p: &SessionPolicy,
    ) -> ServiceResult<Vec<LiveSessionAddress>> {
        let live = self.store.live_session_addresses(account_id).await?;
        let outside: Vec<String> = live
            .iter()
            .filter(|s| {
                // The primary's `enforce` still flags, so the kind alone decides the mark.
                p.roles.for_person(s.member_kind, false) != NetworkPolicy::Off
                    && (p.networks.is_outside(s.first_ip) || p.networks.is_outside(s.last_ip))
            })
            .map(|s| s.session_id.clone())
            .collect();
        self.store.set_outside_office(account_id, &outside).await?;
        // Views and records in memory carry the old marks.
        self.cache.clear();
        Ok(live)
    }

    /// Ends, as the save happens, the live sessions the new policy refuses: their role is
    /// `enforce` (the primary exempt) and their latest address — where their next request
    /// would most likely come from, and be refused — is outside the networks. Without this a
    /// session already outside would look live on the Team pages (and keep its agent Online)
    /// until that next request. Each goes through the one ending path, so it is audited,
    /// pushed to its tabs and its agent set Offline like an ending at a request.
    async fn end_refused_sessions(
        &self,
        actor: &Actor,
        p: &SessionPolicy,
        live: Vec<LiveSessionAddress>,
    ) -> ServiceResult<()> {
        for s in live {
            if p.roles.for_person(s.member_kind, false) != NetworkPolicy::Enforce
                || !p.networks.is_outside(s.last_ip)
            {
                continue;
            }
            if s.member_kind == MemberKind::Admin
                && self
                    .store
                    .member(&actor.account_id, &s.member_id)
                    .await?
                    .primary
            {
                continue;
            }
            self.end_by(
                actor,
                Which::Session(s.session_id),
                EndReason::OutsideOfficeNetwork,
            )
            .await?;
        }
        Ok(())
    }
}

/// The policy a change asks for, validated; errors name the field or entry.
fn proposed(before: &SessionPolicy, change: &SecurityChange) -> ServiceResult<SessionPolicy> {
    let mut after = before.clone();
    if let Some(n) = change.max_sessions_per_person {
        after.max_sessions_per_person = n;
    }
    if let Some(list) = &change.office_networks {
        if list.len() > MAX_OFFICE_NETWORKS {
            return Err(ServiceError::invalid(
                "office_networks",
                format!(
                    "office_networks holds at most {MAX_OFFICE_NETWORKS} ranges, got {}",
                    list.len()
                ),
            ));
        }
        after.office_networks = list
            .iter()
            .enumerate()
            .map(|(i, (cidr, name))| {
                parse_network(cidr, name).map_err(|e| {
                    ServiceError::invalid("office_networks", format!("office_networks[{i}]: {e}"))
                })
            })
            .collect::<ServiceResult<_>>()?;
        after.networks = Networks::compile(&after.office_networks);
    }
    let role = |field: &str, v: &Option<String>, old: NetworkPolicy| {
        match v {
        None => Ok(old),
        Some(text) => text.trim().parse::<NetworkPolicy>().map_err(|()| {
            ServiceError::invalid(
                "office_network_policy",
                format!("office_network_policy.{field} must be \"off\", \"flag\" or \"enforce\", got \"{text}\""),
            )
        }),
    }
    };
    after.roles.agents = role("agents", &change.agents_network_policy, before.roles.agents)?;
    after.roles.admins = role("admins", &change.admins_network_policy, before.roles.admins)?;
    Ok(after)
}

/// Why saving `after` would sign the saving administrator out from where they are now (and
/// `before` did not), if it would.
fn locks_out(before: &SessionPolicy, after: &SessionPolicy, actor: &Actor) -> Option<String> {
    let refused = |p: &SessionPolicy| {
        p.roles.for_person(actor.kind, actor.primary) == NetworkPolicy::Enforce
            && p.networks.is_outside(actor.ip)
    };
    (refused(after) && !refused(before)).then(|| {
        format!(
            "saving this would sign you out at once: your address {} is outside every office \
             network and the policy for your role would be enforce; send \"confirm\": true to \
             save anyway",
            actor.ip
        )
    })
}

/// One audit line per changed part.
fn changes(before: &SessionPolicy, after: &SessionPolicy) -> Vec<String> {
    let mut out = Vec::new();
    if after.max_sessions_per_person != before.max_sessions_per_person {
        let show = |v: Option<i64>| v.map_or("no limit".to_string(), |n| n.to_string());
        out.push(format!(
            "sessions per person {} → {}",
            show(before.max_sessions_per_person),
            show(after.max_sessions_per_person)
        ));
    }
    if after.office_networks != before.office_networks {
        let show = |l: &[OfficeNetwork]| {
            if l.is_empty() {
                "none".to_string()
            } else {
                l.iter()
                    .map(|n| n.cidr.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        out.push(format!(
            "office networks {} → {}",
            show(&before.office_networks),
            show(&after.office_networks)
        ));
    }
    for (role, b, a) in [
        ("agents", before.roles.agents, after.roles.agents),
        ("administrators", before.roles.admins, after.roles.admins),
    ] {
        if a != b {
            out.push(format!("office-network policy for {role} {b} → {a}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClientIp;
    use crate::domain::member::{MemberKind, Permissions};

    fn admin(primary: bool, ip: &str) -> Actor {
        Actor {
            account_id: "ac_1".to_string(),
            member_id: "ad_1".to_string(),
            kind: MemberKind::Admin,
            primary,
            permissions: Permissions::all(),
            ip: ClientIp::from_recorded(ip),
            session_id: None,
        }
    }

    fn change(networks: &[&str], admins: Option<&str>) -> SecurityChange {
        SecurityChange {
            office_networks: Some(
                networks
                    .iter()
                    .map(|c| (c.to_string(), String::new()))
                    .collect(),
            ),
            admins_network_policy: admins.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn a_change_is_validated_whole_and_names_the_bad_entry() {
        let before = SessionPolicy::default();
        let e = proposed(&before, &change(&["10.0.0.0/8", "nope"], None)).unwrap_err();
        assert!(e.to_string().contains("office_networks[1]"), "{e}");
        let bad = SecurityChange {
            agents_network_policy: Some("always".to_string()),
            ..Default::default()
        };
        let e = proposed(&before, &bad).unwrap_err();
        assert!(
            e.to_string().contains("office_network_policy.agents"),
            "{e}"
        );
        let ok = proposed(&before, &change(&["10.1.2.3/8"], Some("flag"))).unwrap();
        assert_eq!(ok.office_networks[0].cidr, "10.0.0.0/8");
        assert_eq!(ok.roles.admins, NetworkPolicy::Flag);
        assert!(!ok.networks.is_outside(ClientIp::from_recorded("10.9.9.9")));
    }

    #[test]
    fn only_a_new_lockout_of_a_non_primary_saver_asks() {
        let before = proposed(
            &SessionPolicy::default(),
            &change(&["198.51.100.0/24"], Some("enforce")),
        )
        .unwrap();
        let moved = proposed(&before, &change(&["203.0.113.0/24"], None)).unwrap();
        let why = locks_out(&before, &moved, &admin(false, "198.51.100.7")).unwrap();
        assert!(why.contains("198.51.100.7"), "{why}");
        assert_eq!(
            locks_out(&before, &moved, &admin(true, "198.51.100.7")),
            None
        );
        assert_eq!(
            locks_out(&before, &moved, &admin(false, "203.0.113.9")),
            None
        );
        let off = proposed(&before, &change(&["203.0.113.0/24"], Some("flag"))).unwrap();
        assert_eq!(
            locks_out(&before, &off, &admin(false, "198.51.100.7")),
            None
        );
        assert_eq!(changes(&before, &moved).len(), 1);
    }
}
