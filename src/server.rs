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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            web: WebConfig::default(),
            service: ServiceConfig::default(),
            sweep_interval: Duration::from_secs(15),
            header_read_timeout: Duration::from_secs(30),
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
                        if let Err(e) = svc.expire_sessions().await {
                            tracing::warn!(error = %e, "session sweep failed");
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
    let state = AppState::new(svc, config.web, stream_stop);
    let app = web::app(state);
    let result = accept_loop(listener, app, config.header_read_timeout, async move {
        shutdown.await;
        // Event streams never end by themselves: tell them to, or shutdown would wait.
        let _ = stop_tx.send(true);
    })
    .await;
    let _ = stop_rx.changed().await;
    sweeper.abort();
    heart.abort();
    result
}

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
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioIo, TokioTimer};

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        // A client that never finishes its request head does not keep a connection forever.
        .header_read_timeout(header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
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
        // Events are small writes that must leave at once, not wait for the peer's delayed ACK.
        let _ = tcp.set_nodelay(true);
        let router = app.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(remote));
                tower::ServiceExt::oneshot(router.clone(), req)
            });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(tcp), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
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
