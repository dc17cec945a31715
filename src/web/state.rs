//! What every handler shares: the web settings from the command line and the state behind
//! one `Arc` (the service, the account lookups' caches, the shutdown signal, open streams).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock, RwLock};

use ipnet::IpNet;

use crate::service::Service;

use super::events;

/// Web settings from the command line.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    pub base_domain: Option<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// Served over HTTPS by this process or a proxy in front of it: cookies get `Secure`
    /// and the `__Host-` prefix, responses get HSTS. (A trusted proxy's
    /// `X-Forwarded-Proto: https` does the same for its requests; see `request::is_https`.)
    pub https: bool,
    /// Where Deskward is mounted when it shares a host with the app it guards: `""` (the
    /// root) or a normalized path such as `/deskward` (see [`super::prefix::normalize`]).
    pub path_prefix: String,
    /// Where agents land after signing in without `rd`: an absolute URL, or a path on the
    /// request's host (not under the prefix). `None`: Deskward's own agent page.
    pub agent_home: Option<String>,
    /// Origins besides the request's own that sign-in may return to (`rd`), from
    /// `--return-origin` (see [`super::return_to::parse_origin`]).
    pub return_origins: Vec<url::Origin>,
    /// `--cookie-domain`: the session and device cookies carry `Domain=` this (lower case, no
    /// leading dot), so every host under it shares one sign-in, and `rd` may name any of them
    /// (see [`super::return_to::parse_cookie_domain`]).
    pub cookie_domain: Option<String>,
    /// Metrics are served (`--metrics-bind`): time every request for them.
    pub metrics: bool,
    /// `--access-rules`: what the verify endpoints require of each request to the guarded
    /// app when their query has no `require=`; `None`: anyone signed in.
    pub access_rules: Option<Arc<crate::access_rules::RulesFile>>,
}

impl WebConfig {
    /// Whether `ip` is one of the `--trusted-proxy` ranges.
    pub fn trusts(&self, ip: &IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(ip))
    }
}

/// What every handler shares, behind one `Arc` so that handing it to a handler costs one
/// reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub svc: Arc<Service>,
    pub cfg: Arc<WebConfig>,
    pub single_account: Arc<OnceLock<String>>,
    pub slugs: Arc<RwLock<HashMap<String, String>>>,
    /// Turns true when the server shuts down; open event streams end then.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Open event streams by session, for the per-session cap.
    pub streams: events::SessionStreams,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        svc: Arc<Service>,
        cfg: WebConfig,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Self(Arc::new(AppInner {
            svc,
            cfg: Arc::new(cfg),
            single_account: Arc::new(OnceLock::new()),
            slugs: Arc::new(RwLock::new(HashMap::new())),
            shutdown,
            streams: events::SessionStreams::default(),
        }))
    }
}
