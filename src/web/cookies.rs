//! The cookies Deskward sets and reads: the session cookie and the known-device pass, and the
//! answer that signs a browser out (the cookie cleared, `Clear-Site-Data`). Over HTTPS each
//! carries the `__Host-` prefix (a cookie only this origin can set, over TLS).

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use cookie::Cookie;

pub const COOKIE: &str = "deskward_session";
pub const SECURE_COOKIE: &str = "__Host-deskward_session";

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
        .find(|(k, _)| *k == SECURE_COOKIE || *k == COOKIE)
        .map(|(_, v)| v)
}

/// Removes from the `Cookie` headers the session cookie this transport does not use: over
/// HTTPS only `__Host-deskward_session` counts (a plain-named cookie can be planted by anyone
/// who can answer for a sibling domain or over plain HTTP, a `__Host-` one cannot), over plain
/// HTTP only `deskward_session` (the one this server issues there). Done once per request,
/// before any handler, so every reader of the cookie sees the same answer.
pub fn keep_transport_cookie(headers: &mut HeaderMap, https: bool) {
    let refused = if https { COOKIE } else { SECURE_COOKIE };
    if !pairs(headers).any(|(k, _)| k == refused) {
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
            .filter(|(k, _)| *k != refused)
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
    const OURS: [&str; 4] = [COOKIE, SECURE_COOKIE, DEVICE_COOKIE, SECURE_DEVICE_COOKIE];
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
/// HTTPS; plain HTTP on localhost keeps working for local use.
pub fn session_cookie(token: &str, https: bool) -> String {
    set_cookie(COOKIE, SECURE_COOKIE, token, COOKIE_MAX_AGE, https)
}

/// A `Set-Cookie` value of one of Deskward's cookies: its `__Host-` name and `Secure` over
/// HTTPS, its plain name otherwise; never readable by scripts, sent on top-level navigation.
fn set_cookie(plain: &str, secure: &str, value: &str, max_age: u32, https: bool) -> String {
    if https {
        format!("{secure}={value}; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age={max_age}")
    } else {
        format!("{plain}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}")
    }
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(https: bool) -> String {
    let name = if https { SECURE_COOKIE } else { COOKIE };
    let secure = if https { "; Secure" } else { "" };
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// The known-device pass: lets its holder sign in while a flood of wrong passwords from
/// elsewhere holds their e-mail throttled (OWASP's device cookie).
pub const DEVICE_COOKIE: &str = "deskward_device";
pub const SECURE_DEVICE_COOKIE: &str = "__Host-deskward_device";
const DEVICE_MAX_AGE: u32 = 90 * 24 * 3600;

/// The known-device pass the browser sent, under the name its transport allows.
pub fn device_pass(headers: &HeaderMap, https: bool) -> Option<String> {
    let name = if https {
        SECURE_DEVICE_COOKIE
    } else {
        DEVICE_COOKIE
    };
    cookie(headers, name).map(str::to_string)
}

/// The `Set-Cookie` value that stores a known-device pass.
pub fn device_cookie(pass: &str, https: bool) -> String {
    set_cookie(
        DEVICE_COOKIE,
        SECURE_DEVICE_COOKIE,
        pass,
        DEVICE_MAX_AGE,
        https,
    )
}

/// Adds a `Set-Cookie` header to an answer.
pub fn set(res: &mut axum::response::Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Removes the cookie and tells the browser to drop every cookie of this site.
pub fn signed_out_response(mut res: Response, https: bool) -> Response {
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie(https)) {
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
            session_cookie("t", true).starts_with("__Host-deskward_session=t; Path=/; HttpOnly")
        );
        assert!(!session_cookie("t", false).contains("Secure"));
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
        keep_transport_cookie(&mut over_https, true);
        assert_eq!(session_token(&over_https), Some("secure"));
        let left: Vec<_> = over_https.get_all(header::COOKIE).iter().collect();
        assert_eq!(left, ["a=1; __Host-deskward_session=secure"]);
        keep_transport_cookie(&mut h, false);
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
        assert_eq!(device_pass(&h, false).as_deref(), Some("plain"));
        assert_eq!(device_pass(&h, true).as_deref(), Some("secure"));
        assert!(device_cookie("p", true).contains("Secure"));
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
        keep_transport_cookie(&mut h, true);
        let left: Vec<_> = h.get_all(header::COOKIE).iter().collect();
        assert_eq!(left, ["a=1", "b=2"]);
        assert_eq!(session_token(&h), None);
    }
}
