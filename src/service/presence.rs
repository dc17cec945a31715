//! Presence: an agent is Online while at least one of their tabs holds an event stream and
//! their own choice is Online; with no tab for a grace period they go Offline by themselves.
//! The session is untouched by all of this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::domain::member::{AgentStatus, MemberKind};
use crate::domain::policy::Actor;
use crate::events::Event;

use super::Service;

/// Open tabs per agent on this instance.
#[derive(Default, Clone)]
pub struct Connections(Arc<Mutex<HashMap<(String, String), usize>>>);

impl Connections {
    fn add(&self, key: &(String, String)) -> usize {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(key.clone()).or_insert(0);
        *n += 1;
        *n
    }

    fn remove(&self, key: &(String, String)) -> usize {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let left = match m.get_mut(key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                *n
            }
            _ => {
                m.remove(key);
                0
            }
        };
        left
    }

    pub fn count(&self, account_id: &str, member_id: &str) -> usize {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&(account_id.to_string(), member_id.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Open streams in all, for metrics and benchmarks.
    pub fn total(&self) -> usize {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.values().sum()
    }
}

/// Held by an open stream; dropping it (the tab went away) starts the grace period.
pub struct TabGuard {
    svc: Arc<Service>,
    key: Option<(String, String)>,
}

impl Drop for TabGuard {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let left = self.svc.connections.remove(&key);
        if left > 0 {
            return;
        }
        let svc = self.svc.clone();
        let grace = Duration::from_millis(svc.config.presence_grace_ms.max(0) as u64);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                tokio::time::sleep(grace).await;
                if svc.connections.count(&key.0, &key.1) == 0 {
                    svc.force_offline(&key.0, &key.1).await;
                }
            });
        }
    }
}

impl Service {
    /// Registers an open tab. For an agent whose own choice is Online, it brings them back
    /// Online.
    pub async fn tab_connected(self: &Arc<Self>, actor: &Actor) -> TabGuard {
        if actor.kind != MemberKind::Agent {
            return TabGuard {
                svc: self.clone(),
                key: None,
            };
        }
        let key = (actor.account_id.clone(), actor.member_id.clone());
        self.connections.add(&key);
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
        TabGuard {
            svc: self.clone(),
            key: Some(key),
        }
    }
}
