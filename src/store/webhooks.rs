//! Webhooks: endpoints, and the outbox of deliveries the store writes in the transaction of
//! each change it reports, claimed by the delivery worker with a lease.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::time::Millis;

/// A webhook endpoint of an account. `events` is the stored filter (`EventFilter::to_db`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookEndpoint {
    pub id: String,
    pub account_id: String,
    pub url: String,
    pub events: String,
    pub secret: String,
    /// None while enabled; why it was turned off otherwise ("gone": the receiver said 410).
    pub disabled_reason: Option<String>,
    pub created_at: Millis,
    /// The administrator who created it: it carries only events about people they may see
    /// (`domain::webhook::Audience`). None for endpoints made before this was recorded.
    pub created_by: Option<String>,
}

/// One event for one endpoint in the outbox; `id` is the `webhook-id` (`msg_…`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookDelivery {
    pub id: String,
    pub account_id: String,
    pub endpoint_id: String,
    pub member_id: String,
    pub event_type: String,
    pub body: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub delivered_at: Option<Millis>,
}

/// A claimed delivery with what sending it needs.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub delivery: WebhookDelivery,
    pub url: String,
    pub secret: String,
}

/// What became of one attempt, as the worker decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    /// `pending` (try again at `next_attempt_at`), `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Millis>,
    /// Turns the endpoint off (the receiver answered 410 Gone).
    pub disable_endpoint: bool,
}

/// Webhook endpoints and their deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn insert_webhook(&self, e: &WebhookEndpoint) -> StoreResult<()>;
    /// The account's endpoints, oldest first.
    async fn webhooks(&self, account_id: &str) -> StoreResult<Vec<WebhookEndpoint>>;
    async fn webhook(&self, account_id: &str, id: &str) -> StoreResult<WebhookEndpoint>;
    /// Deletes an endpoint and its deliveries; `NotFound` if it is not the account's.
    async fn delete_webhook(&self, account_id: &str, id: &str) -> StoreResult<()>;
    /// An endpoint's deliveries, newest first.
    async fn webhook_deliveries(
        &self,
        account_id: &str,
        endpoint_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Puts a delivery back in the queue to be sent at `now` with a fresh schedule ("send
    /// again"); `NotFound` unless it belongs to that endpoint of the account and the endpoint
    /// is on (nothing is sent to one that is off, so it would wait for ever).
    async fn retry_delivery(
        &self,
        account_id: &str,
        endpoint_id: &str,
        delivery_id: &str,
        now: Millis,
    ) -> StoreResult<WebhookDelivery>;
    /// Claims up to `limit` deliveries due at `now` until `lease_until`, oldest first, never a
    /// person's event while an earlier one of theirs for that endpoint is pending, never one
    /// another caller holds (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one
    /// `UPDATE … RETURNING` under the write lock). A claim whose lease ran out (its instance
    /// died) can be claimed again. Shared between accounts: the accounts take turns (each
    /// one's oldest due delivery, then each one's second, ...), and an account never has more
    /// than `per_account` deliveries in flight at once (claims held by any instance count), so
    /// one account's slow receivers cannot take every slot.
    async fn claim_deliveries_fairly(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
        per_account: i64,
    ) -> StoreResult<Vec<DeliveryJob>>;
    /// Records the results of several attempts (delivery id, result) in one transaction, in
    /// the order given, releasing their claims: the worker's results of one round.
    async fn finish_deliveries(&self, results: &[(String, AttemptResult)]) -> StoreResult<()>;
    /// Deliveries not yet delivered nor failed, in every account (the backlog).
    async fn pending_deliveries(&self) -> StoreResult<i64>;
}
