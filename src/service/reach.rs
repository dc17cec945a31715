//! Whether the database is known to be unreachable, so that requests needing it answer 503
//! at once instead of each waiting out the pool's acquire timeout (with PostgreSQL gone the
//! pool keeps retrying its connection until then: 5 s by default, longer where configured).

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::{HEALTH_TIMEOUT, Service, ServiceError, ServiceResult};

/// How often the database is probed. With [`HEALTH_TIMEOUT`] this bounds how long a request
/// waits once the database is gone, and how long 503s go on once it is back.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Why the database is unreachable, as the latest probe found; None while it answers.
pub(crate) struct Reach {
    down: watch::Sender<Option<String>>,
}

impl Default for Reach {
    fn default() -> Self {
        Self {
            down: watch::channel(None).0,
        }
    }
}

impl Reach {
    pub(crate) fn set(&self, down: Option<String>) {
        self.down.send_if_modified(|now| {
            let changed = now.is_some() != down.is_some();
            if changed {
                match &down {
                    Some(why) => tracing::warn!(error = %why, "database unreachable"),
                    None => tracing::info!("database reachable again"),
                }
            }
            *now = down;
            changed
        });
    }

    pub(crate) fn down(&self) -> Option<String> {
        self.down.borrow().clone()
    }
}

impl Service {
    /// Probes the database every [`PROBE_EVERY`] while the service lives (PostgreSQL only:
    /// SQLite is a local file, whose failures are the health check's to report).
    pub(crate) fn start_probe(self: &Arc<Self>) {
        if self.store.backend() != "postgres" {
            return;
        }
        let svc: Weak<Service> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(svc) = svc.upgrade() else { break };
                let answer = svc.store.reachable(HEALTH_TIMEOUT).await;
                svc.reach.set(answer.err().map(|e| e.to_string()));
            }
        });
    }

    /// Why the database is known to be unreachable, if it is.
    pub fn database_down(&self) -> Option<String> {
        self.reach.down()
    }

    /// Runs `work`, but answers `Unavailable` as soon as the database is known to be
    /// unreachable while `work` is still waiting (for the database, as it then is). Work
    /// that needs no database (a session and view held in memory) completes as before: what
    /// the cache may serve without the database does not change.
    pub(crate) async fn unless_unreachable<T>(
        &self,
        work: impl Future<Output = ServiceResult<T>>,
    ) -> ServiceResult<T> {
        let mut down = self.reach.down.subscribe();
        tokio::select! {
            biased;
            done = work => done,
            Ok(_) = down.wait_for(Option::is_some) => Err(ServiceError::Unavailable),
        }
    }
}
