//! E-mail rules: how long a reset or invitation link lives, how many messages an address gets,
//! when a message that could not be sent is tried again or given up, and who is told about a
//! sign-in from a new browser.

use super::member::MemberKind;
use super::time::{DAY, HOUR, Millis};
use super::webhook::RETRY_DELAYS;
use super::zone::Zone;

/// A password-reset link works this long.
pub const RESET_LINK_TTL: Millis = HOUR;
/// An invitation link works this long.
pub const INVITATION_LINK_TTL: Millis = 7 * DAY;
/// Reset messages one address gets at most per [`RESET_WINDOW`].
pub const RESETS_PER_WINDOW: i64 = 3;
pub const RESET_WINDOW: Millis = HOUR;
/// New invitations one person may be sent within an hour, beyond the first (Resend).
pub const RESENDS_PER_HOUR: usize = 3;
/// A sign-in alert's "This wasn't me" link works this long: longer than a reset link, since
/// people read such messages late, and a session it ends may live for days.
pub const SIGNIN_ALERT_LINK_TTL: Millis = 7 * DAY;

/// Who is told by e-mail when they sign in from a browser without their device pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigninAlerts {
    pub agents: bool,
    pub admins: bool,
}

impl Default for SigninAlerts {
    /// Administrators, whose accounts open more, are told by default; agents, who may share
    /// and change workstations daily, are not.
    fn default() -> Self {
        SigninAlerts {
            agents: false,
            admins: true,
        }
    }
}

impl SigninAlerts {
    /// Whether a person of this kind is told.
    pub fn for_kind(self, kind: MemberKind) -> bool {
        match kind {
            MemberKind::Agent => self.agents,
            MemberKind::Admin => self.admins,
        }
    }
}

/// Random bytes of a link's token: 256 bits (at least 128 are asked for).
pub const TOKEN_BYTES: usize = 32;

/// How a mail server refused, or why there was no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection, a timeout, TLS refused, a 4xx answer: worth trying again later.
    Transient,
    /// A 5xx answer. Some servers answer 5xx for trouble that passes (a full queue, a
    /// greylisting relay misconfigured), so it is tried [`PERMANENT_TRIES`] times before the
    /// message is failed.
    Permanent,
}

/// Attempts a message answered 5xx gets in all before it is failed.
pub const PERMANENT_TRIES: i64 = 3;

/// When to try again after `attempts` attempts, the last of which failed as `failure`; None:
/// give up, the message has failed. Transient failures follow the webhook schedule (the first
/// retry within 30 s, then growing, for more than 24 h).
pub fn next_attempt(attempts: i64, failure: Failure, now: Millis) -> Option<Millis> {
    if failure == Failure::Permanent && attempts >= PERMANENT_TRIES {
        return None;
    }
    let i = usize::try_from(attempts).ok()?.checked_sub(1)?;
    RETRY_DELAYS.get(i).map(|d| now + d)
}

/// Whether a text may go into a header as a display name: lettre encodes any text safely, but
/// a name is also shown in the message, and one that long is no name.
pub const MAX_NAME_CHARS: usize = 200;

/// A display name made safe to show as one line: control characters (CR, LF, tabs) become
/// spaces, runs of spaces one, and it is cut at [`MAX_NAME_CHARS`].
pub fn one_line_name(name: &str) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in name.chars() {
        if c.is_control() || c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
        if out.chars().count() >= MAX_NAME_CHARS {
            break;
        }
    }
    out
}

/// A time as people read it in a message, in UTC: "7 December 2026, 18:04".
pub fn human_utc(ms: Millis) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(t) => format!(
            "{} {} {}, {:02}:{:02}",
            t.day(),
            MONTHS[usize::from(u8::from(t.month())) - 1],
            t.year(),
            t.hour(),
            t.minute()
        ),
        Err(_) => String::new(),
    }
}

/// A time as a message states it: always in UTC, and also in the person's own time zone
/// where they set one. "7 December 2026, 18:04 UTC", or "7 December 2026, 18:04 UTC
/// (7 December 2026, 10:04 in America/Los_Angeles, PST)". Every message with a time uses this.
pub fn human_time(ms: Millis, zone: Option<&Zone>) -> String {
    let utc = format!("{} UTC", human_utc(ms));
    match zone.filter(|z| !z.is_utc()) {
        None => utc,
        Some(z) => format!("{utc} ({} in {}, {})", z.words(ms), z.name(), z.label(ms)),
    }
}

/// A wait as people say it: "42 minutes", "1 minute", "30 seconds" (minutes rounded up).
pub fn wait_in_words(secs: u64) -> String {
    let (n, unit) = if secs >= 60 {
        (secs.div_ceil(60), "minute")
    } else {
        (secs, "second")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_said_in_words() {
        assert_eq!(wait_in_words(1), "1 second");
        assert_eq!(wait_in_words(59), "59 seconds");
        assert_eq!(wait_in_words(60), "1 minute");
        assert_eq!(wait_in_words(61), "2 minutes");
        assert_eq!(wait_in_words(3600), "60 minutes");
    }

    #[test]
    fn transient_failures_retry_within_30_s_then_for_a_day() {
        assert_eq!(next_attempt(1, Failure::Transient, 0), Some(5_000));
        let mut at = 0;
        let mut attempts = 1;
        while let Some(next) = next_attempt(attempts, Failure::Transient, at) {
            at = next;
            attempts += 1;
        }
        assert!(at >= DAY, "gave up after {at} ms");
        assert_eq!(attempts, 8);
    }

    #[test]
    fn a_5xx_is_retried_then_failed() {
        assert_eq!(next_attempt(1, Failure::Permanent, 0), Some(5_000));
        assert_eq!(next_attempt(2, Failure::Permanent, 0), Some(5 * 60_000));
        assert_eq!(next_attempt(3, Failure::Permanent, 0), None);
    }

    #[test]
    fn times_read_as_words() {
        // 2026-12-07T18:04:05Z
        assert_eq!(human_utc(1_796_666_645_000), "7 December 2026, 18:04");
    }

    #[test]
    fn message_times_say_utc_and_the_persons_zone() {
        let at = 1_796_666_645_000;
        assert_eq!(human_time(at, None), "7 December 2026, 18:04 UTC");
        assert_eq!(
            human_time(at, Some(&Zone::utc())),
            "7 December 2026, 18:04 UTC"
        );
        let la = Zone::parse("America/Los_Angeles").unwrap();
        assert_eq!(
            human_time(at, Some(&la)),
            "7 December 2026, 18:04 UTC (7 December 2026, 10:04 in America/Los_Angeles, PST)"
        );
    }

    #[test]
    fn alerts_default_to_administrators_only() {
        let d = SigninAlerts::default();
        assert!(d.for_kind(MemberKind::Admin));
        assert!(!d.for_kind(MemberKind::Agent));
        let agents_only = SigninAlerts {
            agents: true,
            admins: false,
        };
        assert!(agents_only.for_kind(MemberKind::Agent));
        assert!(!agents_only.for_kind(MemberKind::Admin));
    }

    #[test]
    fn names_stay_on_one_line() {
        assert_eq!(one_line_name("Ann\r\nBcc: x@y"), "Ann Bcc: x@y");
        assert_eq!(one_line_name("  Bo \t Li "), "Bo Li");
        assert_eq!(
            one_line_name(&"a".repeat(10_000)).chars().count(),
            MAX_NAME_CHARS
        );
    }
}
