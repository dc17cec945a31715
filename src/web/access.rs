//! Access rules at the verify endpoints (`serve --access-rules`): the original request as the
//! trusted proxy describes it (host, normalized path, method), the rule it falls under, and
//! the answer: 200 with the identity, the way to sign in, or a 403 that a browser shows as a
//! page saying who is signed in, what the page needs and how to switch accounts (an API call
//! keeps the JSON 403).
//!
//! What cannot be read is refused, never judged by a guess: an original URL that is missing
//! (or comes from a peer that is not a `--trusted-proxy`), that does not parse, or whose path
//! holds what apps read differently (`domain::url_path`); and, when a rule names methods, a
//! request whose method the proxy did not say.

use askama::Template;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::access::{AccessRules, Decision, Require, Target, host_of};
use crate::domain::member::MemberKind;
use crate::domain::url_path;
use crate::service::{Principal, ServiceError};

use super::error::ApiError;
use super::pages::{Layout, render};
use super::request::{client, tenant};
use super::return_to::{self, first_value, trusted_peer};
use super::verdict::{Style, check, granted, sign_in_needed};
use super::{AppState, prefix};

/// The original request, as far as the rules need it.
pub(crate) struct Original {
    /// The URL as the proxy gave it, for the way back after switching accounts.
    url: String,
    host: String,
    path: String,
    method: Option<String>,
}

/// Reads the original request from a trusted proxy's headers: `X-Original-URL` (nginx) or
/// `X-Forwarded-Proto`, `-Host` and `-Uri` (Caddy, Traefik), each endpoint preferring its
/// proxy's own; the method from `X-Original-Method` or `X-Forwarded-Method`.
pub(crate) fn original(state: &AppState, parts: &Parts, style: Style) -> Result<Original, String> {
    if !trusted_peer(parts, state) {
        return Err("the original request is described only by a trusted proxy".to_string());
    }
    let from_original = || -> Option<Result<Split, String>> {
        let v = parts.headers.get("x-original-url")?;
        Some(split_url(v.as_bytes()))
    };
    let from_forwarded = || -> Option<Result<Split, String>> {
        let host = first_value(parts, "x-forwarded-host")?;
        let uri = parts.headers.get("x-forwarded-uri")?.as_bytes();
        let proto = first_value(parts, "x-forwarded-proto").unwrap_or("http");
        let mut raw = format!("{proto}://{host}").into_bytes();
        if !uri.starts_with(b"/") {
            return Some(Err("X-Forwarded-Uri is not a path".to_string()));
        }
        raw.extend_from_slice(uri);
        Some(split_url(&raw))
    };
    let found = match style {
        Style::AuthRequest => from_original().or_else(from_forwarded),
        Style::ForwardAuth => from_forwarded().or_else(from_original),
    };
    let Split {
        url,
        authority,
        path,
    } = found.ok_or_else(|| "the proxy did not say which URL was asked for".to_string())??;
    let host = host_of(&authority).ok_or_else(|| format!("the host {authority:?} is not one"))?;
    let path = url_path::normalize(&path).map_err(|e| e.to_string())?;
    let method = ["x-original-method", "x-forwarded-method"]
        .into_iter()
        .find_map(|h| first_value(parts, h))
        .map(|m| m.to_ascii_uppercase());
    Ok(Original {
        url,
        host,
        path,
        method,
    })
}

/// An original URL in its parts.
struct Split {
    /// The URL as text (empty when it holds more than visible ASCII).
    url: String,
    authority: String,
    /// The raw path, as sent.
    path: Vec<u8>,
}

/// `scheme://authority/path?query` split into the URL as text, the authority and the raw
/// path. Only http and https, no credentials, nothing that is not visible ASCII but in the
/// path (where `url_path` encodes or refuses it).
fn split_url(raw: &[u8]) -> Result<Split, String> {
    let bad = || "the original URL cannot be read".to_string();
    let text = String::from_utf8_lossy(raw);
    let (scheme, rest) = text.split_once("://").ok_or_else(bad)?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return Err(bad());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest[..end].to_string();
    if authority.is_empty()
        || authority
            .bytes()
            .any(|b| b"@\\ ".contains(&b) || !b.is_ascii_graphic())
    {
        return Err(bad());
    }
    let after = &raw[scheme.len() + 3 + end..];
    let path_end = after
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(after.len());
    let path = if path_end == 0 {
        b"/".to_vec()
    } else {
        after[..path_end].to_vec()
    };
    // The URL as text only feeds the way back (`rd`), which sign-in checks again.
    let url = if raw.iter().all(|b| b.is_ascii_graphic()) {
        text.into_owned()
    } else {
        String::new()
    };
    Ok(Split {
        url,
        authority,
        path,
    })
}

/// Why a request is refused, for the page and the JSON message.
enum Refusal {
    /// The original request cannot be read.
    Unreadable(String),
    /// A `deny` rule.
    Denied,
    /// An office-networks rule, from outside.
    OutsideOffice,
    /// Signed in, without what the rule requires.
    Needs(Require),
}

/// The verify endpoints' answer when access rules are in force and the query has no
/// `require=`.
pub(crate) async fn verify(
    state: &AppState,
    parts: &Parts,
    style: Style,
    rules: &AccessRules,
) -> Response {
    let read = original(state, parts, style).and_then(|o| {
        if o.method.is_none() && rules.uses_methods() {
            Err("the proxy did not say the request's method".to_string())
        } else {
            Ok(o)
        }
    });
    let orig = match read {
        Ok(o) => o,
        // Nothing is judged; someone not signed in is still sent to sign in (without `rd`
        // from an untrusted peer, as without rules), anyone else refused.
        Err(why) => {
            return match check(state, parts).await {
                Ok(p) => refuse(state, parts, Some(&p), None, Refusal::Unreadable(why)),
                Err(ServiceError::Unauthenticated(_)) => sign_in_needed(state, parts, style),
                Err(e) => ApiError::from(e).into_response(),
            };
        }
    };
    let d: Decision = rules.decide(Target {
        host: &orig.host,
        path: &orig.path,
        method: orig.method.as_deref(),
    });
    if let Some(line) = d.line {
        tracing::debug!(line, "access rule applies");
    }
    if d.office_only {
        match from_office(state, parts).await {
            Ok(true) => {}
            Ok(false) => {
                let who = if wants_html(parts) {
                    check(state, parts).await.ok()
                } else {
                    None
                };
                return refuse(
                    state,
                    parts,
                    who.as_ref(),
                    Some(&orig),
                    Refusal::OutsideOffice,
                );
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    match (d.require, check(state, parts).await) {
        (Require::Public, Ok(p)) => granted(state, parts, style, &p).await,
        (Require::Public, Err(_)) => StatusCode::OK.into_response(),
        (Require::Deny, p) => refuse(state, parts, p.ok().as_ref(), Some(&orig), Refusal::Denied),
        (r, Ok(p)) if r.met_by(&p.actor) => granted(state, parts, style, &p).await,
        (r, Ok(p)) => refuse(state, parts, Some(&p), Some(&orig), Refusal::Needs(r)),
        (_, Err(ServiceError::Unauthenticated(_))) => sign_in_needed(state, parts, style),
        (_, Err(e)) => ApiError::from(e).into_response(),
    }
}

/// The refused page for someone who lacks what `require=` in the query asks.
pub(crate) fn refuse_needing(
    state: &AppState,
    parts: &Parts,
    style: Style,
    p: &Principal,
    needs: Require,
) -> Response {
    let orig = original(state, parts, style).ok();
    refuse(state, parts, Some(p), orig.as_ref(), Refusal::Needs(needs))
}

/// Whether the client is in one of its account's office networks (none configured: nobody
/// is).
async fn from_office(state: &AppState, parts: &Parts) -> Result<bool, ServiceError> {
    let account_id = match tenant(parts, state).await {
        Ok(id) => id,
        Err(ServiceError::NotFound) => return Ok(false),
        Err(e) => return Err(e),
    };
    state
        .svc
        .in_office_network(&account_id, client(parts, state).ip)
        .await
}

/// Whether the original request asked for HTML (a browser's page load or form post): the
/// refusal is then a page; anything else (`application/json`, `*/*`, none) gets the JSON
/// error.
pub(crate) fn wants_html(parts: &Parts) -> bool {
    parts
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

#[derive(Template)]
#[template(path = "refused.html")]
struct RefusedPage {
    layout: Layout,
    heading: &'static str,
    message: String,
    /// Who is signed in: name, e-mail, role in words.
    who: Option<(String, String, &'static str)>,
    /// Where to sign out and come back to the page as someone else.
    switch: Option<String>,
}

fn refuse(
    state: &AppState,
    parts: &Parts,
    who: Option<&Principal>,
    orig: Option<&Original>,
    why: Refusal,
) -> Response {
    let (heading, message) = match &why {
        Refusal::Unreadable(detail) => (
            "This address cannot be opened",
            format!("The address was refused because it cannot be checked safely: {detail}."),
        ),
        Refusal::Denied => (
            "This page is not available",
            "Nobody can open this page here. If you followed a link, it may be out of date; \
             ask your administrator where this page has moved."
                .to_string(),
        ),
        Refusal::OutsideOffice => (
            "This page opens only from the office",
            "This page can only be opened from your organisation's office network. Connect \
             from the office (or its VPN) and try again."
                .to_string(),
        ),
        Refusal::Needs(r) => (
            "You can’t open this page with this account",
            format!("This page needs {}.", r.describe()),
        ),
    };
    if !wants_html(parts) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            message.trim_end_matches('.').to_lowercase(),
        )
        .into_response();
    }
    let role = |p: &Principal| match (p.actor.kind, p.actor.primary) {
        (MemberKind::Agent, _) => "an agent",
        (MemberKind::Admin, true) => "the primary administrator",
        (MemberKind::Admin, false) => "an administrator",
    };
    // Switching accounts is signing out and back in, then returning to this page.
    let switch = who.map(|_| {
        let rd = orig
            .map(|o| o.url.as_str())
            .filter(|u| !u.is_empty() && return_to::allowed(Some(u), parts, state).is_some());
        match rd {
            Some(u) => prefix::url(&format!("/logout?rd={}", return_to::encode(u))),
            None => prefix::url("/logout"),
        }
    });
    let page = RefusedPage {
        layout: Layout::public(heading),
        heading,
        message,
        who: who.map(|p| (p.name.clone(), p.email.clone(), role(p))),
        switch,
    };
    render(StatusCode::FORBIDDEN, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_raw_path() {
        let s = split_url(b"https://Desk.Example:8443/ADMIN;x/../y?q=1#f").unwrap();
        assert_eq!(s.url, "https://Desk.Example:8443/ADMIN;x/../y?q=1#f");
        assert_eq!(s.authority, "Desk.Example:8443");
        assert_eq!(s.path, b"/ADMIN;x/../y");
        assert_eq!(split_url(b"http://desk.test?q=1").unwrap().path, b"/");
        let s = split_url("http://desk.test/caf\u{e9}".as_bytes()).unwrap();
        assert_eq!(s.path, "/caf\u{e9}".as_bytes());
        assert_eq!(s.url, "", "not sent back as a way back");
        for bad in [
            &b"ftp://desk.test/"[..],
            b"desk.test/admin",
            b"http:///admin",
            b"http://user@desk.test/",
            b"http://desk.test\\admin",
            b"//desk.test/admin",
        ] {
            assert!(split_url(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
