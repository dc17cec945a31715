//! Instants as Unix milliseconds, the one time representation shared by every layer.

use ::time::OffsetDateTime;
use ::time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch, UTC. Integers keep SQL portable between SQLite and
/// PostgreSQL and make clock arithmetic exact.
pub type Millis = i64;

pub const MINUTE: Millis = 60_000;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;

/// RFC 3339 in UTC with second precision, as the API promises.
pub fn rfc3339(ms: Millis) -> String {
    let secs = ms.div_euclid(1000);
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 instant (or a plain `YYYY-MM-DD` date, taken as midnight UTC).
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some((t.unix_timestamp_nanos() / 1_000_000) as Millis);
    }
    let fmt = ::time::macros::format_description!("[year]-[month]-[day]");
    ::time::Date::parse(text, &fmt)
        .ok()
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
}

/// A short human form for pages: "2026-11-26 14:03 UTC".
pub fn human(ms: Millis) -> String {
    let fmt = ::time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("1970-01-01T00:01:00Z"), Some(60_000));
        assert_eq!(parse_rfc3339("2026-01-02"), Some(1_767_312_000_000));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(human(90_061_000), "1970-01-02 01:01 UTC");
    }
}
