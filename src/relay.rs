//! Carries events between instances sharing one PostgreSQL database, via LISTEN/NOTIFY, so a
//! session ended on instance B signs its tabs out on instance A.

use std::time::Duration;

use serde::Deserialize;
use sqlx::postgres::PgListener;

use crate::events::{Event, EventBus};

const CHANNEL: &str = "deskward_events";

/// One notification: a single event, or several sent together (`events`). An instance that
/// only knows `event` still reads the single ones.
#[derive(Deserialize)]
struct Envelope {
    origin: String,
    #[serde(default)]
    event: Option<Event>,
    #[serde(default)]
    events: Vec<Event>,
}

/// PostgreSQL refuses a notification payload of 8,000 bytes or more; events waiting together
/// are packed into payloads up to this size.
const PAYLOAD_BUDGET: usize = 7_000;

/// The payloads for `events`, in order: as many events per notification as fit the budget
/// (a bulk ending of 1,000 people publishes thousands of events at once; one `NOTIFY` each is
/// thousands of statements for the database and the other instances). Each event is
/// serialized once; a lone one keeps the one-event shape.
fn payloads(origin: &str, events: &[Event]) -> Vec<String> {
    let origin = serde_json::to_string(origin).unwrap_or_default();
    let envelope = |batch: &[String]| match batch {
        [one] => format!(r#"{{"origin":{origin},"event":{one}}}"#),
        many => format!(r#"{{"origin":{origin},"events":[{}]}}"#, many.join(",")),
    };
    let mut out = Vec::new();
    let mut batch: Vec<String> = Vec::new();
    let mut size = 0;
    for json in events.iter().filter_map(|e| serde_json::to_string(e).ok()) {
        if !batch.is_empty() && size + json.len() + 1 > PAYLOAD_BUDGET {
            out.push(envelope(&batch));
            batch.clear();
            size = 0;
        }
        size += json.len() + 1;
        batch.push(json);
    }
    if !batch.is_empty() {
        out.push(envelope(&batch));
    }
    out
}

/// The events of a notification that came from another instance (none from this one's own
/// `origin`, or from a payload it cannot read).
fn remote_events(payload: &str, origin: &str) -> Vec<Event> {
    match serde_json::from_str::<Envelope>(payload) {
        Ok(env) if env.origin != origin => env.event.into_iter().chain(env.events).collect(),
        _ => Vec::new(),
    }
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
            while let Some(first) = rx.recv().await {
                // Whatever else is already waiting goes along, in order.
                let mut waiting = vec![first];
                while let Ok(next) = rx.try_recv() {
                    waiting.push(next);
                }
                for payload in payloads(&origin, &waiting) {
                    if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(CHANNEL)
                        .bind(&payload)
                        .execute(&pool)
                        .await
                    {
                        tracing::warn!(error = %e, "could not relay an event");
                    }
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
                            for event in remote_events(n.payload(), &origin) {
                                bus.deliver_remote(event);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::member::MemberKind;
    use crate::domain::session::EndReason;

    fn ended(i: usize) -> Event {
        Event::SessionEnded {
            account_id: "ac_1".into(),
            member_id: format!("ag_{i}"),
            member_kind: MemberKind::Agent,
            session_id: format!("se_{i:05}"),
            reason: EndReason::EndedByAdmin,
        }
    }

    #[test]
    fn a_burst_fits_few_notifications_each_under_the_limit_in_order() {
        let events: Vec<Event> = (0..2_300).map(ended).collect();
        let out = payloads("o1", &events);
        assert!(out.len() < 2_300 / 20, "{} notifications", out.len());
        assert!(out.iter().all(|p| p.len() < 8_000));
        let received: Vec<Event> = out.iter().flat_map(|p| remote_events(p, "o2")).collect();
        assert_eq!(received, events);
    }

    #[test]
    fn a_single_event_keeps_the_one_event_shape() {
        let out = payloads("o1", &[ended(1)]);
        assert_eq!(out.len(), 1);
        let v: serde_json::Value = serde_json::from_str(&out[0]).unwrap();
        assert!(v.get("event").is_some() && v.get("events").is_none(), "{v}");
        assert_eq!(v["origin"], "o1");
        assert_eq!(remote_events(&out[0], "o2"), vec![ended(1)]);
    }

    #[test]
    fn own_and_unreadable_notifications_are_ignored() {
        let out = payloads("o1", &[ended(1), ended(2)]);
        assert_eq!(remote_events(&out[0], "o1"), Vec::<Event>::new());
        assert_eq!(remote_events("not json", "o2"), Vec::<Event>::new());
        assert_eq!(
            remote_events(r#"{"origin":"o3"}"#, "o2"),
            Vec::<Event>::new()
        );
    }
}
