//! Opaque random ids and tokens, shared by the service and the store (which writes audit rows
//! of its own). The OS random source is the only I/O here.

/// An opaque id: a short prefix naming what it is, then 96 random bits.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_hex(12))
}

/// An opaque id that sorts by the time given: the prefix, the milliseconds in 12 hex digits,
/// then 64 random bits. For rows written in bulk into a large table (the audit log): their
/// primary-key entries land together at the index's end instead of one page each all over it,
/// which made ending a thousand people's sessions write a page per audit row.
pub fn new_ordered_id(prefix: &str, at_millis: i64) -> String {
    format!("{prefix}_{:012x}{}", at_millis.max(0), random_hex(8))
}

/// `n` random bytes from the OS, hex-encoded.
pub fn random_hex(n: usize) -> String {
    hex::encode(random_bytes(n))
}

/// `n` random bytes from the OS.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    buf
}

/// Compares secrets without an early exit, so timing tells nothing about how much matched.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_ids_sort_by_time_and_differ_within_one_millisecond() {
        let early = new_ordered_id("au", 1_764_567_000_000);
        let late = new_ordered_id("au", 1_764_567_000_001);
        assert!(early < late);
        assert_eq!(early.len(), "au_".len() + 12 + 16);
        assert!(early.starts_with("au_019ad"));
        let same: std::collections::HashSet<String> =
            (0..1000).map(|_| new_ordered_id("au", 5)).collect();
        assert_eq!(same.len(), 1000);
        assert!(new_ordered_id("au", 5) < new_ordered_id("au", 1 << 40));
    }

    #[test]
    fn ids_carry_their_prefix_and_96_random_bits() {
        let a = new_id("au");
        let b = new_id("au");
        assert_eq!(a.len(), "au_".len() + 24);
        assert!(a.starts_with("au_"));
        assert!(a[3..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(random_bytes(32).len(), 32);
    }

    #[test]
    fn compares_in_constant_time_shape() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("", ""));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
