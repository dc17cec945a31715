//! What every handler needs from a request: the account (tenant), the client's address and
//! browser, and the signed-in person. One authentication path serves pages and API alike.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, Method, header};

use crate::domain::ClientIp;
pub use crate::ids::constant_time_eq;
use crate::service::{Principal, ServiceError};
use crate::store::StoreError;
use crate::web::cookies::session_token;

use super::error::ApiError;
use super::{AppState, WebConfig};

/// The client as the service records it.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: ClientIp,
    pub user_agent: String,
    /// Served over HTTPS (directly configured, or said by a trusted proxy).
    pub https: bool,
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(client(parts, state))
    }
}

pub fn client(parts: &Parts, state: &AppState) -> Client {
    let peer = peer_ip(&parts.extensions);
    Client {
        ip: client_ip(parts, state),
        user_agent: user_agent(&parts.headers).to_string(),
        https: is_https(&parts.headers, peer, &state.cfg),
    }
}

/// The client's address as the service records it (see [`client`]).
pub fn client_ip(parts: &Parts, state: &AppState) -> ClientIp {
    let cfg = &state.cfg;
    let ip = match peer_ip(&parts.extensions) {
        Some(p) if cfg.trusts(&p) => Some(forwarded_client(&parts.headers, p, cfg)),
        other => other,
    };
    ClientIp(ip)
}

/// The `User-Agent` as recorded: its first 512 characters (none when it is not text).
pub fn user_agent(headers: &HeaderMap) -> &str {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match ua.char_indices().nth(512) {
        Some((end, _)) => &ua[..end],
        None => ua,
    }
}

/// The connection's peer address (IPv4-mapped IPv6 as plain IPv4, so `--trusted-proxy
/// 127.0.0.1/32` matches on a dual-stack socket too).
pub fn peer_ip(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
}

/// The client behind a trusted proxy at `peer`: `X-Forwarded-For` walked from the right (the
/// entry our nearest proxy added) for as long as the addresses are our own proxies. The first
/// one that is not is the client; anything left of it could be forged by the client. An entry
/// that does not parse ends the walk too, rather than being skipped: what lies beyond it
/// cannot be vouched for, so the client is then the nearest address known (the last trusted
/// hop read, or the peer itself).
fn forwarded_client(headers: &HeaderMap, peer: IpAddr, cfg: &WebConfig) -> IpAddr {
    let mut nearest = peer;
    // Several headers read as one list in order, so the last header holds the rightmost entries.
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(list) = value.to_str() else {
            return nearest;
        };
        for entry in list.rsplit(',') {
            let Some(ip) = forwarded_address(entry) else {
                return nearest;
            };
            nearest = ip;
            if !cfg.trusts(&ip) {
                return ip;
            }
        }
    }
    // Only our own proxies: the farthest one is the nearest thing to a client there is.
    nearest
}

/// One `X-Forwarded-For` entry: `203.0.113.7`, `203.0.113.7:4711`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:443`; anything else is `None`.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = if let Ok(ip) = entry.parse::<IpAddr>() {
        ip
    } else if let Ok(sa) = entry.parse::<SocketAddr>() {
        sa.ip()
    } else {
        let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
        IpAddr::V6(inner.parse().ok()?)
    };
    Some(ip.to_canonical())
}

/// Whether the request reached the site over HTTPS: `--https`, or a trusted proxy's
/// `X-Forwarded-Proto: https` (a proxy terminating TLS in front of a plain-HTTP deployment).
pub fn is_https(headers: &HeaderMap, peer: Option<IpAddr>, cfg: &WebConfig) -> bool {
    cfg.https
        || (peer.is_some_and(|p| cfg.trusts(&p))
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")))
}

/// Resolves the account this request is for: by host label with `--base-domain`, otherwise
/// the deployment's one account.
pub async fn tenant(parts: &Parts, state: &AppState) -> Result<String, ServiceError> {
    let Some(base) = state.cfg.base_domain.as_deref() else {
        if let Some(id) = state.single_account.get() {
            return Ok(id.clone());
        }
        let id = state.svc.default_account().await?;
        let _ = state.single_account.set(id.clone());
        return Ok(id);
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let host = host.to_ascii_lowercase();
    let slug = host
        .strip_suffix(base)
        .and_then(|s| s.strip_suffix('.'))
        .filter(|s| !s.is_empty() && !s.contains('.'))
        .ok_or(ServiceError::NotFound)?;
    if let Some(id) = state.slugs.read().ok().and_then(|m| m.get(slug).cloned()) {
        return Ok(id);
    }
    let id = state.svc.account_by_slug(slug).await?;
    if let Ok(mut m) = state.slugs.write() {
        m.insert(slug.to_string(), id.clone());
    }
    Ok(id)
}

/// What a request's session cookie says, for the account the request is for: the one
/// prologue of every authenticated route (API, pages, forward auth), so that they cannot
/// disagree about who is asking.
pub struct SessionCheck<'r> {
    pub account_id: String,
    /// The cookie's token, under the name this transport accepts.
    pub token: Option<&'r str>,
    /// `Service::authenticate`'s answer for the token; `None` without one.
    pub checked: Option<Result<Principal, ServiceError>>,
}

impl SessionCheck<'_> {
    /// The signed-in person, or `Unauthenticated` (with the reason when known).
    pub fn principal(self) -> Result<Principal, ServiceError> {
        self.checked
            .unwrap_or(Err(ServiceError::Unauthenticated(None)))
    }
}

/// The account (`NotFound` when no account answers to the request), then the session its
/// cookie names, checked with the client's address and browser (counted as activity).
pub async fn check_session<'r>(
    parts: &'r Parts,
    state: &AppState,
) -> Result<SessionCheck<'r>, ServiceError> {
    let account_id = tenant(parts, state).await?;
    let token = session_token(&parts.headers);
    let checked = match token {
        Some(token) => Some(authenticate(parts, state, &account_id, token).await),
        None => None,
    };
    Ok(SessionCheck {
        account_id,
        token,
        checked,
    })
}

/// `Service::authenticate` for the request's token in `account_id`, with the client's address
/// and browser.
async fn authenticate(
    parts: &Parts,
    state: &AppState,
    account_id: &str,
    token: &str,
) -> Result<Principal, ServiceError> {
    let (ip, user_agent) = (client_ip(parts, state), user_agent(&parts.headers));
    state
        .svc
        .authenticate(account_id, token, ip, user_agent)
        .await
}

/// The signed-in person of a request that names no account to sign in to (an unknown host)
/// is nobody, whatever the cookie: no account, no session.
pub async fn signed_in(parts: &Parts, state: &AppState) -> Result<Principal, ServiceError> {
    // The deployment's one account, once known, is borrowed rather than copied: this runs on
    // every authenticated request.
    if state.cfg.base_domain.is_none()
        && let Some(account_id) = state.single_account.get()
    {
        return match session_token(&parts.headers) {
            Some(token) => authenticate(parts, state, account_id, token).await,
            None => Err(ServiceError::Unauthenticated(None)),
        };
    }
    match check_session(parts, state).await {
        Ok(check) => check.principal(),
        Err(ServiceError::NotFound) => Err(ServiceError::Unauthenticated(None)),
        Err(e) => Err(e),
    }
}

/// The signed-in person for an API call; state-changing methods also need `X-CSRF-Token`.
pub struct ApiUser(pub Principal);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = signed_in(parts, state).await?;
        if !is_safe(&parts.method) {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent, &p.csrf_token) {
                return Err(ApiError::csrf());
            }
        }
        if p.session.mfa_enrollment && !enrollment_route(&parts.method, parts.uri.path()) {
            return Err(ServiceError::MfaEnrollmentRequired.into());
        }
        Ok(ApiUser(p))
    }
}

/// What a session limited to setting up a second factor may reach: who it is (`GET /me`),
/// the setup itself (`/me/mfa/…`) and signing out. `path` is under `/api/v1` (nested routers
/// see it without that prefix; the full form is accepted too).
pub fn enrollment_route(method: &Method, path: &str) -> bool {
    let path = path
        .find("/api/v1/")
        .map_or(path, |i| &path[i + "/api/v1".len()..]);
    (method == Method::GET && path == "/me")
        || path == "/me/mfa"
        || path.starts_with("/me/mfa/")
        || path == "/auth/logout"
}

/// The account of an API call that needs no session (sign-in).
pub struct ApiTenant(pub String);

impl FromRequestParts<AppState> for ApiTenant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match tenant(parts, state).await {
            Ok(id) => Ok(ApiTenant(id)),
            Err(ServiceError::NotFound) => Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such account (complete first-run setup at /setup)",
            )),
            Err(e) => Err(e.into()),
        }
    }
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Maps a store error reached outside the service (tenant lookups).
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrollment_reaches_only_its_routes() {
        assert!(enrollment_route(&Method::GET, "/me"));
        assert!(enrollment_route(&Method::GET, "/api/v1/me"));
        assert!(!enrollment_route(&Method::PUT, "/me"));
        assert!(enrollment_route(&Method::POST, "/me/mfa/totp/confirm"));
        assert!(enrollment_route(&Method::POST, "/auth/logout"));
        assert!(!enrollment_route(&Method::GET, "/me/sessions"));
        assert!(!enrollment_route(&Method::GET, "/me/mfafoo"));
        assert!(!enrollment_route(&Method::GET, "/agents"));
    }

    #[test]
    fn user_agents_are_kept_to_512_characters() {
        let mut h = HeaderMap::new();
        assert_eq!(user_agent(&h), "");
        h.insert(header::USER_AGENT, "a".repeat(600).parse().unwrap());
        assert_eq!(user_agent(&h), "a".repeat(512));
        h.insert(header::USER_AGENT, "curl/8".parse().unwrap());
        assert_eq!(user_agent(&h), "curl/8");
    }

    #[test]
    fn reads_forwarded_entries_with_ports_and_brackets() {
        let ip = |s: &str| forwarded_address(s).map(|i| i.to_string());
        assert_eq!(ip(" 203.0.113.7 ").as_deref(), Some("203.0.113.7"));
        assert_eq!(ip("203.0.113.7:80").as_deref(), Some("203.0.113.7"));
        assert_eq!(ip("[2001:db8::1]:443").as_deref(), Some("2001:db8::1"));
        assert_eq!(ip("[2001:db8::1]").as_deref(), Some("2001:db8::1"));
        assert_eq!(ip("[::ffff:192.0.2.1]").as_deref(), Some("192.0.2.1"));
        for bad in [
            "",
            "unknown",
            "203.0.113.7:",
            "203.0.113.7:99999",
            "[2001:db8::1",
            "[203.0.113.7]",
            "_hidden",
        ] {
            assert_eq!(ip(bad), None, "{bad:?}");
        }
    }
}
