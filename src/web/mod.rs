//! HTTP: the JSON API under `/api/v1`, the browser pages, and the middleware both share.
//! Handlers are thin: they translate requests to service calls and results to responses.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::Poll;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::Either;
use tower::Layer;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::Trace;

pub mod access;
pub mod api;
pub mod assertion;
pub mod cookies;
pub mod csv;
pub mod error;
pub mod events;
pub mod metrics;
pub mod pages;
pub mod prefix;
pub mod query;
pub mod request;
pub mod return_to;
pub mod section;
pub mod state;
pub mod trace;
pub mod verdict;
pub mod verify;

pub use state::{AppState, WebConfig};

/// The largest request body a route reads (set explicitly, rather than left to axum's
/// default of the same size, so that the 413's message names what is enforced).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The routes, with their state; under `--path-prefix` when one is set (`/healthz` answers
/// at the root as well, for load balancers).
pub fn router(state: AppState) -> Router {
    let prefix = state.cfg.path_prefix.clone();
    let routes = Router::new()
        .nest("/api/v1", api::router())
        .merge(pages::router())
        .route("/healthz", axum::routing::get(healthz))
        .route(
            "/.well-known/jwks.json",
            axum::routing::get(assertion::jwks),
        )
        .fallback(pages::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT));
    let routes = if state.cfg.metrics {
        routes.layer(metrics::TimingLayer::new(state.svc.clone(), &prefix))
    } else {
        routes
    };
    if prefix.is_empty() {
        return routes.with_state(state);
    }
    let outside = Router::new()
        .fallback(pages::not_found)
        .with_state(state.clone());
    Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .with_state(state.clone())
        .nest_service(
            &prefix,
            prefix::Mounted::new(&prefix, routes.with_state(state)),
        )
        .fallback_service(prefix::Mounted::new(&prefix, outside))
}

/// The whole HTTP application: the routes inside what every request goes through (request
/// id and log, cross-site guard, security headers).
///
/// These wrap the router once, rather than being `Router::layer`s, which axum applies to
/// every route and clones with it on every request: on `/api/v1/me`, which every tab calls,
/// those clones were a fifth of the work.
pub fn app(state: AppState) -> HttpApp {
    let cfg = state.cfg.clone();
    let app = App {
        router: router(state),
        cfg,
    };
    // Failures logged with the request's span (id, method, path); headers (cookies) never.
    trace::RequestIds(
        tower_http::trace::TraceLayer::new_for_http()
            .make_span_with(trace::request_span as fn(&Request) -> tracing::Span)
            .layer(app),
    )
}

/// What the server serves; see [`app`].
pub type HttpApp = trace::RequestIds<
    Trace<App, SharedClassifier<ServerErrorsAsFailures>, fn(&Request) -> tracing::Span>,
>;

/// See [`app`].
#[derive(Clone)]
pub struct App {
    router: Router,
    cfg: Arc<WebConfig>,
}

type Finish = fn(Result<Response, Infallible>) -> Result<Response, Infallible>;

impl tower::Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<
        std::future::Ready<Result<Response, Infallible>>,
        futures_util::future::Map<axum::routing::future::RouteFuture<Infallible>, Finish>,
    >;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let https = request::is_https(req.headers(), request::peer_ip(req.extensions()), &self.cfg);
        // HSTS whenever the request came over HTTPS, errors included.
        let finish: Finish = if https {
            |res| res.map(|r| with_security_headers(r, true))
        } else {
            |res| res.map(|r| with_security_headers(r, false))
        };
        if let Some(refusal) = malformed_refusal(&req).or_else(|| cross_site_refusal(&req)) {
            return Either::Left(std::future::ready(finish(Ok(refusal))));
        }
        cookies::keep_transport_cookie(req.headers_mut(), https, self.cfg.cookie_domain.as_deref());
        Either::Right(self.router.call(req).map(finish))
    }
}

/// The security headers of every answer; HSTS is added over HTTPS only. Names and values are
/// made once, at compile time: every answer only copies them in.
static SECURITY_HEADERS: [(HeaderName, HeaderValue); 5] = [
    (
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; object-src 'none'; base-uri 'none'; \
             frame-ancestors 'none'",
        ),
    ),
    (
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    ),
    (
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("same-origin"),
    ),
    (
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    ),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ),
];
static HSTS: (HeaderName, HeaderValue) = (
    HeaderName::from_static("strict-transport-security"),
    HeaderValue::from_static("max-age=31536000; includeSubDomains"),
);
static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// Security headers on every response; `no-store` on everything that does not set its own
/// `Cache-Control` (only static assets do).
fn with_security_headers(mut res: Response, hsts: bool) -> Response {
    let h = res.headers_mut();
    // Room for all of them at once rather than growing the map on the way.
    h.reserve(SECURITY_HEADERS.len() + 2);
    let https = hsts.then_some(&HSTS);
    for (k, v) in SECURITY_HEADERS.iter().chain(https) {
        h.insert(k.clone(), v.clone());
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, NO_STORE.clone());
    }
    res
}

/// Gives `to` the security headers `from` got on its way out of [`App`]: for an answer made
/// outside the app in place of the app's own (the server's 408 for a body that stopped
/// arriving), which must be as protected as any other, HSTS included when that request came
/// over HTTPS.
pub fn copy_security_headers(from: &axum::http::HeaderMap, to: &mut axum::http::HeaderMap) {
    for (name, _) in SECURITY_HEADERS.iter().chain([&HSTS]) {
        if let Some(v) = from.get(name) {
            to.insert(name.clone(), v.clone());
        }
    }
    to.insert(header::CACHE_CONTROL, NO_STORE.clone());
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.svc.healthy().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        // The reason tells an operator a full volume from an unreachable server.
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unavailable: {why}"),
        )
            .into_response(),
    }
}

/// Refuses what no client may send whatever the route: several `Host` headers (which one
/// names the account, or the origin the cross-site check compares, would depend on who
/// reads it).
fn malformed_refusal(req: &Request) -> Option<Response> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    (hosts.next().is_some() && hosts.next().is_some()).then(|| {
        error::ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request has several Host headers: send exactly one",
        )
        .into_response()
    })
}

/// Refuses state-changing requests a browser marks as cross-site, whatever their cookies:
/// CSRF defence in depth beside the per-session token.
fn cross_site_refusal(req: &Request) -> Option<Response> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let h = req.headers();
    let cross_site = h
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"));
    let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_mismatch = match (h.get(header::ORIGIN).and_then(|v| v.to_str().ok()), host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, rest)| rest) != Some(host),
        _ => false,
    };
    (cross_site || origin_mismatch).then(|| {
        error::ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "cross-site requests may not change anything",
        )
        .into_response()
    })
}
