//! The Webhooks endpoints of API.md: add (the secret shown once), list, delete, the delivery
//! log and "send again".

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::time::rfc3339;
use crate::domain::webhook::EventFilter;
use crate::store::{WebhookDelivery, WebhookEndpoint};
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::request::ApiUser;

use super::shapes::Sorted;
use super::{ApiJson, ApiPath};

/// A webhook endpoint.
#[derive(Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookJson {
    pub id: String,
    pub url: String,
    /// Event types, or `["*"]`.
    pub events: Vec<String>,
    /// False once turned off (a 410 answer, say).
    pub enabled: bool,
    /// Why it was turned off; null while enabled.
    pub disabled_reason: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&WebhookEndpoint> for WebhookJson {
    fn from(e: &WebhookEndpoint) -> Self {
        Self {
            id: e.id.clone(),
            url: e.url.clone(),
            events: EventFilter::from_db(&e.events).names(),
            enabled: e.disabled_reason.is_none(),
            disabled_reason: e.disabled_reason.clone(),
            created_at: rfc3339(e.created_at),
        }
    }
}

/// A new webhook endpoint, with its secret (shown only here).
#[derive(Serialize, ToSchema)]
#[schema(as = NewWebhookOutput)]
pub struct NewWebhookJson {
    #[serde(flatten)]
    pub endpoint: WebhookJson,
    /// `whsec_` + standard base64.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = WebhookList)]
pub struct WebhooksJson {
    pub items: Vec<WebhookJson>,
}

/// `pending`, `delivered` or `failed`, as the store keeps it.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// One event sent (or to be sent) to an endpoint.
#[derive(Serialize, ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryJson {
    pub id: String,
    pub event_type: String,
    #[schema(value_type = DeliveryStatus)]
    pub status: String,
    pub attempts: i64,
    /// The HTTP status of the last attempt; null before any or when it got none.
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    /// Pending deliveries only.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
}

impl From<&WebhookDelivery> for DeliveryJson {
    fn from(d: &WebhookDelivery) -> Self {
        Self {
            id: d.id.clone(),
            event_type: d.event_type.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error.clone(),
            next_attempt_at: (d.status == "pending").then(|| rfc3339(d.next_attempt_at)),
            created_at: rfc3339(d.created_at),
            delivered_at: d.delivered_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = DeliveryList)]
pub struct DeliveriesJson {
    pub items: Vec<DeliveryJson>,
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewWebhook)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// HTTP(S); loopback and private targets are refused unless the server allows them.
    url: String,
    /// `session.started`, `session.ended`, `presence.changed`, `member.created`,
    /// `member.updated`, `member.disabled`, or `["*"]`.
    events: Vec<String>,
}

#[utoipa::path(post, path = "/webhooks", tag = "webhooks",
    operation_id = "create_webhook",
    security(("session" = [], "csrf" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "The new endpoint with its secret, shown only here", body = NewWebhookJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
        (status = 422, description = "`invalid_input`: a bad or refused `url` (loopback, private), \
            unknown `events`", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<CreateBody>,
) -> Result<(StatusCode, Sorted<NewWebhookJson>), ApiError> {
    let created = state
        .svc
        .create_webhook(&p.actor, &b.url, &b.events)
        .await?;
    let body = NewWebhookJson {
        endpoint: WebhookJson::from(&created.endpoint),
        secret: created.secret,
    };
    Ok((StatusCode::CREATED, Sorted(body)))
}

#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    operation_id = "list_webhooks",
    security(("session" = [])),
    responses(
        (status = 200, description = "The endpoints, without secrets", body = WebhooksJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden`: needs `security`", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
) -> Result<Sorted<WebhooksJson>, ApiError> {
    let items = state
        .svc
        .webhooks(&p.actor)
        .await?
        .iter()
        .map(WebhookJson::from)
        .collect();
    Ok(Sorted(WebhooksJson { items }))
}

#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks",
    operation_id = "delete_webhook",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted, with its deliveries"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.svc.delete_webhook(&p.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    operation_id = "webhook_deliveries",
    security(("session" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The endpoint's latest 100 deliveries, newest first", body = DeliveriesJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden`: needs `security`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
    ))]
pub async fn deliveries(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Sorted<DeliveriesJson>, ApiError> {
    let (_, log) = state.svc.webhook_deliveries(&p.actor, &id).await?;
    let items = log.iter().map(DeliveryJson::from).collect();
    Ok(Sorted(DeliveriesJson { items }))
}

#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    operation_id = "retry_delivery",
    security(("session" = [], "csrf" = [])),
    params(
        ("id" = String, Path, description = "Webhook id"),
        ("delivery_id" = String, Path, description = "Delivery id"),
    ),
    responses(
        (status = 202, description = "Queued to be sent again", body = DeliveryJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`endpoint_off`: the endpoint was turned off by its \
            receiver answering 410 Gone; delete it and add it again to resume", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiPath((id, delivery_id)): ApiPath<(String, String)>,
) -> Result<(StatusCode, Sorted<DeliveryJson>), ApiError> {
    let d = state
        .svc
        .retry_webhook_delivery(&p.actor, &id, &delivery_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Sorted(DeliveryJson::from(&d))))
}
