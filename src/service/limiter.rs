//! Brute-force protection for sign-in (OWASP ASVS 2.2.1): failures are counted per account
//! (e-mail) and per client IP over a sliding hour. After a few free failures each further
//! attempt must wait twice as long as the one before; past a hard cap the key is refused until
//! its failures age out. Refusals answer at once with a retry time; nothing is held open.
//!
//! The failures live in the database (`ThrottleStore::reserve_signin_attempt`), so every
//! instance on it applies the same limits and a restart does not reset them; this module is
//! the rule.

use crate::domain::mail::RESENDS_PER_HOUR;
use crate::domain::time::{HOUR, Millis};
use crate::store::FailureWindow;

/// Limits for one kind of key.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures allowed before delays start.
    pub free: usize,
    /// Failures an hour after which the key is refused outright.
    pub cap: usize,
    /// The longest delay between attempts.
    pub max_delay: Millis,
}

pub const PER_ACCOUNT: Limits = Limits {
    free: 5,
    cap: 100,
    max_delay: 15 * 60_000,
};

pub const PER_IP: Limits = Limits {
    free: 20,
    cap: 500,
    max_delay: 15 * 60_000,
};

/// New invitations for one person (Resend): at most [`RESENDS_PER_HOUR`] within the window,
/// then none until the oldest of them is an hour old.
pub const INVITATION_RESENDS: Limits = Limits {
    free: RESENDS_PER_HOUR,
    cap: RESENDS_PER_HOUR,
    max_delay: HOUR,
};

/// How far back failures count.
pub const WINDOW: Millis = HOUR;

/// `Some(seconds)` when a key with these failures (within the last [`WINDOW`]) must wait
/// before its next attempt.
pub fn wait_secs(failures: FailureWindow, limits: Limits, now: Millis) -> Option<u64> {
    let n = failures.count;
    let wait_until = if n >= limits.cap {
        failures.oldest.map(|oldest| oldest + WINDOW)
    } else if n >= limits.free {
        let exp = (n - limits.free).min(20) as u32;
        let delay = (1000i64 << exp).min(limits.max_delay);
        failures.newest.map(|last| last + delay)
    } else {
        None
    };
    wait_until
        .filter(|t| *t > now)
        .map(|t| ((t - now + 999) / 1000) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(times: &[Millis]) -> FailureWindow {
        FailureWindow {
            count: times.len(),
            oldest: times.iter().copied().min(),
            newest: times.iter().copied().max(),
        }
    }

    #[test]
    fn free_failures_then_growing_delays_then_cap() {
        let now = 10 * HOUR;
        for n in 0..5 {
            assert_eq!(wait_secs(window(&vec![now; n]), PER_ACCOUNT, now), None);
        }
        // Sixth attempt right away: wait 1 s; then 2 s, 4 s...
        assert_eq!(wait_secs(window(&[now; 5]), PER_ACCOUNT, now), Some(1));
        assert_eq!(wait_secs(window(&[now; 5]), PER_ACCOUNT, now + 1000), None);
        assert_eq!(wait_secs(window(&[now; 6]), PER_ACCOUNT, now), Some(2));
        assert_eq!(
            wait_secs(window(&[now; 7]), PER_ACCOUNT, now + 500),
            Some(4)
        );
        // The delay never exceeds the maximum.
        assert_eq!(
            wait_secs(window(&[now; 60]), PER_ACCOUNT, now),
            Some(15 * 60)
        );
        // The IP limits are looser.
        assert_eq!(wait_secs(window(&[now; 19]), PER_IP, now), None);
    }

    #[test]
    fn cap_holds_until_the_oldest_failure_ages_out() {
        let times: Vec<Millis> = (0..100).collect();
        let retry = wait_secs(window(&times), PER_ACCOUNT, 1000).unwrap();
        assert_eq!(retry, 3599);
        assert_eq!(wait_secs(window(&times), PER_ACCOUNT, WINDOW + 100), None);
    }
}
