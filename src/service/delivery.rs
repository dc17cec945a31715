//! The webhook delivery worker, one per instance: claims due deliveries from the outbox, sends
//! them signed (Standard Webhooks) with bounded concurrency, and records each result. It runs
//! beside the request handlers and never inside one, so a slow receiver delays only its own
//! deliveries.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::time::Millis;
use crate::domain::webhook::{self, is_private};
use crate::store::{AttemptResult, DeliveryJob};

use super::Service;

/// How the worker sends.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Lets targets on loopback and private ranges through (tests, a receiver on the same
    /// host); refused otherwise, at registration and after name resolution at each attempt.
    pub allow_private: bool,
    /// Deliveries in flight at once per instance.
    pub concurrency: usize,
    /// Deliveries of one account in flight at once, across instances: the rest of the slots
    /// stay for other accounts, so one account's slow receivers delay only that account.
    pub per_account: usize,
    /// A receiver that has not answered within this is a failed attempt.
    pub timeout: Duration,
    /// How often the outbox is read when nothing wakes the worker (retries come due, other
    /// instances' changes without a relay).
    pub poll: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            concurrency: 16,
            per_account: 8,
            timeout: Duration::from_secs(10),
            poll: Duration::from_millis(250),
        }
    }
}

/// How long a claim is held: beyond the send timeout, so a live instance finishes first; a
/// crashed instance's claims come free after it.
const LEASE_MS: Millis = 30_000;

/// One attempt's result, on its way to the worker that records it.
type Finished = (String, AttemptResult);

impl Service {
    /// Sends deliveries until `stop` turns true. Wakes on every event of the bus (a change was
    /// just committed, here or, with the relay, on another instance), when a send finishes (a
    /// person's next event may now go) and every `poll`.
    ///
    /// Each round first records every result that came in since the last one, in one
    /// transaction, then claims as many due deliveries as there are free slots, in one
    /// statement: two writes a round however many deliveries finished, instead of two per
    /// delivery. Recording before claiming is what lets a person's next event go in the same
    /// round as the result of their previous one.
    pub async fn run_deliveries(
        self: Arc<Self>,
        config: DeliveryConfig,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let client = match http_client(&config, None) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook delivery disabled: no HTTP client");
                return;
            }
        };
        let slots = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
        let (results_tx, mut results) = tokio::sync::mpsc::unbounded_channel::<Finished>();
        let mut finished: Vec<Finished> = Vec::new();
        let mut events = self.events.subscribe();
        let mut tick = tokio::time::interval(config.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            while let Ok(r) = results.try_recv() {
                finished.push(r);
            }
            if !finished.is_empty() {
                // Not recorded (the database is unreachable): the leases run out and the
                // deliveries are sent again, at least once as promised.
                if let Err(e) = self.store.finish_deliveries(&finished).await {
                    tracing::warn!(error = %e, count = finished.len(), "could not record webhook attempts");
                }
                finished.clear();
            }
            let free = slots.available_permits();
            let mut claimed = 0;
            if free > 0 {
                let now = self.clock.now();
                match self
                    .store
                    .claim_deliveries_fairly(
                        now,
                        now + LEASE_MS,
                        free as i64,
                        config.per_account.max(1) as i64,
                    )
                    .await
                {
                    Ok(jobs) => {
                        claimed = jobs.len();
                        for job in jobs {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                return;
                            };
                            let svc = self.clone();
                            let client = client.clone();
                            let config = config.clone();
                            let results_tx = results_tx.clone();
                            tokio::spawn(async move {
                                let result = svc.deliver(&job, &client, &config).await;
                                drop(permit);
                                // The worker is gone (shutdown): record it here, so a graceful
                                // stop does not send it again.
                                if let Err(tokio::sync::mpsc::error::SendError(r)) =
                                    results_tx.send(result)
                                    && let Err(e) = svc.store.finish_deliveries(&[r]).await
                                {
                                    tracing::warn!(error = %e, "could not record a webhook attempt");
                                }
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not read the webhook outbox"),
                }
            }
            if claimed > 0 && claimed == free {
                // Probably more waiting: go on once a slot frees.
                tokio::select! {
                    Some(r) = results.recv() => {
                        finished.push(r);
                        continue;
                    }
                    _ = stop.changed() => return,
                }
            }
            tokio::select! {
                _ = tick.tick() => {}
                Some(r) = results.recv() => finished.push(r),
                ev = events.recv() => {
                    if let Err(tokio::sync::broadcast::error::RecvError::Closed) = ev {
                        return;
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }

    /// One attempt of one delivery, and what to record of it.
    async fn deliver(
        &self,
        job: &DeliveryJob,
        client: &reqwest::Client,
        config: &DeliveryConfig,
    ) -> Finished {
        let d = &job.delivery;
        let outcome = attempt(job, client, config).await;
        let now = self.clock.now();
        let attempts = d.attempts + 1;
        let retry = |code: Option<i64>, error: String| match webhook::next_attempt(attempts, now) {
            Some(at) => AttemptResult {
                status: "pending".into(),
                attempts,
                next_attempt_at: at,
                last_status_code: code,
                last_error: Some(error),
                delivered_at: None,
                disable_endpoint: false,
            },
            None => AttemptResult {
                status: "failed".into(),
                attempts,
                next_attempt_at: now,
                last_status_code: code,
                last_error: Some(error),
                delivered_at: None,
                disable_endpoint: false,
            },
        };
        let result = match outcome {
            Ok(code) if (200..300).contains(&code) => AttemptResult {
                status: "delivered".into(),
                attempts,
                next_attempt_at: now,
                last_status_code: Some(i64::from(code)),
                last_error: None,
                delivered_at: Some(now),
                disable_endpoint: false,
            },
            Ok(410) => AttemptResult {
                status: "failed".into(),
                attempts,
                next_attempt_at: now,
                last_status_code: Some(410),
                last_error: Some("410 Gone: the endpoint is turned off".into()),
                delivered_at: None,
                disable_endpoint: true,
            },
            Ok(code) => retry(Some(i64::from(code)), format!("HTTP {code}")),
            Err(e) => retry(None, e),
        };
        tracing::debug!(
            delivery = %d.id,
            event = %d.event_type,
            status = %result.status,
            code = ?result.last_status_code,
            "webhook attempt"
        );
        self.metrics.webhook_delivery(match result.status.as_str() {
            "delivered" => "delivered",
            "failed" => "failed",
            _ => "retry",
        });
        (d.id.clone(), result)
    }
}

/// A client that never follows redirects and gives up after the timeout; with `pin`, the host
/// resolves only to the addresses already checked (no second lookup a DNS answer could
/// change in between).
fn http_client(
    config: &DeliveryConfig,
    pin: Option<(&str, &[SocketAddr])>,
) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .no_proxy()
        .user_agent(concat!("Deskward-Webhooks/", env!("CARGO_PKG_VERSION")));
    if let Some((host, addrs)) = pin {
        b = b.resolve_to_addrs(host, addrs);
    }
    b.build().map_err(|e| e.to_string())
}

/// Sends one delivery; the receiver's status code, or why there was none.
async fn attempt(
    job: &DeliveryJob,
    shared: &reqwest::Client,
    config: &DeliveryConfig,
) -> Result<u16, String> {
    let url = url::Url::parse(&job.url).map_err(|e| format!("bad URL: {e}"))?;
    let pinned;
    let client = if config.allow_private {
        shared
    } else {
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = resolve_public(&host, port).await?;
        pinned = http_client(config, Some((&host, &addrs)))?;
        &pinned
    };
    // The signature's time is the wall clock, whatever clock schedules the attempts:
    // receivers compare it with theirs to refuse replays.
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let d = &job.delivery;
    let signature = webhook::signature(&job.secret, &d.id, ts, &d.body);
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                format!("no answer within {} s", config.timeout.as_secs())
            } else if e.is_connect() {
                "could not connect".to_string()
            } else {
                "request failed".to_string()
            }
        })?;
    Ok(res.status().as_u16())
}

/// The addresses of `host`, refused if any is loopback or private.
pub(crate) async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let host_only = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host_only, port))
        .await
        .map_err(|_| format!("{host} does not resolve"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} does not resolve"));
    }
    if let Some(a) = addrs.iter().find(|a| is_private(a.ip())) {
        return Err(format!(
            "{host} resolves to {}, a loopback or private address",
            a.ip()
        ));
    }
    Ok(addrs)
}
