//! The request log: every request gets an id, recorded on the span all of its log lines are
//! written in (the service's use cases open theirs inside it) and sent back as `X-Request-Id`,
//! so that a person reporting a failed request hands over what finds its lines.

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use axum::http::{HeaderName, HeaderValue, Request, Response};

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The span of one request: its id, method and path. The query is left out (a `rd` return
/// address may be long and is nobody's business in a log), and so are headers (cookies).
pub fn request_span<B>(req: &Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        id,
        method = %req.method(),
        path = req.uri().path(),
    )
}

/// The key request ids are drawn with: random once per process, so that ids of different
/// instances (and restarts) do not line up.
static ID_KEY: LazyLock<u64> = LazyLock::new(|| {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the OS random source is available");
    u64::from_le_bytes(b)
});
static ID_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A request id: 16 hex digits, unique within the process (a counter under a keyed bijection
/// of 64 bits: no two requests of a process share one) and looking random. It identifies log
/// lines, it guards nothing, so it needs no call into the OS per request.
fn next_id() -> [u8; 16] {
    let n = ID_COUNTER.fetch_add(1, Ordering::Relaxed);
    // splitmix64's finalizer: a bijection, so distinct inputs give distinct ids.
    let mut z = n.wrapping_add(*ID_KEY).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = b"0123456789abcdef"[((z >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// Gives every request a fresh id in `X-Request-Id` (replacing any the client sent: a log line
/// must not carry what a client chose) and puts it on the answer.
#[derive(Clone)]
pub struct RequestIds<S>(pub S);

impl<S, B, R> tower::Service<Request<B>> for RequestIds<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = WithId<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let text = next_id();
        let value = || HeaderValue::from_bytes(&text).ok();
        match value() {
            Some(id) => req.headers_mut().insert(X_REQUEST_ID.clone(), id),
            None => req.headers_mut().remove(&X_REQUEST_ID),
        };
        WithId {
            inner: self.0.call(req),
            id: value(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`RequestIds`]'s inner service, with the request's id added.
    pub struct WithId<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for WithId<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            res.headers_mut().insert(X_REQUEST_ID.clone(), id);
        }
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use tower::{Service, ServiceExt};

    use super::*;

    #[tokio::test]
    async fn every_request_gets_its_own_id_on_the_way_in_and_out() {
        let inner = tower::service_fn(|req: Request<()>| async move {
            let seen = req.headers().get(&X_REQUEST_ID).cloned();
            let mut res = Response::new(());
            if let Some(seen) = seen {
                res.headers_mut().insert("seen", seen);
            }
            Ok::<_, std::convert::Infallible>(res)
        });
        let mut svc = RequestIds(inner);
        let mut ids = Vec::new();
        for _ in 0..2 {
            let req = Request::builder()
                .header("x-request-id", "chosen by the client")
                .body(())
                .unwrap();
            let res = svc.ready().await.unwrap().call(req).await.unwrap();
            let id = res.headers()[&X_REQUEST_ID].to_str().unwrap().to_string();
            assert_eq!(res.headers()["seen"], id.as_str());
            assert_eq!(id.len(), 16, "{id}");
            ids.push(id);
        }
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn request_ids_are_hex_and_do_not_repeat() {
        let ids: std::collections::HashSet<[u8; 16]> = (0..100_000).map(|_| next_id()).collect();
        assert_eq!(ids.len(), 100_000);
        assert!(ids.iter().all(|id| id.iter().all(u8::is_ascii_hexdigit)));
    }
}
