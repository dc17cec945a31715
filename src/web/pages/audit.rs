//! Security → Audit log: filters, pages and CSV export.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::domain::audit::AuditKind;
use crate::service::Principal;
use crate::web::{AppState, csv, query};

use super::{InPage, Layout, PageResult, PageUser, ShownTime, render};

pub struct Row {
    pub at: ShownTime,
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
    /// The zone the dates are read in, as the form sends it: the query's, else the person's
    /// own; empty for neither (UTC, unless the script fills in the browser's zone).
    tz: String,
    /// The zone's name as the page states it ("UTC" when `tz` is empty).
    tz_shown: String,
    /// (code, label) of every kind, for the filter.
    kinds: Vec<(&'static str, &'static str)>,
    csv_href: String,
    prev_href: String,
    next_href: String,
}

fn href(path: &str, params: &HashMap<String, String>, page: Option<i64>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for key in ["person", "kind", "from", "to", "tz"] {
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

/// The query with the zone its dates are read in: the one it names, else the person's own.
fn with_zone(p: &Principal, mut params: HashMap<String, String>) -> HashMap<String, String> {
    let named = params.get("tz").is_some_and(|z| !z.trim().is_empty());
    if let (false, Some(own)) = (named, &p.time_zone) {
        params.insert("tz".to_string(), own.clone());
    }
    params
}

pub async fn audit_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let params = with_zone(&p, params);
    let filter = query::audit_filter(&params).in_page(&p)?;
    let page = state
        .svc
        .list_audit_named(&p.actor, &filter)
        .await
        .in_page(&p)?;
    // Rows read in the zone their dates were filtered in (the person's own, unless the
    // query names another), so a row filtered as Dec 6 reads Dec 6.
    let zone = filter.zone().in_page(&p)?;
    let rows = page
        .items
        .iter()
        .map(|e| Row {
            at: ShownTime::at(e.entry.at, &zone),
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
            tz_shown: match get("tz").trim() {
                "" => "UTC".to_string(),
                z => z.to_string(),
            },
            tz: get("tz"),
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
    let filter = query::audit_filter(&with_zone(&p, params)).in_page(&p)?;
    let page = state
        .svc
        .list_audit(&p.actor, &filter, true)
        .await
        .in_page(&p)?;
    let zone = filter.zone().in_page(&p)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"deskward-audit.csv\"",
            ),
        ],
        csv::audit(&page.items, &zone),
    )
        .into_response())
}
