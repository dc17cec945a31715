//! What concerns the database as a whole rather than one aggregate: its name, its health,
//! its upkeep, and the clock that stamps the rows written on the service's behalf.

use async_trait::async_trait;

use super::StoreResult;

/// The database behind every other store trait.
#[async_trait]
pub trait DatabaseStore: Send + Sync {
    /// Which database this is, for logs and the health check.
    fn backend(&self) -> &'static str;
    /// Whether the database answers. On SQLite also whether it takes writes, once a write
    /// failed to commit and none has since (a full volume): `Unavailable` with the reason.
    async fn ping(&self) -> StoreResult<()>;
    /// Whether the database can be reached at all, answered within `within`: `Unavailable`
    /// when it cannot (PostgreSQL stopped or cut off). A pool whose every connection is in
    /// use counts as reachable: it is busy, not gone. SQLite is a local file: always.
    async fn reachable(&self, within: std::time::Duration) -> StoreResult<()> {
        let _ = within;
        Ok(())
    }
    /// Housekeeping run in the background every sweep: on SQLite, moves the write-ahead log
    /// into the database file, which would otherwise happen inside whichever request happened
    /// to cross the log's size limit and wait for the copy (several times a bulk ending's own
    /// work: BENCHMARKS.md).
    async fn checkpoint(&self) -> StoreResult<()>;
    /// The clock that stamps the outbox rows written with each change (the service's).
    fn use_clock(&self, clock: std::sync::Arc<dyn crate::clock::Clock>);
}
