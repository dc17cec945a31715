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
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return EventBus::new();
    }
    let origin = crate::service::random_hex(8);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let bus = EventBus::new().with_outbound(tx);
    // Publisher: one connection sends every local event to the other instances.
    {
        let url = url.to_string();
        let origin = origin.clone();
        tokio::spawn(async move {
            let pool = loop {
                match sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&url)
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
        let url = url.to_string();
        let bus = bus.clone();
        tokio::spawn(async move {
            loop {
                let mut listener = match PgListener::connect(&url).await {
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
