//! The monitoring set-up of docs/operations.md run for real: a Prometheus server on the
//! documented configuration scraping a live Deskward, and every sample alert rule put through
//! `promtool test rules` on series with the label sets Deskward exports (firing when it should,
//! silent otherwise).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::db::Backend;
use crate::metrics::{
    promtool, run_promtool, sample_alert_rules, samples, scrape_text, spawn_with_metrics,
};
use crate::support::{PRIMARY_EMAIL, PRIMARY_PASSWORD};

/// A block of docs/operations.md between `<!-- NAME:begin -->` and `<!-- NAME:end -->`,
/// without its code fence.
fn documented_block(name: &str) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .expect("docs/operations.md");
    doc.split(&format!("<!-- {name}:begin -->"))
        .nth(1)
        .and_then(|s| s.split(&format!("<!-- {name}:end -->")).next())
        .unwrap_or_else(|| panic!("the {name} block in docs/operations.md"))
        .trim()
        .trim_start_matches("```yaml")
        .trim_end_matches("```")
        .to_string()
}

/// The `summary` annotation of one documented alert, as promtool expects it back.
fn summary_of(rules: &str, alert: &str) -> String {
    let from = rules
        .find(&format!("- alert: {alert}"))
        .unwrap_or_else(|| panic!("alert {alert} in the sample rules"));
    let rest = &rules[from..];
    let line = rest
        .lines()
        .find(|l| l.trim_start().starts_with("summary:"))
        .expect("a summary annotation");
    line.trim_start()
        .trim_start_matches("summary:")
        .trim()
        .trim_matches('"')
        .to_string()
}

/// One `promtool test rules` case: the input series (name with labels, values), the
/// evaluation time in minutes and whether `alert` must be firing then.
struct Case<'a> {
    what: &'a str,
    series: Vec<(String, &'a str)>,
    at_minutes: u32,
    fires: bool,
}

fn rule_tests(rules: &str, alert: &str, severity: &str, cases: &[Case]) -> String {
    let summary = summary_of(rules, alert);
    let mut out = String::from("rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n");
    for case in cases {
        out.push_str(&format!(
            "  # {}\n  - interval: 1m\n    input_series:\n",
            case.what
        ));
        for (series, values) in &case.series {
            out.push_str(&format!(
                "      - series: '{series}'\n        values: '{values}'\n"
            ));
        }
        out.push_str(&format!(
            "    alert_rule_test:\n      - eval_time: {}m\n        alertname: {alert}\n",
            case.at_minutes
        ));
        if case.fires {
            out.push_str(&format!(
                "        exp_alerts:\n          - exp_labels: {{severity: {severity}}}\n\
                 \x20           exp_annotations: {{summary: \"{summary}\"}}\n"
            ));
        } else {
            out.push_str("        exp_alerts: []\n");
        }
    }
    out
}

fn run_rule_tests(promtool: &Path, rules: &str, tests: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let file = dir.path().join("tests.yml");
    std::fs::write(&file, tests).unwrap();
    let said = run_promtool(promtool, &["test", "rules", file.to_str().unwrap()], None);
    assert!(said.contains("SUCCESS"), "{said}\n{tests}");
}

/// The series name with labels exactly as a scrape shows it, or a failure naming what is
/// missing: the rules are tested on what Deskward really exports, not on remembered names.
fn exported(text: &str, series: &str) -> String {
    assert!(
        samples(text).contains_key(series),
        "the scrape has no series {series}:\n{text}"
    );
    series.to_string()
}

/// `DeskwardSignInFlood` fires after ten minutes of more than one failed or throttled sign-in
/// a second (either result, or both together), and not for fewer, for successes, or for a
/// burst shorter than its `for:`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_flood_alert_fires_when_it_should() {
    let Some(promtool) = promtool() else { return };
    let (_app, url) = spawn_with_metrics(Backend::Sqlite).await;
    let text = scrape_text(&url).await;
    let invalid = exported(
        &text,
        r#"deskward_signins_total{result="invalid_credentials"}"#,
    );
    let limited = exported(&text, r#"deskward_signins_total{result="rate_limited"}"#);
    let success = exported(&text, r#"deskward_signins_total{result="success"}"#);
    let rules = sample_alert_rules();
    let cases = [
        Case {
            what: "two wrong passwords a second for 40 minutes",
            series: vec![(invalid.clone(), "0+120x40")],
            at_minutes: 30,
            fires: true,
        },
        Case {
            what: "0.6 wrong and 0.6 throttled a second: the sum is over one",
            series: vec![(invalid.clone(), "0+36x40"), (limited.clone(), "0+36x40")],
            at_minutes: 30,
            fires: true,
        },
        Case {
            what: "half a failure a second",
            series: vec![(invalid.clone(), "0+30x40")],
            at_minutes: 30,
            fires: false,
        },
        Case {
            what: "five successful sign-ins a second",
            series: vec![(success, "0+300x40")],
            at_minutes: 30,
            fires: false,
        },
        Case {
            what: "a burst of eight minutes, then quiet",
            series: vec![(limited, "0+120x8 960x30")],
            at_minutes: 12,
            fires: false,
        },
    ];
    run_rule_tests(
        &promtool,
        &rules,
        &rule_tests(&rules, "DeskwardSignInFlood", "warning", &cases),
    );
}

/// `DeskwardServerErrors` fires after five minutes of more than 0.1 server errors a second,
/// and not for fewer, nor for any number of successful answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_errors_alert_fires_when_it_should() {
    let Some(promtool) = promtool() else { return };
    let (app, url) = spawn_with_metrics(Backend::Sqlite).await;
    let admin = app.primary_client().await;
    admin.me().await.expect_status(StatusCode::OK);
    let text = scrape_text(&url).await;
    let ok = exported(
        &text,
        r#"deskward_http_request_duration_seconds_count{method="GET",route="/api/v1/me",status="2xx"}"#,
    );
    // A 5xx cannot be caused on purpose; its label set is the 2xx one with the other class,
    // the classes being the status's first digit (`2xx`, `4xx`, …) as the scrape shows.
    let failed = ok.replace(r#"status="2xx""#, r#"status="5xx""#);
    let rules = sample_alert_rules();
    let cases = [
        Case {
            what: "0.2 server errors a second for 30 minutes",
            series: vec![(failed.clone(), "0+12x30")],
            at_minutes: 20,
            fires: true,
        },
        Case {
            what: "0.05 server errors a second",
            series: vec![(failed.clone(), "0+3x30")],
            at_minutes: 20,
            fires: false,
        },
        Case {
            what: "ten good answers a second",
            series: vec![(ok, "0+600x30")],
            at_minutes: 20,
            fires: false,
        },
        Case {
            what: "errors for three minutes only",
            series: vec![(failed, "0+12x3 36x30")],
            at_minutes: 5,
            fires: false,
        },
    ];
    run_rule_tests(
        &promtool,
        &rules,
        &rule_tests(&rules, "DeskwardServerErrors", "critical", &cases),
    );
}

/// The Prometheus server binary, from the Debian package `prometheus`; missing, the test is
/// skipped, except in CI.
fn prometheus() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("prometheus"))
                .find(|p| p.is_file())
        })
        .or_else(|| Some(PathBuf::from("/usr/bin/prometheus")).filter(|p| p.is_file()));
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "prometheus is missing (apt-get install prometheus); CI=true needs it"
        );
        eprintln!("skipped: prometheus is not installed (apt-get install prometheus)");
    }
    found
}

/// A child process killed when the test ends, pass or fail.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn query(base: &str, path: &str) -> Value {
    let res = reqwest::get(format!("{base}{path}"))
        .await
        .expect("ask prometheus");
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.json().await.expect("prometheus answers JSON")
}

/// A real Prometheus on docs/operations.md's configuration, as written but for the target's
/// address and the rules file's path, scrapes Deskward (target up, a sign-in counted) and
/// loads every sample alert rule without an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_deskward_with_the_documented_configuration() {
    let Some(prometheus) = prometheus() else {
        return;
    };
    let (app, url) = spawn_with_metrics(Backend::Sqlite).await;
    let target = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string();
    // The sign-in happens before the first scrape can, so that scrape already counts it.
    app.client()
        .login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .expect_status(StatusCode::OK);

    let config = documented_block("prometheus-config");
    assert!(
        config.contains(r#"targets: ["127.0.0.1:9187"]"#),
        "{config}"
    );
    let config = config.replace("127.0.0.1:9187", &target);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), &config).unwrap();
    std::fs::write(dir.path().join("deskward-alerts.yml"), sample_alert_rules()).unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let _server = Killed(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            // Port 0: the kernel picks a free port, which Prometheus logs ("Listening on").
            .arg("--web.listen-address=127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus"),
    );
    let log_text = || std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap();
    let started = tokio::time::Instant::now();
    let base = loop {
        let log = log_text();
        let bound = log
            .lines()
            .filter(|l| l.contains(r#"msg="Listening on""#))
            .find_map(|l| l.split("address=").nth(1))
            .map(|a| a.trim().to_string());
        if let Some(addr) = bound {
            break format!("http://{addr}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "prometheus did not start listening within 30 s:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The first scrape comes within one scrape interval (15 s) of the start.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let targets = loop {
        if let Ok(res) = reqwest::get(format!("{base}/api/v1/targets")).await
            && res.status() == StatusCode::OK
        {
            let v: Value = res.json().await.unwrap();
            let active = v["data"]["activeTargets"].as_array().cloned();
            if let Some(active) = active
                && active.iter().any(|t| t["health"] == "up")
            {
                break active;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no successful scrape within 60 s:\n{}",
            log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert_eq!(targets[0]["scrapeUrl"], url.as_str(), "{targets:?}");
    assert_eq!(targets[0]["labels"]["job"], "deskward", "{targets:?}");
    assert_eq!(targets[0]["lastError"], "", "{targets:?}");

    let v = query(
        &base,
        "/api/v1/query?query=deskward_signins_total%7Bresult%3D%22success%22%7D",
    )
    .await;
    let result = v["data"]["result"].as_array().expect("a vector");
    assert_eq!(result.len(), 1, "{v}");
    assert_eq!(result[0]["metric"]["job"], "deskward", "{v}");
    assert_eq!(result[0]["value"][1], "1", "{v}");

    let v = query(&base, "/api/v1/rules").await;
    let groups = v["data"]["groups"].as_array().expect("rule groups");
    let rules: Vec<(String, String)> = groups
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["health"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let names: Vec<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "DeskwardSignInFlood",
            "DeskwardSlowRequests",
            "DeskwardServerErrors"
        ],
        "{v}"
    );
    assert!(
        rules.iter().all(|(_, health)| health != "err"),
        "a rule failed to evaluate: {v}"
    );
}

/// docs/email.md's sample alert, as written there (one rule, put in a group of its own), under
/// `promtool test rules` on the backlog series a scrape shows: it fires once mail has waited
/// for a quarter of an hour, not for a shorter wait nor for an empty queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_backlog_alert_fires_when_it_should() {
    let Some(promtool) = promtool() else { return };
    let (_app, url) = spawn_with_metrics(Backend::Sqlite).await;
    let text = scrape_text(&url).await;
    let backlog = exported(&text, "deskward_mail_backlog");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/email.md"))
        .expect("docs/email.md");
    let block = doc
        .split("<!-- mail-alert:begin -->")
        .nth(1)
        .and_then(|s| s.split("<!-- mail-alert:end -->").next())
        .expect("the mail-alert block in docs/email.md")
        .trim()
        .trim_start_matches("```yaml")
        .trim_end_matches("```")
        .trim();
    let indented: String = block.lines().map(|l| format!("      {l}\n")).collect();
    let rules = format!("groups:\n  - name: deskward-mail\n    rules:\n{indented}");
    let summary = summary_of(&rules, "DeskwardMailBacklog");
    let cases = [
        ("one message waiting for 30 minutes", "1x30", 20, true),
        (
            "a queue that empties after 10 minutes",
            "1x10 0x20",
            20,
            false,
        ),
        ("waiting for 10 minutes so far", "1x30", 10, false),
        ("nothing waiting", "0x30", 20, false),
    ];
    let mut tests = String::from("rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n");
    for (what, values, at, fires) in cases {
        tests.push_str(&format!(
            "  # {what}\n  - interval: 1m\n    input_series:\n      - series: '{backlog}'\n\
             \x20       values: '{values}'\n    alert_rule_test:\n      - eval_time: {at}m\n\
             \x20       alertname: DeskwardMailBacklog\n"
        ));
        if fires {
            tests.push_str(&format!(
                "        exp_alerts:\n          - exp_annotations: {{summary: \"{summary}\"}}\n"
            ));
        } else {
            tests.push_str("        exp_alerts: []\n");
        }
    }
    run_rule_tests(&promtool, &rules, &tests);
}
