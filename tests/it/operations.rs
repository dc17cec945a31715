//! What operators run beside the service: `deskward backup`.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reqwest::StatusCode;
use serde_json::json;

use deskward::clock::SystemClock;
use deskward::server::ServerConfig;

use crate::db::Backend;
use crate::support::{
    PRIMARY_EMAIL, PRIMARY_PASSWORD, TestApp, client_for_base, run_binary, serve,
};

/// A backup taken while people are being added and signing in is a whole database: it opens,
/// passes SQLite's integrity check, and the primary administrator signs in with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_and_signs_in() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = Arc::new(app.primary_client().await);
    let stop = Arc::new(AtomicBool::new(false));
    let added = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (admin, stop, added) = (admin.clone(), stop.clone(), added.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let body = json!({"name": format!("Agent {i}"), "email": format!("a{i}@acme.test"),
                                  "password": "correct horse battery"});
                if admin.post_json("/api/v1/agents", &body).await.status == StatusCode::CREATED {
                    added.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    // Let the writes get going, back up in the middle of them, then let them go on a bit.
    while added.load(Ordering::Relaxed) < 3 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    let bytes = deskward::backup::sqlite(app.database_url(), &copy)
        .await
        .expect("backup");
    assert!(bytes > 0);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the copy is readable by its owner only");

    // Restore: serve the copy and sign in.
    let url = format!("sqlite://{}", copy.display());
    let store = deskward::store::connect(&url).await.expect("open the copy");
    let config = ServerConfig::default();
    let svc = deskward::server::build(
        store.clone(),
        Arc::new(SystemClock),
        deskward::events::EventBus::new(),
        &config,
    );
    let server = serve(svc, config).await;
    let c = client_for_base(&server.base);
    c.login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let agents = c.get("/api/v1/agents?per_page=200").await.json();
    let in_copy = agents["total"].as_i64().unwrap();
    let in_live = added.load(Ordering::Relaxed) as i64;
    assert!(in_copy >= 3 && in_copy <= in_live, "{in_copy} of {in_live}");
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let check: (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(check.0, "ok");
}

/// The command refuses to overwrite a file, and names pg_dump for PostgreSQL, with exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_refuses_what_it_cannot_do() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("taken.db");
    std::fs::write(&existing, b"keep me").unwrap();
    let run = |args: &[&str]| run_binary(std::iter::once("backup").chain(args.iter().copied()));
    let out = run(&[
        "--to",
        existing.to_str().unwrap(),
        "--database-url",
        app.database_url(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");

    let fresh = dir.path().join("fresh.db");
    let out = run(&[
        "--to",
        fresh.to_str().unwrap(),
        "--database-url",
        "postgres://postgres@127.0.0.1:5432/test",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    assert!(!fresh.exists());

    let out = run(&[
        "--to",
        fresh.to_str().unwrap(),
        "--database-url",
        app.database_url(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fresh.exists());
}
