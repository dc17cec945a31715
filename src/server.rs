//! The running service: a function of its configuration, listener, clock and shutdown signal,
//! so tests start the real thing on port 0 and stop it cleanly.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::events::EventBus;
use crate::service::{Service, ServiceConfig};
use crate::store::Store;
use crate::web::{self, AppState, WebConfig};

/// Everything `serve` needs besides the listener.
pub struct ServerConfig {
    pub web: WebConfig,
    pub service: ServiceConfig,
    /// How often idle sessions are swept to `expired`.
    pub sweep_interval: Duration,
    /// How long a client may take to send a request's head before its connection is closed
    /// (slow-header attacks; also how long an idle keep-alive connection is kept).
    pub header_read_timeout: Duration,
    /// How long a request's body may keep the server waiting once it stops arriving: then
    /// the request gets 408 and its connection is closed (slow-body attacks). Responses, such
    /// as event streams, are not limited by it.
    pub body_read_timeout: Duration,
    /// Connections served at once. Past it the server accepts no more until one closes; new
    /// ones wait in the listen backlog. Each takes a file descriptor, so `ulimit -n` must be
    /// above it (the benchmark holds 10,000 event streams).
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold at once; past it its new
    /// connections get 503 and are closed, so one client cannot take the whole ceiling.
    /// `None`: a tenth of `max_connections` (at least 1). Trusted proxies are exempt: behind
    /// one, every connection comes from it.
    pub max_connections_per_client: Option<usize>,
    /// Webhook delivery (`--webhook-allow-private`).
    pub webhooks: crate::service::delivery::DeliveryConfig,
    /// Whether a single sign-on provider may be on a loopback or private address, or plain
    /// http (`--sso-allow-private`).
    pub sso_allow_private: bool,
    /// How long ended sessions, audit entries and deliveries are kept (`--retention-days`).
    pub retention: crate::service::retention::RetentionConfig,
    /// Where `GET /metrics` is served (`--metrics-bind`); `None`: metrics are off.
    pub metrics_listener: Option<std::net::TcpListener>,
    /// E-mail: the transport, the sender and where links point (`--smtp-url`, `--mail-dir`,
    /// `--mail-from`, `--public-url`).
    pub mail: crate::service::mail::MailConfig,
    /// How often each instance reads the `Remote-Assertion` keys and rotates them when due:
    /// well under `domain::assertion::PUBLISH_AHEAD`, so every instance knows a new key
    /// before it signs.
    pub assertion_key_tick: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            web: WebConfig::default(),
            service: ServiceConfig::default(),
            sweep_interval: Duration::from_secs(15),
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 25_000,
            max_connections_per_client: None,
            webhooks: Default::default(),
            sso_allow_private: false,
            retention: Default::default(),
            metrics_listener: None,
            mail: Default::default(),
            assertion_key_tick: Duration::from_secs(60),
        }
    }
}

/// Builds the service around a store.
pub fn build(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    events: EventBus,
    config: &ServerConfig,
) -> Arc<Service> {
    let svc = Arc::new(Service::new(store, clock, events, config.service.clone()));
    svc.set_webhook_allow_private(config.webhooks.allow_private);
    svc.set_sso_allow_private(config.sso_allow_private);
    svc.start_background();
    svc
}

/// Serves until `shutdown` resolves, then finishes in-flight requests and returns.
pub async fn serve(
    svc: Arc<Service>,
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let stream_stop = stop_rx.clone();
    let sweeper = {
        let svc = svc.clone();
        let every = config.sweep_interval;
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let started = std::time::Instant::now();
                        match svc.expire_sessions().await {
                            // Its time is the figure the benchmarks read (one pass over every
                            // account); slow passes are worth an operator's attention.
                            Ok(ended) => {
                                let ms = started.elapsed().as_secs_f64() * 1000.0;
                                if ms > 1000.0 {
                                    tracing::warn!(ended, ms, "session sweep pass took over 1 s");
                                } else {
                                    tracing::debug!(ended, ms, "session sweep pass");
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "session sweep failed"),
                        }
                        svc.housekeeping().await;
                    }
                    _ = stop.changed() => break,
                }
            }
        })
    };
    let heart = {
        let svc = svc.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(
                crate::service::presence::HEARTBEAT_MS as u64,
            ));
            loop {
                tokio::select! {
                    _ = tick.tick() => svc.presence_tick().await,
                    _ = stop.changed() => break,
                }
            }
        })
    };
    // The Remote-Assertion keys: made on the first tick, rotated on schedule, and another
    // instance's rotation picked up, with no restart.
    let assertion_keys = {
        let svc = svc.clone();
        let every = config.assertion_key_tick;
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = svc.rotate_assertion_keys().await {
                            tracing::warn!(error = %e, "Remote-Assertion key rotation failed");
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        })
    };
    // One delivery worker per instance, beside the handlers: a slow receiver never holds up
    // a request.
    let deliveries = tokio::spawn(
        svc.clone()
            .run_deliveries(config.webhooks.clone(), stop_rx.clone()),
    );
    // Links in e-mails point at --public-url, or else at this listener (and the prefix):
    // never at whatever Host a request named.
    let public_url = match &config.mail.public_url {
        Some(u) => Some(u.clone()),
        None => listener
            .local_addr()
            .ok()
            .and_then(|a| url::Url::parse(&format!("http://{a}{}", config.web.path_prefix)).ok()),
    };
    if let Some(u) = public_url {
        svc.set_mail_links(u, config.web.base_domain.is_some());
    }
    // One mail worker per instance, beside the handlers: no request waits for a mail server.
    let mail = tokio::spawn(svc.clone().run_mail(config.mail.clone(), stop_rx.clone()));
    let retention = {
        let svc = svc.clone();
        let config = config.retention.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => match svc.retention_sweep(&config).await {
                        Ok(p) if p != Default::default() => tracing::info!(
                            sessions = p.sessions,
                            audit_entries = p.audit_entries,
                            deliveries = p.deliveries,
                            mail = p.mail,
                            "retention: deleted old rows"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
                    },
                    _ = stop.changed() => break,
                }
            }
        })
    };
    let mut web = config.web;
    let metrics = match config.metrics_listener {
        Some(listener) => {
            listener.set_nonblocking(true)?;
            let listener = TcpListener::from_std(listener)?;
            web.metrics = true;
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(web::metrics::serve(
                svc.clone(),
                listener,
                async move {
                    let _ = stop.changed().await;
                },
            )))
        }
        None => None,
    };
    let exempt = web.trusted_proxies.clone();
    let state = AppState::new(svc, web, stream_stop);
    let app = web::app(state);
    let limits = Limits {
        header_read_timeout: config.header_read_timeout,
        body_read_timeout: config.body_read_timeout,
        max_connections: config.max_connections,
        per_client: config
            .max_connections_per_client
            .unwrap_or(config.max_connections / 10)
            .max(1),
        exempt,
    };
    let result = accept_loop(listener, app, limits, async move {
        shutdown.await;
        // Event streams never end by themselves: tell them to, or shutdown would wait.
        let _ = stop_tx.send(true);
    })
    .await;
    let _ = stop_rx.changed().await;
    sweeper.abort();
    heart.abort();
    assertion_keys.abort();
    deliveries.abort();
    mail.abort();
    retention.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    result
}

/// What the serving loop enforces on clients (see [`ServerConfig`]).
#[derive(Clone)]
struct Limits {
    header_read_timeout: Duration,
    body_read_timeout: Duration,
    max_connections: usize,
    per_client: usize,
    /// Addresses the per-client bound does not apply to (`--trusted-proxy`).
    exempt: Vec<ipnet::IpNet>,
}

/// Open connections per client address, for the per-client bound.
#[derive(Clone, Default)]
struct PerClient(Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>);

/// One connection counted against its client; uncounted when dropped (the connection ended).
struct ClientSlot {
    table: PerClient,
    key: std::net::IpAddr,
}

impl PerClient {
    /// The address a client is counted under: IPv4 as it is, IPv6 by its /64 (one host
    /// commonly holds a whole /64), IPv4-mapped IPv6 as IPv4.
    fn key(ip: std::net::IpAddr) -> std::net::IpAddr {
        match ip {
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.into(),
                None => {
                    let s = v6.segments();
                    std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0).into()
                }
            },
            v4 => v4,
        }
    }

    /// Counts a new connection of `ip`, unless it already holds `max`.
    fn take(&self, ip: std::net::IpAddr, max: usize) -> Option<ClientSlot> {
        let key = Self::key(ip);
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = t.entry(key).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: self.clone(),
            key,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut t = self.table.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = t.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                t.remove(&self.key);
            }
        }
    }
}

/// What a client past its connection bound gets before the connection closes.
const TOO_MANY_FROM_CLIENT: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    Content-Type: text/plain; charset=utf-8\r\n\
    X-Content-Type-Options: nosniff\r\n\
    Retry-After: 5\r\n\
    Connection: close\r\n\
    Content-Length: 44\r\n\r\n\
    too many open connections from this address\n";

/// Serves HTTP/1.1 on every accepted connection until `shutdown` resolves, then waits for the
/// connections to finish their requests.
///
/// This is what `axum::serve` does, minus HTTP/2 detection and upgrades (browsers speak
/// HTTP/2 only over TLS, which a proxy in front terminates) and with hyper's HTTP/1 settings
/// in reach: an open event stream is an idle connection, and 10,000 of them must fit in
/// 200 MB, so each one's footprint counts (BENCHMARKS.md).
async fn accept_loop(
    listener: TcpListener,
    app: web::HttpApp,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioIo, TokioTimer};

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        // A client that never finishes its request head does not keep a connection forever.
        .header_read_timeout(limits.header_read_timeout);
    // One permit per open connection, held by its task: at the ceiling the loop stops
    // accepting, so the kernel's backlog queues the next ones instead of this process running
    // out of memory or file descriptors.
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut at_ceiling = false;
    let per_client = PerClient::default();
    // Warned once per process: a client at its bound may try again many times a second.
    let mut warned_client = false;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        if slots.available_permits() == 0 && !at_ceiling {
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection ceiling reached: new connections wait until one closes"
            );
        }
        at_ceiling = slots.available_permits() == 0;
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let client_slot = if limits.exempt.iter().any(|n| n.contains(&remote.ip())) {
            None
        } else {
            match per_client.take(remote.ip(), limits.per_client) {
                Some(slot) => Some(slot),
                None => {
                    if !warned_client {
                        tracing::warn!(
                            client = %remote.ip(),
                            max_connections_per_client = limits.per_client,
                            "a client reached its connection bound: its new connections get 503"
                        );
                    }
                    warned_client = true;
                    // Answered and closed beside the loop; the global slot goes back now.
                    drop(slot);
                    tokio::spawn(async move {
                        use tokio::io::AsyncWriteExt;
                        let mut tcp = tcp;
                        let _ = tokio::time::timeout(Duration::from_secs(5), async {
                            let _ = tcp.write_all(TOO_MANY_FROM_CLIENT).await;
                            let _ = tcp.shutdown().await;
                        })
                        .await;
                    });
                    continue;
                }
            }
        };
        // Events are small writes that must leave at once, not wait for the peer's delayed ACK.
        let _ = tcp.set_nodelay(true);
        give_up_on_silent_peer(&tcp);
        let router = app.clone();
        let body_limit = limits.body_read_timeout;
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (mut req, timed_out) = body::limit(req, body_limit);
                req.extensions_mut().insert(ConnectInfo(remote));
                let answer = tower::ServiceExt::oneshot(router.clone(), req);
                async move {
                    use http_body_util::Either;
                    let res = answer.await;
                    match (timed_out, res) {
                        (Some(flag), Ok(app_answer))
                            if flag.load(std::sync::atomic::Ordering::Relaxed) =>
                        {
                            let mut res = body::timed_out_response(body_limit);
                            // The app's own answer went through its security headers; this
                            // one replaces it, so it takes them over.
                            crate::web::copy_security_headers(
                                app_answer.headers(),
                                res.headers_mut(),
                            );
                            Ok(res.map(Either::Right))
                        }
                        (_, res) => res.map(|r| r.map(Either::Left)),
                    }
                }
            });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(tcp), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(client_slot);
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// How long data this server sent may go unacknowledged before the kernel drops the
/// connection (`TCP_USER_TIMEOUT`).
///
/// An event stream only writes, so a peer that vanished without a reset (a closed laptop lid,
/// a dead Wi-Fi) would otherwise hold it for the kernel's ~15 minutes of retransmissions and
/// keep its agent Online. With keep-alive writes every [`crate::web::events::KEEP_ALIVE`] there
/// is always unacknowledged data soon after the link dies; this bound then ends the connection,
/// the next write or poll of it fails, the stream ends and presence's grace period starts. The
/// worst case from the link dying to the stream ending is one keep-alive interval (the first
/// write nobody acknowledges), this timeout, and one more interval (the write that sees the
/// error): 10 + 15 + 10 s.
///
/// It is set on every accepted connection, not only event streams, because it only matters
/// while sent data is outstanding: an idle connection, or one whose client is slow but
/// acknowledging (a large export over a poor link), is never cut by it. A peer that has
/// acknowledged nothing for 15 s is gone, whatever the request was.
pub const UNACKNOWLEDGED_LIMIT: Duration = Duration::from_secs(15);

/// Sets [`UNACKNOWLEDGED_LIMIT`] on an accepted socket (Linux; elsewhere the stream ends only
/// when the kernel's own retransmissions give up).
fn give_up_on_silent_peer(tcp: &tokio::net::TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(UNACKNOWLEDGED_LIMIT)) {
        tracing::debug!(error = %e, "could not set TCP_USER_TIMEOUT");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = tcp;
}

/// The request body's read timeout.
mod body {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};

    use crate::web::error::ApiError;

    /// Wraps a request's body in [`TimedBody`] (unless it has none, as with every `GET`);
    /// the flag, when there is one, says afterwards whether the body ran out of time.
    pub fn limit(
        req: hyper::Request<Incoming>,
        within: Duration,
    ) -> (axum::extract::Request, Option<Arc<AtomicBool>>) {
        if req.body().is_end_stream() {
            return (req.map(axum::body::Body::new), None);
        }
        let flag = Arc::new(AtomicBool::new(false));
        let timed_out = flag.clone();
        let req = req.map(|inner| {
            axum::body::Body::new(TimedBody {
                inner,
                within,
                deadline: None,
                timed_out,
            })
        });
        (req, Some(flag))
    }

    /// What a request whose body stopped arriving gets, whatever its handler made of the
    /// failed read; the connection closes after it (the rest of the body is never read).
    pub fn timed_out_response(within: Duration) -> Response {
        tracing::info!(
            seconds = within.as_secs_f64(),
            "request body stopped arriving; answered 408 and closed"
        );
        let mut res = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s",
                within.as_secs_f64()
            ),
        )
        .into_response();
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        res
    }

    /// A request body that must arrive within `within` of the first time the handler had to
    /// wait for it. The clock starts only then, so a body already received costs no timer; it
    /// is a deadline, not an idle timeout, so a body trickling in a byte at a time is cut off
    /// too.
    struct TimedBody {
        inner: Incoming,
        within: Duration,
        deadline: Option<Pin<Box<tokio::time::Sleep>>>,
        timed_out: Arc<AtomicBool>,
    }

    impl Body for TimedBody {
        type Data = Bytes;
        type Error = axum::BoxError;

        fn poll_frame(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            let this = self.get_mut();
            if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
                return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
            }
            let within = this.within;
            let deadline = this
                .deadline
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(within)));
            if deadline.as_mut().poll(cx).is_ready() {
                this.timed_out.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "request body timed out",
                )
                .into())));
            }
            Poll::Pending
        }

        fn is_end_stream(&self) -> bool {
            self.inner.is_end_stream()
        }

        fn size_hint(&self) -> SizeHint {
            self.inner.size_hint()
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
