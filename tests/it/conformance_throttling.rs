//! Store conformance, sign-in attempts counted before the password is checked: a
//! reservation reads the keys' failures while they are locked, and only the attempts the rule
//! allows are counted, whatever the concurrency, across instances, on both databases.

use deskward::domain::time::{HOUR, MINUTE};
use deskward::store::FailureWindow;

use crate::conformance::{Db, T0, open, record_failure};
use crate::db::Backend;

backend_tests!(
    fifty_concurrent_attempts_let_exactly_the_limit_through,
    the_limit_holds_across_instances,
    a_reservation_counts_once_per_key_until_forgiven,
    reservations_over_the_same_keys_in_any_order_never_deadlock,
    sign_in_failures_count_per_key_within_the_window,
);

fn key(c: char) -> String {
    c.to_string().repeat(64)
}

/// Allows while every key has fewer than `limit` failures in its window.
fn under(limit: usize) -> impl Fn(&[FailureWindow]) -> bool + Send + Sync {
    move |windows: &[FailureWindow]| windows.iter().all(|w| w.count < limit)
}

/// Runs `n` reservations at once for `keys`, spread over `stores`; returns how many were
/// allowed and the windows the refused ones saw.
async fn race(stores: &[Db], keys: &[String], n: usize, limit: usize) -> (usize, Vec<usize>) {
    // Warm every pool so the attempts really run side by side.
    for s in stores {
        futures_util::future::join_all((0..8).map(|_| s.ping())).await;
    }
    let mut tasks = Vec::new();
    for i in 0..n {
        let store = stores[i % stores.len()].clone();
        let keys = keys.to_vec();
        tasks.push(tokio::spawn(async move {
            store
                .reserve_signin_attempt(&keys, T0 - HOUR, T0 + i as i64, &under(limit))
                .await
        }));
    }
    let mut allowed = 0;
    let mut refused_counts = Vec::new();
    for t in tasks {
        match t.await.expect("task").expect("reserve") {
            Ok(id) => {
                assert!(id.starts_with("sa_"), "{id}");
                allowed += 1;
            }
            Err(windows) => refused_counts.push(windows[0].count),
        }
    }
    (allowed, refused_counts)
}

async fn fifty_concurrent_attempts_let_exactly_the_limit_through(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = key('a');
    let (allowed, refused) = race(
        std::slice::from_ref(&store),
        std::slice::from_ref(&a),
        50,
        5,
    )
    .await;
    assert_eq!(allowed, 5, "exactly the limit gets through");
    assert_eq!(refused.len(), 45);
    assert!(
        refused.iter().all(|c| *c == 5),
        "a refusal saw the full window: {refused:?}"
    );
    let w = store.signin_failures(&a, T0 - HOUR).await.unwrap();
    assert_eq!(
        w.count, 5,
        "every allowed attempt counts, no refused one does"
    );
}

async fn the_limit_holds_across_instances(backend: Backend) {
    let (db, first) = open(backend).await;
    // A second instance: its own pool on the same database.
    let second: Db = deskward::store::testing::connect(&db.url)
        .await
        .expect("second");
    let b = key('b');
    let (allowed, _) = race(
        &[first.clone(), second.clone()],
        std::slice::from_ref(&b),
        40,
        5,
    )
    .await;
    assert_eq!(allowed, 5);
    assert_eq!(
        second.signin_failures(&b, T0 - HOUR).await.unwrap().count,
        5
    );
}

async fn a_reservation_counts_once_per_key_until_forgiven(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (a, b) = (key('a'), key('b'));
    // A failure left by an earlier wrong password, and one too old to count.
    record_failure(&store, std::slice::from_ref(&a), T0).await;
    record_failure(&store, std::slice::from_ref(&a), T0 - 2 * HOUR).await;

    // The rule sees each key's window after `since`, in the order of the keys.
    let seen = std::sync::Mutex::new(Vec::new());
    let first = store
        .reserve_signin_attempt(&[b.clone(), a.clone()], T0 - HOUR, T0 + MINUTE, &|w| {
            seen.lock().unwrap().push(w.to_vec());
            true
        })
        .await
        .unwrap()
        .expect("allowed");
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![vec![
            FailureWindow::default(),
            FailureWindow {
                count: 1,
                oldest: Some(T0),
                newest: Some(T0)
            },
        ]]
    );
    // Counted as a failure of each key at `at`.
    let window = |count, oldest, newest| FailureWindow {
        count,
        oldest: Some(oldest),
        newest: Some(newest),
    };
    assert_eq!(
        store.signin_failures(&a, T0 - HOUR).await.unwrap(),
        window(2, T0, T0 + MINUTE)
    );
    assert_eq!(
        store.signin_failures(&b, T0 - HOUR).await.unwrap(),
        window(1, T0 + MINUTE, T0 + MINUTE)
    );

    // Refused: the windows come back and nothing is counted.
    let refused = store
        .reserve_signin_attempt(
            &[a.clone(), b.clone()],
            T0 - HOUR,
            T0 + 2 * MINUTE,
            &under(2),
        )
        .await
        .unwrap();
    assert_eq!(
        refused,
        Err(vec![
            window(2, T0, T0 + MINUTE),
            window(1, T0 + MINUTE, T0 + MINUTE)
        ])
    );
    assert_eq!(store.signin_failures(&a, T0 - HOUR).await.unwrap().count, 2);

    // A second reservation, then the first is forgiven (its password was right): only its
    // rows go, on every key; failures recorded otherwise and other attempts stay.
    let second = store
        .reserve_signin_attempt(
            std::slice::from_ref(&b),
            T0 - HOUR,
            T0 + 3 * MINUTE,
            &under(9),
        )
        .await
        .unwrap()
        .expect("allowed");
    assert_ne!(first, second);
    store.forgive_signin_attempt(&first).await.unwrap();
    assert_eq!(
        store.signin_failures(&a, T0 - HOUR).await.unwrap(),
        window(1, T0, T0)
    );
    assert_eq!(
        store.signin_failures(&b, T0 - HOUR).await.unwrap(),
        window(1, T0 + 3 * MINUTE, T0 + 3 * MINUTE)
    );
    // Forgiving again, or an unknown attempt, changes nothing.
    store.forgive_signin_attempt(&first).await.unwrap();
    store.forgive_signin_attempt("sa_unknown").await.unwrap();
    assert_eq!(store.signin_failures(&b, T0 - HOUR).await.unwrap().count, 1);

    // No keys: the rule alone decides, and nothing is counted.
    let none = store
        .reserve_signin_attempt(&[], T0 - HOUR, T0, &|w| w.is_empty())
        .await
        .unwrap();
    assert!(none.is_ok());
    let refused = store
        .reserve_signin_attempt(&[], T0 - HOUR, T0, &|_| false)
        .await
        .unwrap();
    assert_eq!(refused, Err(vec![]));

    // Reserved rows age out with the rest.
    assert_eq!(
        store.prune_signin_failures(T0 + 3 * MINUTE).await.unwrap(),
        3
    );
    assert_eq!(store.signin_failures(&b, 0).await.unwrap().count, 0);
}

async fn reservations_over_the_same_keys_in_any_order_never_deadlock(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (a, b, c) = (key('a'), key('b'), key('c'));
    futures_util::future::join_all((0..8).map(|_| store.ping())).await;
    let orders = [
        vec![a.clone(), b.clone(), c.clone()],
        vec![c.clone(), b.clone(), a.clone()],
        vec![b.clone(), a.clone()],
        vec![c.clone(), a.clone(), c.clone()],
    ];
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        let keys = orders[i % orders.len()].clone();
        tasks.push(tokio::spawn(async move {
            store
                .reserve_signin_attempt(&keys, T0 - HOUR, T0, &|_| true)
                .await
        }));
    }
    for t in tasks {
        assert!(
            t.await
                .expect("task")
                .expect("no deadlock, no error")
                .is_ok()
        );
    }
    // One row per key given: `c` twice in the last order.
    let count = |k: String| {
        let store = store.clone();
        async move { store.signin_failures(&k, T0 - HOUR).await.unwrap().count }
    };
    assert_eq!(count(a).await, 40);
    assert_eq!(count(b).await, 30);
    assert_eq!(count(c).await, 40);
}

async fn sign_in_failures_count_per_key_within_the_window(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (a, b) = ("a".repeat(64), "b".repeat(64));
    assert_eq!(
        store.signin_failures(&a, T0 - HOUR).await.unwrap(),
        FailureWindow::default()
    );
    record_failure(&store, &[a.clone(), b.clone()], T0).await;
    record_failure(&store, std::slice::from_ref(&a), T0 + MINUTE).await;
    record_failure(&store, &[], T0 + MINUTE).await;
    let window = |count, oldest, newest| FailureWindow {
        count,
        oldest: Some(oldest),
        newest: Some(newest),
    };
    assert_eq!(
        store.signin_failures(&a, T0 - HOUR).await.unwrap(),
        window(2, T0, T0 + MINUTE)
    );
    assert_eq!(
        store.signin_failures(&b, T0 - HOUR).await.unwrap(),
        window(1, T0, T0)
    );
    // Only failures after `since` count.
    assert_eq!(
        store.signin_failures(&a, T0).await.unwrap(),
        window(1, T0 + MINUTE, T0 + MINUTE)
    );
    // Clearing one key leaves the other.
    store.clear_signin_failures(&a).await.unwrap();
    assert_eq!(store.signin_failures(&a, 0).await.unwrap().count, 0);
    assert_eq!(store.signin_failures(&b, 0).await.unwrap().count, 1);
    // Pruning forgets what is at or before the cut.
    record_failure(&store, std::slice::from_ref(&b), T0 + HOUR).await;
    assert_eq!(store.prune_signin_failures(T0).await.unwrap(), 1);
    assert_eq!(
        store.signin_failures(&b, 0).await.unwrap(),
        window(1, T0 + HOUR, T0 + HOUR)
    );
}
