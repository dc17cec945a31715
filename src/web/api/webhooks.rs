//! The Webhooks endpoints of API.md: add (the secret shown once), list, delete, the delivery
//! log and "send again".

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::time::rfc3339;
use crate::domain::webhook::EventFilter;
use crate::store::{WebhookDelivery, WebhookEndpoint};
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::request::ApiUser;

use super::{ApiJson, ApiPath};

fn endpoint_json(e: &WebhookEndpoint) -> Value {
    json!({
        "id": e.id,
        "url": e.url,
        "events": EventFilter::from_db(&e.events).names(),
        "enabled": e.disabled_reason.is_none(),
        "disabled_reason": e.disabled_reason,
        "created_at": rfc3339(e.created_at),
    })
}

fn delivery_json(d: &WebhookDelivery) -> Value {
    json!({
        "id": d.id,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "next_attempt_at": (d.status == "pending").then(|| rfc3339(d.next_attempt_at)),
        "created_at": rfc3339(d.created_at),
        "delivered_at": d.delivered_at.map(rfc3339),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    url: String,
    events: Vec<String>,
}

pub async fn create(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    let created = state
        .svc
        .create_webhook(&p.actor, &b.url, &b.events)
        .await?;
    let mut body = endpoint_json(&created.endpoint);
    body["secret"] = json!(created.secret);
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
) -> Result<Response, ApiError> {
    let items: Vec<Value> = state
        .svc
        .webhooks(&p.actor)
        .await?
        .iter()
        .map(endpoint_json)
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state.svc.delete_webhook(&p.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn deliveries(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (_, log) = state.svc.webhook_deliveries(&p.actor, &id).await?;
    let items: Vec<Value> = log.iter().map(delivery_json).collect();
    Ok(Json(json!({ "items": items })).into_response())
}

pub async fn retry(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiPath((id, delivery_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let d = state
        .svc
        .retry_webhook_delivery(&p.actor, &id, &delivery_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(delivery_json(&d))).into_response())
}
