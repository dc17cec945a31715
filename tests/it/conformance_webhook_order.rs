//! Store conformance, webhooks on PostgreSQL: a person's events are claimed in the
//! order their transactions commit. PostgreSQL numbers outbox rows at insert, not at commit;
//! without the person's row held until commit, a later event of theirs whose transaction
//! committed first could be claimed (and sent) before an earlier one became visible. SQLite
//! has one writer at a time, so its numbering is the commit order already.

use std::sync::Arc;

use deskward::clock::ManualClock;
use deskward::domain::session::EndReason;
use deskward::domain::time::MINUTE;
use deskward::domain::webhook::EventFilter;
use deskward::store::{AttemptResult, EndSessions, WebhookEndpoint, Which};
use sqlx::Connection;

use crate::conformance::{T0, add, agent, make_account, open, open_session};
use crate::db::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_event_waits_for_an_uncommitted_earlier_one_postgres() {
    let (db, store) = open(Backend::Postgres).await;
    store.use_clock(Arc::new(ManualClock::new(T0)));
    make_account(&store, "ac1", "acme").await;
    store
        .insert_webhook(&WebhookEndpoint {
            id: "we-1".into(),
            account_id: "ac1".into(),
            url: "https://hooks.example.com/we-1".into(),
            events: EventFilter::parse(&["session.ended".to_string()])
                .unwrap()
                .to_db(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            disabled_reason: None,
            created_at: T0,
            created_by: None,
        })
        .await
        .unwrap();
    let ann = add(&store, agent("ac1", "ag-ann", "Ann", "ann@acme.example")).await;
    open_session(&store, &ann, "se-ann-1", T0, T0).await;

    // Another transaction (another instance, say) has written an earlier event of Ann's and
    // not committed yet: its row has its number, invisible to everyone else. It holds Ann's
    // row, as every transaction that writes her events does.
    let mut earlier = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut earlier).await.unwrap();
    sqlx::query("SELECT id FROM members WHERE id = 'ag-ann' FOR UPDATE")
        .execute(&mut earlier)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, account_id, endpoint_id, member_id, event_type, \
         body, status, attempts, next_attempt_at, created_at) VALUES ('msg-earlier', 'ac1', \
         'we-1', 'ag-ann', 'session.ended', '{}', 'pending', 0, $1, $1)",
    )
    .bind(T0)
    .execute(&mut earlier)
    .await
    .unwrap();

    // Ann's session ends meanwhile: its event is numbered after the uncommitted one.
    let ending = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .end_sessions(&EndSessions {
                    account_id: Some("ac1".into()),
                    which: Which::Session("se-ann-1".into()),
                    reason: EndReason::Logout,
                    by: None,
                    ip: None,
                    at: T0,
                })
                .await
        })
    };
    // Until the ending either commits or waits on a lock.
    let mut watcher = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut waited = false;
    for _ in 0..3000 {
        if ending.is_finished() {
            break;
        }
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            waited = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        waited || ending.is_finished(),
        "the ending neither committed nor waited"
    );
    // Nothing of Ann's may go yet: her earlier event is not visible, and the later one must
    // not overtake it.
    let jobs = store.claim_deliveries(T0, T0 + MINUTE, 10).await.unwrap();
    assert_eq!(
        jobs.iter()
            .map(|j| j.delivery.event_type.as_str())
            .collect::<Vec<_>>(),
        Vec::<&str>::new(),
        "a later event of Ann's was claimed while an earlier one was uncommitted"
    );
    assert!(waited, "the ending waited for the earlier transaction");

    sqlx::query("COMMIT").execute(&mut earlier).await.unwrap();
    let ended = ending.await.unwrap().unwrap().sessions;
    assert_eq!(ended.len(), 1);

    // Now in order: the earlier event, then (once it is done) the ending.
    let first = store.claim_deliveries(T0, T0 + MINUTE, 10).await.unwrap();
    assert_eq!(
        first
            .iter()
            .map(|j| j.delivery.id.as_str())
            .collect::<Vec<_>>(),
        vec!["msg-earlier"]
    );
    store
        .finish_delivery(
            "msg-earlier",
            &AttemptResult {
                status: "delivered".into(),
                attempts: 1,
                next_attempt_at: T0,
                last_status_code: Some(204),
                last_error: None,
                delivered_at: Some(T0),
                disable_endpoint: false,
            },
        )
        .await
        .unwrap();
    let second = store.claim_deliveries(T0, T0 + MINUTE, 10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].delivery.event_type, "session.ended");
    assert!(second[0].delivery.body.contains("se-ann-1"));
}

backend_tests!(results_of_a_round_are_recorded_in_one_call);

/// The worker records all the results of one round with one call: each is applied, in the
/// order given, and a person's next event can be claimed right after.
async fn results_of_a_round_are_recorded_in_one_call(backend: Backend) {
    let (_db, store) = open(backend).await;
    store.use_clock(Arc::new(ManualClock::new(T0)));
    make_account(&store, "ac1", "acme").await;
    for id in ["we-1", "we-2"] {
        store
            .insert_webhook(&WebhookEndpoint {
                id: id.into(),
                account_id: "ac1".into(),
                url: format!("https://hooks.example.com/{id}"),
                events: EventFilter::parse(&["*".to_string()]).unwrap().to_db(),
                secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
                disabled_reason: None,
                created_at: T0,
                created_by: None,
            })
            .await
            .unwrap();
    }
    let ann = add(&store, agent("ac1", "ag-ann", "Ann", "ann@acme.example")).await;
    open_session(&store, &ann, "se-ann-1", T0, T0).await;
    // Ann: member.created then session.started, for each endpoint.
    let jobs = store.claim_deliveries(T0, T0 + MINUTE, 10).await.unwrap();
    assert_eq!(
        jobs.len(),
        2,
        "one event per endpoint: the second waits for the first"
    );
    let on = |ep: &str| {
        jobs.iter()
            .find(|j| j.delivery.endpoint_id == ep)
            .map(|j| j.delivery.id.clone())
            .unwrap()
    };
    let result = |status: &str, code: i64, gone: bool| AttemptResult {
        status: status.into(),
        attempts: 1,
        next_attempt_at: T0,
        last_status_code: Some(code),
        last_error: (status != "delivered").then(|| format!("HTTP {code}")),
        delivered_at: (status == "delivered").then_some(T0),
        disable_endpoint: gone,
    };
    store
        .finish_deliveries(&[
            (on("we-1"), result("delivered", 204, false)),
            (on("we-2"), result("failed", 410, true)),
        ])
        .await
        .unwrap();
    // we-1 goes on with Ann's next event; we-2 is off and what waited for it failed.
    let next = store.claim_deliveries(T0, T0 + MINUTE, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].delivery.endpoint_id, "we-1");
    assert_eq!(next[0].delivery.event_type, "session.started");
    let we1 = store.webhook_deliveries("ac1", "we-1", 10).await.unwrap();
    let first = we1
        .iter()
        .find(|d| d.event_type == "member.created")
        .unwrap();
    assert_eq!(first.status, "delivered");
    assert_eq!(first.last_status_code, Some(204));
    let we2 = store.webhook_deliveries("ac1", "we-2", 10).await.unwrap();
    assert!(we2.iter().all(|d| d.status == "failed"), "{we2:?}");
    assert_eq!(
        store
            .webhook("ac1", "we-2")
            .await
            .unwrap()
            .disabled_reason
            .as_deref(),
        Some("gone")
    );
    // Nothing to record is no write at all.
    store.finish_deliveries(&[]).await.unwrap();
}
