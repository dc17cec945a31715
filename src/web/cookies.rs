//! The cookies Deskward sets and reads: the session cookie and the known-device pass, and the
//! answer that signs a browser out (the cookie cleared, `Clear-Site-Data`). Over HTTPS each
//! carries the `__Host-` prefix (a cookie only this origin can set, over TLS); with
//! `--cookie-domain` they carry `Domain=` instead, so every host under it shares one sign-in,
//! and over HTTPS the `__Secure-` prefix (the most a cookie for several hosts can have).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use cookie::Cookie;

pub const COOKIE: &str = "deskward_session";
pub const SECURE_COOKIE: &str = "__Host-deskward_session";
/// The session cookie over HTTPS with `--cookie-domain`.
pub const DOMAIN_SECURE_COOKIE: &str = "__Secure-deskward_session";

/// Every `name=value` pair of the request's `Cookie` headers, in order (names and values
/// trimmed, as RFC 6265 reads them); a pair that does not parse names no cookie.
fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter_map(|c| Some((c.name_raw()?, c.value_raw()?)))
}

/// A cookie's value by name: the first pair of that name.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    pairs(headers).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The session token from the cookie, if the request carries one.
///
/// Either cookie name is read here: [`keep_transport_cookie`] has already removed, for every
/// request, the one its transport may not use.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    pairs(headers)
        .find(|(k, _)| *k == SECURE_COOKIE || *k == DOMAIN_SECURE_COOKIE || *k == COOKIE)
        .map(|(_, v)| v)
}

/// The session cookie names a transport does not accept (see [`keep_transport_cookie`]).
fn refused_names(https: bool, domain: Option<&str>) -> [&'static str; 2] {
    match (https, domain) {
        (true, None) => [COOKIE, DOMAIN_SECURE_COOKIE],
        (true, Some(_)) => [COOKIE, SECURE_COOKIE],
        (false, _) => [SECURE_COOKIE, DOMAIN_SECURE_COOKIE],
    }
}

/// Removes from the `Cookie` headers the session cookies this transport does not use: over
/// HTTPS only `__Host-deskward_session` counts (a plain-named cookie can be planted by anyone
/// who can answer for a sibling domain or over plain HTTP, a `__Host-` one cannot), or with
/// `--cookie-domain` only `__Secure-deskward_session` (sent over TLS only; the hosts under the
/// domain are trusted with it by that flag); over plain HTTP only `deskward_session` (the one
/// this server issues there). Done once per request, before any handler, so every reader of
/// the cookie sees the same answer.
pub fn keep_transport_cookie(headers: &mut HeaderMap, https: bool, domain: Option<&str>) {
    let refused = refused_names(https, domain);
    if !pairs(headers).any(|(k, _)| refused.contains(&k)) {
        return;
    }
    let mut kept: Vec<HeaderValue> = Vec::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(v) = value.to_str() else {
            // Not text: no cookie of ours can be read from it anyway.
            kept.push(value.clone());
            continue;
        };
        let rest: Vec<String> = Cookie::split_parse(v)
            .filter_map(Result::ok)
            .filter_map(|c| Some((c.name_raw()?, c.value_raw()?)))
            .filter(|(k, _)| !refused.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !rest.is_empty()
            && let Ok(v) = HeaderValue::from_str(&rest.join("; "))
        {
            kept.push(v);
        }
    }
    headers.remove(header::COOKIE);
    for v in kept {
        headers.append(header::COOKIE, v);
    }
}

/// The request's cookies without Deskward's own (the session and the known-device pass, under
/// either name), as one `Cookie` value; `None` when nothing else is left. Traefik's
/// `forwardAuth` replaces the request's `Cookie` header with this answer (listed in
/// `authResponseHeadersRegex`), which is how the app behind it stops receiving Deskward's
/// session: Traefik has no other way to take one cookie out of the header.
pub fn others(headers: &HeaderMap) -> Option<HeaderValue> {
    const OURS: [&str; 9] = [
        COOKIE,
        SECURE_COOKIE,
        DOMAIN_SECURE_COOKIE,
        DEVICE_COOKIE,
        SECURE_DEVICE_COOKIE,
        DOMAIN_SECURE_DEVICE_COOKIE,
        SSO_COOKIE,
        SECURE_SSO_COOKIE,
        DOMAIN_SECURE_SSO_COOKIE,
    ];
    let rest: Vec<String> = pairs(headers)
        .filter(|(k, _)| !OURS.contains(k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if rest.is_empty() {
        return None;
    }
    HeaderValue::from_str(&rest.join("; ")).ok()
}

/// The cookie outlives closing the browser (400 days, the most browsers keep): the session
/// ends on the server by the idle timeout, logout or an administrator, not with the tabs.
const COOKIE_MAX_AGE: u32 = 400 * 24 * 3600;

/// The `Set-Cookie` value that starts a session. `Secure` and the `__Host-` prefix over
/// HTTPS (`__Secure-` and `Domain=` with `--cookie-domain`); plain HTTP on localhost keeps
/// working for local use.
pub fn session_cookie(token: &str, https: bool, domain: Option<&str>) -> String {
    set_cookie(
        [COOKIE, SECURE_COOKIE, DOMAIN_SECURE_COOKIE],
        token,
        COOKIE_MAX_AGE,
        https,
        domain,
    )
}

/// A cookie's name for the transport and scope: `names` is its plain, `__Host-` and
/// `__Secure-` names.
fn name_for(names: [&'static str; 3], https: bool, domain: Option<&str>) -> &'static str {
    match (https, domain) {
        (false, _) => names[0],
        (true, None) => names[1],
        (true, Some(_)) => names[2],
    }
}

/// A `Set-Cookie` value of one of Deskward's cookies: its `__Host-` name and `Secure` over
/// HTTPS, its plain name otherwise, and with a cookie domain `Domain=` (and the `__Secure-`
/// name over HTTPS); never readable by scripts, sent on top-level navigation.
fn set_cookie(
    names: [&'static str; 3],
    value: &str,
    max_age: u32,
    https: bool,
    domain: Option<&str>,
) -> String {
    let name = name_for(names, https, domain);
    let domain = domain.map(|d| format!("; Domain={d}")).unwrap_or_default();
    let secure = if https { "; Secure" } else { "" };
    format!("{name}={value}{domain}; Path=/; HttpOnly; SameSite=Lax{secure}; Max-Age={max_age}")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(https: bool, domain: Option<&str>) -> String {
    let name = name_for([COOKIE, SECURE_COOKIE, DOMAIN_SECURE_COOKIE], https, domain);
    let domain = domain.map(|d| format!("; Domain={d}")).unwrap_or_default();
    let secure = if https { "; Secure" } else { "" };
    format!("{name}={domain}; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// The known-device pass: lets its holder sign in while a flood of wrong passwords from
/// elsewhere holds their e-mail throttled (OWASP's device cookie).
pub const DEVICE_COOKIE: &str = "deskward_device";
pub const SECURE_DEVICE_COOKIE: &str = "__Host-deskward_device";
pub const DOMAIN_SECURE_DEVICE_COOKIE: &str = "__Secure-deskward_device";
const DEVICE_NAMES: [&str; 3] = [
    DEVICE_COOKIE,
    SECURE_DEVICE_COOKIE,
    DOMAIN_SECURE_DEVICE_COOKIE,
];
const DEVICE_MAX_AGE: u32 = 90 * 24 * 3600;

/// The known-device pass the browser sent, under the name its transport allows.
pub fn device_pass(headers: &HeaderMap, https: bool, domain: Option<&str>) -> Option<String> {
    cookie(headers, name_for(DEVICE_NAMES, https, domain)).map(str::to_string)
}

/// The `Set-Cookie` value that stores a known-device pass.
pub fn device_cookie(pass: &str, https: bool, domain: Option<&str>) -> String {
    set_cookie(DEVICE_NAMES, pass, DEVICE_MAX_AGE, https, domain)
}

/// The browser binding of single sign-on: a random value set when the browser starts a
/// sign-in at the identity provider, whose SHA-256 the pending sign-in keeps, so that the
/// provider's answer signs in only the browser that asked. One value per browser, kept for
/// the few minutes a sign-in may take, so two tabs signing in at once both complete.
pub const SSO_COOKIE: &str = "deskward_sso";
pub const SECURE_SSO_COOKIE: &str = "__Host-deskward_sso";
pub const DOMAIN_SECURE_SSO_COOKIE: &str = "__Secure-deskward_sso";
const SSO_NAMES: [&str; 3] = [SSO_COOKIE, SECURE_SSO_COOKIE, DOMAIN_SECURE_SSO_COOKIE];
/// As long as a pending sign-in lives (`service::sso::STATE_TTL`).
const SSO_MAX_AGE: u32 = 10 * 60;

/// The single sign-on binding the browser sent, under the name its transport allows.
pub fn sso_binding(headers: &HeaderMap, https: bool, domain: Option<&str>) -> Option<String> {
    cookie(headers, name_for(SSO_NAMES, https, domain))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// The `Set-Cookie` value that stores the single sign-on binding. SameSite=Lax: the
/// provider's redirect back is a top-level navigation from another site, which Lax lets
/// through.
pub fn sso_cookie(binding: &str, https: bool, domain: Option<&str>) -> String {
    set_cookie(SSO_NAMES, binding, SSO_MAX_AGE, https, domain)
}

/// Adds a `Set-Cookie` header to an answer.
pub fn set(res: &mut axum::response::Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Removes the cookie and tells the browser to drop every cookie of this site.
pub fn signed_out_response(mut res: Response, https: bool, domain: Option<&str>) -> Response {
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie(https, domain)) {
        h.append(header::SET_COOKIE, v);
    }
    h.insert("clear-site-data", HeaderValue::from_static("\"cookies\""));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn others_leaves_out_every_cookie_of_deskwards() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "app=1; deskward_session=tok; __Host-deskward_device=pass"
                .parse()
                .unwrap(),
        );
        h.append(
            header::COOKIE,
            "theme=dark; __Host-deskward_session=t2; deskward_device=p2"
                .parse()
                .unwrap(),
        );
        assert_eq!(others(&h).unwrap(), "app=1; theme=dark");
        let mut only = HeaderMap::new();
        only.append(
            header::COOKIE,
            "__Host-deskward_session=t; __Host-deskward_device=p"
                .parse()
                .unwrap(),
        );
        assert_eq!(others(&only), None);
        assert_eq!(others(&HeaderMap::new()), None);
    }

    #[test]
    fn reads_the_session_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; deskward_session=tok; b=2".parse().unwrap(),
        );
        assert_eq!(session_token(&h), Some("tok"));
        assert!(
            session_cookie("t", true, None)
                .starts_with("__Host-deskward_session=t; Path=/; HttpOnly")
        );
        assert!(!session_cookie("t", false, None).contains("Secure"));
    }

    #[test]
    fn each_transport_keeps_only_its_own_session_cookie() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "deskward_session=plain; a=1; __Host-deskward_session=secure"
                .parse()
                .unwrap(),
        );
        h.append(header::COOKIE, "deskward_session=again".parse().unwrap());
        let mut over_https = h.clone();
        keep_transport_cookie(&mut over_https, true, None);
        assert_eq!(session_token(&over_https), Some("secure"));
        let left: Vec<_> = over_https.get_all(header::COOKIE).iter().collect();
        assert_eq!(left, ["a=1; __Host-deskward_session=secure"]);
        keep_transport_cookie(&mut h, false, None);
        assert_eq!(session_token(&h), Some("plain"));
        assert!(
            h.get_all(header::COOKIE)
                .iter()
                .all(|v| !v.to_str().unwrap().contains("__Host-"))
        );
    }

    #[test]
    fn the_device_pass_is_read_under_its_transports_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "deskward_device=plain; __Host-deskward_device=secure"
                .parse()
                .unwrap(),
        );
        assert_eq!(device_pass(&h, false, None).as_deref(), Some("plain"));
        assert_eq!(device_pass(&h, true, None).as_deref(), Some("secure"));
        assert!(device_cookie("p", true, None).contains("Secure"));
    }

    #[test]
    fn a_cookie_is_found_among_spaces_and_stray_pieces() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "junk; =x;; a=1".parse().unwrap());
        h.append(
            header::COOKIE,
            " deskward_session = tok ; b=2".parse().unwrap(),
        );
        assert_eq!(session_token(&h), Some("tok"));
        keep_transport_cookie(&mut h, true, None);
        let left: Vec<_> = h.get_all(header::COOKIE).iter().collect();
        assert_eq!(left, ["a=1", "b=2"]);
        assert_eq!(session_token(&h), None);
    }

    #[test]
    fn a_cookie_domain_scopes_both_cookies_to_it() {
        let d = Some("example.test");
        assert_eq!(
            session_cookie("t", true, d),
            "__Secure-deskward_session=t; Domain=example.test; Path=/; HttpOnly; SameSite=Lax; \
             Secure; Max-Age=34560000"
        );
        assert_eq!(
            session_cookie("t", false, d),
            "deskward_session=t; Domain=example.test; Path=/; HttpOnly; SameSite=Lax; \
             Max-Age=34560000"
        );
        assert!(device_cookie("p", true, d).starts_with("__Secure-deskward_device=p; Domain="));
        assert!(clear_cookie(true, d).starts_with("__Secure-deskward_session=; Domain="));
        // Over HTTPS only the domain's name counts; without a domain it is refused.
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "__Host-deskward_session=host; __Secure-deskward_session=dom; deskward_session=p"
                .parse()
                .unwrap(),
        );
        let mut with = h.clone();
        keep_transport_cookie(&mut with, true, d);
        assert_eq!(session_token(&with), Some("dom"));
        let mut without = h.clone();
        keep_transport_cookie(&mut without, true, None);
        assert_eq!(session_token(&without), Some("host"));
        keep_transport_cookie(&mut h, false, d);
        assert_eq!(session_token(&h), Some("p"));
        let mut both = HeaderMap::new();
        both.append(
            header::COOKIE,
            "app=1; __Secure-deskward_session=t; __Secure-deskward_device=p"
                .parse()
                .unwrap(),
        );
        assert_eq!(others(&both).unwrap(), "app=1");
    }
}
