//! The request histogram as Prometheus reads it: buckets cumulative once (`+Inf` equal to
//! `_count`), so the documented latency alert follows the real latency; labels bounded
//! whatever the client sends.

use std::time::Instant;

use crate::db::Backend;
use crate::metrics::{promtool, run_promtool, sample_alert_rules, scrape_text, spawn_with_metrics};

const FAMILY: &str = "deskward_http_request_duration_seconds";

/// The labels of one series, `le` left out, sorted by name.
fn label_pairs(set: &str) -> (Vec<(String, String)>, Option<String>) {
    let mut pairs = Vec::new();
    let mut le = None;
    let mut rest = set;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").expect("name=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (_, '\\') => value.push(chars.next().expect("escaped character").1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        rest = after[end + 1..].trim_start_matches(',');
        if name == "le" {
            le = Some(value);
        } else {
            pairs.push((name.to_string(), value));
        }
    }
    pairs.sort();
    (pairs, le)
}

/// One label set's series of the request histogram, as a scrape wrote them.
#[derive(Debug)]
pub(crate) struct Histogram {
    /// `(le, value)` in the order written.
    pub buckets: Vec<(f64, f64)>,
    pub count: f64,
    pub sum: f64,
}

/// Every label set of the request histogram in `text`, with its series.
pub(crate) fn histograms(text: &str) -> Vec<(Vec<(String, String)>, Histogram)> {
    let mut out: Vec<(Vec<(String, String)>, Histogram)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Some((name, set)) = series.split_once('{') else {
            continue;
        };
        let Some(suffix) = name.strip_prefix(FAMILY) else {
            continue;
        };
        let value: f64 = value.parse().expect("numeric value");
        let (labels, le) = label_pairs(set.strip_suffix('}').expect("closed label set"));
        let i = match out.iter().position(|(l, _)| *l == labels) {
            Some(i) => i,
            None => {
                let empty = Histogram {
                    buckets: Vec::new(),
                    count: f64::NAN,
                    sum: f64::NAN,
                };
                out.push((labels, empty));
                out.len() - 1
            }
        };
        let h = &mut out[i].1;
        match suffix {
            "_bucket" => {
                let le = le.expect("a bucket's le");
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("numeric le")
                };
                h.buckets.push((le, value));
            }
            "_count" => h.count = value,
            "_sum" => h.sum = value,
            other => panic!("unexpected series {FAMILY}{other}"),
        }
    }
    out
}

/// The histogram of one label set given as `[("method", "GET"), ...]`.
pub(crate) fn histogram(text: &str, labels: &[(&str, &str)]) -> Histogram {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    histograms(text)
        .into_iter()
        .find(|(l, _)| *l == want)
        .map(|(_, h)| h)
        .unwrap_or_else(|| panic!("no histogram for {labels:?} in:\n{text}"))
}

/// Asserts what makes a Prometheus histogram: bounds rising to `+Inf`, cumulative counts
/// never falling, `+Inf` equal to `_count`.
#[track_caller]
pub(crate) fn assert_histogram_shape(h: &Histogram) {
    assert!(h.buckets.len() > 1, "{h:?}");
    for pair in h.buckets.windows(2) {
        assert!(pair[0].0 < pair[1].0, "bounds rise: {h:?}");
        assert!(pair[0].1 <= pair[1].1, "buckets are cumulative: {h:?}");
    }
    let (last, inf) = *h.buckets.last().unwrap();
    assert_eq!(last, f64::INFINITY, "the last bucket is +Inf: {h:?}");
    assert_eq!(inf, h.count, "+Inf bucket == _count: {h:?}");
    assert!(h.sum >= 0.0, "{h:?}");
}

/// After N known requests, the label set's histogram counts each once: every
/// bucket at most N, `+Inf` == `_count` == N, `_sum` no more than the time they took; and
/// the documented `DeskwardSlowRequests` alert, run by `promtool test rules` on those very
/// buckets, stays silent for fast requests (while it fires for slow ones).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_histogram_counts_each_request_once() {
    const N: usize = 40;
    let (app, url) = spawn_with_metrics(Backend::Sqlite).await;
    let admin = app.primary_client().await;
    let started = Instant::now();
    for _ in 0..N {
        admin.me().await.expect_status(reqwest::StatusCode::OK);
    }
    let took = started.elapsed().as_secs_f64();
    let text = scrape_text(&url).await;
    let me = [
        ("method", "GET"),
        ("route", "/api/v1/me"),
        ("status", "2xx"),
    ];
    let h = histogram(&text, &me);
    assert_histogram_shape(&h);
    assert_eq!(h.count, N as f64, "{h:?}");
    assert!(h.buckets.iter().all(|(_, n)| *n <= N as f64), "{h:?}");
    assert!(
        h.sum > 0.0 && h.sum <= took,
        "_sum {} for {took} s: {h:?}",
        h.sum
    );
    // Every other label set has the same shape.
    for (labels, h) in histograms(&text) {
        assert!(h.buckets.len() > 1, "{labels:?}: {h:?}");
        assert_histogram_shape(&h);
    }

    let Some(promtool) = promtool() else { return };
    // These requests were fast: most of them under the alert's half second.
    let under_half = h.buckets.iter().find(|(le, _)| *le == 0.5).unwrap().1;
    assert!(under_half >= 0.95 * N as f64, "{h:?}");
    // The scraped buckets as growing counters (each minute another scrape's worth), and the
    // same label set with every request slower than a second, for contrast.
    let series = |buckets: &[(f64, f64)]| -> String {
        buckets
            .iter()
            .map(|(le, n)| {
                let le = if le.is_infinite() {
                    "+Inf".to_string()
                } else {
                    le.to_string()
                };
                format!(
                    "      - series: '{FAMILY}_bucket{{method=\"GET\",route=\"/api/v1/me\",\
                     status=\"2xx\",le=\"{le}\"}}'\n        values: '0+{n}x40'\n"
                )
            })
            .collect()
    };
    let slow: Vec<(f64, f64)> = h
        .buckets
        .iter()
        .map(|(le, _)| (*le, if *le >= 1.0 { N as f64 } else { 0.0 }))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), sample_alert_rules()).unwrap();
    let tests = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n\
         \x20 - interval: 1m\n    input_series:\n{fast}\
         \x20   alert_rule_test:\n      - eval_time: 40m\n        alertname: DeskwardSlowRequests\n\
         \x20       exp_alerts: []\n\
         \x20 - interval: 1m\n    input_series:\n{slow}\
         \x20   alert_rule_test:\n      - eval_time: 40m\n        alertname: DeskwardSlowRequests\n\
         \x20       exp_alerts:\n          - exp_labels: {{severity: warning}}\n\
         \x20           exp_annotations: {{summary: \"Deskward API p95 latency above 500 ms\"}}\n",
        fast = series(&h.buckets),
        slow = series(&slow),
    );
    let file = dir.path().join("tests.yml");
    std::fs::write(&file, &tests).unwrap();
    let said = run_promtool(&promtool, &["test", "rules", file.to_str().unwrap()], None);
    assert!(said.contains("SUCCESS"), "{said}\n{tests}");
}

/// Methods a client makes up are all labelled `other`, so a scrape holds as
/// many series after 60 of them as after 3: only the standard methods are labelled as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_share_one_label() {
    let (app, url) = spawn_with_metrics(Backend::Sqlite).await;
    let client = reqwest::Client::new();
    let send = |from: usize, to: usize| {
        let client = client.clone();
        let base = app.base.clone();
        async move {
            for i in from..to {
                let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes())
                    .expect("a method token");
                for path in ["/api/v1/me", "/no/such/page"] {
                    let res = client
                        .request(method.clone(), format!("{base}{path}"))
                        .send()
                        .await
                        .expect("send");
                    assert!(res.status().is_client_error(), "{}", res.status());
                }
            }
        }
    };
    // A standard method, in lower case: methods are case-sensitive, so this one is made up.
    let res = client
        .request(
            reqwest::Method::from_bytes(b"get").unwrap(),
            app.url("/api/v1/me"),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
    send(0, 3).await;
    let first = scrape_text(&url).await;
    send(3, 60).await;
    let text = scrape_text(&url).await;
    let methods: std::collections::BTreeSet<String> = histograms(&text)
        .into_iter()
        .flat_map(|(labels, _)| labels.into_iter().filter(|(k, _)| k == "method"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(methods.into_iter().collect::<Vec<_>>(), ["other"], "{text}");
    assert!(
        !text.contains("MADEUP") && !text.contains("\"get\""),
        "{text}"
    );
    let series = |t: &str| t.lines().filter(|l| l.starts_with(FAMILY)).count();
    assert_eq!(series(&first), series(&text), "{first}\n{text}");
    // Every request was counted, under `other`.
    let counted: f64 = histograms(&text).iter().map(|(_, h)| h.count).sum();
    assert_eq!(counted, 1.0 + 2.0 * 60.0, "{text}");
}

/// Under `--path-prefix` the route label is the pattern without the prefix, the
/// same as at the root, so the documented alerts (`route=~"/api/.*"`) match behind a proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_labels_leave_out_the_path_prefix() {
    use crate::forward_auth::{PREFIX, desk_signed_in};
    use crate::support::{PRIMARY_EMAIL, PRIMARY_PASSWORD};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind metrics port");
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let app = crate::forward_auth::guarded_with(Backend::Sqlite, move |c| {
        c.metrics_listener = Some(listener);
    })
    .await;
    let owner = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    owner.me().await.expect_status(reqwest::StatusCode::OK);
    owner
        .get(&format!("/api/v1/agents/{}", app.primary.id))
        .await;
    let text = scrape_text(&url).await;
    let me = histogram(
        &text,
        &[
            ("method", "GET"),
            ("route", "/api/v1/me"),
            ("status", "2xx"),
        ],
    );
    assert_eq!(me.count, 1.0, "{text}");
    histogram(
        &text,
        &[
            ("method", "POST"),
            ("route", "/api/v1/auth/login"),
            ("status", "2xx"),
        ],
    );
    let routes: Vec<String> = histograms(&text)
        .into_iter()
        .flat_map(|(labels, _)| labels.into_iter().filter(|(k, _)| k == "route"))
        .map(|(_, v)| v)
        .collect();
    assert!(routes.iter().all(|r| !r.starts_with(PREFIX)), "{routes:?}");
}
