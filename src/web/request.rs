//! What every handler needs from a request: the account (tenant), the client's address and
//! browser, and the signed-in person. One authentication path serves pages and API alike.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use crate::service::{Principal, ServiceError};
use crate::store::StoreError;

use super::AppState;
use super::error::ApiError;

pub const COOKIE: &str = "deskward_session";
pub const SECURE_COOKIE: &str = "__Host-deskward_session";

/// The client as the service records it.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: String,
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
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let trusted = |ip: &IpAddr| state.cfg.trusted_proxies.iter().any(|n| n.contains(ip));
    let mut ip = peer;
    let mut https = state.cfg.https;
    if let Some(p) = peer
        && trusted(&p)
    {
        // Walk X-Forwarded-For from the right: the first address that is not one of our
        // proxies is the client; anything left of it could be forged by the client.
        let forwarded: Vec<IpAddr> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect();
        if let Some(real) = forwarded.iter().rev().find(|a| !trusted(a)) {
            ip = Some(*real);
        } else if let Some(first) = forwarded.first() {
            ip = Some(*first);
        }
        if parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
        {
            https = true;
        }
    }
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(512)
        .collect();
    Client {
        ip: ip
            .map(|i| i.to_canonical().to_string())
            .unwrap_or_else(|| "unknown".to_string()),
        user_agent,
        https,
    }
}

/// The session token from the cookie, if the request carries one.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SECURE_COOKIE || *k == COOKIE)
        .map(|(_, v)| v.trim())
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

/// The signed-in person for an API call; state-changing methods also need `X-CSRF-Token`.
pub struct ApiUser(pub Principal);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let account_id = tenant(parts, state).await.map_err(|e| match e {
            ServiceError::NotFound => ApiError::unauthenticated(),
            other => other.into(),
        })?;
        let token = session_token(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        let ip = client(parts, state).ip;
        let p = state.svc.authenticate(&account_id, token, &ip).await?;
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
        Ok(ApiUser(p))
    }
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

/// Compares secrets without an early exit, so timing tells nothing about how much matched.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Maps a store error reached outside the service (tenant lookups).
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

/// The cookie outlives closing the browser (400 days, the most browsers keep): the session
/// ends on the server by the idle timeout, logout or an administrator, not with the tabs.
const COOKIE_MAX_AGE: u32 = 400 * 24 * 3600;

/// The `Set-Cookie` value that starts a session. `Secure` and the `__Host-` prefix over
/// HTTPS; plain HTTP on localhost keeps working for local use.
pub fn session_cookie(token: &str, https: bool) -> String {
    if https {
        format!(
            "{SECURE_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age={COOKIE_MAX_AGE}"
        )
    } else {
        format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={COOKIE_MAX_AGE}")
    }
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(https: bool) -> String {
    let name = if https { SECURE_COOKIE } else { COOKIE };
    let secure = if https { "; Secure" } else { "" };
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_in_constant_time_shape() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("", ""));
        assert!(!constant_time_eq("abc", "abcd"));
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
}
