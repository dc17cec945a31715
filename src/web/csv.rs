//! The audit log as CSV, for the page's export and the API alike.

use crate::domain::time::rfc3339;
use crate::domain::zone::Zone;
use crate::store::AuditEntry;

/// CSV with a header row; fields quoted where needed, and cells that a spreadsheet would run
/// as a formula prefixed with a quote. Times are in UTC under the header `at (UTC)`; when the
/// export is for a zone other than UTC (the filter's), a second column `at (<zone>)` gives
/// the same instant there with its offset, so neither column can be misread.
pub fn audit(items: &[AuditEntry], zone: &Zone) -> String {
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
    let local = (!zone.is_utc()).then_some(zone);
    let mut out = String::from("id,at (UTC),");
    if let Some(z) = local {
        out.push_str(&cell(&format!("at ({})", z.name())));
        out.push(',');
    }
    out.push_str("kind,actor,target,ip,detail,count\r\n");
    for e in items {
        let mut row = vec![e.id.clone(), rfc3339(e.at)];
        if let Some(z) = local {
            row.push(z.rfc3339(e.at));
        }
        row.extend([
            e.kind.clone(),
            e.actor.clone().unwrap_or_default(),
            e.target.clone().unwrap_or_default(),
            e.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            e.detail.clone(),
            e.count.to_string(),
        ]);
        out.push_str(&row.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}
