//! Time zones: a person's IANA zone (validated against the tz database built into the binary,
//! so no /usr/share/zoneinfo is needed), times shown in a zone with the zone named, and the
//! instants a calendar day of that zone starts and ends at (the audit log's date filter).

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::time::Millis;

/// The longest zone name accepted (the longest in the database is about 30 characters).
pub const MAX_ZONE_CHARS: usize = 64;

/// A time zone by its IANA name ("America/Los_Angeles"), or UTC.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Zone {
    pub fn utc() -> Self {
        Self {
            name: "UTC".to_string(),
            tz: TimeZone::UTC,
        }
    }

    /// The zone an IANA name names, spelled as the database spells it (names are matched
    /// without regard to case: "europe/berlin" is "Europe/Berlin").
    pub fn parse(text: &str) -> Result<Zone, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("time_zone must not be empty (send null to unset it)".to_string());
        }
        if text.chars().count() > MAX_ZONE_CHARS {
            return Err(format!(
                "time_zone must be at most {MAX_ZONE_CHARS} characters"
            ));
        }
        let db = jiff::tz::db();
        // The usual case, a name as stored: one lookup, no walk through the list.
        if let Ok(tz) = db.get(text)
            && let Some(name) = tz.iana_name().filter(|n| *n == text)
        {
            return Ok(Zone {
                name: name.to_string(),
                tz,
            });
        }
        let name = db
            .available()
            .map(|n| n.to_string())
            .find(|n| n.eq_ignore_ascii_case(text))
            .ok_or_else(|| {
                format!(
                    "time_zone must be an IANA time zone name such as \"Europe/Berlin\" or \
                     \"America/Los_Angeles\", got \"{text}\""
                )
            })?;
        let tz = db.get(&name).map_err(|e| e.to_string())?;
        Ok(Zone { name, tz })
    }

    /// The zone stored for a person, or UTC when they set none. A stored name the database no
    /// longer knows (a zone removed in a later release) reads as UTC rather than failing.
    pub fn or_utc(name: Option<&str>) -> Zone {
        name.and_then(|n| Zone::parse(n).ok())
            .unwrap_or_else(Zone::utc)
    }

    /// The IANA name ("UTC" for UTC).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_utc(&self) -> bool {
        self.name == "UTC"
    }

    /// A time as pages show it, the zone named after it: "Dec 6, 2026, 9:48 PM PST". The
    /// zone's abbreviation where it has one, else its offset ("UTC+5:30").
    pub fn show(&self, ms: Millis) -> String {
        let Ok(ts) = Timestamp::from_millisecond(ms) else {
            return String::new();
        };
        let z = ts.to_zoned(self.tz.clone());
        format!("{} {}", z.strftime("%b %-d, %Y, %-I:%M %p"), self.label(ms))
    }

    /// The zone's short name at that instant: "PST", "CET", "UTC", or "UTC+3" where the
    /// database has no letters for it ("+03").
    pub fn label(&self, ms: Millis) -> String {
        let Ok(ts) = Timestamp::from_millisecond(ms) else {
            return self.name.clone();
        };
        let info = self.tz.to_offset_info(ts);
        let abbr = info.abbreviation();
        if !abbr.is_empty() && abbr.chars().all(|c| c.is_ascii_alphabetic()) {
            return abbr.to_string();
        }
        offset_label(info.offset().seconds())
    }

    /// A time with its offset, RFC 3339: "2026-12-06T21:55:00-08:00" (the CSV's local column).
    pub fn rfc3339(&self, ms: Millis) -> String {
        let Ok(ts) = Timestamp::from_millisecond(ms.div_euclid(1000) * 1000) else {
            return String::new();
        };
        let z = ts.to_zoned(self.tz.clone());
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }

    /// A time in words for messages, on the 24-hour clock: "7 December 2026, 10:04".
    pub fn words(&self, ms: Millis) -> String {
        let Ok(ts) = Timestamp::from_millisecond(ms) else {
            return String::new();
        };
        let z = ts.to_zoned(self.tz.clone());
        z.strftime("%-d %B %Y, %H:%M").to_string()
    }

    /// The instant a calendar day ("2026-12-06") begins in this zone; with `next`, the
    /// instant the day after it begins (a filter "through that day" ends there).
    pub fn day_start(&self, date: &str, next: bool) -> Option<Millis> {
        let d: Date = date.trim().parse().ok()?;
        let d = if next { d.tomorrow().ok()? } else { d };
        let z = d.to_zoned(self.tz.clone()).ok()?;
        Some(z.timestamp().as_millisecond())
    }
}

/// "UTC+3", "UTC-9:30", "UTC" for a zero offset.
fn offset_label(seconds: i32) -> String {
    if seconds == 0 {
        return "UTC".to_string();
    }
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let (h, m) = (s / 3600, s % 3600 / 60);
    if m == 0 {
        format!("UTC{sign}{h}")
    } else {
        format!("UTC{sign}{h}:{m:02}")
    }
}

/// Every zone name the database knows, sorted, for the form's list.
pub fn known_names() -> Vec<String> {
    let mut names: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.to_string())
        .filter(|n| n.contains('/') || n == "UTC")
        .filter(|n| !n.starts_with("Etc/") && !n.starts_with("SystemV/"))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-07T05:55:00Z: 21:55 on Dec 6 in Los Angeles.
    const AT: Millis = 1_796_622_900_000;

    #[test]
    fn names_are_checked_and_spelled_as_the_database_does() {
        assert_eq!(
            Zone::parse("america/los_angeles").unwrap().name(),
            "America/Los_Angeles"
        );
        assert_eq!(Zone::parse(" UTC ").unwrap().name(), "UTC");
        assert!(
            Zone::parse("Mars/Olympus")
                .unwrap_err()
                .contains("Mars/Olympus")
        );
        assert!(Zone::parse("").is_err());
        assert!(Zone::parse("PST8PDT,M3.2.0,M11.1.0").is_err());
        assert!(Zone::parse(&"A/".repeat(40)).unwrap_err().contains("64"));
        assert!(Zone::or_utc(Some("Nowhere/Else")).is_utc());
        assert!(Zone::or_utc(None).is_utc());
    }

    #[test]
    fn times_name_their_zone() {
        let la = Zone::parse("America/Los_Angeles").unwrap();
        assert_eq!(la.show(AT), "Dec 6, 2026, 9:55 PM PST");
        assert_eq!(Zone::utc().show(AT), "Dec 7, 2026, 5:55 AM UTC");
        assert_eq!(la.rfc3339(AT), "2026-12-06T21:55:00-08:00");
        assert_eq!(
            Zone::parse("Europe/Berlin").unwrap().words(AT),
            "7 December 2026, 06:55"
        );
        // No letters in the database for Dubai's zone: the offset names it.
        assert_eq!(Zone::parse("Asia/Dubai").unwrap().label(AT), "UTC+4");
        assert_eq!(offset_label(-9 * 3600 - 1800), "UTC-9:30");
    }

    #[test]
    fn a_day_starts_at_midnight_of_the_zone() {
        let la = Zone::parse("America/Los_Angeles").unwrap();
        // Dec 6 in Los Angeles: 08:00 UTC on Dec 6 to 08:00 UTC on Dec 7.
        let from = la.day_start("2026-12-06", false).unwrap();
        let to = la.day_start("2026-12-06", true).unwrap();
        assert_eq!(crate::domain::time::rfc3339(from), "2026-12-06T08:00:00Z");
        assert_eq!(crate::domain::time::rfc3339(to), "2026-12-07T08:00:00Z");
        assert!((from..to).contains(&AT));
        assert_eq!(
            crate::domain::time::rfc3339(Zone::utc().day_start("2026-12-06", false).unwrap()),
            "2026-12-06T00:00:00Z"
        );
        assert_eq!(la.day_start("Dec 6", false), None);
    }

    #[test]
    fn the_list_holds_the_usual_zones() {
        let names = known_names();
        assert!(names.iter().any(|n| n == "America/Los_Angeles"));
        assert!(names.iter().any(|n| n == "UTC"));
        assert!(names.windows(2).all(|w| w[0] < w[1]));
    }
}
