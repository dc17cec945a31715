//! The one normalization of a request path that access rules are matched against, so that
//! every spelling an app may route as the same page (`/ADMIN/x`, `/admin;/x`, `/%61dmin/x`,
//! `//admin/x`, `/x/../admin/x`, `\admin\x`) is judged as that page.
//!
//! Decisions, each made for the app behind the proxy, which may decode once, merge slashes,
//! resolve dot segments, ignore `;` parameters (Tomcat, Jetty) and route case-insensitively:
//! - Percent-encoded unreserved characters (letters, digits, `-._~`) are decoded; an encoded
//!   `.` then counts in dot segments (`/%2e%2e/admin` is `/admin`).
//! - An encoded `/`, `\` or `;` (`%2F`, `%5C`, `%3B`) is refused, not kept: WSGI, Rack and
//!   CGI hand apps the decoded path, where `/admin%2Fx` is `/admin/x`, so keeping it as part of
//!   a segment would let it past a rule for `/admin`; and decoding it would judge a path some
//!   apps route differently. An encoded control character or NUL is refused too.
//! - Other encoded bytes stay encoded (hex in lower case, as the whole path is); a raw
//!   non-ASCII byte is encoded. `%25` is not decoded again: the path is decoded once.
//! - `\` is `/` (browsers and some servers treat it so); repeated slashes are one.
//! - `;` and what follows it up to the next `/` is dropped from each segment, before dot
//!   segments are resolved (`/x/..;/admin` is `/admin`).
//! - Dot segments are resolved; `..` above the root stays at the root.
//! - The result is lower case; a trailing slash is kept (`/admin/` stays so, `/admin/.` too).

use std::fmt;

/// Why a path cannot be judged; the request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Not an absolute path (`*`, an absolute URL, empty).
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// `%2F`, `%5C` or `%3B`: an encoded separator.
    EncodedSeparator(char),
    /// A control character or NUL, raw or encoded, or a raw space.
    Control,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::NotAbsolute => f.write_str("the path does not start with /"),
            PathError::BadEscape => {
                f.write_str("the path holds a % not followed by two hex digits")
            }
            PathError::EncodedSeparator(c) => {
                write!(
                    f,
                    "the path holds an encoded {c:?}, which apps read differently"
                )
            }
            PathError::Control => f.write_str("the path holds a control character or a space"),
        }
    }
}

impl std::error::Error for PathError {}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes what may be decoded and lower-cases, byte by byte (see the module's decisions).
fn decode(raw: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    raw.get(i + 1).copied().and_then(hex),
                    raw.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let v = hi << 4 | lo;
                match v {
                    b'/' | b'\\' | b';' => return Err(PathError::EncodedSeparator(char::from(v))),
                    0..=0x1f | 0x7f => return Err(PathError::Control),
                    v if unreserved(v) => out.push(char::from(v.to_ascii_lowercase())),
                    v => push_escaped(&mut out, v),
                }
                i += 3;
                continue;
            }
            b'\\' => out.push('/'),
            0..=0x20 | 0x7f => return Err(PathError::Control),
            0x80.. => push_escaped(&mut out, b),
            b => out.push(char::from(b.to_ascii_lowercase())),
        }
        i += 1;
    }
    Ok(out)
}

fn push_escaped(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 15)]));
}

/// The normalized form of a raw request path (no query, no fragment), or why it cannot be
/// judged.
pub fn normalize(raw: &[u8]) -> Result<String, PathError> {
    if !matches!(raw.first(), Some(b'/' | b'\\')) {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode(raw)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing = false;
    for segment in decoded.split('/').skip(1) {
        let segment = segment.split_once(';').map_or(segment, |(s, _)| s);
        trailing = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    Ok(out)
}

/// Whether `path` (normalized) is `prefix` (normalized, without a trailing slash) or lies
/// under it, by whole segments: `/admin` holds `/admin` and `/admin/x`, not `/administrator`.
pub fn under(path: &str, prefix: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(raw: &str) -> Result<String, PathError> {
        normalize(raw.as_bytes())
    }

    /// Every hostile spelling of the administrators' part, and what it is judged as.
    #[test]
    fn hostile_spellings_normalize_to_the_page_they_reach() {
        for (raw, want) in [
            ("/admin/x", "/admin/x"),
            ("/ADMIN/x", "/admin/x"),
            ("/Admin/X", "/admin/x"),
            ("/admin", "/admin"),
            ("/admin/", "/admin/"),
            ("/admin;/x", "/admin/x"),
            ("/admin;jsessionid=1/x", "/admin/x"),
            ("/admin;", "/admin"),
            ("/admin/../admin/x", "/admin/x"),
            ("/x/../admin/x", "/admin/x"),
            ("/x/..;/admin/x", "/admin/x"),
            ("/../admin", "/admin"),
            ("/../../admin", "/admin"),
            ("//admin", "/admin"),
            ("///ADMIN//x", "/admin/x"),
            ("/%61dmin", "/admin"),
            ("/%41DMIN/x", "/admin/x"),
            ("/adm%69n/x", "/admin/x"),
            ("/%2e%2e/admin", "/admin"),
            ("/x/%2E%2E/admin", "/admin"),
            ("/x/.%2e/admin", "/admin"),
            ("/./admin", "/admin"),
            ("/admin/.", "/admin/"),
            ("/admin/./x", "/admin/x"),
            ("/admin/x/..", "/admin/"),
            ("\\admin\\x", "/admin/x"),
            ("/admin\\x", "/admin/x"),
            ("/admin.json", "/admin.json"),
            ("/%7Eann", "/~ann"),
            ("/caf%C3%A9", "/caf%c3%a9"),
            ("/café", "/caf%c3%a9"),
            ("/100%25", "/100%25"),
            ("/a%20b", "/a%20b"),
            ("/", "/"),
            ("/.", "/"),
            ("/..", "/"),
        ] {
            assert_eq!(n(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn what_apps_read_differently_is_refused() {
        for (raw, why) in [
            ("/admin%2fx", PathError::EncodedSeparator('/')),
            ("/admin%2Fx", PathError::EncodedSeparator('/')),
            ("/admin%5Cx", PathError::EncodedSeparator('\\')),
            ("/admin%3B/x", PathError::EncodedSeparator(';')),
            ("/admin%00", PathError::Control),
            ("/admin%0a", PathError::Control),
            ("/admin x", PathError::Control),
            ("/admin\tx", PathError::Control),
            ("/admin%", PathError::BadEscape),
            ("/admin%4", PathError::BadEscape),
            ("/admin%zz", PathError::BadEscape),
            ("", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("admin", PathError::NotAbsolute),
            ("http://evil/admin", PathError::NotAbsolute),
        ] {
            assert_eq!(n(raw), Err(why), "{raw:?}");
        }
    }

    #[test]
    fn prefixes_hold_whole_segments() {
        assert!(under("/admin", "/admin"));
        assert!(under("/admin/", "/admin"));
        assert!(under("/admin/x", "/admin"));
        assert!(!under("/administrator", "/admin"));
        assert!(!under("/admin.json", "/admin"));
        assert!(!under("/inbox/admin", "/admin"));
        assert!(under("/anything", "/"));
    }
}
