//! `GET /api/v1/audit`: the audit log as JSON or CSV.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::time::rfc3339;
use crate::store::AuditEntry;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::request::ApiUser;
use crate::web::{AppState, csv, query};

use super::shapes::Sorted;

#[derive(Serialize, ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditEntryJson {
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    pub kind: String,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
    /// Repeats folded into this entry (unknown e-mails, counted per address and hour).
    pub count: i64,
}

impl From<&AuditEntry> for AuditEntryJson {
    fn from(e: &AuditEntry) -> Self {
        Self {
            id: e.id.clone(),
            at: rfc3339(e.at),
            kind: e.kind.clone(),
            actor: e.actor.clone(),
            target: e.target.clone(),
            ip: e.ip.map(|ip| ip.to_string()),
            detail: e.detail.clone(),
            count: e.count,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = AuditPage)]
pub struct AuditPageJson {
    pub items: Vec<AuditEntryJson>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

#[utoipa::path(get, path = "/audit", tag = "audit",
    operation_id = "audit",
    security(("session" = [])),
    params(
        ("person" = Option<String>, Query, description = "Actor or target"),
        ("actor" = Option<String>, Query),
        ("target" = Option<String>, Query),
        ("kind" = Option<String>, Query),
        ("from" = Option<String>, Query, description = "RFC 3339 or a date"),
        ("to" = Option<String>, Query, description = "RFC 3339 or a date"),
        ("tz" = Option<String>, Query, description = "An IANA time zone (\"America/Los_Angeles\"): \
            plain dates in `from` and `to` are calendar days there (default UTC), and the CSV adds \
            a column `at (<zone>)` of the times in it beside `at (UTC)`"),
        ("page" = Option<i64>, Query),
        ("per_page" = Option<i64>, Query),
        ("format" = Option<String>, Query, description = "`csv` for CSV (as does `Accept: text/csv`)"),
    ),
    responses(
        (status = 200, description = "Entries, newest first",
            content((AuditPageJson = "application/json"), (String = "text/csv"))),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden`: needs the `audit` permission", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
    ))]
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
    let filter = query::audit_filter(&params)?;
    let page = state.svc.list_audit(&p.actor, &filter, wants_csv).await?;
    if wants_csv {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"deskward-audit.csv\"",
                ),
            ],
            csv::audit(&page.items, &filter.zone()?),
        )
            .into_response());
    }
    Ok(Sorted(AuditPageJson {
        items: page.items.iter().map(AuditEntryJson::from).collect(),
        total: page.total,
        page: page.page,
        per_page: page.per_page,
    })
    .into_response())
}
