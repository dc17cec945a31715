//! The request log: every request gets an id, recorded on the span all of its log lines are
//! written in (the service's use cases open theirs inside it) and sent back as `X-Request-Id`,
//! so that a person reporting a failed request hands over what finds its lines.

use std::future::Future;
use std::pin::Pin;
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
        let id = HeaderValue::try_from(crate::ids::random_hex(8)).ok();
        match &id {
            Some(id) => req.headers_mut().insert(X_REQUEST_ID.clone(), id.clone()),
            None => req.headers_mut().remove(&X_REQUEST_ID),
        };
        WithId {
            inner: self.0.call(req),
            id,
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
}
