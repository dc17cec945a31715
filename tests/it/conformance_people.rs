//! Store conformance, people: stored and read back (also by a list of ids in one statement,
//! so the audit page can name everyone on it without one read per id), unique e-mails, the one
//! primary administrator, patches, linked accounts derived from e-mails, and agents' status.

use deskward::domain::member::{AgentStatus, MemberKind, Permission, Permissions};
use deskward::store::{LinkedRef, Member, MemberPatch, NewMember, StoreError};

use crate::conformance::{
    T0, add, admin, agent, assert_conflict, assert_not_found, make_account, names, open,
    primary_admin, query,
};
use crate::db::Backend;

backend_tests!(
    members_by_ids_reads_the_account_s_people_at_once,
    members_round_trip,
    member_email_unique_per_kind_and_account,
    one_primary_admin_per_account,
    update_member_patches,
    linked_accounts_are_derived_from_email,
    credentials_by_email,
    set_status_and_choice,
    a_persons_time_zone_is_set_and_unset,
    address_rules_are_checked_in_the_writing_transaction,
    an_address_check_and_a_concurrent_admin_write_do_not_both_pass,
);

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

async fn members_round_trip(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;

    let ann = add(
        &store,
        agent("ac1", "ag1", "Ann Lee", " Ann.Lee@Example.com "),
    )
    .await;
    assert_eq!(
        ann,
        Member {
            id: "ag1".into(),
            account_id: "ac1".into(),
            kind: MemberKind::Agent,
            name: "Ann Lee".into(),
            email: "Ann.Lee@Example.com".into(),
            primary: false,
            permissions: Permissions::default(),
            status: AgentStatus::Offline,
            status_choice: AgentStatus::Online,
            disabled: false,
            invited: false,
            created_at: T0,
            linked: None,
            time_zone: None,
        }
    );
    assert_eq!(store.member("ac1", "ag1").await.unwrap(), ann);

    let perms = Permissions::new(vec![Permission::Audit, Permission::TeamAdmins]);
    let sub = add(
        &store,
        NewMember {
            permissions: perms.clone(),
            created_at: T0 + 5,
            ..admin("ac1", "ad1", "Sub Admin", "sub@example.com")
        },
    )
    .await;
    assert_eq!(sub.kind, MemberKind::Admin);
    assert!(!sub.primary);
    assert_eq!(sub.permissions, perms);
    assert_eq!(sub.created_at, T0 + 5);

    assert_eq!(
        store.password_hash("ac1", "ag1").await.unwrap(),
        "hash-of-ag1"
    );
    assert_eq!(
        store.password_hash("ac1", "ad1").await.unwrap(),
        "hash-of-ad1"
    );
    assert_not_found(store.member("ac1", "nope").await);
    assert_not_found(store.password_hash("ac1", "nope").await);

    // A taken id is a conflict, not an overwrite.
    let r = store
        .insert_member(&agent("ac1", "ag1", "Other", "other@example.com"))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
    assert_eq!(store.member("ac1", "ag1").await.unwrap().name, "Ann Lee");
}

async fn member_email_unique_per_kind_and_account(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;

    // Same address, other case and padding, same kind: refused.
    assert_conflict(
        store
            .insert_member(&agent("ac1", "ag2", "Ann Two", "  ANN@example.COM"))
            .await,
        "email",
    );
    assert_not_found(store.member("ac1", "ag2").await);
    // Same address as an administrator of the same account: allowed (a linked pair).
    add(&store, admin("ac1", "ad1", "Ann Admin", "Ann@Example.com")).await;
    // A second administrator with it: refused.
    assert_conflict(
        store
            .insert_member(&admin("ac1", "ad2", "Ann Admin 2", "ann@example.com"))
            .await,
        "email",
    );
    // Same address in another account: allowed, and not linked across accounts.
    let other = add(
        &store,
        agent("ac2", "ag9", "Ann Elsewhere", "ann@example.com"),
    )
    .await;
    assert_eq!(other.linked, None);

    // Changing an e-mail onto a taken one (same kind) is refused and changes nothing.
    add(&store, agent("ac1", "ag3", "Bob", "bob@example.com")).await;
    let patch = MemberPatch {
        email: Some(("ANN@example.com".into(), "ann@example.com".into())),
        ..MemberPatch::default()
    };
    assert_conflict(store.update_member("ac1", "ag3", &patch).await, "email");
    assert_eq!(
        store.member("ac1", "ag3").await.unwrap().email,
        "bob@example.com"
    );
}

async fn one_primary_admin_per_account(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    let r = store
        .insert_member(&primary_admin("ac1", "ad9", "second@acme.example"))
        .await;
    assert_conflict(r, "primary");
    assert_not_found(store.member("ac1", "ad9").await);
    // Each account has its own primary.
    assert!(store.member("ac2", "ac2-owner").await.unwrap().primary);
    assert!(store.member("ac1", "ac1-owner").await.unwrap().primary);
}

async fn update_member_patches(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let before = add(&store, admin("ac1", "ad1", "Sub", "sub@example.com")).await;

    // An empty patch changes nothing and returns the person.
    let same = store
        .update_member("ac1", "ad1", &MemberPatch::default())
        .await
        .unwrap();
    assert_eq!(same, before);

    let perms = Permissions::new(vec![Permission::Security, Permission::Audit]);
    let after = store
        .update_member(
            "ac1",
            "ad1",
            &MemberPatch {
                name: Some("Zed Sub".into()),
                email: Some(("Zed@Example.com".into(), "zed@example.com".into())),
                password_hash: Some("new-hash".into()),
                disabled: Some(true),
                permissions: Some(perms.clone()),
            },
        )
        .await
        .unwrap();
    assert_eq!(after.name, "Zed Sub");
    assert_eq!(after.email, "Zed@Example.com");
    assert!(after.disabled);
    assert_eq!(after.permissions, perms);
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(store.member("ac1", "ad1").await.unwrap(), after);
    assert_eq!(store.password_hash("ac1", "ad1").await.unwrap(), "new-hash");
    // The new e-mail is the one sign-in finds; the old one finds nobody.
    assert_eq!(
        store
            .credentials_by_email("ac1", "zed@example.com")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .credentials_by_email("ac1", "sub@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    // The new name is the one the list sorts and searches by.
    let mut q = query(MemberKind::Admin, T0);
    q.search = Some("zed s".into());
    assert_eq!(
        names(&store, "ac1", &q).await,
        (vec!["Zed Sub".to_string()], 1)
    );

    let enabled = store
        .update_member(
            "ac1",
            "ad1",
            &MemberPatch {
                disabled: Some(false),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(!enabled.disabled);
    assert_eq!(enabled.name, "Zed Sub");

    let patch = MemberPatch {
        name: Some("X".into()),
        ..MemberPatch::default()
    };
    assert_not_found(store.update_member("ac1", "nope", &patch).await);
}

async fn linked_accounts_are_derived_from_email(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let ag = add(&store, agent("ac1", "ag1", "Ann Agent", "ann@example.com")).await;
    assert_eq!(ag.linked, None);
    let ad = add(
        &store,
        admin("ac1", "ad1", "Ann Admin", "  ANN@Example.com "),
    )
    .await;
    let to_agent = Some(LinkedRef {
        kind: MemberKind::Agent,
        id: "ag1".into(),
        name: "Ann Agent".into(),
    });
    let to_admin = Some(LinkedRef {
        kind: MemberKind::Admin,
        id: "ad1".into(),
        name: "Ann Admin".into(),
    });
    assert_eq!(ad.linked, to_agent);
    assert_eq!(store.member("ac1", "ag1").await.unwrap().linked, to_admin);
    assert_eq!(store.member("ac1", "ad1").await.unwrap().linked, to_agent);

    // Lists carry the link too.
    let (agents, _) = store
        .list_members("ac1", &query(MemberKind::Agent, T0))
        .await
        .unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].linked, to_admin);
    let (admins, _) = store
        .list_members("ac1", &query(MemberKind::Admin, T0))
        .await
        .unwrap();
    let ann = admins.iter().find(|m| m.id == "ad1").expect("admin listed");
    assert_eq!(ann.linked, to_agent);
    let owner = admins
        .iter()
        .find(|m| m.id == "ac1-owner")
        .expect("owner listed");
    assert_eq!(owner.linked, None);

    // A rename shows in the link's name.
    store
        .update_member(
            "ac1",
            "ad1",
            &MemberPatch {
                name: Some("Ann A.".into()),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .member("ac1", "ag1")
            .await
            .unwrap()
            .linked
            .unwrap()
            .name,
        "Ann A."
    );

    // Changing one side's e-mail breaks the link on both sides.
    let patch = MemberPatch {
        email: Some((
            "ann.admin@example.com".into(),
            "ann.admin@example.com".into(),
        )),
        ..MemberPatch::default()
    };
    let ad = store.update_member("ac1", "ad1", &patch).await.unwrap();
    assert_eq!(ad.linked, None);
    assert_eq!(store.member("ac1", "ag1").await.unwrap().linked, None);

    // And changing it back restores it: the link is never stored.
    let patch = MemberPatch {
        email: Some(("Ann@example.com".into(), "ann@example.com".into())),
        ..MemberPatch::default()
    };
    let ad = store.update_member("ac1", "ad1", &patch).await.unwrap();
    assert_eq!(ad.linked.map(|l| l.id), Some("ag1".to_string()));
    assert_eq!(
        store
            .member("ac1", "ag1")
            .await
            .unwrap()
            .linked
            .map(|l| l.id),
        Some("ad1".into())
    );
}

async fn credentials_by_email(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    add(&store, agent("ac1", "ag1", "Ann", "Ann@Example.com")).await;
    add(&store, admin("ac1", "ad1", "Ann Admin", "ann@example.com")).await;
    add(&store, agent("ac2", "ag2", "Ann Beta", "ann@example.com")).await;

    let creds = store
        .credentials_by_email("ac1", "ann@example.com")
        .await
        .unwrap();
    let got: Vec<(MemberKind, String, String)> = creds
        .iter()
        .map(|c| (c.member.kind, c.member.id.clone(), c.password_hash.clone()))
        .collect();
    let mut expected = vec![
        (
            MemberKind::Agent,
            "ag1".to_string(),
            "hash-of-ag1".to_string(),
        ),
        (
            MemberKind::Admin,
            "ad1".to_string(),
            "hash-of-ad1".to_string(),
        ),
    ];
    let mut sorted = got.clone();
    sorted.sort_by_key(|(k, _, _)| k.as_str());
    expected.sort_by_key(|(k, _, _)| k.as_str());
    assert_eq!(sorted, expected);
    // Each carries its link to the other.
    for c in &creds {
        let link = c.member.linked.as_ref().expect("linked");
        assert_eq!(link.kind, c.member.kind.other());
    }

    let beta = store
        .credentials_by_email("ac2", "ann@example.com")
        .await
        .unwrap();
    assert_eq!(beta.len(), 1);
    assert_eq!(beta[0].member.id, "ag2");
    assert_eq!(beta[0].member.linked, None);
    assert!(
        store
            .credentials_by_email("ac1", "nobody@example.com")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_persons_time_zone_is_set_and_unset(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "other").await;
    add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    add(&store, agent("ac1", "ag2", "Bo", "bo@example.com")).await;
    let m = store
        .set_time_zone("ac1", "ag1", Some("America/Los_Angeles"))
        .await
        .unwrap();
    assert_eq!(m.time_zone.as_deref(), Some("America/Los_Angeles"));
    assert_eq!(
        store
            .member("ac1", "ag1")
            .await
            .unwrap()
            .time_zone
            .as_deref(),
        Some("America/Los_Angeles")
    );
    assert_eq!(store.member("ac1", "ag2").await.unwrap().time_zone, None);
    // Another account's person, or nobody: not found, nothing written.
    assert_not_found(store.set_time_zone("ac2", "ag2", Some("UTC")).await);
    assert_not_found(store.set_time_zone("ac1", "nobody", Some("UTC")).await);
    assert_eq!(store.member("ac1", "ag2").await.unwrap().time_zone, None);
    let m = store.set_time_zone("ac1", "ag1", None).await.unwrap();
    assert_eq!(m.time_zone, None);
}

async fn set_status_and_choice(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let ann = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    assert_eq!(
        (ann.status, ann.status_choice),
        (AgentStatus::Offline, AgentStatus::Online)
    );

    let m = store
        .set_status("ac1", "ag1", AgentStatus::Online, Some(AgentStatus::Online))
        .await
        .unwrap();
    assert_eq!(
        (m.status, m.status_choice),
        (AgentStatus::Online, AgentStatus::Online)
    );

    // Presence alone (tabs gone) keeps the person's choice.
    let m = store
        .set_status("ac1", "ag1", AgentStatus::Offline, None)
        .await
        .unwrap();
    assert_eq!(
        (m.status, m.status_choice),
        (AgentStatus::Offline, AgentStatus::Online)
    );

    let m = store
        .set_status(
            "ac1",
            "ag1",
            AgentStatus::Offline,
            Some(AgentStatus::Offline),
        )
        .await
        .unwrap();
    assert_eq!(
        (m.status, m.status_choice),
        (AgentStatus::Offline, AgentStatus::Offline)
    );
    let read = store.member("ac1", "ag1").await.unwrap();
    assert_eq!(
        (read.status, read.status_choice),
        (AgentStatus::Offline, AgentStatus::Offline)
    );

    // Administrators have no status; unknown people are not found.
    assert_not_found(
        store
            .set_status(
                "ac1",
                "ac1-owner",
                AgentStatus::Online,
                Some(AgentStatus::Online),
            )
            .await,
    );
    assert_not_found(
        store
            .set_status("ac1", "nope", AgentStatus::Online, None)
            .await,
    );
}

/// The rule of whoever writes an address is applied to its holders inside the write: a person
/// added on a refused holder's address, moved onto it, or given a password on it is refused
/// with nothing written; a holder the rule allows, or the person themself, is no obstacle.
async fn address_rules_are_checked_in_the_writing_transaction(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    add(&store, admin("ac1", "ad1", "Ada", "ada@example.com")).await;
    add(&store, agent("ac1", "ag1", "Bob", "bob@example.com")).await;
    let refuses_admins = |m: &Member| m.kind == MemberKind::Admin;

    let twin = agent("ac1", "ag2", "Ada Twin", "ada@example.com");
    let refused = store.insert_member_checked(&twin, &refuses_admins).await;
    assert!(
        matches!(refused, Err(StoreError::AddressRefused)),
        "{refused:?}"
    );
    assert_not_found(store.member("ac1", "ag2").await);

    let onto = MemberPatch {
        email: Some(("ADA@example.com".into(), "ada@example.com".into())),
        ..Default::default()
    };
    let refused = store
        .update_member_checked("ac1", "ag1", &onto, &refuses_admins)
        .await;
    assert!(
        matches!(refused, Err(StoreError::AddressRefused)),
        "{refused:?}"
    );
    assert_eq!(
        store.member("ac1", "ag1").await.unwrap().email,
        "bob@example.com"
    );

    // A twin added by someone whose rule allows it; then a password set on it by someone
    // whose rule refuses the administrator on that address.
    add(&store, agent("ac1", "ag3", "Ada Agent", "ada@example.com")).await;
    let before = store.password_hash("ac1", "ag3").await.unwrap();
    let password = MemberPatch {
        password_hash: Some("another hash".into()),
        ..Default::default()
    };
    let refused = store
        .update_member_checked("ac1", "ag3", &password, &refuses_admins)
        .await;
    assert!(
        matches!(refused, Err(StoreError::AddressRefused)),
        "{refused:?}"
    );
    assert_eq!(store.password_hash("ac1", "ag3").await.unwrap(), before);

    // The person written is never their own obstacle, nor are holders the rule allows.
    let own = store
        .update_member_checked("ac1", "ad1", &password, &refuses_admins)
        .await
        .expect("the administrator's own address");
    assert_eq!(own.id, "ad1");
    let renamed = MemberPatch {
        name: Some("Bob B".into()),
        ..Default::default()
    };
    store
        .update_member_checked("ac1", "ag1", &renamed, &refuses_admins)
        .await
        .expect("a change that writes no address checks none");
    store
        .insert_member_checked(
            &agent("ac1", "ag4", "Cy", "cy@example.com"),
            &refuses_admins,
        )
        .await
        .expect("a free address");
}

/// An agent added with a rule refusing administrators, while an administrator is added on the
/// same address at once: never both, unless the agent's write came first (then the
/// administrator's write, whose rule refuses nobody, joins it as a linked account). Whichever
/// commits second sees the first, because both hold the address's lock.
async fn an_address_check_and_a_concurrent_admin_write_do_not_both_pass(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    for round in 0..20 {
        let email = format!("race{round}@example.com");
        let agent_id = format!("ag{round}");
        let admin_id = format!("ad{round}");
        let (a, b) = (store.clone(), store.clone());
        let agent_new = agent("ac1", &agent_id, "Racer", &email);
        let admin_new = admin("ac1", &admin_id, "Racer Admin", &email);
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let (b1, b2) = (barrier.clone(), barrier.clone());
        let agent_task = tokio::spawn(async move {
            b1.wait().await;
            a.insert_member_checked(&agent_new, &|m: &Member| m.kind == MemberKind::Admin)
                .await
        });
        let admin_task = tokio::spawn(async move {
            b2.wait().await;
            b.insert_member(&admin_new).await
        });
        let (agent_res, admin_res) = (agent_task.await.unwrap(), admin_task.await.unwrap());
        let admin_row = admin_res.expect("the administrator's write refuses nobody");
        match agent_res {
            Err(StoreError::AddressRefused) => {}
            Ok(agent_row) => {
                // Allowed only when the agent was there first: the administrator then
                // came in as its linked account.
                assert_eq!(
                    admin_row.linked.as_ref().map(|l| l.id.clone()),
                    Some(agent_row.id.clone()),
                    "round {round}: both written, the agent after the administrator"
                );
            }
            Err(e) => panic!("round {round}: {e:?}"),
        }
    }
}
