//! The Team list's and the audit log's query strings, read once into the service's queries for
//! the pages and the API alike, so that a link means the same list in both. The service checks
//! the values (which session filter, which kind, the ranges); here only their form.

use std::collections::HashMap;

use crate::service::audit::AuditFilter;
use crate::service::{ServiceError, TeamQuery};

/// `GET /team/{section}` and `GET /api/v1/{agents,admins}`.
pub fn team_query(params: &HashMap<String, String>) -> Result<TeamQuery, ServiceError> {
    Ok(TeamQuery {
        session: text(params, "session"),
        status: text(params, "status"),
        q: text(params, "q"),
        page: whole_number(params, "page")?,
        per_page: whole_number(params, "per_page")?,
        network: text(params, "network"),
    })
}

/// `GET /security/audit` (and its CSV) and `GET /api/v1/audit`.
pub fn audit_filter(params: &HashMap<String, String>) -> Result<AuditFilter, ServiceError> {
    Ok(AuditFilter {
        person: text(params, "person"),
        actor: text(params, "actor"),
        target: text(params, "target"),
        kind: text(params, "kind"),
        from: text(params, "from"),
        to: text(params, "to"),
        tz: text(params, "tz"),
        page: whole_number(params, "page")?,
        per_page: whole_number(params, "per_page")?,
    })
}

fn text(params: &HashMap<String, String>, name: &str) -> Option<String> {
    params.get(name).cloned()
}

/// An optional whole number; empty is absent, anything else that is not a number is refused
/// by name (the API's 422 names the field).
fn whole_number(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ServiceError> {
    match params.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            ServiceError::invalid(name, format!("{name}: must be a whole number, got \"{v}\""))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn numbers_are_read_and_malformed_ones_named() {
        let q = team_query(&params(&[("page", " 2 "), ("per_page", ""), ("q", "ann")])).unwrap();
        assert_eq!(
            (q.page, q.per_page, q.q.as_deref()),
            (Some(2), None, Some("ann"))
        );
        match audit_filter(&params(&[("per_page", "lots")])) {
            Err(ServiceError::Invalid { field, message }) => {
                assert_eq!(field, "per_page");
                assert_eq!(message, "per_page: must be a whole number, got \"lots\"");
            }
            other => panic!("{other:?}"),
        }
    }
}
