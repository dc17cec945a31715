//! Where sign-in may send the browser back to (`rd`), and the origin a request was made on as
//! the browser saw it. Only the request's own origin, those named by `--return-origin` and,
//! with `--cookie-domain`, the hosts under that domain (they share the sign-in) are allowed;
//! any other `rd` is ignored, so sign-in never becomes an open redirect.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::header;
use axum::http::request::Parts;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::{Origin, Url};

use crate::domain::member::MemberKind;

use super::AppState;
use super::request::client;

/// Longest `rd` considered; longer ones are ignored rather than carried around.
const MAX_RD_LEN: usize = 4096;

/// Everything but RFC 3986's unreserved characters is percent-encoded: safe in a query
/// value and in a header, and decoded by every URL library.
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` percent-encoded as one query value or header value.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// Checks a `--return-origin`: `scheme://host[:port]` with scheme http or https, nothing
/// after it but an optional `/`.
pub fn parse_origin(raw: &str) -> Result<Origin, String> {
    let bad = || {
        format!(
            "--return-origin: {raw:?} is not an origin (write it as https://host or \
             https://host:port, without a path)"
        )
    };
    let u = Url::parse(raw.trim()).map_err(|_| bad())?;
    if !matches!(u.scheme(), "http" | "https")
        || u.host_str().is_none()
        || !u.username().is_empty()
        || u.password().is_some()
        || u.path() != "/"
        || u.query().is_some()
        || u.fragment().is_some()
    {
        return Err(bad());
    }
    Ok(u.origin())
}

/// Checks a `--cookie-domain`: a DNS name of at least two labels (letters, digits, `-`), not
/// an address, without scheme, port or path; returned in lower case, a leading dot dropped.
pub fn parse_cookie_domain(raw: &str) -> Result<String, String> {
    let bad = |why: &str| {
        format!(
            "--cookie-domain: {raw:?} {why} (write the domain the hosts share, e.g. \
             example.com for app.example.com and help.example.com)"
        )
    };
    let d = raw.trim().trim_start_matches('.').to_ascii_lowercase();
    if d.is_empty() {
        return Err(bad("is empty"));
    }
    if d.contains("://") || d.contains('/') || d.contains(':') {
        return Err(bad("is not a bare domain name (no scheme, port or path)"));
    }
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2 {
        return Err(bad(
            "has a single label; a cookie cannot be shared under it",
        ));
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if d.len() > 253 || !labels.iter().all(label_ok) {
        return Err(bad("is not a domain name"));
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad(
            "is an IP address; cookies are shared by domain names only",
        ));
    }
    Ok(d)
}

/// Whether `host` is `domain` or a host under it.
pub fn under_domain(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
}

/// Checks an `--agent-home`: an absolute http(s) URL, or a path (on the request's host,
/// outside `--path-prefix`) such as `/`.
pub fn parse_agent_home(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let bad = || {
        format!(
            "--agent-home: {raw:?} is neither an http(s) URL nor a path starting with '/' \
             (e.g. https://desk.example.com/ or /)"
        )
    };
    if raw
        .chars()
        .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
    {
        return Err(bad());
    }
    if raw.starts_with('/') {
        return if raw.starts_with("//") {
            Err(bad())
        } else {
            Ok(raw.to_string())
        };
    }
    let u = Url::parse(raw).map_err(|_| bad())?;
    if !matches!(u.scheme(), "http" | "https")
        || u.host_str().is_none()
        || !u.username().is_empty()
        || u.password().is_some()
    {
        return Err(bad());
    }
    Ok(u.into())
}

/// Whether the request comes straight from one of the `--trusted-proxy` ranges, whose
/// `X-Forwarded-*` and `X-Original-URL` headers are believed.
pub fn trusted_peer(parts: &Parts, state: &AppState) -> bool {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| {
            let ip = c.0.ip().to_canonical();
            state.cfg.trusted_proxies.iter().any(|n| n.contains(&ip))
        })
}

/// The first value of a header (the one nearest the client when proxies added more).
pub fn first_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    let v = parts.headers.get(name)?.to_str().ok()?;
    let first = v.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}

/// The origin the browser used for this request: the scheme (HTTPS when configured or said
/// by a trusted proxy) and the host (a trusted proxy's `X-Forwarded-Host`, else `Host`).
pub fn own_origin(parts: &Parts, state: &AppState) -> Option<Origin> {
    let scheme = if client(parts, state).https {
        "https"
    } else {
        "http"
    };
    let forwarded = if trusted_peer(parts, state) {
        first_value(parts, "x-forwarded-host")
    } else {
        None
    };
    let host = forwarded.or_else(|| parts.headers.get(header::HOST)?.to_str().ok())?;
    origin_of_host(scheme, host)
}

/// `scheme://host` as an origin, when `host` is a host with an optional port and nothing else.
fn origin_of_host(scheme: &str, host: &str) -> Option<Origin> {
    if host.is_empty()
        || host
            .bytes()
            .any(|b| b"/\\?#@ ".contains(&b) || b.is_ascii_control())
    {
        return None;
    }
    let u = Url::parse(&format!("{scheme}://{host}/")).ok()?;
    (u.path() == "/").then(|| u.origin())
}

/// The URL `rd` names, when sign-in may go there: an absolute http(s) URL, or a path on the
/// request's own origin, whose origin is `own` or one of `others`, or (with a cookie
/// `domain`) whose host is under that domain, on the scheme of `own` (HTTPS when unknown).
/// Control characters, backslashes, credentials and scheme-relative (`//host`) forms are
/// refused outright, so what is compared is exactly what the browser would follow.
pub fn check(
    rd: &str,
    own: Option<&Origin>,
    others: &[Origin],
    domain: Option<&str>,
) -> Option<Url> {
    if rd.is_empty()
        || rd.len() > MAX_RD_LEN
        || rd
            .chars()
            .any(|c| c.is_control() || c == '\\' || c.is_whitespace())
    {
        return None;
    }
    let url = if rd.starts_with('/') {
        if rd.starts_with("//") {
            return None;
        }
        let base = Url::parse(&own?.ascii_serialization()).ok()?;
        base.join(rd).ok()?
    } else {
        Url::parse(rd).ok()?
    };
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let origin = url.origin();
    let sibling = || {
        let scheme = match own {
            Some(Origin::Tuple(scheme, _, _)) => scheme.as_str(),
            _ => "https",
        };
        domain.is_some_and(|d| {
            url.scheme() == scheme && url.host_str().is_some_and(|h| under_domain(h, d))
        })
    };
    (own == Some(&origin) || others.contains(&origin) || sibling()).then_some(url)
}

/// `rd` from this request, if sign-in may return there (see [`check`]).
pub fn allowed(rd: Option<&str>, parts: &Parts, state: &AppState) -> Option<Url> {
    let rd = rd?;
    check(
        rd,
        own_origin(parts, state).as_ref(),
        &state.cfg.return_origins,
        state.cfg.cookie_domain.as_deref(),
    )
}

/// Where someone goes once signed in: back to `rd` (already checked), else agents to
/// `--agent-home` when set, else their landing page in Deskward.
pub fn after_sign_in(state: &AppState, kind: MemberKind, landing: &str, rd: Option<Url>) -> String {
    if let Some(url) = rd {
        return url.into();
    }
    match (&state.cfg.agent_home, kind) {
        (Some(home), MemberKind::Agent) => home.clone(),
        _ => crate::web::prefix::url(landing),
    }
}

/// Where a session limited to setting up a second factor goes: the one page it may use.
pub const ENROL_PAGE: &str = "/me/security";

/// Where a sign-in that just completed goes: [`after_sign_in`] from the role's home (`/`
/// sends an administrator on to the first section they may see).
pub fn after_new_sign_in(state: &AppState, kind: MemberKind, rd: Option<Url>) -> String {
    let home = match kind {
        MemberKind::Agent => "/agent",
        MemberKind::Admin => "/",
    };
    after_sign_in(state, kind, home, rd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Origin {
        parse_origin(s).unwrap()
    }

    #[test]
    fn return_origins_must_be_bare_origins() {
        assert_eq!(
            origin("https://desk.example.com").ascii_serialization(),
            "https://desk.example.com"
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/").ascii_serialization(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "desk.example.com",
            "ftp://desk.example.com",
            "https://desk.example.com/app",
            "https://u:p@desk.example.com",
            "https://desk.example.com/?q",
            "javascript:alert(1)",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn agent_homes_are_urls_or_paths() {
        assert_eq!(parse_agent_home("/").unwrap(), "/");
        assert_eq!(parse_agent_home("/inbox?x=1").unwrap(), "/inbox?x=1");
        assert_eq!(
            parse_agent_home("https://desk.example.com").unwrap(),
            "https://desk.example.com/"
        );
        for bad in [
            "inbox",
            "//evil.example",
            "/a\\b",
            "ftp://x.example/",
            "https://u@x.example/",
        ] {
            assert!(parse_agent_home(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_allowed_origins_are_returned_to() {
        let own = origin("https://desk.example.com");
        let other = origin("https://help.example.com");
        let ok =
            |rd: &str| check(rd, Some(&own), std::slice::from_ref(&other), None).map(String::from);
        assert_eq!(
            ok("https://desk.example.com/inbox?case=7#top").as_deref(),
            Some("https://desk.example.com/inbox?case=7#top")
        );
        assert_eq!(
            ok("https://help.example.com/").as_deref(),
            Some("https://help.example.com/")
        );
        assert_eq!(
            ok("/inbox?case=7").as_deref(),
            Some("https://desk.example.com/inbox?case=7")
        );
        assert_eq!(
            ok("HTTPS://DESK.example.com:443/x").as_deref(),
            Some("https://desk.example.com/x")
        );
        for bad in [
            "",
            "https://evil.example.net/",
            "http://desk.example.com/",
            "https://desk.example.com:8443/",
            "//evil.example.net/",
            "/\\evil.example.net/",
            "\\\\evil.example.net",
            "https://desk.example.com@evil.example.net/",
            "https://user@desk.example.com/",
            "https://desk.example.com\n.evil.example.net/",
            "https://desk.example.com\t/",
            " https://desk.example.com/",
            "javascript:alert(1)",
            "data:text/html,x",
            "https:evil.example.net",
            "evil.example.net",
        ] {
            assert_eq!(ok(bad), None, "{bad:?} was allowed");
        }
        assert_eq!(
            check("/inbox", None, &[], None),
            None,
            "a path needs an own origin"
        );
    }

    #[test]
    fn hosts_make_origins_only_when_they_are_hosts() {
        assert_eq!(
            origin_of_host("http", "127.0.0.1:8080").map(|o| o.ascii_serialization()),
            Some("http://127.0.0.1:8080".to_string())
        );
        assert_eq!(
            origin_of_host("https", "Desk.Example.com").map(|o| o.ascii_serialization()),
            Some("https://desk.example.com".to_string())
        );
        for bad in ["", "evil.net/x", "a@b", "a b", "x\\y", "h?q", "h#f"] {
            assert!(origin_of_host("http", bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode("Zoë O'Brien-Ñ"), "Zo%C3%AB%20O%27Brien-%C3%91");
        assert_eq!(
            encode("https://d.example/a?b=c&d"),
            "https%3A%2F%2Fd.example%2Fa%3Fb%3Dc%26d"
        );
    }

    #[test]
    fn a_cookie_domain_opens_its_hosts_to_rd() {
        let own = origin("https://a.example.test");
        let ok = |rd: &str| check(rd, Some(&own), &[], Some("example.test")).map(String::from);
        for good in [
            "https://b.example.test/x",
            "https://deep.b.example.test:8443/",
            "https://example.test/",
            "https://B.Example.Test/y",
        ] {
            assert!(ok(good).is_some(), "{good} was refused");
        }
        for bad in [
            "https://evil.test/",
            "https://example.test.evil.net/",
            "https://badexample.test/",
            "http://b.example.test/",
            "https://b.example.test@evil.net/",
        ] {
            assert_eq!(ok(bad), None, "{bad} was allowed");
        }
        assert_eq!(
            check("https://b.example.test/", Some(&own), &[], None),
            None,
            "no sibling without the flag"
        );
    }

    #[test]
    fn cookie_domains_are_checked() {
        assert_eq!(parse_cookie_domain("Example.COM").unwrap(), "example.com");
        assert_eq!(parse_cookie_domain(".example.com").unwrap(), "example.com");
        assert_eq!(
            parse_cookie_domain("a.example.test").unwrap(),
            "a.example.test"
        );
        for bad in [
            "",
            "com",
            "localhost",
            "https://example.com",
            "example.com:443",
            "example.com/x",
            "exa mple.com",
            "-x.example.com",
            "a..b",
            "127.0.0.1",
            "ex_ample.com",
        ] {
            let e = parse_cookie_domain(bad).unwrap_err();
            assert!(e.starts_with("--cookie-domain: "), "{bad:?}: {e}");
        }
    }
}
