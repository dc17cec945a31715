//! Store conformance, people read by a list of ids in one statement (`members`), so the audit
//! page can name everyone on it without one read per id.

use deskward::domain::member::MemberKind;
use deskward::store::LinkedRef;

use crate::conformance::{add, admin, agent, make_account, open};
use crate::db::Backend;

backend_tests!(members_by_ids_reads_the_account_s_people_at_once);

async fn members_by_ids_reads_the_account_s_people_at_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    add(&store, admin("ac1", "ad1", "Ann Admin", "ann@example.com")).await;
    add(&store, agent("ac1", "ag2", "Bob", "bob@example.com")).await;
    add(&store, agent("ac2", "bg1", "Elsewhere", "e@example.com")).await;
    let read = |id: &'static str| {
        let store = store.clone();
        async move { store.member("ac1", id).await.unwrap() }
    };
    let (owner, ann_admin, ann, bob) = (
        read("ac1-owner").await,
        read("ad1").await,
        read("ag1").await,
        read("ag2").await,
    );

    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Each as `member` reads them (kind, link and all), by id; unknown ids and other
    // accounts' people are skipped; a repeated id gives one person.
    let got = store
        .members(
            "ac1",
            &ids(&["ag2", "nobody", "ad1", "bg1", "ag1", "ag2", "ac1-owner"]),
        )
        .await
        .unwrap();
    assert_eq!(got, vec![owner, ann_admin, ann.clone(), bob]);
    assert_eq!(
        got[1].linked,
        Some(LinkedRef {
            kind: MemberKind::Agent,
            id: "ag1".into(),
            name: "Ann".into(),
        })
    );
    assert!(store.members("ac1", &[]).await.unwrap().is_empty());
    assert!(
        store
            .members("ac2", &ids(&["ag1", "ad1"]))
            .await
            .unwrap()
            .is_empty()
    );

    // A whole audit page's worth of ids is one statement whatever the count.
    let mut many: Vec<String> = (0..1500).map(|i| format!("missing-{i}")).collect();
    many.push("ag1".into());
    let got = store.members("ac1", &many).await.unwrap();
    assert_eq!(got, vec![ann]);
}
