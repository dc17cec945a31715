//! Carries events between instances sharing one PostgreSQL database, via LISTEN/NOTIFY, so a
//! session ended on instance B signs its tabs out on instance A.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;

use crate::events::{Event, EventBus};

const CHANNEL: &str = "deskward_events";

#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: String,
    event: Event,
}

/// The event bus for a database URL: local only for SQLite, relayed for PostgreSQL.
pub async fn events_for(url: &str) -> EventBus {
    events_between(url, None).await
}

/// As [`events_for`], with the LISTEN connection going to `listen_url` when given: `NOTIFY`
/// is a statement like any other and works through a pooler in transaction mode, but `LISTEN`
/// belongs to a session, so behind PgBouncer it needs the server itself (or a session-mode
/// pool).
pub async fn events_between(url: &str, listen_url: Option<&str>) -> EventBus {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return EventBus::new();
    }
    let listen_url = listen_url.unwrap_or(url).to_string();
    let origin = crate::service::random_hex(8);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let bus = EventBus::new().with_outbound(tx);
    // Publisher: one connection sends every local event to the other instances.
    {
        let url = url.to_string();
        let origin = origin.clone();
        tokio::spawn(async move {
            let options = match crate::store::postgres::connect_options(&url) {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "event relay cannot start");
                    return;
                }
            };
            // One connection: events are sent one after another, in order.
            let pool = loop {
                match sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options.clone())
                    .await
                {
                    Ok(p) => break p,
                    Err(e) => {
                        tracing::warn!(error = %e, "event relay cannot connect; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            };
            while let Some(event) = rx.recv().await {
                let payload = match serde_json::to_string(&Envelope {
                    origin: origin.clone(),
                    event,
                }) {
                    Ok(p) => p,
                    Err(_) => continue,
                };
                if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(&payload)
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "could not relay an event");
                }
            }
        });
    }
    // Listener: delivers other instances' events here. After any reconnection every stream
    // re-checks its own session, since notifications sent meanwhile are lost.
    {
        let bus = bus.clone();
        tokio::spawn(async move {
            loop {
                let listener = match crate::store::postgres::connect_options(&listen_url) {
                    Ok(o) => listener_on(o).await,
                    Err(e) => Err(sqlx::Error::Configuration(e.to_string().into())),
                };
                let mut listener = match listener {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "event listener cannot connect; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if let Err(e) = listener.listen(CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                bus.deliver_remote(Event::Resync);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => {
                            if let Ok(env) = serde_json::from_str::<Envelope>(n.payload())
                                && env.origin != origin
                            {
                                bus.deliver_remote(env.event);
                            }
                        }
                        Ok(None) => {
                            tracing::warn!("event listener lost its connection; reconnecting");
                            bus.deliver_remote(Event::Resync);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "event listener failed; reconnecting");
                            break;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
    bus
}

/// A listener on its own one-connection pool, as `PgListener::connect` makes one, but from
/// options (see `store::postgres::connect_options`).
async fn listener_on(options: sqlx::postgres::PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_with(options)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    Ok(listener)
}
