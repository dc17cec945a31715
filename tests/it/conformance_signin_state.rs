//! Store conformance, state shared by every instance for signing in: server secrets made on
//! first use, and short-lived sign-in challenges that at most one caller can take.

use std::sync::Arc;

use deskward::domain::signin::ChallengePurpose;
use deskward::domain::time::MINUTE;
use deskward::store::{Challenge, Store, StoreError};

use crate::conformance::{T0, assert_conflict, assert_not_found, make_account, open};
use crate::db::Backend;

backend_tests!(
    server_secrets_are_made_once_and_shared,
    challenges_live_until_they_expire_or_are_taken,
    a_challenge_is_taken_by_at_most_one_caller,
);

async fn server_secrets_are_made_once_and_shared(backend: Backend) {
    let (db, first) = open(backend).await;
    let second: Arc<dyn Store> = deskward::store::connect(&db.url).await.expect("second");
    // Concurrent first uses on two instances agree on one value.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            store.server_secret("cookie-key").await
        }));
    }
    let mut values = Vec::new();
    for t in tasks {
        values.push(t.await.expect("task").expect("secret"));
    }
    let secret = values[0].clone();
    assert_eq!(secret.len(), 32);
    assert!(
        values.iter().all(|v| *v == secret),
        "one value for everyone"
    );
    assert_ne!(secret, vec![0u8; 32]);
    // Another name, another secret; the first stays as it was, also after a restart.
    let other = first.server_secret("challenge-key").await.unwrap();
    assert_eq!(other.len(), 32);
    assert_ne!(other, secret);
    drop((first, second));
    let again = deskward::store::connect(&db.url).await.expect("reopen");
    assert_eq!(again.server_secret("cookie-key").await.unwrap(), secret);
    assert_eq!(again.server_secret("challenge-key").await.unwrap(), other);
}

fn challenge(id_hash: &str, account_id: &str, expires_at: i64) -> Challenge {
    Challenge {
        id_hash: id_hash.to_string(),
        account_id: account_id.to_string(),
        purpose: ChallengePurpose::ChooseAccount,
        member_ids: vec!["ag1".to_string(), "ad \"1\", ü".to_string()],
        ip: crate::support::client_ip("2001:db8::7"),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64)".to_string(),
        data: r#"{"next":"/team"}"#.to_string(),
        created_at: T0,
        expires_at,
        failures: 0,
    }
}

async fn challenges_live_until_they_expire_or_are_taken(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let c = challenge("h1", "ac1", T0 + 5 * MINUTE);
    store.insert_challenge(&c).await.unwrap();
    // A taken id is refused and changes nothing.
    let dup = Challenge {
        purpose: ChallengePurpose::SecondStep,
        ..c.clone()
    };
    assert_conflict(store.insert_challenge(&dup).await, "id");
    // A challenge of an account that does not exist is refused.
    let r = store
        .insert_challenge(&challenge("h-nope", "nope", T0 + MINUTE))
        .await;
    assert!(matches!(r, Err(StoreError::Other(_))), "{r:?}");

    // Read back whole while it lives (until `expires_at`, exclusive).
    assert_eq!(store.challenge("h1", T0).await.unwrap(), Some(c.clone()));
    assert_eq!(
        store.challenge("h1", T0 + 5 * MINUTE - 1).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(store.challenge("h1", T0 + 5 * MINUTE).await.unwrap(), None);
    assert_eq!(store.challenge("other", T0).await.unwrap(), None);

    // Failures are counted on it.
    assert_eq!(store.count_challenge_failure("h1").await.unwrap(), 1);
    assert_eq!(store.count_challenge_failure("h1").await.unwrap(), 2);
    assert_not_found(store.count_challenge_failure("other").await);
    assert_eq!(
        store.challenge("h1", T0).await.unwrap().unwrap().failures,
        2
    );

    // Taking an expired one gets nothing; a live one is removed as it is returned.
    assert_eq!(
        store.take_challenge("h1", T0 + 5 * MINUTE).await.unwrap(),
        None
    );
    let taken = store.take_challenge("h1", T0 + MINUTE).await.unwrap();
    assert_eq!(
        taken,
        Some(Challenge {
            failures: 2,
            ..c.clone()
        })
    );
    assert_eq!(store.take_challenge("h1", T0 + MINUTE).await.unwrap(), None);
    assert_eq!(store.challenge("h1", T0).await.unwrap(), None);

    // Pruning forgets the expired ones only.
    let no_one = Challenge {
        member_ids: vec![],
        ..challenge("h-empty", "ac1", T0 + 10 * MINUTE)
    };
    store.insert_challenge(&no_one).await.unwrap();
    store
        .insert_challenge(&challenge("h-old", "ac1", T0 + MINUTE))
        .await
        .unwrap();
    store
        .insert_challenge(&challenge("h-older", "ac1", T0 + 2 * MINUTE))
        .await
        .unwrap();
    assert_eq!(store.prune_challenges(T0 + 2 * MINUTE).await.unwrap(), 2);
    assert_eq!(store.prune_challenges(T0 + 2 * MINUTE).await.unwrap(), 0);
    assert_eq!(
        store.challenge("h-empty", T0 + 2 * MINUTE).await.unwrap(),
        Some(no_one)
    );
}

async fn a_challenge_is_taken_by_at_most_one_caller(backend: Backend) {
    let (db, first) = open(backend).await;
    let second: Arc<dyn Store> = deskward::store::connect(&db.url).await.expect("second");
    make_account(&first, "ac1", "acme").await;
    for round in 0..5 {
        let id = format!("h{round}");
        first
            .insert_challenge(&challenge(&id, "ac1", T0 + MINUTE))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..10 {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let id = id.clone();
            tasks.push(tokio::spawn(
                async move { store.take_challenge(&id, T0).await },
            ));
        }
        let mut got = 0;
        for t in tasks {
            if t.await.expect("task").expect("take").is_some() {
                got += 1;
            }
        }
        assert_eq!(got, 1, "round {round}: exactly one caller takes it");
    }
}
