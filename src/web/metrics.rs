//! The Prometheus side of HTTP: the request timing around the routes, and the separate
//! listener that serves `GET /metrics` (`serve --metrics-bind`), never the public one.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

use crate::service::Service;

/// The route label of requests no route matched: the raw path would let any client create
/// series without end.
pub const UNMATCHED: &str = "unmatched";

/// Times every request the routes answer, by method, route pattern and status class. Added
/// to the router only when metrics are served, so without `--metrics-bind` it costs nothing.
#[derive(Clone)]
pub struct TimingLayer {
    svc: Arc<Service>,
    prefix: Arc<str>,
}

impl TimingLayer {
    /// `prefix`: the `--path-prefix` the routes are mounted under (`""` for none).
    pub fn new(svc: Arc<Service>, prefix: &str) -> Self {
        Self {
            svc,
            prefix: Arc::from(prefix),
        }
    }
}

impl<S> tower::Layer<S> for TimingLayer {
    type Service = Timed<S>;
    fn layer(&self, inner: S) -> Timed<S> {
        Timed {
            inner,
            svc: self.svc.clone(),
            prefix: self.prefix.clone(),
        }
    }
}

/// See [`TimingLayer`].
#[derive(Clone)]
pub struct Timed<S> {
    inner: S,
    svc: Arc<Service>,
    prefix: Arc<str>,
}

impl<S> tower::Service<Request> for Timed<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TimedAnswer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let method = req.method().clone();
        // The router sets the pattern before calling the route; the fallback has none. A
        // nested router's own fallback is a catch-all pattern of axum's making: unmatched too.
        // Under `--path-prefix` axum writes the prefix into the pattern; the label goes
        // without it, so the documented alerts (`route=~"/api/.*"`) match wherever Deskward
        // is mounted.
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .filter(|p| !p.as_str().contains("__private__axum"))
            .cloned();
        TimedAnswer {
            inner: self.inner.call(req),
            timing: Some(Pending {
                svc: self.svc.clone(),
                prefix: self.prefix.clone(),
                method,
                route,
                started,
            }),
        }
    }
}

/// What [`TimedAnswer`] records once the answer is there.
struct Pending {
    svc: Arc<Service>,
    prefix: Arc<str>,
    method: Method,
    /// A cheap clone of the router's pattern (shared), stripped of the prefix only when the
    /// answer is counted.
    route: Option<MatchedPath>,
    started: Instant,
}

pin_project_lite::pin_project! {
    /// The inner service's answer, timed when it arrives (no allocation of its own).
    pub struct TimedAnswer<F> {
        #[pin]
        inner: F,
        timing: Option<Pending>,
    }
}

impl<F> Future for TimedAnswer<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx))?;
        if let Some(t) = this.timing.take() {
            let route = t
                .route
                .as_ref()
                .map(|m| m.as_str())
                .map(|p| p.strip_prefix(&*t.prefix).unwrap_or(p));
            t.svc.metrics().http_request(
                t.method.as_str(),
                route.unwrap_or(UNMATCHED),
                res.status().as_u16(),
                t.started.elapsed(),
            );
        }
        Poll::Ready(Ok(res))
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve(
    svc: Arc<Service>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found: try /metrics\n") })
        .with_state(svc);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn scrape(State(svc): State<Arc<Service>>) -> Response {
    match svc.metrics_text().await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics scrape could not read the database");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable\n".to_string(),
            )
                .into_response()
        }
    }
}
