//! What the verify endpoints answer, shared by `require=` in the query (`verify`) and by the
//! access rules (`access`): the session check, the 200 with the identity and its signed
//! assertion, and the way to sign in. Both callers sit above this module, so neither imports
//! the other back.

use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::domain::member::MemberKind;
use crate::domain::policy::Actor;
use crate::service::{Principal, ServiceError};

use super::error::ApiError;
use super::request::signed_in;
use super::return_to::{self, first_value, trusted_peer};
use super::{AppState, cookies};

/// Which proxy asks: nginx's `auth_request`, or Traefik's and Caddy's forward auth.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    AuthRequest,
    ForwardAuth,
}

/// The 200 of a request let through, by `require=` or by the access rules: who is asking,
/// the signed assertion of it, and for forward auth the app's own cookies.
pub(crate) async fn granted(
    state: &AppState,
    parts: &Parts,
    style: Style,
    p: &Principal,
) -> Response {
    let groups = groups(&p.actor);
    let mut res = identity(p, &groups);
    let original = original_url(state, parts, style);
    super::assertion::attach(state, parts, p, &groups, original, &mut res).await;
    if style == Style::ForwardAuth {
        pass_cookies(parts, &mut res);
    }
    res
}

/// Forward-auth's `Cookie` answer: the request's cookies without Deskward's, for a proxy
/// that replaces the app's `Cookie` header with it (Traefik).
pub(crate) fn pass_cookies(parts: &Parts, res: &mut Response) {
    if let Some(rest) = cookies::others(&parts.headers) {
        res.headers_mut().insert(header::COOKIE, rest);
    }
}

/// The session the request's cookie names, checked as for any request (and counted as
/// activity).
pub(crate) async fn check(state: &AppState, parts: &Parts) -> Result<Principal, ServiceError> {
    let p = signed_in(parts, state).await?;
    // A session limited to setting up a second factor opens nothing behind the proxy.
    if p.session.mfa_enrollment {
        return Err(ServiceError::MfaEnrollmentRequired);
    }
    Ok(p)
}

/// The groups: `agent`, or `admin` plus `primary` and the permissions held (`Remote-Groups`
/// joins them with commas, `Remote-Assertion` lists them).
pub(crate) fn groups(a: &Actor) -> Vec<&'static str> {
    match a.kind {
        MemberKind::Agent => vec!["agent"],
        MemberKind::Admin => {
            let mut g = vec!["admin"];
            if a.primary {
                g.push("primary");
            }
            g.extend(a.effective_permissions().iter().map(|p| p.as_str()));
            g
        }
    }
}

/// The identity headers' names, made once.
static IDENTITY: [HeaderName; 5] = [
    HeaderName::from_static("remote-user"),
    HeaderName::from_static("remote-email"),
    HeaderName::from_static("remote-name"),
    HeaderName::from_static("remote-id"),
    HeaderName::from_static("remote-groups"),
];

/// 200 with who is asking, for the proxy to hand to the app.
fn identity(p: &Principal, groups: &[&'static str]) -> Response {
    let mut res = StatusCode::OK.into_response();
    let h = res.headers_mut();
    h.reserve(IDENTITY.len() + 8);
    let [user, email, name, id, groups_name] = &IDENTITY;
    let mut set = |name: &HeaderName, value: &str| {
        // Stored e-mail addresses and ids are valid header values; a value that is not is
        // left out rather than sent mangled.
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name.clone(), v);
        }
    };
    set(user, &p.email);
    set(email, &p.email);
    set(name, &return_to::encode(&p.name));
    set(id, &p.actor.member_id);
    set(groups_name, &groups.join(","));
    res
}

/// The original request, as a trusted proxy describes it: `X-Original-URL` (nginx) or
/// `X-Forwarded-Proto`, `-Host` and `-Uri` (Traefik, Caddy), each endpoint preferring its
/// proxy's own. From an untrusted peer: none.
fn original_url(state: &AppState, parts: &Parts, style: Style) -> Option<Url> {
    if !trusted_peer(parts, state) {
        return None;
    }
    let from_original = || {
        let v = parts.headers.get("x-original-url")?.to_str().ok()?;
        Url::parse(v).ok()
    };
    let from_forwarded = || {
        let proto = first_value(parts, "x-forwarded-proto").unwrap_or("http");
        let host = first_value(parts, "x-forwarded-host")?;
        let uri = parts
            .headers
            .get("x-forwarded-uri")
            .and_then(|v| v.to_str().ok())
            .filter(|u| u.starts_with('/') && !u.starts_with("//"))
            .unwrap_or("/");
        if host.bytes().any(|b| b"/\\?#@ ".contains(&b)) {
            return None;
        }
        Url::parse(&format!("{proto}://{host}{uri}")).ok()
    };
    let url = match style {
        Style::AuthRequest => from_original().or_else(from_forwarded),
        Style::ForwardAuth => from_forwarded().or_else(from_original),
    }?;
    (matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none())
    .then_some(url)
}

/// Whether the original request was a page load a browser can be redirected from: GET or
/// HEAD asking for HTML. Anything else (an API call, a form post) gets 401 JSON instead.
fn wants_page(state: &AppState, parts: &Parts) -> bool {
    let method = if trusted_peer(parts, state) {
        first_value(parts, "x-forwarded-method")
            .and_then(|m| m.parse::<Method>().ok())
            .unwrap_or_else(|| parts.method.clone())
    } else {
        parts.method.clone()
    };
    let html = parts
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"));
    html && (method == Method::GET || method == Method::HEAD)
}

/// No live session: where to sign in, in the form the endpoint's proxy expects.
pub(crate) fn sign_in_needed(state: &AppState, parts: &Parts, style: Style) -> Response {
    let prefix = &state.cfg.path_prefix;
    let location = match original_url(state, parts, style) {
        Some(orig) => format!(
            "{}{prefix}/login?rd={}",
            orig.origin().ascii_serialization(),
            return_to::encode(orig.as_str())
        ),
        None => match return_to::own_origin(parts, state) {
            Some(own) => format!("{}{prefix}/login", own.ascii_serialization()),
            None => format!("{prefix}/login"),
        },
    };
    let mut res = if style == Style::ForwardAuth && wants_page(state, parts) {
        StatusCode::FOUND.into_response()
    } else {
        ApiError::unauthenticated().into_response()
    };
    if let Ok(v) = HeaderValue::try_from(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}
