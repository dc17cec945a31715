//! The running service: a function of its configuration, listener, clock and shutdown signal,
//! so tests start the real thing on port 0 and stop it cleanly.

use std::future::Future;
use std::net::SocketAddr;
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            web: WebConfig::default(),
            service: ServiceConfig::default(),
            sweep_interval: Duration::from_secs(15),
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
    let app = web::router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Events are small writes that must leave at once, not wait for the peer's delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
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
