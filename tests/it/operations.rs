//! What operators run beside the service: `deskward backup`, the SQLite and PostgreSQL backup
//! blocks of docs/operations.md run as written; the retention ages `serve` accepts.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reqwest::StatusCode;
use serde_json::json;

use deskward::clock::SystemClock;

use crate::db::Backend;
use crate::support::{
    Binary, DAY, PRIMARY_EMAIL, PRIMARY_PASSWORD, TestApp, client_for_base, run_binary, serve,
};

backend_tests!(the_longest_retention_keeps_the_audit_log);

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
    let config = crate::support::server_config();
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
        &crate::db::pg_admin_url(),
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

/// A retention age past any calendar is refused when the arguments are read (exit 2, naming
/// the flag), before anything is opened: once it wrapped the cut-off into the future and the
/// first sweep deleted the whole audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_ages_past_any_calendar_are_refused() {
    use deskward::service::retention::MAX_DAYS;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    let url = format!("sqlite://{}", db.display());
    let too_long = (MAX_DAYS + 1).to_string();
    for (flag, value) in [
        ("--audit-retention-days", "9223372036854775807"),
        ("--audit-retention-days", too_long.as_str()),
        ("--retention-days", "106751991167"),
        ("--retention-days", too_long.as_str()),
        ("--retention-days", "0"),
    ] {
        let (code, err) = crate::support::refused_serve(&url, &[flag, value], &[]).await;
        assert_eq!(code, Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag), "{flag} {value}: {err}");
        assert!(err.contains(&MAX_DAYS.to_string()), "{flag} {value}: {err}");
        assert!(
            !db.exists(),
            "nothing is opened before the arguments are read"
        );
    }
}

/// The longest age the command line accepts keeps every audit entry, and so does one past it
/// given to the service directly (it is clamped, never wrapped); the binary starts with it.
async fn the_longest_retention_keeps_the_audit_log(backend: Backend) {
    use deskward::service::retention::{MAX_DAYS, RetentionConfig};
    let app = TestApp::spawn(backend).await;
    let admin = app.primary_client().await;
    app.add_agent("Ann", "ann@acme.test").await;
    let total = |v: serde_json::Value| v["total"].as_i64().unwrap();
    let before = total(admin.get("/api/v1/audit?per_page=1").await.json());
    assert!(before >= 2, "{before}");
    app.advance(400 * DAY);
    for days in [MAX_DAYS, i64::MAX, i64::MAX / DAY + 1] {
        let config = RetentionConfig {
            days,
            audit_days: days,
            ..Default::default()
        };
        let purged = app.svc.retention_sweep(&config).await.unwrap();
        assert_eq!(purged, Default::default(), "{days} days");
    }
    let max = MAX_DAYS.to_string();
    let binary = Binary::serve(app.database_url())
        .arg("--retention-days")
        .arg(&max)
        .arg("--audit-retention-days")
        .arg(&max)
        .start()
        .await;
    let c = client_for_base(&binary.base);
    c.login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let after = total(c.get("/api/v1/audit?per_page=1").await.json());
    assert!(after > before, "{before} entries before, {after} after");
}

/// The fenced `sh` block right after `heading` in docs/operations.md.
fn operations_block(heading: &str) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .expect("docs/operations.md");
    let section = &doc[doc
        .find(heading)
        .unwrap_or_else(|| panic!("the {heading} section"))..];
    let start = section.find("```sh\n").expect("its sh block") + "```sh\n".len();
    section[start..start + section[start..].find("```").unwrap()].to_string()
}

/// docs/operations.md's SQLite block, run by `sh` as written with only its paths replaced and
/// the built `deskward` first on `PATH`, against a live server's database: the copy is made,
/// readable by its owner only, a second run the same day refuses to overwrite it (exit 2), and
/// the restore the section describes (the copy in place of the database file, the service
/// started on it) signs the primary administrator in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_sqlite_backup_and_restore_run_as_written() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    let block = operations_block("### SQLite");
    let script = block
        .replace("/var/backups/", &format!("{}/", backups.display()))
        .replace("sqlite:///var/lib/deskward/deskward.db", app.database_url());
    assert!(!script.contains("/var/"), "{script}");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_deskward"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = || {
        std::process::Command::new("sh")
            .args(["-e", "-c", &script])
            .env("PATH", &path)
            .current_dir(dir.path())
            .output()
            .expect("run sh")
    };
    let out = run();
    assert!(
        out.status.success(),
        "the documented block failed:\n{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copies: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let copy = &copies[0];
    let mode = std::fs::metadata(copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the copy is readable by its owner only");
    let again = run();
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing copy is never overwritten"
    );

    // The restore: the copy in place of the (stopped) service's database file, no -wal or
    // -shm beside it, the service started on it.
    let restored_dir = dir.path().join("restored");
    std::fs::create_dir(&restored_dir).unwrap();
    let restored = restored_dir.join("deskward.db");
    std::fs::copy(copy, &restored).unwrap();
    let server = Binary::serve(&format!("sqlite://{}", restored.display()))
        .start()
        .await;
    let c = client_for_base(&server.base);
    c.login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let agents = c.get("/api/v1/agents").await.json();
    assert_eq!(agents["items"][0]["email"], "ann@acme.test", "{agents}");
}

/// docs/operations.md's PostgreSQL block, run as written with only the server and database
/// names replaced: the dump is readable by its owner only, the restore goes into a database
/// the block creates, and the primary administrator signs in on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_postgres_backup_and_restore_run_as_written() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let block = operations_block("### PostgreSQL");
    let (base, source) = app.database_url().rsplit_once('/').unwrap();
    let restored = format!("{source}_restored");
    let script = block
        .replace(
            "postgres://deskward@db.example/deskward_restored",
            &format!("{base}/{restored}"),
        )
        .replace(
            "postgres://deskward@db.example/deskward\n",
            &format!("{base}/{source}\n"),
        )
        .replace(
            "postgres://deskward@db.example/postgres deskward_restored\n",
            &format!("{base}/postgres {restored}\n"),
        );
    assert!(!script.contains("db.example"), "{script}");
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("sh")
        .args(["-e", "-c", &script])
        .current_dir(dir.path())
        .output()
        .expect("run sh");
    let drop_restored = || async {
        let mut conn =
            <sqlx::PgConnection as sqlx::Connection>::connect(&format!("{base}/postgres"))
                .await
                .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {restored} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    };
    if !out.status.success() {
        drop_restored().await;
        panic!(
            "the documented block failed:\n{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dump = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "dump"))
        .expect("the dump file");
    let mode = std::fs::metadata(&dump).unwrap().permissions().mode() & 0o777;

    let store = deskward::store::connect(&format!("{base}/{restored}"))
        .await
        .expect("open the restored database");
    let config = crate::support::server_config();
    let svc = deskward::server::build(
        store,
        Arc::new(SystemClock),
        deskward::events::EventBus::new(),
        &config,
    );
    let server = serve(svc, config).await;
    let status = client_for_base(&server.base)
        .login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .status;
    drop(server);
    drop_restored().await;
    assert_eq!(mode, 0o600, "the dump is readable by its owner only");
    assert_eq!(status, StatusCode::OK);
}

/// The server runs jemalloc with its background threads, which give memory freed after a
/// burst of load back to the system while the server is quiet (BENCHMARKS.md, "Resident
/// memory after load"): under glibc's allocator, or jemalloc without them, an idle server
/// kept what the burst took.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_gives_freed_memory_back_while_idle() {
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::serve(&format!("sqlite://{}/deskward.db", dir.path().display()))
        .start()
        .await;
    let threads = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .map(|tasks| {
                tasks
                    .flatten()
                    .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                    .map(|name| name.trim().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    // jemalloc starts them with the allocations that follow the setting: by the time the
    // server answers, it has allocated plenty.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let names = threads();
        if names.iter().any(|n| n == "jemalloc_bg_thd") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no jemalloc background thread in {names:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
