//! Reading the audit log (Security → Audit log, `GET /api/v1/audit`).

use crate::domain::policy::Actor;
use crate::domain::time::parse_rfc3339;
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
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// Rows a CSV export carries at most.
pub const MAX_EXPORT_ROWS: i64 = 100_000;

impl Service {
    pub async fn list_audit(
        &self,
        actor: &Actor,
        f: &AuditFilter,
        export: bool,
    ) -> ServiceResult<Page<AuditEntry>> {
        if !actor.can_read_audit() {
            return Err(ServiceError::Forbidden(
                "you need the audit permission".to_string(),
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
        let time = |v: &Option<String>, field: &str| -> ServiceResult<Option<i64>> {
            match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Ok(None),
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
        let mut to = time(&f.to, "to")?;
        // A plain date as the end means "through that day".
        if let (Some(t), Some(raw)) = (to.as_mut(), f.to.as_deref())
            && raw.trim().len() == 10
        {
            *t += 24 * 3_600_000;
        }
        // A person is named by id or by e-mail (which may be a linked pair: both count).
        let persons = match clean(&f.person, "person")? {
            None => Vec::new(),
            Some(p) if p.contains('@') => {
                let found = self
                    .store
                    .credentials_by_email(&actor.account_id, &crate::domain::email::normalize(&p))
                    .await?;
                let ids: Vec<String> = found.into_iter().map(|c| c.member.id).collect();
                if ids.is_empty() {
                    vec![format!("no-such-person:{p}")]
                } else {
                    ids
                }
            }
            Some(p) => vec![p],
        };
        let query = AuditQuery {
            persons,
            actor: clean(&f.actor, "actor")?,
            target: clean(&f.target, "target")?,
            kind: clean(&f.kind, "kind")?,
            from: time(&f.from, "from")?,
            to,
            offset: (page - 1).saturating_mul(per_page),
            limit: per_page,
        };
        let (items, total) = self.store.list_audit(&actor.account_id, &query).await?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
        })
    }
}
