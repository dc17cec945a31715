//! Brute-force protection for sign-in (OWASP ASVS 2.2.1): failures are counted per account
//! (e-mail) and per client IP over a sliding hour. After a few free failures each further
//! attempt must wait twice as long as the one before; past a hard cap the key is refused until
//! its failures age out. Refusals answer at once with a retry time; nothing is held open.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::domain::time::{HOUR, Millis};

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

/// Keys kept at most, so a flood of distinct keys cannot exhaust memory.
const MAX_KEYS: usize = 200_000;

#[derive(Default)]
pub struct Limiter {
    failures: Mutex<HashMap<String, VecDeque<Millis>>>,
}

impl Limiter {
    /// `Err(seconds)` when `key` must wait before its next attempt.
    pub fn check(&self, key: &str, limits: Limits, now: Millis) -> Result<(), u64> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = map.get_mut(key) else {
            return Ok(());
        };
        while list.front().is_some_and(|t| now - *t >= HOUR) {
            list.pop_front();
        }
        let n = list.len();
        let wait_until = if n >= limits.cap {
            list.front().map(|oldest| oldest + HOUR)
        } else if n >= limits.free {
            let exp = (n - limits.free).min(20) as u32;
            let delay = (1000i64 << exp).min(limits.max_delay);
            list.back().map(|last| last + delay)
        } else {
            None
        };
        match wait_until {
            Some(t) if t > now => Err(((t - now + 999) / 1000) as u64),
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &str, now: Millis) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            prune(&mut map, now);
            if map.len() >= MAX_KEYS {
                return;
            }
        }
        let list = map.entry(key.to_string()).or_default();
        list.push_back(now);
        if list.len() > 1000 {
            list.pop_front();
        }
    }

    pub fn clear(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key);
    }

    /// Drops keys with no failure in the last hour.
    pub fn prune(&self, now: Millis) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        prune(&mut map, now);
    }
}

fn prune(map: &mut HashMap<String, VecDeque<Millis>>, now: Millis) {
    map.retain(|_, l| l.back().is_some_and(|t| now - *t < HOUR));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_failures_then_growing_delays_then_cap() {
        let l = Limiter::default();
        let mut now = 0;
        for _ in 0..5 {
            assert_eq!(l.check("k", PER_ACCOUNT, now), Ok(()));
            l.record_failure("k", now);
        }
        // Sixth attempt right away: wait 1 s; then 2 s, 4 s...
        assert_eq!(l.check("k", PER_ACCOUNT, now), Err(1));
        now += 1000;
        assert_eq!(l.check("k", PER_ACCOUNT, now), Ok(()));
        l.record_failure("k", now);
        assert_eq!(l.check("k", PER_ACCOUNT, now), Err(2));
        // Other keys are not slowed.
        assert_eq!(l.check("other", PER_ACCOUNT, now), Ok(()));
    }

    #[test]
    fn cap_lifts_as_failures_age_out() {
        let l = Limiter::default();
        for i in 0..100 {
            l.record_failure("k", i);
        }
        let retry = l.check("k", PER_ACCOUNT, 1000).unwrap_err();
        assert!(retry > 3000, "{retry}");
        assert_eq!(l.check("k", PER_ACCOUNT, HOUR + 100), Ok(()));
        l.prune(10 * HOUR);
        assert_eq!(l.check("k", PER_ACCOUNT, 10 * HOUR), Ok(()));
    }
}
