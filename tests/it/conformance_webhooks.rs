//! Store conformance, webhooks: the outbox rows written in the transaction of each
//! change, claiming (person order, leases, concurrent claimers), attempt results, and deleting
//! old rows for retention.

use std::collections::BTreeSet;
use std::sync::Arc;

use deskward::clock::ManualClock;
use deskward::domain::member::AgentStatus;
use deskward::domain::session::EndReason;
use deskward::domain::time::{DAY, MINUTE};
use deskward::domain::webhook::EventFilter;
use deskward::store::{
    AttemptResult, AuditEntry, EndSessions, MemberPatch, Retained, StoreError, WebhookDelivery,
    WebhookEndpoint, Which,
};
use serde_json::Value;

use crate::conformance::{
    Db, T0, add, agent, audit, claimed_once_by_racers, make_account, open, open_session,
};
use crate::db::Backend;

backend_tests!(
    outbox_rows_come_with_each_change,
    claims_keep_person_order_and_leases,
    concurrent_claims_take_each_delivery_once,
    results_retries_and_gone_endpoints,
    retention_deletes_old_rows_in_batches,
);

fn endpoint(account: &str, id: &str, events: &[&str]) -> WebhookEndpoint {
    let names: Vec<String> = events.iter().map(|s| s.to_string()).collect();
    WebhookEndpoint {
        id: id.to_string(),
        account_id: account.to_string(),
        url: format!("https://hooks.example.com/{id}"),
        events: EventFilter::parse(&names).unwrap().to_db(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string(),
        disabled_reason: None,
        created_at: T0,
        created_by: None,
    }
}

fn with_clock(store: &Db) -> ManualClock {
    let clock = ManualClock::new(T0);
    store.use_clock(Arc::new(clock.clone()));
    clock
}

/// Deliveries of an endpoint, oldest first.
async fn log(store: &Db, account: &str, endpoint: &str) -> Vec<WebhookDelivery> {
    let mut d = store
        .webhook_deliveries(account, endpoint, 1000)
        .await
        .unwrap();
    d.reverse();
    d
}

fn types(d: &[WebhookDelivery]) -> Vec<&str> {
    d.iter().map(|d| d.event_type.as_str()).collect()
}

async fn outbox_rows_come_with_each_change(backend: Backend) {
    let (_db, store) = open(backend).await;
    let clock = with_clock(&store);
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    store
        .insert_webhook(&endpoint("ac1", "we-all", &["*"]))
        .await
        .unwrap();
    store
        .insert_webhook(&endpoint("ac1", "we-ended", &["session.ended"]))
        .await
        .unwrap();
    let off = WebhookEndpoint {
        disabled_reason: Some("gone".into()),
        ..endpoint("ac1", "we-off", &["*"])
    };
    store.insert_webhook(&off).await.unwrap();

    clock.advance(MINUTE);
    let ann = add(&store, agent("ac1", "ag-ann", "Ann", "ann@acme.example")).await;
    // Another account's changes never reach this account's endpoints.
    add(&store, agent("ac2", "ag-bob", "Bob", "bob@beta.example")).await;
    open_session(&store, &ann, "se-1", T0, T0).await;
    store
        .set_status(
            "ac1",
            "ag-ann",
            AgentStatus::Online,
            Some(AgentStatus::Online),
        )
        .await
        .unwrap();
    // The same status again is no change.
    store
        .set_status("ac1", "ag-ann", AgentStatus::Online, None)
        .await
        .unwrap();
    let ended = store
        .end_sessions(&EndSessions {
            account_id: Some("ac1".into()),
            which: Which::Session("se-1".into()),
            reason: EndReason::EndedByAdmin,
            by: Some("ac1-owner".into()),
            ip: None,
            at: T0 + MINUTE,
        })
        .await
        .unwrap();
    assert_eq!(ended.sessions.len(), 1);
    // Her tabs are cut off: Offline in the ending's transaction, its event after the ending's.
    assert_eq!(
        ended.offline,
        vec![("ac1".to_string(), "ag-ann".to_string())]
    );
    store
        .update_member(
            "ac1",
            "ag-ann",
            &MemberPatch {
                name: Some("Ann B".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // A password alone is no news.
    store
        .update_member(
            "ac1",
            "ag-ann",
            &MemberPatch {
                password_hash: Some("new".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store
        .update_member(
            "ac1",
            "ag-ann",
            &MemberPatch {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let all = log(&store, "ac1", "we-all").await;
    assert_eq!(
        types(&all),
        vec![
            "member.created",
            "session.started",
            "presence.changed",
            "session.ended",
            "presence.changed",
            "member.updated",
            "member.disabled",
        ]
    );
    assert_eq!(
        types(&log(&store, "ac1", "we-ended").await),
        vec!["session.ended"]
    );
    assert!(log(&store, "ac1", "we-off").await.is_empty());
    let ids: BTreeSet<&str> = all.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids.len(), all.len(), "each delivery its own webhook-id");
    for d in &all {
        assert!(d.id.starts_with("msg_"), "{}", d.id);
        assert_eq!((d.status.as_str(), d.attempts), ("pending", 0));
        assert_eq!(d.member_id, "ag-ann");
        assert_eq!(d.created_at, T0 + MINUTE);
        assert_eq!(d.next_attempt_at, T0 + MINUTE);
        let body: Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(body["type"], d.event_type.as_str());
        assert_eq!(body["timestamp"], "2026-01-01T00:01:00Z");
        assert_eq!(body["data"]["person"]["id"], "ag-ann");
        assert_eq!(body["data"]["person"]["kind"], "agent");
        assert_eq!(body["data"]["person"]["email"], "ann@acme.example");
    }
    let ended: Value = serde_json::from_str(&all[3].body).unwrap();
    assert_eq!(ended["data"]["session"]["id"], "se-1");
    assert_eq!(ended["data"]["session"]["end_reason"], "ended_by_admin");
    assert_eq!(ended["data"]["reason"], "ended_by_admin");
    assert_eq!(ended["data"]["ended_by"], "ac1-owner");
    let started: Value = serde_json::from_str(&all[1].body).unwrap();
    assert_eq!(
        started["data"]["session"]["device"],
        "Chrome 131 on Windows"
    );
    assert!(started["data"]["session"].get("ended_at").is_none());
    let online: Value = serde_json::from_str(&all[2].body).unwrap();
    assert_eq!(online["data"]["status"], "online");
    let offline: Value = serde_json::from_str(&all[4].body).unwrap();
    assert_eq!(offline["data"]["status"], "offline");
    let renamed: Value = serde_json::from_str(&all[5].body).unwrap();
    assert_eq!(renamed["data"]["person"]["name"], "Ann B");

    // Endpoints are the account's: another's id is not found, and deleting takes the log.
    assert!(matches!(
        store.webhook("ac2", "we-all").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_webhook("ac2", "we-all").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.webhooks("ac1").await.unwrap().len(), 3);
    store.delete_webhook("ac1", "we-all").await.unwrap();
    assert!(log(&store, "ac1", "we-all").await.is_empty());
    assert_eq!(store.pending_deliveries().await.unwrap(), 1);
}

/// Two events of Ann and one of Bob for one endpoint.
async fn three_events(store: &Db) {
    make_account(store, "ac1", "acme").await;
    store
        .insert_webhook(&endpoint("ac1", "we-1", &["*"]))
        .await
        .unwrap();
    add(store, agent("ac1", "ag-ann", "Ann", "ann@acme.example")).await;
    add(store, agent("ac1", "ag-bob", "Bob", "bob@acme.example")).await;
    store
        .set_status("ac1", "ag-ann", AgentStatus::Online, None)
        .await
        .unwrap();
}

fn delivered(attempts: i64, at: i64) -> AttemptResult {
    AttemptResult {
        status: "delivered".into(),
        attempts,
        next_attempt_at: at,
        last_status_code: Some(200),
        last_error: None,
        delivered_at: Some(at),
        disable_endpoint: false,
    }
}

async fn claims_keep_person_order_and_leases(backend: Backend) {
    let (_db, store) = open(backend).await;
    with_clock(&store);
    three_events(&store).await;
    let now = T0;
    let first = store.claim_deliveries(now, now + MINUTE, 10).await.unwrap();
    let got: BTreeSet<(String, String)> = first
        .iter()
        .map(|j| (j.delivery.member_id.clone(), j.delivery.event_type.clone()))
        .collect();
    // Ann's second event waits for her first.
    assert_eq!(
        got,
        BTreeSet::from([
            ("ag-ann".to_string(), "member.created".to_string()),
            ("ag-bob".to_string(), "member.created".to_string()),
        ])
    );
    assert!(
        first
            .iter()
            .all(|j| j.url == "https://hooks.example.com/we-1")
    );
    assert!(first.iter().all(|j| j.secret.starts_with("whsec_")));
    // Claimed rows are held until the lease runs out.
    assert!(
        store
            .claim_deliveries(now, now + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let ann1 = first
        .iter()
        .find(|j| j.delivery.member_id == "ag-ann")
        .unwrap();
    store
        .finish_delivery(&ann1.delivery.id, &delivered(1, now))
        .await
        .unwrap();
    let next = store.claim_deliveries(now, now + MINUTE, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].delivery.event_type, "presence.changed");
    // An instance that died holding Bob's: once its lease is over, another claims it.
    let later = now + MINUTE;
    let again = store
        .claim_deliveries(later, later + MINUTE, 10)
        .await
        .unwrap();
    let again: BTreeSet<String> = again.iter().map(|j| j.delivery.member_id.clone()).collect();
    assert_eq!(
        again,
        BTreeSet::from(["ag-ann".to_string(), "ag-bob".to_string()])
    );
}

async fn concurrent_claims_take_each_delivery_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    with_clock(&store);
    make_account(&store, "ac1", "acme").await;
    store
        .insert_webhook(&endpoint("ac1", "we-1", &["*"]))
        .await
        .unwrap();
    for i in 0..60 {
        add(
            &store,
            agent(
                "ac1",
                &format!("ag-{i}"),
                "Agent",
                &format!("a{i}@acme.example"),
            ),
        )
        .await;
    }
    claimed_once_by_racers(&store, 60, |store| async move {
        let jobs = store.claim_deliveries(T0, T0 + MINUTE, 7).await.unwrap();
        jobs.into_iter().map(|j| j.delivery.id).collect()
    })
    .await;
}

async fn results_retries_and_gone_endpoints(backend: Backend) {
    let (_db, store) = open(backend).await;
    with_clock(&store);
    three_events(&store).await;
    let jobs = store.claim_deliveries(T0, T0 + MINUTE, 10).await.unwrap();
    let ann = jobs
        .iter()
        .find(|j| j.delivery.member_id == "ag-ann")
        .unwrap();
    let bob = jobs
        .iter()
        .find(|j| j.delivery.member_id == "ag-bob")
        .unwrap();
    // A failed attempt waits for its next time, and Ann's later event waits behind it.
    let retry = AttemptResult {
        status: "pending".into(),
        attempts: 1,
        next_attempt_at: T0 + 5_000,
        last_status_code: Some(503),
        last_error: Some("503 Service Unavailable".into()),
        delivered_at: None,
        disable_endpoint: false,
    };
    store
        .finish_delivery(&ann.delivery.id, &retry)
        .await
        .unwrap();
    assert!(
        store
            .claim_deliveries(T0 + 4_999, T0 + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store
        .claim_deliveries(T0 + 5_000, T0 + MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].delivery.id, ann.delivery.id);
    assert_eq!(due[0].delivery.attempts, 1);
    assert_eq!(due[0].delivery.last_status_code, Some(503));
    // Failed for good, then sent again by hand with a fresh schedule.
    let failed = AttemptResult {
        status: "failed".into(),
        attempts: 2,
        ..retry.clone()
    };
    store
        .finish_delivery(&ann.delivery.id, &failed)
        .await
        .unwrap();
    let sent_again = store
        .retry_delivery("ac1", "we-1", &ann.delivery.id, T0 + MINUTE)
        .await
        .unwrap();
    assert_eq!(
        (sent_again.status.as_str(), sent_again.attempts),
        ("pending", 0)
    );
    assert!(matches!(
        store
            .retry_delivery("ac2", "we-1", &ann.delivery.id, T0)
            .await,
        Err(StoreError::NotFound)
    ));
    // 410: the endpoint turns off and nothing more of it is claimed.
    let gone = AttemptResult {
        status: "failed".into(),
        attempts: 1,
        next_attempt_at: T0,
        last_status_code: Some(410),
        last_error: None,
        delivered_at: None,
        disable_endpoint: true,
    };
    store
        .finish_delivery(&bob.delivery.id, &gone)
        .await
        .unwrap();
    let ep = store.webhook("ac1", "we-1").await.unwrap();
    assert_eq!(ep.disabled_reason.as_deref(), Some("gone"));
    assert!(
        store
            .claim_deliveries(T0 + DAY, T0 + DAY, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let log = log(&store, "ac1", "we-1").await;
    let bob_row = log.iter().find(|d| d.id == bob.delivery.id).unwrap();
    assert_eq!(
        (bob_row.status.as_str(), bob_row.last_status_code),
        ("failed", Some(410))
    );
    // What was still waiting for it fails too, rather than sit in the queue.
    assert!(log.iter().all(|d| d.status == "failed"), "{log:#?}");
    let ann_row = log.iter().find(|d| d.id == ann.delivery.id).unwrap();
    assert!(ann_row.last_error.as_deref().unwrap().contains("410"));
}

async fn retention_deletes_old_rows_in_batches(backend: Backend) {
    let (_db, store) = open(backend).await;
    let clock = with_clock(&store);
    make_account(&store, "ac1", "acme").await;
    store
        .insert_webhook(&endpoint("ac1", "we-1", &["session.started"]))
        .await
        .unwrap();
    let ann = add(&store, agent("ac1", "ag-ann", "Ann", "ann@acme.example")).await;
    for i in 0..5 {
        open_session(&store, &ann, &format!("se-old-{i}"), T0, T0).await;
    }
    let ended = store
        .end_sessions(&EndSessions {
            account_id: Some("ac1".into()),
            which: Which::PersonExcept {
                member_id: "ag-ann".into(),
                keep: None,
            },
            reason: EndReason::Logout,
            by: None,
            ip: None,
            at: T0,
        })
        .await
        .unwrap();
    assert_eq!(ended.sessions.len(), 5);
    let old = audit("ac1", "au-old", T0, "signin", None);
    store.insert_audit(&old).await.unwrap();
    clock.set(T0 + 10 * DAY);
    open_session(&store, &ann, "se-live", T0 + 10 * DAY, T0 + 10 * DAY).await;
    store
        .insert_audit(&AuditEntry {
            at: T0 + 10 * DAY,
            ..audit("ac1", "au-new", T0, "signin", None)
        })
        .await
        .unwrap();

    let cutoff = T0 + DAY;
    // Batches of 2: 5 old sessions take three statements, the live one stays.
    let mut batches = Vec::new();
    loop {
        let n = store
            .delete_older(Retained::EndedSessions, cutoff, 2)
            .await
            .unwrap();
        if n == 0 {
            break;
        }
        batches.push(n);
    }
    assert_eq!(batches, vec![2, 2, 1]);
    assert!(store.session("ac1", "se-live").await.is_ok());
    assert!(store.session("ac1", "se-old-0").await.is_err());
    assert_eq!(
        store
            .delete_older(Retained::AuditEntries, cutoff, 1000)
            .await
            .unwrap(),
        6,
        "five ending entries and one sign-in"
    );
    let (left, _) = store
        .list_audit("ac1", &crate::conformance::audit_query())
        .await
        .unwrap();
    assert!(left.iter().all(|e| e.id != "au-old"));
    assert!(left.iter().any(|e| e.id == "au-new"));
    // Five old deliveries (one per session started at T0), one new.
    assert_eq!(log(&store, "ac1", "we-1").await.len(), 6);
    assert_eq!(
        store
            .delete_older(Retained::Deliveries, cutoff, 1000)
            .await
            .unwrap(),
        5
    );
    assert_eq!(log(&store, "ac1", "we-1").await.len(), 1);
}
