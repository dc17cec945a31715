//! `--path-prefix`: Deskward mounted under a path (`/deskward`) so that it shares one host with
//! the app it guards. Routes are nested under the prefix; handlers keep speaking in paths
//! relative to it (`/login`), and the two places that turn such a path into something the
//! browser follows — a redirect (`see_other`) and a page's links (`Layout::prefix`) — add it.
//!
//! Those two read the prefix of the request being served from a task-local set around the
//! nested router, like Django's script prefix: threading it through every handler, page
//! struct and error conversion (`PageError` has no state) would touch each of them for a value
//! that never changes while the process runs.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::response::Response;

tokio::task_local! {
    static PREFIX: Arc<str>;
}

/// The prefix of the request being served: `""` when Deskward is mounted at the root.
pub fn current() -> Arc<str> {
    PREFIX
        .try_with(Arc::clone)
        .unwrap_or_else(|_| Arc::from(""))
}

/// `path` (relative to Deskward's root, starting with `/`) as the browser must ask for it.
pub fn url(path: &str) -> String {
    PREFIX
        .try_with(|p| format!("{p}{path}"))
        .unwrap_or_else(|_| path.to_string())
}

/// The router, serving requests whose prefix has been stripped, with the prefix in reach of
/// [`current`] while each one is handled.
#[derive(Clone)]
pub struct Mounted {
    prefix: Arc<str>,
    router: Router,
}

impl Mounted {
    pub fn new(prefix: &str, router: Router) -> Self {
        Self {
            prefix: Arc::from(prefix),
            router,
        }
    }
}

impl tower::Service<Request> for Mounted {
    type Response = Response;
    type Error = Infallible;
    type Future = tokio::task::futures::TaskLocalFuture<
        Arc<str>,
        axum::routing::future::RouteFuture<Infallible>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        PREFIX.scope(self.prefix.clone(), self.router.call(req))
    }
}

/// Checks and normalizes a `--path-prefix`: `""` or `/` for none, otherwise `/` followed by
/// segments of letters, digits, `-`, `.`, `_` and `~` (no `..`), without a trailing `/`.
pub fn normalize(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed == "/" {
        return Ok(String::new());
    }
    let Some(rest) = trimmed.strip_prefix('/') else {
        return Err(format!(
            "--path-prefix must start with '/' (for example /deskward), got {trimmed:?}"
        ));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    for segment in rest.split('/') {
        let ok = !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        if !ok {
            return Err(format!(
                "--path-prefix: {trimmed:?} is not a plain path (segments of letters, digits, \
                 '-', '.', '_' and '~', e.g. /deskward)"
            ));
        }
    }
    Ok(format!("/{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalized_or_refused() {
        assert_eq!(normalize("").unwrap(), "");
        assert_eq!(normalize("/").unwrap(), "");
        assert_eq!(normalize("/deskward").unwrap(), "/deskward");
        assert_eq!(normalize(" /deskward/ ").unwrap(), "/deskward");
        assert_eq!(
            normalize("/tools/desk-ward_2").unwrap(),
            "/tools/desk-ward_2"
        );
        for bad in [
            "deskward",
            "//deskward",
            "/desk//ward",
            "/../x",
            "/a/./b",
            "/desk ward",
            "/{id}",
            "/a?b",
            "/a#b",
            "/*rest",
            "/dé",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[tokio::test]
    async fn paths_carry_the_prefix_of_the_request_being_served() {
        assert_eq!(url("/login"), "/login");
        assert_eq!(&*current(), "");
        let inside = PREFIX.scope(Arc::from("/deskward"), async { (url("/login"), current()) });
        let (u, p) = inside.await;
        assert_eq!(u, "/deskward/login");
        assert_eq!(&*p, "/deskward");
    }
}
