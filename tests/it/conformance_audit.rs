//! Store conformance, audit rows that count repeats (`count_audit`, issue 12: failed sign-ins
//! for unknown e-mails counted per address and hour instead of one row each).

use deskward::domain::time::{HOUR, MINUTE};
use deskward::store::{AuditEntry, AuditQuery, StoreError};

use crate::conformance::{T0, assert_conflict, audit, audit_query, make_account, open};
use crate::db::Backend;

backend_tests!(
    count_audit_adds_to_one_row_per_id,
    audit_counts_round_trip_through_every_insert,
);

/// The entry a failed sign-in for an unknown address would count, for one hour.
fn unknown_email(account_id: &str, id: &str, at: i64, tries: i64) -> AuditEntry {
    AuditEntry {
        target: None,
        ip: Some("198.51.100.23".into()),
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
            ip: Some("203.0.113.1".into()),
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
