//! The signed identity (`Remote-Assertion`) as rules: how long a token lives, when a cached
//! one is reused, and the signing keys' schedule (which key signs, which are published, when
//! the next one is made and when an old one goes), all as functions of the time.
//!
//! Keys take turns by generation: generation `n + 1` is written `PUBLISH_AHEAD` before it
//! starts signing, so every instance (each reloads the keys more often than that) and every
//! app caching the JWKS knows it before the first token it signs; generation `n` stays
//! published until the last token it signed has expired. Two instances that rotate at once
//! both try to write generation `n + 1`; the database keeps one (the generation is unique).

use super::time::{HOUR, MINUTE, Millis};

/// Seconds from `iat` to `exp`: at most 60 by contract.
pub const TOKEN_TTL_SECS: i64 = 60;
const _: () = assert!(TOKEN_TTL_SECS <= 60, "the contract allows at most 60 s");
/// A cached token is signed again once this much of its life has passed (half), so what an
/// app receives always has at least half its life left.
pub const REUSE_SECS: i64 = TOKEN_TTL_SECS / 2;
/// How long a key signs before the next one takes over.
pub const ROTATE_EVERY: Millis = 24 * HOUR;
/// How long before it signs a new key is published: longer than instances take to reload
/// the keys, and than the usual JWKS caches (PyJWT's five minutes, jose's ten).
pub const PUBLISH_AHEAD: Millis = 15 * MINUTE;
/// How long a retired key stays published after its successor started signing: past the
/// last token it signed, with a minute for clocks that disagree.
pub const KEEP_AFTER: Millis = TOKEN_TTL_SECS * 1000 + MINUTE;

/// A signing key as the schedule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub generation: i64,
    /// When it starts signing (Unix ms).
    pub signs_from: Millis,
}

/// The key that signs at `now`: the newest generation whose time has come. `keys` in any
/// order.
pub fn signing(keys: &[Slot], now: Millis) -> Option<Slot> {
    keys.iter()
        .filter(|k| k.signs_from <= now)
        .max_by_key(|k| k.generation)
        .copied()
}

/// Whether tokens signed by `key` may still be valid at `now` (or it will sign soon): the keys
/// to publish. A key whose successor signs stays until its last token has expired.
pub fn published(key: Slot, keys: &[Slot], now: Millis) -> bool {
    match successor(key, keys) {
        Some(next) => now < next.signs_from + KEEP_AFTER,
        None => true,
    }
}

fn successor(key: Slot, keys: &[Slot]) -> Option<Slot> {
    keys.iter()
        .filter(|k| k.generation > key.generation)
        .min_by_key(|k| k.generation)
        .copied()
}

/// The key to make now, if one is due: the first one (signing at once: no token exists yet
/// that an app could have cached keys for), or the next generation `PUBLISH_AHEAD` before the
/// newest one has signed for `ROTATE_EVERY`.
pub fn due(keys: &[Slot], now: Millis) -> Option<Slot> {
    let Some(newest) = keys.iter().max_by_key(|k| k.generation) else {
        return Some(Slot {
            generation: 1,
            signs_from: now,
        });
    };
    let turn = newest.signs_from + ROTATE_EVERY;
    (now >= turn - PUBLISH_AHEAD).then(|| Slot {
        generation: newest.generation + 1,
        // After a long stop the turn is in the past: the new key still waits its lead.
        signs_from: turn.max(now + PUBLISH_AHEAD),
    })
}

/// Whether a cached token issued at `iat` (Unix seconds) is still handed out at `now_secs`.
pub fn reusable(iat: i64, now_secs: i64) -> bool {
    now_secs >= iat && now_secs < iat + REUSE_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Millis = 1_800_000_000_000;

    fn slot(generation: i64, signs_from: Millis) -> Slot {
        Slot {
            generation,
            signs_from,
        }
    }

    #[test]
    fn the_first_key_signs_at_once() {
        assert_eq!(due(&[], T), Some(slot(1, T)));
        assert_eq!(signing(&[slot(1, T)], T), Some(slot(1, T)));
        assert_eq!(signing(&[slot(1, T)], T - 1), None);
    }

    #[test]
    fn the_next_key_is_published_before_it_signs() {
        let first = slot(1, T);
        assert_eq!(due(&[first], T + ROTATE_EVERY - PUBLISH_AHEAD - 1), None);
        let next = due(&[first], T + ROTATE_EVERY - PUBLISH_AHEAD).unwrap();
        assert_eq!(next, slot(2, T + ROTATE_EVERY));
        let keys = [first, next];
        // Published, not signing, for the whole lead.
        let lead = T + ROTATE_EVERY - PUBLISH_AHEAD;
        assert!(published(next, &keys, lead));
        assert_eq!(signing(&keys, lead), Some(first));
        assert_eq!(signing(&keys, T + ROTATE_EVERY - 1), Some(first));
        assert_eq!(signing(&keys, T + ROTATE_EVERY), Some(next));
        assert_eq!(due(&keys, T + ROTATE_EVERY), None, "one rotation a turn");
    }

    #[test]
    fn an_old_key_stays_until_its_last_token_expired() {
        let keys = [slot(1, T), slot(2, T + ROTATE_EVERY)];
        let switch = T + ROTATE_EVERY;
        // The last token of key 1 was signed just before the switch and lives TOKEN_TTL.
        assert!(published(keys[0], &keys, switch + TOKEN_TTL_SECS * 1000));
        assert!(published(keys[0], &keys, switch + KEEP_AFTER - 1));
        assert!(!published(keys[0], &keys, switch + KEEP_AFTER));
        assert!(published(keys[1], &keys, switch + 10 * ROTATE_EVERY));
    }

    #[test]
    fn after_a_long_stop_the_new_key_still_waits_its_lead() {
        let late = T + 10 * ROTATE_EVERY;
        assert_eq!(
            due(&[slot(1, T)], late),
            Some(slot(2, late + PUBLISH_AHEAD))
        );
    }

    #[test]
    fn tokens_are_reused_for_half_their_life() {
        assert!(reusable(100, 100));
        assert!(reusable(100, 100 + REUSE_SECS - 1));
        assert!(!reusable(100, 100 + REUSE_SECS));
        assert!(!reusable(100, 99), "a clock that went back signs anew");
    }
}
