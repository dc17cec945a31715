//! `GET /api/v1/audit`: the audit log as JSON or CSV.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::time::rfc3339;
use crate::service::audit::AuditFilter;
use crate::store::AuditEntry;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::request::ApiUser;

pub fn filter(params: &HashMap<String, String>) -> Result<AuditFilter, ApiError> {
    let int = |name: &str| -> Result<Option<i64>, ApiError> {
        match params.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::invalid(format!("{name}: must be a whole number, got \"{v}\""))
            }),
        }
    };
    Ok(AuditFilter {
        person: params.get("person").cloned(),
        actor: params.get("actor").cloned(),
        target: params.get("target").cloned(),
        kind: params.get("kind").cloned(),
        from: params.get("from").cloned(),
        to: params.get("to").cloned(),
        page: int("page")?,
        per_page: int("per_page")?,
    })
}

/// CSV with a header row; fields quoted where needed, and cells that a spreadsheet would run
/// as a formula prefixed with a quote.
pub fn csv(items: &[AuditEntry]) -> String {
    fn cell(v: &str) -> String {
        let v = if v.starts_with(['=', '+', '-', '@']) {
            format!("'{v}")
        } else {
            v.to_string()
        };
        if v.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v
        }
    }
    let mut out = String::from("id,at,kind,actor,target,ip,detail\r\n");
    for e in items {
        let row = [
            e.id.as_str(),
            &rfc3339(e.at),
            &e.kind,
            e.actor.as_deref().unwrap_or(""),
            e.target.as_deref().unwrap_or(""),
            e.ip.as_deref().unwrap_or(""),
            &e.detail,
        ];
        out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

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
        .list_audit(&p.actor, &filter(&params)?, wants_csv)
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
            csv(&page.items),
        )
            .into_response());
    }
    let items: Vec<_> = page
        .items
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "at": rfc3339(e.at), "kind": e.kind, "actor": e.actor,
                "target": e.target, "ip": e.ip, "detail": e.detail,
            })
        })
        .collect();
    Ok(Json(json!({
        "items": items, "total": page.total, "page": page.page, "per_page": page.per_page,
    }))
    .into_response())
}
