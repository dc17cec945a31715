//! Retention: the background sweep deletes ended sessions, audit entries, webhook
//! deliveries, e-mail messages and expired reset links older than their configured age, in small batches with a pause between, so no
//! statement holds a lock long (SQLite has one writer; sign-in must not wait behind a purge).

use std::time::Duration;

use crate::domain::time::{DAY, Millis};
use crate::store::Retained;

use super::{Service, ServiceResult};

/// The longest age the command line accepts, in days: 10,000 years (the span of four-digit
/// years). Anything longer keeps everything anyway.
pub const MAX_DAYS: i64 = 3_652_425;

#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Ended sessions, webhook deliveries and e-mail messages older than this many days are
    /// deleted (and reset links that expired that long ago).
    pub days: i64,
    /// Audit entries older than this many days are deleted. Longer by default: the audit log
    /// answers "who did what" during an investigation or a yearly access review, which
    /// routinely looks back further than a year.
    pub audit_days: i64,
    /// Rows per statement.
    pub batch: i64,
    /// Pause between statements, so other writers get the lock.
    pub pause: Duration,
    /// How often the sweep runs.
    pub every: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            days: 400,
            audit_days: 730,
            batch: 1000,
            pause: Duration::from_millis(20),
            every: Duration::from_secs(3600),
        }
    }
}

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub audit_entries: u64,
    pub deliveries: u64,
    /// E-mail messages and expired reset links.
    pub mail: u64,
}

impl Service {
    /// Deletes what is older than the configured ages, batch by batch, by the injected clock.
    #[tracing::instrument(skip_all)]
    pub async fn retention_sweep(&self, config: &RetentionConfig) -> ServiceResult<Purged> {
        let now = self.now();
        // Clamped, so no configured age can wrap the cut-off into the future (which would
        // delete everything).
        let cut = |days: i64| -> Millis { now - days.clamp(1, MAX_DAYS) * DAY };
        Ok(Purged {
            sessions: self
                .purge(Retained::EndedSessions, cut(config.days), config)
                .await?,
            audit_entries: self
                .purge(Retained::AuditEntries, cut(config.audit_days), config)
                .await?,
            deliveries: self
                .purge(Retained::Deliveries, cut(config.days), config)
                .await?,
            mail: self.purge(Retained::Mail, cut(config.days), config).await?
                + self
                    .purge(Retained::ResetLinks, cut(config.days), config)
                    .await?
                + self
                    .purge(Retained::InvitationLinks, cut(config.days), config)
                    .await?,
        })
    }

    async fn purge(
        &self,
        what: Retained,
        before: Millis,
        config: &RetentionConfig,
    ) -> ServiceResult<u64> {
        let mut total = 0;
        loop {
            let n = self
                .store
                .delete_older(what, before, config.batch.max(1))
                .await?;
            total += n;
            if n < config.batch.max(1) as u64 {
                return Ok(total);
            }
            tokio::time::sleep(config.pause).await;
        }
    }
}
