//! schemathesis (PyPI, pinned in scripts/test-requirements.txt) fuzzes every operation of the
//! OpenAPI description but sign-out against a live server on SQLite, signed in as the primary
//! administrator: no server errors, and every answer's status, content type and body as
//! described.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;

use crate::db::Backend;
use crate::support::{Client, TestApp};

/// The schemathesis of scripts/test.sh's virtual environment (`DESKWARD_TEST_PYTHON`, or
/// target/test-venv when run by hand); missing, the test is skipped, except in CI.
fn schemathesis() -> Option<PathBuf> {
    let python = std::env::var_os("DESKWARD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/target/test-venv/bin/python"
            ))
        });
    let found = python
        .parent()
        .map(|bin| bin.join("schemathesis"))
        .filter(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "schemathesis is missing beside {} (scripts/test.sh installs it); CI=true needs it",
            python.display()
        );
        eprintln!(
            "skipped: schemathesis is not installed (python3 -m venv target/test-venv && \
             target/test-venv/bin/pip install -r scripts/test-requirements.txt)"
        );
    }
    found
}

/// Runs schemathesis over the operations `select` picks, as the signed-in `admin`; returns
/// what it said, after checking it found nothing.
async fn run(app: &TestApp, admin: &Client, select: &[&str]) -> String {
    let schemathesis = schemathesis().expect("checked by the caller");
    let token = admin.cookie_token().expect("session cookie");
    let csrf = admin.csrf().expect("CSRF token");
    let work = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = [
        "run",
        &app.url("/api/v1/openapi.json"),
        "--url",
        &app.base,
        "--header",
        &format!("Cookie: {}={token}", deskward::web::cookies::COOKIE),
        "--header",
        &format!("X-CSRF-Token: {csrf}"),
        "--checks",
        "not_a_server_error,response_schema_conformance,status_code_conformance,\
         content_type_conformance",
        // The stateful phase chains operations through links; the phases kept test every
        // operation on its own.
        "--phases",
        "examples,coverage,fuzzing",
        // The credentials are the run's, not inputs to fuzz.
        "--generation-with-security-parameters",
        "false",
        "--generation-database",
        "none",
        "--max-examples",
        "25",
        "--workers",
        "2",
        "--no-color",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(select.iter().map(|a| a.to_string()));
    let run = tokio::process::Command::new(&schemathesis)
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .args(&args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("schemathesis finished within 5 minutes")
        .expect("run schemathesis");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found problems:\n{said}");
    eprintln!("{said}");
    said
}

/// Every operation but sign-out, in two runs: schemathesis feeds ids it saw in answers (the
/// caller's own, from /me) back into path parameters, and the two operations that can end
/// the caller's own session (ending one session by id, ending an administrator's sessions)
/// would sign the first run out halfway. They run last, on their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_wrong() {
    if schemathesis().is_none() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = app.primary_client().await;
    let said = run(
        &app,
        &admin,
        &[
            "--exclude-path",
            "/api/v1/auth/logout",
            "--exclude-path",
            SESSION,
            "--exclude-path",
            ADMIN_SESSIONS,
        ],
    )
    .await;
    assert!(
        !said.contains("Authentication failed"),
        "the run lost its session, so it tested little:\n{said}"
    );
    assert_eq!(tested(&said), (46, 46), "{said}");
    // The session the run used is still live: its answers were those of a signed-in caller.
    admin.me().await.expect_status(StatusCode::OK);

    let said = run(
        &app,
        &admin,
        &["--include-path", SESSION, "--include-path", ADMIN_SESSIONS],
    )
    .await;
    assert_eq!(tested(&said), (2, 2), "{said}");
}

/// The summary's `Selected: n/total` and `Tested: n`.
fn tested(said: &str) -> (usize, usize) {
    let number = |label: &str| -> usize {
        let rest = said.split(label).nth(1).unwrap_or("").trim_start();
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().unwrap_or(0)
    };
    (number("Selected:"), number("Tested:"))
}

const SESSION: &str = "/api/v1/sessions/{id}";
const ADMIN_SESSIONS: &str = "/api/v1/admins/{id}/sessions";
