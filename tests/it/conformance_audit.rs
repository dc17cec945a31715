//! Store conformance, audit rows that count repeats (`count_audit`: failed sign-ins for
//! unknown e-mails counted as one row per address and hour).

use deskward::domain::time::{HOUR, MINUTE, Millis};
use deskward::store::{AuditEntry, AuditQuery, StoreError};

use crate::conformance::{T0, assert_conflict, audit, audit_query, make_account, open};
use crate::db::Backend;

backend_tests!(
    count_audit_adds_to_one_row_per_id,
    audit_counts_round_trip_through_every_insert,
    audit_insert_and_list,
    audit_filters_and_paging,
    audit_person_filter,
    audit_bulk_insert,
    many_audit_rows_in_one_batch_exactly_or_not_at_all,
);

/// The entry a failed sign-in for an unknown address would count, for one hour.
fn unknown_email(account_id: &str, id: &str, at: i64, tries: i64) -> AuditEntry {
    AuditEntry {
        target: None,
        ip: Some(crate::support::client_ip("198.51.100.23")),
        detail: format!("{tries} failed sign-ins for unknown e-mails from 198.51.100.23"),
        ..audit(account_id, id, at, "signin.failed", None)
    }
}

async fn count_audit_adds_to_one_row_per_id(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    store
        .insert_audit(&audit("ac1", "au-other", T0, "signin", Some("ac1-owner")))
        .await
        .unwrap();

    // First of the hour: a row like any other, counting 1.
    let first = unknown_email("ac1", "au-hour-1", T0 + MINUTE, 1);
    store.count_audit(&first).await.unwrap();
    let (items, total) = store.list_audit("ac1", &audit_query()).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(items[0], first);

    // Repeats add to it: the count grows, `at` and `detail` are the latest, the rest stays.
    for n in 2..=4 {
        let again = AuditEntry {
            // What a repeat carries besides its time and detail is not written over.
            kind: "signin.refused".into(),
            actor: Some("someone".into()),
            ip: Some(crate::support::client_ip("203.0.113.1")),
            ..unknown_email("ac1", "au-hour-1", T0 + n * MINUTE, n)
        };
        store.count_audit(&again).await.unwrap();
    }
    let (items, total) = store.list_audit("ac1", &audit_query()).await.unwrap();
    assert_eq!(total, 2, "one row for the hour, however many repeats");
    assert_eq!(
        items[0],
        AuditEntry {
            at: T0 + 4 * MINUTE,
            detail: "4 failed sign-ins for unknown e-mails from 198.51.100.23".into(),
            count: 4,
            ..first.clone()
        }
    );
    // Lists filter and order by the latest time.
    let q = AuditQuery {
        from: Some(T0 + 3 * MINUTE),
        ..audit_query()
    };
    let (items, total) = store.list_audit("ac1", &q).await.unwrap();
    assert_eq!((items.len(), total), (1, 1));
    assert_eq!(items[0].count, 4);

    // The next hour is a row of its own.
    store
        .count_audit(&unknown_email("ac1", "au-hour-2", T0 + HOUR, 1))
        .await
        .unwrap();
    let (items, total) = store.list_audit("ac1", &audit_query()).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        items
            .iter()
            .map(|e| (e.id.as_str(), e.count))
            .collect::<Vec<_>>(),
        [("au-hour-2", 1), ("au-hour-1", 4), ("au-other", 1)]
    );

    // A row of that id in another account is not this account's to count: refused, unchanged.
    let r = store
        .count_audit(&unknown_email("ac2", "au-hour-1", T0 + 2 * HOUR, 1))
        .await;
    assert_conflict(r, "id");
    assert_eq!(store.list_audit("ac2", &audit_query()).await.unwrap().1, 0);
    let (items, _) = store.list_audit("ac1", &audit_query()).await.unwrap();
    let hour1 = items.iter().find(|e| e.id == "au-hour-1").unwrap();
    assert_eq!((hour1.count, hour1.at), (4, T0 + 4 * MINUTE));

    // An entry for an account that does not exist is refused like any bad insert.
    let r = store
        .count_audit(&unknown_email("nope", "au-x", T0, 1))
        .await;
    assert!(matches!(r, Err(StoreError::Other(_))), "{r:?}");
}

async fn audit_counts_round_trip_through_every_insert(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let single = AuditEntry {
        count: 7,
        ..audit("ac1", "au1", T0, "signin.failed", None)
    };
    store.insert_audit(&single).await.unwrap();
    let batch: Vec<AuditEntry> = (0..3)
        .map(|i| AuditEntry {
            count: 10 + i,
            ..audit(
                "ac1",
                &format!("au-b{i}"),
                T0 + 1 + i,
                "signin.failed",
                None,
            )
        })
        .collect();
    store.insert_audits(&batch).await.unwrap();
    let (items, _) = store.list_audit("ac1", &audit_query()).await.unwrap();
    assert_eq!(
        items
            .iter()
            .map(|e| (e.id.as_str(), e.count))
            .collect::<Vec<_>>(),
        [("au-b2", 12), ("au-b1", 11), ("au-b0", 10), ("au1", 7)]
    );
    // A counted repeat of a batch row adds to what was written.
    store
        .count_audit(&AuditEntry {
            at: T0 + 100,
            ..batch[0].clone()
        })
        .await
        .unwrap();
    let (items, _) = store.list_audit("ac1", &audit_query()).await.unwrap();
    assert_eq!((items[0].id.as_str(), items[0].count), ("au-b0", 11));
}

async fn audit_insert_and_list(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let full = AuditEntry {
        id: "au1".into(),
        account_id: "ac1".into(),
        at: T0 + 10,
        kind: "session.ended".into(),
        actor: Some("ac1-owner".into()),
        target: Some("ag1".into()),
        ip: Some(crate::support::client_ip("198.51.100.4")),
        detail: "ended 2 sessions of ann@example.com".into(),
        count: 1,
    };
    store.insert_audit(&full).await.unwrap();
    let bare = audit("ac1", "au2", T0 + 20, "session.expired", None);
    store.insert_audit(&bare).await.unwrap();
    // Same instant: the id orders them, newest first means highest id first.
    let tie = audit("ac1", "au3", T0 + 20, "session.expired", None);
    store.insert_audit(&tie).await.unwrap();

    let (items, total) = store.list_audit("ac1", &audit_query()).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(items, vec![tie, bare, full.clone()]);

    // A taken id is refused.
    let r = store.insert_audit(&full).await;
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
    assert_eq!(store.list_audit("ac1", &audit_query()).await.unwrap().1, 3);
}

async fn audit_filters_and_paging(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    let mut entries = Vec::new();
    for i in 0..10i64 {
        entries.push(AuditEntry {
            target: Some(if i % 2 == 0 { "ag1" } else { "ag2" }.into()),
            ..audit(
                "ac1",
                &format!("au{i:02}"),
                T0 + i * MINUTE,
                if i < 4 {
                    "member.updated"
                } else {
                    "session.ended"
                },
                Some(if i % 3 == 0 { "ac1-owner" } else { "ad1" }),
            )
        });
    }
    entries.push(audit("ac2", "bu1", T0, "session.ended", Some("ad1")));
    store.insert_audits(&entries).await.unwrap();

    let list = |q: AuditQuery| {
        let store = store.clone();
        async move {
            let (items, total) = store.list_audit("ac1", &q).await.unwrap();
            (items.into_iter().map(|e| e.id).collect::<Vec<_>>(), total)
        }
    };
    let want = |v: &[i64]| v.iter().map(|i| format!("au{i:02}")).collect::<Vec<_>>();

    assert_eq!(
        list(audit_query()).await,
        (want(&[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]), 10)
    );
    let by_actor = AuditQuery {
        actor: Some("ac1-owner".into()),
        ..audit_query()
    };
    assert_eq!(list(by_actor).await, (want(&[9, 6, 3, 0]), 4));
    let by_target = AuditQuery {
        target: Some("ag2".into()),
        ..audit_query()
    };
    assert_eq!(list(by_target).await, (want(&[9, 7, 5, 3, 1]), 5));
    let by_kind = AuditQuery {
        kind: Some("member.updated".into()),
        ..audit_query()
    };
    assert_eq!(list(by_kind).await, (want(&[3, 2, 1, 0]), 4));
    // `from` is inclusive, `to` exclusive.
    let window = AuditQuery {
        from: Some(T0 + 2 * MINUTE),
        to: Some(T0 + 5 * MINUTE),
        ..audit_query()
    };
    assert_eq!(list(window).await, (want(&[4, 3, 2]), 3));
    let combined = AuditQuery {
        actor: Some("ad1".into()),
        target: Some("ag1".into()),
        kind: Some("session.ended".into()),
        from: Some(T0 + 4 * MINUTE),
        ..audit_query()
    };
    assert_eq!(list(combined).await, (want(&[8, 4]), 2));
    let page = AuditQuery {
        offset: 3,
        limit: 4,
        ..audit_query()
    };
    assert_eq!(list(page).await, (want(&[6, 5, 4, 3]), 10));
    let past = AuditQuery {
        offset: 10,
        limit: 4,
        ..audit_query()
    };
    assert_eq!(list(past).await, (vec![], 10));

    let (other, total) = store.list_audit("ac2", &audit_query()).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(other, vec![entries[10].clone()]);
}

async fn audit_person_filter(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let entry = |id: &str, at: Millis, actor: Option<&str>, target: Option<&str>| AuditEntry {
        target: target.map(str::to_string),
        ..audit("ac1", id, T0 + at, "member.updated", actor)
    };
    store
        .insert_audits(&[
            entry("au1", 1, Some("ad1"), Some("ag1")),
            entry("au2", 2, Some("ag1"), None),
            entry("au3", 3, None, Some("ag2")),
            entry("au4", 4, Some("ad1"), Some("ag3")),
            entry("au5", 5, Some("ag3"), Some("ag3")),
            entry("au6", 6, None, None),
        ])
        .await
        .unwrap();
    let list = |persons: &[&str], actor: Option<&str>| {
        let q = AuditQuery {
            persons: persons.iter().map(|p| p.to_string()).collect(),
            actor: actor.map(str::to_string),
            ..audit_query()
        };
        let store = store.clone();
        async move {
            let (items, total) = store.list_audit("ac1", &q).await.unwrap();
            (items.into_iter().map(|e| e.id).collect::<Vec<_>>(), total)
        }
    };
    let want = |v: &[&str]| {
        (
            v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            v.len() as i64,
        )
    };

    // As actor or as target.
    assert_eq!(list(&["ag1"], None).await, want(&["au2", "au1"]));
    assert_eq!(
        list(&["ag3"], None).await,
        want(&["au5", "au4"]),
        "once, though both"
    );
    // Any of several people (a linked pair).
    assert_eq!(
        list(&["ag1", "ag2"], None).await,
        want(&["au3", "au2", "au1"])
    );
    // With the other filters.
    assert_eq!(
        list(&["ag1", "ag2", "ag3"], Some("ad1")).await,
        want(&["au4", "au1"])
    );
    // No one listed: no filter.
    assert_eq!(list(&[], None).await.1, 6);
    assert_eq!(list(&["nobody"], None).await, want(&[]));
}

async fn audit_bulk_insert(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    store.insert_audits(&[]).await.unwrap();
    assert_eq!(store.list_audit("ac1", &audit_query()).await.unwrap().1, 0);

    // More than one statement's worth, with every optional field both set and missing.
    let entries: Vec<AuditEntry> = (0..1234i64)
        .map(|i| AuditEntry {
            target: (i % 2 == 0).then(|| format!("ag{i}")),
            ip: (i % 3 == 0).then(|| crate::support::client_ip("192.0.2.1")),
            ..audit(
                "ac1",
                &format!("au{i:05}"),
                T0 + i,
                "session.ended",
                (i % 5 == 0).then_some("ac1-owner"),
            )
        })
        .collect();
    store.insert_audits(&entries).await.unwrap();
    let q = AuditQuery {
        limit: 2000,
        ..audit_query()
    };
    let (items, total) = store.list_audit("ac1", &q).await.unwrap();
    assert_eq!(total, 1234);
    let mut expected = entries.clone();
    expected.reverse();
    assert_eq!(items, expected);

    // A batch with a taken id is refused.
    let r = store.insert_audits(&[entries[0].clone()]).await;
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
}

/// A bulk ending writes one audit row per session in one statement: every row comes back as
/// written, whatever its text, and a batch with one bad row writes nothing.
async fn many_audit_rows_in_one_batch_exactly_or_not_at_all(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let entries: Vec<AuditEntry> = (0..1500i64)
        .map(|i| AuditEntry {
            target: (i % 2 == 0).then(|| format!("ag{i}")),
            ip: (i % 3 == 0).then(|| crate::support::client_ip("2001:db8::1")),
            detail: format!("session {i} ended \"quoted\" \\ back\\slash, ünïcødé ✓, 'single'"),
            ..audit(
                "ac1",
                &format!("au{i:05}"),
                T0 + i,
                "session.ended",
                Some("ad1"),
            )
        })
        .collect();
    store.insert_audits(&entries).await.unwrap();
    let mut q = audit_query();
    q.limit = 2000;
    let (mut items, total) = store.list_audit("ac1", &q).await.unwrap();
    assert_eq!(total, 1500);
    items.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(items, entries);

    let again = vec![
        audit("ac1", "fresh", T0, "session.ended", None),
        entries[7].clone(),
    ];
    let r = store.insert_audits(&again).await;
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
    assert_eq!(store.list_audit("ac1", &q).await.unwrap().1, 1500);
}
