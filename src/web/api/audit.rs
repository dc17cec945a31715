//! `GET /api/v1/audit`: the audit log as JSON or CSV.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::time::rfc3339;
use crate::web::error::ApiError;
use crate::web::request::ApiUser;
use crate::web::{AppState, csv, query};

pub async fn list(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let wants_csv = params.get("format").is_some_and(|f| f == "csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"));
    let page = state
        .svc
        .list_audit(&p.actor, &query::audit_filter(&params)?, wants_csv)
        .await?;
    if wants_csv {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"deskward-audit.csv\"",
                ),
            ],
            csv::audit(&page.items),
        )
            .into_response());
    }
    let items: Vec<_> = page
        .items
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "at": rfc3339(e.at), "kind": e.kind, "actor": e.actor,
                "target": e.target, "ip": e.ip, "detail": e.detail, "count": e.count,
            })
        })
        .collect();
    Ok(Json(json!({
        "items": items, "total": page.total, "page": page.page, "per_page": page.per_page,
    }))
    .into_response())
}
