//! Security → Audit log: filters, pages and CSV export.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::domain::audit::AuditKind;
use crate::domain::time::{human, rfc3339};
use crate::web::{AppState, csv, query};

use super::{InPage, Layout, PageResult, PageUser, render};

pub struct Row {
    pub at: String,
    pub at_iso: String,
    pub kind: String,
    /// What people read; the code stays in the title and the CSV.
    pub kind_label: String,
    pub actor: String,
    pub target: String,
    pub ip: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    rows: Vec<Row>,
    total: i64,
    page: i64,
    last_page: i64,
    person: String,
    kind: String,
    from: String,
    to: String,
    /// (code, label) of every kind, for the filter.
    kinds: Vec<(&'static str, &'static str)>,
    csv_href: String,
    prev_href: String,
    next_href: String,
}

fn href(path: &str, params: &HashMap<String, String>, page: Option<i64>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for key in ["person", "kind", "from", "to"] {
        if let Some(v) = params.get(key).filter(|v| !v.is_empty()) {
            s.append_pair(key, v);
        }
    }
    if let Some(p) = page.filter(|p| *p > 1) {
        s.append_pair("page", &p.to_string());
    }
    let q = s.finish();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{q}")
    }
}

pub async fn audit_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let page = state
        .svc
        .list_audit_named(&p.actor, &query::audit_filter(&params).in_page(&p)?)
        .await
        .in_page(&p)?;
    let rows = page
        .items
        .iter()
        .map(|e| Row {
            at: human(e.entry.at),
            at_iso: rfc3339(e.entry.at),
            kind: e.entry.kind.clone(),
            kind_label: e
                .entry
                .kind
                .parse::<AuditKind>()
                .map(|k| k.label().to_string())
                .unwrap_or_else(|_| e.entry.kind.clone()),
            actor: e.actor.clone().unwrap_or_else(|| "—".to_string()),
            target: e.target.clone().unwrap_or_else(|| "—".to_string()),
            ip: e.entry.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            detail: if e.entry.count > 1 {
                format!("{} (×{})", e.entry.detail, e.entry.count)
            } else {
                e.entry.detail.clone()
            },
        })
        .collect();
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    Ok(render(
        StatusCode::OK,
        &AuditPage {
            layout: Layout::signed_in(&p, "audit", "Audit log"),
            rows,
            total: page.total,
            page: page.page,
            last_page: page.last_page(),
            person: get("person"),
            kind: get("kind"),
            from: get("from"),
            to: get("to"),
            kinds: AuditKind::ALL
                .iter()
                .map(|k| (k.as_str(), k.label()))
                .collect(),
            csv_href: href("/security/audit.csv", &params, None),
            prev_href: href("/security/audit", &params, Some(page.page - 1)),
            next_href: href("/security/audit", &params, Some(page.page + 1)),
        },
    ))
}

pub async fn audit_csv(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let page = state
        .svc
        .list_audit(&p.actor, &query::audit_filter(&params).in_page(&p)?, true)
        .await
        .in_page(&p)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"deskward-audit.csv\"",
            ),
        ],
        csv::audit(&page.items),
    )
        .into_response())
}
