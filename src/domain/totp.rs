//! One-time codes of authenticator apps (TOTP, RFC 6238 over HOTP, RFC 4226): HMAC-SHA-1, six
//! digits, 30-second steps, a code accepted one step either side of now for clocks that drift.
//! Also the base32 form of secrets that apps take, and recovery-code normalisation.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use super::time::Millis;

/// Seconds per step, as every authenticator app assumes.
pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps either side of now whose codes are accepted.
pub const SKEW: i64 = 1;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends for SHA-1).
pub const SECRET_BYTES: usize = 20;

/// The step a time falls in.
pub fn step_at(now: Millis) -> i64 {
    now.div_euclid(1000).div_euclid(STEP_SECS)
}

/// The HOTP code of `secret` for counter `step`.
pub fn code_for_step(secret: &[u8], step: i64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(&(step as u64).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[h.len() - 1] & 0x0f) as usize;
    let bin = (u32::from(h[offset]) & 0x7f) << 24
        | u32::from(h[offset + 1]) << 16
        | u32::from(h[offset + 2]) << 8
        | u32::from(h[offset + 3]);
    format!(
        "{:0width$}",
        bin % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// The step within ±[`SKEW`] of `now` whose code `code` is, if any. Spaces in the code are
/// ignored (apps show "123 456").
pub fn matching_step(secret: &[u8], code: &str, now: Millis) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(now);
    // Every candidate is computed and compared, so timing does not tell which one matched.
    let mut found = None;
    for step in now - SKEW..=now + SKEW {
        if crate::ids::constant_time_eq(&code_for_step(secret, step), &code) {
            found = found.or(Some(step));
        }
    }
    found
}

/// Whether `code` looks like a one-time code (six digits) rather than a recovery code.
pub fn is_totp_code(code: &str) -> bool {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit())
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as `otpauth://` URLs carry secrets.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Reads base32 (any case, spaces and padding ignored); `None` on any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = ALPHABET
            .iter()
            .position(|&a| a as char == c.to_ascii_uppercase())? as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://` URL an app reads from the QR code.
pub fn otpauth_url(issuer: &str, account: &str, secret_b32: &str) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// A recovery code as typed, in the form it was hashed: lower case, no spaces or dashes.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B (SHA-1 key "12345678901234567890", eight digits there; the last
    /// six are the six-digit code).
    #[test]
    fn rfc_6238_vectors() {
        let key = b"12345678901234567890";
        for (secs, eight) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let code = code_for_step(key, step_at(secs * 1000));
            assert_eq!(code, &eight[2..], "at {secs}");
        }
    }

    /// RFC 4226, appendix D.
    #[test]
    fn rfc_4226_vectors() {
        let key = b"12345678901234567890";
        assert_eq!(code_for_step(key, 0), "755224");
        assert_eq!(code_for_step(key, 1), "287082");
        assert_eq!(code_for_step(key, 9), "520489");
    }

    #[test]
    fn accepts_one_step_either_side_only() {
        let key = b"12345678901234567890";
        let now = 1_234_567_890_000;
        let s = step_at(now);
        for d in -1..=1 {
            let c = code_for_step(key, s + d);
            assert_eq!(matching_step(key, &c, now), Some(s + d));
        }
        assert_eq!(matching_step(key, &code_for_step(key, s + 2), now), None);
        assert_eq!(matching_step(key, &code_for_step(key, s - 2), now), None);
        let c = code_for_step(key, s);
        assert_eq!(
            matching_step(key, &format!("{} {}", &c[..3], &c[3..]), now),
            Some(s)
        );
        assert_eq!(matching_step(key, "12345", now), None);
        assert_eq!(matching_step(key, "abcdef", now), None);
    }

    #[test]
    fn base32_round_trips() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
        assert_eq!(base32_decode("mzxw 6ytb oi").unwrap(), b"foobar");
        assert!(base32_decode("MZ1W").is_none());
        let secret: Vec<u8> = (0..20).collect();
        assert_eq!(base32_decode(&base32_encode(&secret)).unwrap(), secret);
    }

    #[test]
    fn urls_and_recovery_codes() {
        let u = otpauth_url("Deskward Acme", "ann@acme.test", "ABC");
        assert!(u.starts_with("otpauth://totp/Deskward%20Acme:ann%40acme%2Etest?secret=ABC&"));
        assert_eq!(normalize_recovery_code(" AB12-cd34 "), "ab12cd34");
        assert!(is_totp_code("123 456"));
        assert!(!is_totp_code("ab12-cd34"));
    }
}
