//! Store conformance, PostgreSQL's row locks: what a write waits for and what it must not.
//! Each test holds a lock in a transaction of its own, as a concurrent request would, starts
//! the store's write, and watches `pg_stat_activity` to see whether that write waits on it —
//! no sleeps, and the orders of events that lost data or deadlocked are forced, not hoped for.
//! SQLite runs one write transaction at a time, so these orders cannot happen there.

use std::sync::Arc;

use deskward::clock::ManualClock;
use deskward::domain::session::EndReason;
use deskward::domain::time::MINUTE;
use deskward::domain::webhook::EventFilter;
use deskward::store::{AttemptResult, StoreError, WebhookEndpoint};
use sqlx::Connection;

use crate::conformance::{Db, T0, add, agent, end_one, make_account, open, open_session};
use crate::db::{Backend, TestDb};

/// How the store's write went while the test's transaction held its lock.
enum Outcome<T> {
    /// It finished without waiting.
    Finished(T),
    /// It is waiting for a lock; the handle gives its result once the test lets go.
    Waiting(tokio::task::JoinHandle<T>),
}

/// Runs `write` and returns as soon as it has finished or a backend of this database waits
/// for a lock (the test's own connection never waits, so that one is the store's write).
async fn run_and_watch<T: Send + 'static>(
    db: &TestDb,
    write: impl Future<Output = T> + Send + 'static,
) -> Outcome<T> {
    let mut watcher = sqlx::PgConnection::connect(&db.url).await.expect("watcher");
    let task = tokio::spawn(write);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if task.is_finished() {
            return Outcome::Finished(task.await.expect("the write panicked"));
        }
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .expect("read pg_stat_activity");
        if waiting > 0 {
            return Outcome::Waiting(task);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the write neither finished nor waited for a lock within a minute"
        );
        tokio::task::yield_now().await;
    }
}

async fn with_endpoint(store: &Db) {
    store.use_clock(Arc::new(ManualClock::new(T0)));
    make_account(store, "ac1", "acme").await;
    store
        .insert_webhook(&WebhookEndpoint {
            id: "we-1".into(),
            account_id: "ac1".into(),
            url: "https://hooks.example.com/we-1".into(),
            events: EventFilter::parse(&["*".to_string()]).unwrap().to_db(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            disabled_reason: None,
            created_at: T0,
            created_by: None,
        })
        .await
        .unwrap();
}

/// Inserting a session (or an outbox row) share-locks its person's row through the foreign key
/// (`FOR KEY SHARE`). The locks Deskward takes on that row to order one person's work — the
/// live-seen recount's triggers and the webhook outbox's event numbering — must not wait for
/// such a share lock: with `FOR UPDATE` they did, and two sign-ins of one person at once, each
/// holding one and each asking for the other's, deadlocked (one answered 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_row_locks_do_not_wait_for_foreign_key_share_locks() {
    let (db, store) = open(Backend::Postgres).await;
    with_endpoint(&store).await;
    let ann = add(&store, agent("ac1", "ag-ann", "Ann", "ann@acme.example")).await;
    open_session(&store, &ann, "se-1", T0, T0).await;

    // A concurrent sign-in of Ann's, between inserting its session and committing.
    let mut signing_in = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut tx = signing_in.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM members WHERE id = 'ag-ann' FOR KEY SHARE")
        .execute(&mut *tx)
        .await
        .unwrap();

    // Ending her other session recounts her live sessions and writes a `session.ended` event
    // to the outbox: both lock her row.
    let s = store.clone();
    let ending =
        async move { end_one(&s, "ac1", "se-1", EndReason::Logout, None, T0 + MINUTE).await };
    let ended = match run_and_watch(&db, ending).await {
        Outcome::Finished(ended) => ended,
        Outcome::Waiting(task) => {
            tx.rollback().await.unwrap();
            let _ = task.await;
            panic!("ending a session waited for another transaction's foreign-key share lock");
        }
    };
    assert!(ended.is_some(), "se-1 ended");
    tx.commit().await.unwrap();
    let events: Vec<String> = store
        .webhook_deliveries("ac1", "we-1", 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.event_type)
        .collect();
    assert!(events.iter().any(|e| e == "session.ended"), "{events:?}");
}

/// "Send again" at the moment a 410 answer turns the endpoint off: the worker's transaction
/// has turned the endpoint off and failed its waiting deliveries but not committed yet. The
/// send-again must wait for it and then refuse; read from its own snapshot it saw the endpoint
/// still on, queued the delivery after the worker had failed the waiting ones, and left it
/// pending for ever (nothing is sent to an endpoint that is off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_again_waits_for_an_endpoint_being_turned_off() {
    let (db, store) = open(Backend::Postgres).await;
    with_endpoint(&store).await;
    add(&store, agent("ac1", "ag-ann", "Ann", "ann@acme.example")).await;
    let jobs = store.claim_deliveries(T0, T0 + MINUTE, 10).await.unwrap();
    let first = jobs[0].delivery.id.clone();
    store
        .finish_delivery(
            &first,
            &AttemptResult {
                status: "failed".into(),
                attempts: 12,
                next_attempt_at: T0,
                last_status_code: Some(503),
                last_error: Some("503 Service Unavailable".into()),
                delivered_at: None,
                disable_endpoint: false,
            },
        )
        .await
        .unwrap();

    // The worker's transaction after a 410, as `finish_deliveries` writes it.
    let mut worker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut tx = worker.begin().await.unwrap();
    sqlx::query("UPDATE webhook_endpoints SET disabled_reason = 'gone' WHERE id = 'we-1'")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', claimed_until = 0 \
         WHERE endpoint_id = 'we-1' AND status = 'pending'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();

    let s: Arc<_> = store.clone();
    let id = first.clone();
    let send_again = async move { s.retry_delivery("ac1", "we-1", &id, T0 + 2 * MINUTE).await };
    let answer = match run_and_watch(&db, send_again).await {
        Outcome::Finished(answer) => {
            tx.commit().await.unwrap();
            answer
        }
        Outcome::Waiting(task) => {
            tx.commit().await.unwrap();
            task.await.unwrap()
        }
    };
    assert!(
        matches!(answer, Err(StoreError::NotFound)),
        "send again on an endpoint turned off meanwhile: {answer:?}"
    );
    let log = store.webhook_deliveries("ac1", "we-1", 100).await.unwrap();
    let pending: Vec<_> = log.iter().filter(|d| d.status == "pending").collect();
    assert!(
        pending.is_empty(),
        "deliveries left pending on an endpoint that is off: {pending:?}"
    );
}
