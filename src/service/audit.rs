//! Reading the audit log (Security → Audit log, `GET /api/v1/audit`).

use crate::domain::policy::Actor;
use crate::domain::time::parse_rfc3339;
use crate::domain::zone::Zone;
use crate::store::{AuditEntry, AuditQuery};

use super::team::{MAX_PER_PAGE, Page};
use super::{Service, ServiceError, ServiceResult};

/// An audit request as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub person: Option<String>,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub kind: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// The IANA zone whose calendar days plain dates in `from` and `to` are; UTC when absent.
    pub tz: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl AuditFilter {
    /// The zone the filter's dates are read in (and the CSV's second time column is in).
    pub fn zone(&self) -> ServiceResult<Zone> {
        match self.tz.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(Zone::utc()),
            Some(name) => Zone::parse(name)
                .map_err(|e| ServiceError::invalid("tz", e.replacen("time_zone", "tz", 1))),
        }
    }
}

/// An audit entry with the people it names shown as "Name <e-mail>" (their ids when they are
/// no longer found).
#[derive(Debug, Clone)]
pub struct NamedAuditEntry {
    pub entry: AuditEntry,
    pub actor: Option<String>,
    pub target: Option<String>,
}

/// Rows a CSV export carries at most.
pub const MAX_EXPORT_ROWS: i64 = 100_000;

impl Service {
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, export = export))]
    pub async fn list_audit(
        &self,
        actor: &Actor,
        f: &AuditFilter,
        export: bool,
    ) -> ServiceResult<Page<AuditEntry>> {
        if !actor.can_read_audit() {
            return Err(ServiceError::needs(
                crate::domain::member::Permission::Audit,
            ));
        }
        let clean = |v: &Option<String>, field: &str| -> ServiceResult<Option<String>> {
            match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) if s.chars().count() > 200 => Err(ServiceError::invalid(
                    field,
                    format!("{field} must be at most 200 characters"),
                )),
                Some(s) => Ok(Some(s.to_string())),
            }
        };
        let zone = f.zone()?;
        // A plain date is a calendar day of the filter's zone: `from` its first instant, `to`
        // the first instant of the next day ("through that day"); an RFC 3339 instant is
        // itself.
        let time = |v: &Option<String>, field: &str| -> ServiceResult<Option<i64>> {
            match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(s) if s.len() == 10 && zone.day_start(s, false).is_some() => {
                    Ok(zone.day_start(s, field == "to"))
                }
                Some(s) => parse_rfc3339(s).map(Some).ok_or_else(|| {
                    ServiceError::invalid(
                        field,
                        format!(
                            "{field} must be an RFC 3339 time or a YYYY-MM-DD date, got \"{s}\""
                        ),
                    )
                }),
            }
        };
        let per_page = if export {
            MAX_EXPORT_ROWS
        } else {
            f.per_page.unwrap_or(50)
        };
        if !export && !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ServiceError::invalid(
                "per_page",
                format!("per_page must be between 1 and {MAX_PER_PAGE}"),
            ));
        }
        let page = if export { 1 } else { f.page.unwrap_or(1) };
        if page < 1 {
            return Err(ServiceError::invalid("page", "page must be 1 or more"));
        }
        let to = time(&f.to, "to")?;
        let mut query = AuditQuery {
            persons: Vec::new(),
            actor: clean(&f.actor, "actor")?,
            target: clean(&f.target, "target")?,
            kind: clean(&f.kind, "kind")?,
            from: time(&f.from, "from")?,
            to,
            offset: (page - 1).saturating_mul(per_page),
            limit: per_page,
        };
        // A person is named by id or by e-mail (which may be a linked pair: both count).
        match clean(&f.person, "person")? {
            None => {}
            Some(p) if p.contains('@') => {
                let norm = crate::domain::email::normalize(&p);
                let found = self
                    .store
                    .credentials_by_email(&actor.account_id, &norm)
                    .await?;
                if found.is_empty() {
                    // Nobody has this e-mail: nothing can match.
                    return Ok(Page {
                        items: Vec::new(),
                        total: 0,
                        page,
                        per_page,
                    });
                }
                query.persons = found.into_iter().map(|c| c.member.id).collect();
            }
            Some(p) => query.persons = vec![p],
        }
        let (items, total) = self.store.list_audit(&actor.account_id, &query).await?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
        })
    }
}

impl Service {
    /// A page of the audit log for people to read: actors and targets by name.
    pub async fn list_audit_named(
        &self,
        actor: &Actor,
        f: &AuditFilter,
    ) -> ServiceResult<Page<NamedAuditEntry>> {
        let page = self.list_audit(actor, f, false).await?;
        let mut ids: Vec<String> = page
            .items
            .iter()
            .flat_map(|e| [e.actor.clone(), e.target.clone()])
            .flatten()
            .collect();
        ids.sort();
        ids.dedup();
        let mut names = std::collections::HashMap::new();
        for id in ids {
            if let Ok(m) = self.store.member(&actor.account_id, &id).await {
                names.insert(id, format!("{} <{}>", m.name, m.email));
            }
        }
        let name = |id: &Option<String>| {
            id.as_ref()
                .map(|i| names.get(i).cloned().unwrap_or_else(|| i.clone()))
        };
        Ok(Page {
            items: page
                .items
                .iter()
                .map(|e| NamedAuditEntry {
                    actor: name(&e.actor),
                    target: name(&e.target),
                    entry: e.clone(),
                })
                .collect(),
            total: page.total,
            page: page.page,
            per_page: page.per_page,
        })
    }
}
