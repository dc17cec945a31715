//! Presence: an agent is Online while at least one of their tabs holds an event stream and
//! their own choice is Online; with no tab for a grace period they go Offline by themselves.
//! The session is untouched by all of this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::member::{AgentStatus, MemberKind};
use crate::domain::policy::Actor;
use crate::domain::time::Millis;
use crate::events::Event;

use super::{Service, ServiceError, ServiceResult};

/// How often an instance confirms its tabs are still open.
pub const HEARTBEAT_MS: i64 = 10_000;
/// Rows older than this belong to an instance that stopped: its tabs no longer count.
pub const HEARTBEAT_EXPIRY_MS: i64 = 3 * HEARTBEAT_MS;

type TabKey = (String, String);

/// Open tabs per agent on this instance, and each agent's latest departure (their last tab
/// closing), so a grace period is always counted from the latest one.
#[derive(Default, Clone)]
pub struct Connections(Arc<Mutex<Tabs>>);

#[derive(Default)]
struct Tabs {
    open: HashMap<TabKey, usize>,
    /// Agents whose last tab here closed, with the number of that departure.
    gone: HashMap<TabKey, u64>,
    departures: u64,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tabs> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, key: &TabKey) -> usize {
        let mut t = self.lock();
        t.gone.remove(key);
        let n = t.open.entry(key.clone()).or_insert(0);
        *n += 1;
        *n
    }

    /// Returns the tabs left and, when none is, the number of this departure.
    fn remove(&self, key: &TabKey) -> (usize, u64) {
        let mut t = self.lock();
        match t.open.get_mut(key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                (*n, 0)
            }
            _ => {
                t.open.remove(key);
                t.departures += 1;
                let seq = t.departures;
                t.gone.insert(key.clone(), seq);
                (0, seq)
            }
        }
    }

    /// Whether departure `seq` is still the latest news of `key` (no tab came back and none
    /// left later, which would have started a grace period of its own); consumes it.
    fn still_gone(&self, key: &TabKey, seq: u64) -> bool {
        let mut t = self.lock();
        if t.gone.get(key) == Some(&seq) {
            t.gone.remove(key);
            true
        } else {
            false
        }
    }

    pub fn count(&self, account_id: &str, member_id: &str) -> usize {
        let t = self.lock();
        t.open
            .get(&(account_id.to_string(), member_id.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Open streams in all, for metrics and benchmarks.
    pub fn total(&self) -> usize {
        self.lock().open.values().sum()
    }
}

/// Held by an open stream; dropping it (the tab went away) starts the grace period.
pub struct TabGuard {
    svc: Arc<Service>,
    key: Option<TabKey>,
}

impl Drop for TabGuard {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let (left, departure) = self.svc.connections.remove(&key);
        let svc = self.svc.clone();
        let grace = Duration::from_millis(svc.config.presence_grace_ms.max(0) as u64);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                svc.record_tabs(&key.0, &key.1, left).await;
                if left > 0 {
                    return;
                }
                tokio::time::sleep(grace).await;
                // A tab that came and went since has its own, later, grace period.
                if svc.connections.still_gone(&key, departure)
                    && !svc.has_tabs_elsewhere(&key.1).await
                {
                    svc.force_offline(&key.0, &key.1).await;
                }
            });
        }
    }
}

impl Service {
    /// Registers an open tab. For an agent whose own choice is Online, it brings them back
    /// Online.
    pub async fn tab_connected(self: &Arc<Self>, actor: &Actor) -> ServiceResult<TabGuard> {
        // A stream tells its tab when the session ends, which nobody can know while the
        // database is unreachable: refused at once then, as a request needing it would be.
        if self.database_down().is_some() {
            return Err(ServiceError::Unavailable);
        }
        if actor.kind != MemberKind::Agent {
            return Ok(TabGuard {
                svc: self.clone(),
                key: None,
            });
        }
        let key = (actor.account_id.clone(), actor.member_id.clone());
        let n = self.connections.add(&key);
        // Made before anything is awaited, so the count goes down again however this ends.
        let guard = TabGuard {
            svc: self.clone(),
            key: Some(key.clone()),
        };
        self.unless_unreachable(async {
            self.record_tabs(&key.0, &key.1, n).await;
            self.back_online(actor).await;
            Ok(())
        })
        .await?;
        Ok(guard)
    }

    /// Brings an agent whose own choice is Online back Online.
    async fn back_online(&self, actor: &Actor) {
        match self.store.member(&actor.account_id, &actor.member_id).await {
            Ok(m) if m.status_choice == AgentStatus::Online && m.status == AgentStatus::Offline => {
                if self
                    .store
                    .set_status(&m.account_id, &m.id, AgentStatus::Online, None)
                    .await
                    .is_ok()
                {
                    self.publish(Event::StatusChanged {
                        account_id: m.account_id.clone(),
                        member_id: m.id.clone(),
                        status: AgentStatus::Online,
                    });
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not read agent for presence"),
        }
    }
}

impl Service {
    /// Stores this instance's tab count for an agent, so other instances see it.
    async fn record_tabs(&self, account_id: &str, member_id: &str, tabs: usize) {
        if let Err(e) = self
            .store
            .presence_set(
                &self.instance_id,
                account_id,
                member_id,
                tabs as i64,
                self.now(),
            )
            .await
        {
            tracing::warn!(error = %e, "could not record presence");
        }
    }

    /// Whether any instance (this one included) holds a live tab of this agent.
    async fn has_tabs_elsewhere(&self, member_id: &str) -> bool {
        let fresh_after = self.now() - HEARTBEAT_EXPIRY_MS;
        match self.store.presence_tabs(member_id, fresh_after).await {
            Ok(n) => n > 0,
            Err(e) => {
                tracing::warn!(error = %e, "could not read presence");
                false
            }
        }
    }

    /// One heartbeat: confirms this instance's tabs and sets Offline the agents whose only
    /// tabs were on an instance that stopped heartbeating.
    pub async fn presence_tick(&self) {
        let now = self.now();
        if let Err(e) = self.store.presence_heartbeat(&self.instance_id, now).await {
            tracing::warn!(error = %e, "presence heartbeat failed");
            return;
        }
        match self.store.presence_reap(now - HEARTBEAT_EXPIRY_MS).await {
            Ok(gone) => {
                for (account_id, member_id) in gone {
                    if self.connections.count(&account_id, &member_id) == 0 {
                        self.force_offline(&account_id, &member_id).await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "presence reap failed"),
        }
        self.settle_tabless_agents(now).await;
    }

    /// Online needs a tab: an agent who is Online with no tab on any instance (set Online
    /// through the API without one, or by data from elsewhere) goes Offline once that has
    /// lasted the grace period, as if their last tab had closed, so the case router never
    /// counts on someone who is not there. Their own choice is kept for their next tab.
    async fn settle_tabless_agents(&self, now: Millis) {
        let list = match self
            .store
            .online_without_tabs(now - HEARTBEAT_EXPIRY_MS)
            .await
        {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "could not read tabless agents");
                return;
            }
        };
        // Measured in real time, like the grace after a tab closes (`TabGuard`).
        let grace = Duration::from_millis(self.config.presence_grace_ms.max(0) as u64);
        let seen_now = tokio::time::Instant::now();
        let mut due = Vec::new();
        {
            let mut since = self.tabless_since.lock().unwrap_or_else(|e| e.into_inner());
            let mut still = HashMap::new();
            for (account_id, member_id) in list {
                if self.connections.count(&account_id, &member_id) > 0 {
                    continue;
                }
                let first = since.get(&member_id).copied().unwrap_or(seen_now);
                if seen_now.duration_since(first) >= grace {
                    due.push((account_id, member_id));
                } else {
                    still.insert(member_id, first);
                }
            }
            *since = still;
        }
        for (account_id, member_id) in due {
            // A tab may have connected somewhere since the list was read.
            if !self.has_tabs_elsewhere(&member_id).await {
                self.force_offline(&account_id, &member_id).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grace_period_counts_from_the_latest_departure() {
        let c = Connections::default();
        let k = ("ac".to_string(), "ag".to_string());
        assert_eq!(c.add(&k), 1);
        let (left, first) = c.remove(&k);
        assert_eq!(left, 0);
        // The page reloads: a tab comes back, then the browser quits.
        assert_eq!(c.add(&k), 1);
        assert_eq!(c.add(&k), 2);
        assert_eq!(c.remove(&k), (1, 0));
        let (left, second) = c.remove(&k);
        assert_eq!(left, 0);
        // The first grace period ends early: it must not act; the second one does, once.
        assert!(!c.still_gone(&k, first));
        assert!(c.still_gone(&k, second));
        assert!(!c.still_gone(&k, second));
        assert_eq!(c.count("ac", "ag"), 0);
        assert_eq!(c.total(), 0);
    }

    #[test]
    fn a_tab_coming_back_cancels_the_grace_period() {
        let c = Connections::default();
        let k = ("ac".to_string(), "ag".to_string());
        c.add(&k);
        let (_, seq) = c.remove(&k);
        c.add(&k);
        assert!(!c.still_gone(&k, seq));
        assert_eq!(c.count("ac", "ag"), 1);
    }
}
