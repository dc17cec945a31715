//! The audit log as CSV, for the page's export and the API alike.

use crate::domain::time::rfc3339;
use crate::store::AuditEntry;

/// CSV with a header row; fields quoted where needed, and cells that a spreadsheet would run
/// as a formula prefixed with a quote.
pub fn audit(items: &[AuditEntry]) -> String {
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
    let mut out = String::from("id,at,kind,actor,target,ip,detail,count\r\n");
    for e in items {
        let count = e.count.to_string();
        let row = [
            e.id.as_str(),
            &rfc3339(e.at),
            &e.kind,
            e.actor.as_deref().unwrap_or(""),
            e.target.as_deref().unwrap_or(""),
            &e.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            &e.detail,
            &count,
        ];
        out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}
