//! HTTP: the JSON API under `/api/v1`, the browser pages, and the middleware both share.
//! Handlers are thin: they translate requests to service calls and results to responses.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::service::Service;

pub mod api;
pub mod error;
pub mod events;
pub mod pages;
pub mod request;

/// Web settings from the command line.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    pub base_domain: Option<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// Served over HTTPS by this process or a proxy in front of it: cookies get `Secure`
    /// and the `__Host-` prefix, responses get HSTS.
    pub https: bool,
}

#[derive(Clone)]
pub struct AppState {
    pub svc: Arc<Service>,
    pub cfg: Arc<WebConfig>,
    pub single_account: Arc<OnceLock<String>>,
    pub slugs: Arc<RwLock<HashMap<String, String>>>,
    /// Turns true when the server shuts down; open event streams end then.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    pub fn new(
        svc: Arc<Service>,
        cfg: WebConfig,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Self {
            svc,
            cfg: Arc::new(cfg),
            single_account: Arc::new(OnceLock::new()),
            slugs: Arc::new(RwLock::new(HashMap::new())),
            shutdown,
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api::router())
        .merge(pages::router())
        .route("/healthz", axum::routing::get(healthz))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            cross_site_guard,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        // Method, path and status of every request; headers (cookies) are never recorded.
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.svc.store().ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response(),
    }
}

/// Refuses state-changing requests a browser marks as cross-site, whatever their cookies:
/// CSRF defence in depth beside the per-session token.
async fn cross_site_guard(State(_): State<AppState>, req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method {
        let h = req.headers();
        let cross_site = h
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
        let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
        let origin_mismatch = match (h.get(header::ORIGIN).and_then(|v| v.to_str().ok()), host) {
            (Some("null"), _) => true,
            (Some(origin), Some(host)) => {
                origin.split_once("://").map(|(_, rest)| rest) != Some(host)
            }
            _ => false,
        };
        if cross_site || origin_mismatch {
            return error::ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "cross-site requests may not change anything",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Security headers on every response; `no-store` on everything but static assets.
async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "same-origin");
    set(h, "x-frame-options", "DENY");
    set(h, "cross-origin-opener-policy", "same-origin");
    if state.cfg.https {
        set(
            h,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    if !is_static && !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    res
}
