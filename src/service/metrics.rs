//! Prometheus metrics: what the service counts as things happen, and the text a scrape reads.
//!
//! Counting sits on request paths, so it is an atomic add on a handle found once (sign-in
//! results and end reasons are a handful of label values, each counter made on first use and
//! then found by a read-locked lookup); the HTTP histogram is lock-free too ([`Timing`]).
//! Gauges that the database already knows (live sessions, Online agents) are read at scrape
//! time with one grouped count each, so nothing has to keep them in step.
//!
//! Webhooks: the delivery worker counts each attempt's result
//! (`deskward_webhook_deliveries_total{result}`: delivered, retry, failed), and the outbox's
//! backlog (`deskward_webhook_outbox_backlog`) is read at scrape time like the other gauges.
//! E-mail the same way: `deskward_mail_sent_total`, `deskward_mail_failed_total` (messages
//! given up), and `deskward_mail_backlog` read at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use crate::domain::session::EndReason;
use crate::store::LiveCounts;

use super::{Service, ServiceError, ServiceResult};

/// The upper bounds (seconds) of the request duration buckets: from a cached `/me` (well
/// under a millisecond) to a sign-in's password hash (tens to hundreds of milliseconds).
const DURATION_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabel {
    role: &'static str,
}

/// A request's route is its pattern (`/api/v1/agents/{id}`), never the raw path, and its
/// method one of the standard ones or `other`, so the number of series stays that of the
/// routes whatever clients send.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: &'static str,
}

/// The service's metrics; one per process, shared by every request.
pub struct Metrics {
    registry: Registry,
    signins: Family<ResultLabel, Counter>,
    endings: Family<ReasonLabel, Counter>,
    sessions_active: Family<RoleLabel, Gauge>,
    agents_online: Gauge,
    streams_open: Gauge,
    requests: Family<RequestLabels, Timing>,
    webhook_deliveries: Family<ResultLabel, Counter>,
    webhook_backlog: Gauge,
    mail_sent: Counter,
    mail_failed: Counter,
    mail_backlog: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("deskward");
        let signins = Family::<ResultLabel, Counter>::default();
        registry.register(
            "signins",
            "Sign-in attempts by result (success, invalid_credentials, rate_limited, ...)",
            signins.clone(),
        );
        let endings = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "session_endings",
            "Sessions ended, by end reason",
            endings.clone(),
        );
        let sessions_active = Family::<RoleLabel, Gauge>::default();
        registry.register(
            "sessions_active",
            "Live (not ended) sessions by role, in every account",
            sessions_active.clone(),
        );
        let agents_online = Gauge::default();
        registry.register(
            "agents_online",
            "Agents whose status is Online, in every account",
            agents_online.clone(),
        );
        let streams_open = Gauge::default();
        registry.register(
            "event_streams_open",
            "Event streams (open tabs) served by this instance",
            streams_open.clone(),
        );
        let requests = Family::<RequestLabels, Timing>::new_with_constructor(Timing::default);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests (to the response head), by method, route pattern \
             and status class",
            requests.clone(),
        );
        let webhook_deliveries = Family::<ResultLabel, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by result",
            webhook_deliveries.clone(),
        );
        let webhook_backlog = Gauge::default();
        registry.register(
            "webhook_outbox_backlog",
            "Webhook deliveries waiting to be sent (pending), in every account",
            webhook_backlog.clone(),
        );
        let mail_sent = Counter::default();
        registry.register(
            "mail_sent",
            "E-mail messages the mail server accepted (or written as .eml files)",
            mail_sent.clone(),
        );
        let mail_failed = Counter::default();
        registry.register(
            "mail_failed",
            "E-mail messages given up after their retries (each also audited as mail.failed)",
            mail_failed.clone(),
        );
        let mail_backlog = Gauge::default();
        registry.register(
            "mail_backlog",
            "E-mail messages waiting to be sent (pending), in every account",
            mail_backlog.clone(),
        );
        for r in ["delivered", "retry", "failed"] {
            let _ = webhook_deliveries.get_or_create(&ResultLabel { result: r });
        }
        // Every value a dashboard expects to see, at zero before it first happens.
        for r in [
            "success",
            "invalid_credentials",
            "rate_limited",
            "account_disabled",
        ] {
            let _ = signins.get_or_create(&ResultLabel { result: r });
        }
        for r in ["agent", "admin"] {
            let _ = sessions_active.get_or_create(&RoleLabel { role: r });
        }
        Self {
            registry,
            signins,
            endings,
            sessions_active,
            agents_online,
            streams_open,
            requests,
            webhook_deliveries,
            webhook_backlog,
            mail_sent,
            mail_failed,
            mail_backlog,
        }
    }

    /// Counts one e-mail message sent.
    pub fn mail_sent(&self) {
        self.mail_sent.inc();
    }

    /// Counts one e-mail message given up.
    pub fn mail_failed(&self) {
        self.mail_failed.inc();
    }

    /// Counts a sign-in step by its outcome: what it led to (`success`, `choose_account`,
    /// `mfa_required`), or why it was refused.
    pub fn signin(&self, result: Result<&'static str, &ServiceError>) {
        let result = match result {
            Ok(outcome) => outcome,
            Err(ServiceError::InvalidCredentials) => "invalid_credentials",
            Err(ServiceError::RateLimited { .. }) => "rate_limited",
            Err(ServiceError::AccountDisabled) => "account_disabled",
            Err(ServiceError::OutsideOfficeNetwork) => "outside_office_network",
            Err(ServiceError::SsoRequired(_)) => "sso_required",
            Err(ServiceError::Invalid { .. }) => "invalid_input",
            Err(ServiceError::Forbidden(_)) => "forbidden",
            Err(_) => "error",
        };
        self.signins.get_or_create(&ResultLabel { result }).inc();
    }

    /// Counts one ended session.
    pub fn session_ended(&self, reason: EndReason) {
        self.endings
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
    }

    /// Counts an open event stream until the returned guard is dropped.
    pub fn stream_opened(&self) -> StreamGauge {
        self.streams_open.inc();
        StreamGauge(self.streams_open.clone())
    }

    /// Records an answered HTTP request. `route` is the matched pattern (or a fixed word for
    /// requests no route matched).
    pub fn http_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let labels = RequestLabels {
            method: method_label(method),
            route: route.to_string(),
            status,
        };
        self.requests.get_or_create(&labels).observe(took);
    }

    /// Hook for webhook deliveries: counts one delivery attempt by its result
    /// (`delivered`, `failed`, `retry`, ...).
    pub fn webhook_delivery(&self, result: &'static str) {
        self.webhook_deliveries
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// The exposition text, with the database's gauges set from `counts`.
    pub fn render(&self, counts: &LiveCounts, backlog: i64, mail_backlog: i64) -> String {
        self.sessions_active
            .get_or_create(&RoleLabel { role: "agent" })
            .set(counts.agent_sessions);
        self.sessions_active
            .get_or_create(&RoleLabel { role: "admin" })
            .set(counts.admin_sessions);
        self.agents_online.set(counts.agents_online);
        self.webhook_backlog.set(backlog);
        self.mail_backlog.set(mail_backlog);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        prometheus_text(&out)
    }
}

/// The `method` label: the methods of RFC 9110 and PATCH as sent (methods are
/// case-sensitive), anything else `other`. HTTP lets a client make up any method token, and
/// each one labelled as itself was a new series for good: 200,000 of them made a 392 MB scrape.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// The Prometheus text format (0.0.4) of prometheus-client's OpenMetrics text. Prometheus
/// reads either, but promtool, most agents and people with `curl` expect this one, where a
/// counter's family is named like its samples (`..._total`) and there is no `# EOF`.
fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let meta = line
            .strip_prefix("# HELP ")
            .map(|rest| ("# HELP ", rest))
            .or_else(|| line.strip_prefix("# TYPE ").map(|rest| ("# TYPE ", rest)));
        match meta {
            Some((kind, rest)) => {
                let name = rest.split(' ').next().unwrap_or("");
                out.push_str(kind);
                out.push_str(name);
                if counters.contains(&name) {
                    out.push_str("_total");
                }
                out.push_str(&rest[name.len()..]);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Holds one open event stream in `deskward_event_streams_open`.
pub struct StreamGauge(Gauge);

impl Drop for StreamGauge {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A histogram of durations whose every observation is a few atomic adds: prometheus-client's
/// own takes a mutex per observation, and every request records one.
#[derive(Debug)]
pub struct Timing {
    /// Observations per bucket (not cumulative: the encoder adds them up), the last one past
    /// every bound.
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl Timing {
    fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = DURATION_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

impl TypedMetric for Timing {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Timing {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // prometheus-client's encoder adds the buckets up itself (its own histogram keeps
        // them per bucket too): handing it running totals counted every observation once per
        // bucket above its own, so `+Inf` exceeded `_count` and quantiles drifted upwards.
        let mut count = 0;
        let buckets: Vec<(f64, u64)> = DURATION_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&self.buckets)
            .map(|(bound, n)| {
                let n = n.load(Ordering::Relaxed);
                count += n;
                (bound, n)
            })
            .collect();
        // The count is the buckets' total, so a scrape racing an observation stays consistent.
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

impl Service {
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The Prometheus text for a scrape: the counters as they stand and the gauges read from
    /// the database now.
    pub async fn metrics_text(&self) -> ServiceResult<String> {
        let counts = self.store.live_counts().await?;
        let backlog = self.store.pending_deliveries().await?;
        let mail_backlog = self.store.mail_backlog().await?;
        Ok(self.metrics.render(&counts, backlog, mail_backlog))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_are_named_like_their_samples_in_prometheus_text() {
        let om = "# HELP x_signins Sign-ins.\n# TYPE x_signins counter\n\
                  x_signins_total{result=\"success\"} 1\n# HELP x_up Up.\n# TYPE x_up gauge\n\
                  x_up 1\n# EOF\n";
        assert_eq!(
            super::prometheus_text(om),
            "# HELP x_signins_total Sign-ins.\n# TYPE x_signins_total counter\n\
             x_signins_total{result=\"success\"} 1\n# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n"
        );
    }
}
