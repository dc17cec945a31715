//! Store conformance suite: every `Store` method, written once against the trait and run on
//! SQLite and PostgreSQL through `backend_tests!`. Times are fixed Unix milliseconds, ids and
//! password hashes are plain strings (the store neither generates nor hashes them). The
//! fixtures here are shared with the newer conformance files (`conformance_*.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;

use deskward::domain::email::normalize;
use deskward::domain::member::{AgentStatus, MemberKind, Permission, Permissions};
use deskward::domain::session::EndReason;
use deskward::domain::time::{HOUR, MINUTE, Millis};
use deskward::store::{
    Account, AuditEntry, AuditQuery, EndedSession, FailureWindow, LinkedRef, Member, MemberPatch,
    MemberQuery, NewAccount, NewMember, NewSession, SessionFilter, Store, StoreError,
};

use crate::db::{Backend, TestDb};

/// 2026-01-01T00:00:00Z.
pub(crate) const T0: Millis = 1_767_225_600_000;

pub(crate) type Db = Arc<dyn Store>;

pub(crate) async fn open(backend: Backend) -> (TestDb, Db) {
    let db = TestDb::new(backend).await;
    let store = deskward::store::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("open {backend:?} store: {e}"));
    (db, store)
}

pub(crate) fn account(id: &str, slug: &str, created_at: Millis) -> NewAccount {
    NewAccount {
        id: id.to_string(),
        slug: slug.to_string(),
        name: format!("Account {slug}"),
        created_at,
    }
}

pub(crate) fn person(
    account_id: &str,
    id: &str,
    kind: MemberKind,
    name: &str,
    email: &str,
) -> NewMember {
    NewMember {
        id: id.to_string(),
        account_id: account_id.to_string(),
        kind,
        name: name.to_string(),
        email: email.trim().to_string(),
        email_norm: normalize(email),
        password_hash: format!("hash-of-{id}"),
        primary: false,
        permissions: match kind {
            MemberKind::Agent => Permissions::default(),
            MemberKind::Admin => Permissions::new(vec![Permission::TeamAgents]),
        },
        created_at: T0,
    }
}

pub(crate) fn agent(account_id: &str, id: &str, name: &str, email: &str) -> NewMember {
    person(account_id, id, MemberKind::Agent, name, email)
}

pub(crate) fn admin(account_id: &str, id: &str, name: &str, email: &str) -> NewMember {
    person(account_id, id, MemberKind::Admin, name, email)
}

pub(crate) fn primary_admin(account_id: &str, id: &str, email: &str) -> NewMember {
    NewMember {
        primary: true,
        permissions: Permissions::all(),
        ..admin(account_id, id, &format!("Primary {id}"), email)
    }
}

/// Creates an account (not only-if-empty) with its primary administrator `{id}-owner`.
pub(crate) async fn make_account(store: &Db, id: &str, slug: &str) -> Account {
    store
        .create_account(
            &account(id, slug, T0),
            &primary_admin(id, &format!("{id}-owner"), &format!("owner@{slug}.example")),
            false,
        )
        .await
        .expect("create account")
}

pub(crate) async fn add(store: &Db, m: NewMember) -> Member {
    store.insert_member(&m).await.expect("insert member")
}

pub(crate) fn token_of(session_id: &str) -> String {
    format!("token-hash-{session_id}")
}

pub(crate) fn new_session(m: &Member, id: &str, started_at: Millis) -> NewSession {
    NewSession {
        id: id.to_string(),
        account_id: m.account_id.clone(),
        member_id: m.id.clone(),
        member_kind: m.kind,
        token_hash: token_of(id),
        csrf_token: format!("csrf-{id}"),
        started_at,
        ip: "203.0.113.7".to_string(),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0".to_string(),
        device: "Chrome 131 on Windows".to_string(),
        auth_methods: "password".to_string(),
        mfa_enrollment: false,
    }
}

/// Inserts a session started at `started_at` and, when later, last seen at `last_seen_at`.
pub(crate) async fn open_session(
    store: &Db,
    m: &Member,
    id: &str,
    started_at: Millis,
    last_seen_at: Millis,
) {
    store
        .insert_session(&new_session(m, id, started_at))
        .await
        .expect("insert session");
    if last_seen_at != started_at {
        assert!(
            store.touch_session(id, last_seen_at).await.expect("touch"),
            "{id} is live"
        );
    }
}

pub(crate) fn query(kind: MemberKind, active_after: Millis) -> MemberQuery {
    MemberQuery {
        kind,
        session: None,
        status: None,
        search: None,
        active_after,
        offset: 0,
        limit: 50,
    }
}

pub(crate) async fn names(store: &Db, account_id: &str, q: &MemberQuery) -> (Vec<String>, i64) {
    let (items, total) = store
        .list_members(account_id, q)
        .await
        .expect("list members");
    (items.into_iter().map(|m| m.name).collect(), total)
}

pub(crate) fn ids(ended: &[EndedSession]) -> BTreeSet<String> {
    ended.iter().map(|e| e.id.clone()).collect()
}

pub(crate) fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>, expected: &str) {
    match r {
        Err(StoreError::Conflict { field }) => assert_eq!(field, expected, "conflict field"),
        other => panic!("expected Conflict {{ field: {expected:?} }}, got {other:?}"),
    }
}

pub(crate) fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    match r {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

pub(crate) fn audit(
    account_id: &str,
    id: &str,
    at: Millis,
    kind: &str,
    actor: Option<&str>,
) -> AuditEntry {
    AuditEntry {
        id: id.to_string(),
        account_id: account_id.to_string(),
        at,
        kind: kind.to_string(),
        actor: actor.map(str::to_string),
        target: None,
        ip: None,
        detail: format!("detail of {id}"),
        count: 1,
    }
}

pub(crate) fn audit_query() -> AuditQuery {
    AuditQuery {
        limit: 100,
        ..AuditQuery::default()
    }
}

backend_tests!(
    sign_in_failures_count_per_key_within_the_window,
    many_audit_rows_in_one_batch_exactly_or_not_at_all,
    checkpoint_keeps_everything,
    set_offline_many_touches_only_online_agents_of_the_account,
    opens_and_reports_backend,
    creates_accounts_and_their_primary_admin,
    first_run_setup_cannot_race,
    account_creation_is_atomic,
    account_settings,
    members_round_trip,
    member_email_unique_per_kind_and_account,
    one_primary_admin_per_account,
    update_member_patches,
    linked_accounts_are_derived_from_email,
    credentials_by_email,
    has_session_from_ip,
    list_members_orders_by_name_and_pages,
    list_members_session_filter,
    list_members_status_filter,
    list_members_search,
    list_members_filters_combine,
    accounts_are_isolated,
    session_lifecycle,
    auth_record_reads_person_and_account,
    touch_session_only_moves_forward,
    active_sessions_lists_live_ones_oldest_first,
    end_member_sessions_ends_every_live_session,
    end_member_sessions_refuses_unknown_ids_atomically,
    end_member_sessions_under_concurrent_writes,
    expire_sessions_admin_fixed_timeout,
    expire_sessions_agent_timeout_per_account,
    expire_sessions_absolute_lifetime,
    set_status_and_choice,
    audit_insert_and_list,
    audit_filters_and_paging,
    audit_person_filter,
    audit_bulk_insert,
);

async fn opens_and_reports_backend(backend: Backend) {
    let (db, store) = open(backend).await;
    store.ping().await.expect("ping");
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(store.backend(), expected);
    // Opening a second time applies no migration twice and sees the same data.
    make_account(&store, "ac1", "acme").await;
    let again = deskward::store::connect(&db.url).await.expect("reopen");
    assert_eq!(again.account_count().await.unwrap(), 1);
    assert_eq!(again.account_by_slug("acme").await.unwrap().id, "ac1");
}

async fn creates_accounts_and_their_primary_admin(backend: Backend) {
    let (_db, store) = open(backend).await;
    assert_eq!(store.account_count().await.unwrap(), 0);
    assert_not_found(store.first_account().await);

    let a = store
        .create_account(
            &account("ac1", "acme", T0),
            &primary_admin("ac1", "ad1", " Owner@Acme.Example "),
            true,
        )
        .await
        .expect("first account");
    assert_eq!(
        a,
        Account {
            id: "ac1".into(),
            slug: "acme".into(),
            name: "Account acme".into(),
            agent_idle_timeout_minutes: 4320,
            max_session_lifetime_minutes: None,
            created_at: T0,
        }
    );
    assert_eq!(store.account_count().await.unwrap(), 1);
    assert_eq!(store.account("ac1").await.unwrap(), a);
    assert_eq!(store.account_by_slug("acme").await.unwrap(), a);
    assert_eq!(store.first_account().await.unwrap(), a);
    assert_not_found(store.account("nope").await);
    assert_not_found(store.account_by_slug("nope").await);

    let owner = store.member("ac1", "ad1").await.expect("primary admin");
    assert_eq!(owner.kind, MemberKind::Admin);
    assert!(owner.primary);
    assert_eq!(owner.permissions, Permissions::all());
    assert_eq!(owner.email, "Owner@Acme.Example");
    assert_eq!(owner.account_id, "ac1");

    // Setup when an account exists: refused, and its would-be administrator is not created.
    let refused = store
        .create_account(
            &account("ac2", "beta", T0 + 1),
            &primary_admin("ac2", "ad2", "owner@beta.example"),
            true,
        )
        .await;
    assert_conflict(refused, "account");
    assert_eq!(store.account_count().await.unwrap(), 1);
    assert_not_found(store.account("ac2").await);
    assert_not_found(store.member("ac2", "ad2").await);

    // Without only_if_empty more accounts may be created; the first created stays first.
    let b = store
        .create_account(
            &account("ac0", "beta", T0 + 1),
            &primary_admin("ac0", "ad2", "owner@beta.example"),
            false,
        )
        .await
        .expect("second account");
    assert_eq!(b.slug, "beta");
    assert_eq!(store.account_count().await.unwrap(), 2);
    assert_eq!(store.first_account().await.unwrap().id, "ac1");

    // A taken slug.
    let dup = store
        .create_account(
            &account("ac3", "acme", T0 + 2),
            &primary_admin("ac3", "ad3", "owner@other.example"),
            false,
        )
        .await;
    assert_conflict(dup, "slug");
    assert_eq!(store.account_count().await.unwrap(), 2);
    assert_not_found(store.member("ac3", "ad3").await);
}

async fn first_run_setup_cannot_race(backend: Backend) {
    let (_db, store) = open(backend).await;
    // Warm the pool so the attempts really run side by side.
    let warm = futures_util::future::join_all((0..6).map(|_| store.account_count())).await;
    assert!(warm.iter().all(|n| matches!(n, Ok(0))));
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_account(
                    &account(&format!("ac{i}"), &format!("slug{i}"), T0 + i),
                    &primary_admin(&format!("ac{i}"), &format!("ad{i}"), "owner@x.example"),
                    true,
                )
                .await
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => created += 1,
            Err(StoreError::Conflict { field: "account" }) => {}
            Err(e) => panic!("concurrent setup must succeed or say Conflict(account): {e:?}"),
        }
    }
    assert_eq!(created, 1, "exactly one concurrent first-run setup wins");
    assert_eq!(store.account_count().await.unwrap(), 1);
}

async fn account_creation_is_atomic(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    // The primary administrator cannot be inserted (its id is taken): no account is left.
    let r = store
        .create_account(
            &account("ac2", "beta", T0),
            &primary_admin("ac2", "ac1-owner", "owner@beta.example"),
            false,
        )
        .await;
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
    assert_not_found(store.account("ac2").await);
    assert_not_found(store.account_by_slug("beta").await);
    assert_eq!(store.account_count().await.unwrap(), 1);
    // The original person is untouched.
    assert_eq!(
        store.member("ac1", "ac1-owner").await.unwrap().account_id,
        "ac1"
    );
    // And the slug is free again for a correct attempt.
    make_account(&store, "ac2", "beta").await;
}

async fn account_settings(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;

    store.set_agent_idle_timeout("ac1", 30).await.unwrap();
    store
        .set_max_session_lifetime("ac1", Some(480))
        .await
        .unwrap();
    let a = store.account("ac1").await.unwrap();
    assert_eq!(a.agent_idle_timeout_minutes, 30);
    assert_eq!(a.max_session_lifetime_minutes, Some(480));
    // Other accounts keep their own settings.
    let b = store.account("ac2").await.unwrap();
    assert_eq!(b.agent_idle_timeout_minutes, 4320);
    assert_eq!(b.max_session_lifetime_minutes, None);

    store.set_max_session_lifetime("ac1", None).await.unwrap();
    assert_eq!(
        store
            .account("ac1")
            .await
            .unwrap()
            .max_session_lifetime_minutes,
        None
    );

    assert_not_found(store.set_agent_idle_timeout("nope", 30).await);
    assert_not_found(store.set_max_session_lifetime("nope", Some(5)).await);
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
            created_at: T0,
            linked: None,
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

async fn has_session_from_ip(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    let ann = add(&store, agent("ac1", "ag1", "Ann", "Ann@Example.com")).await;
    add(&store, admin("ac1", "ad1", "Ann Admin", "ann@example.com")).await;
    let bob = add(&store, agent("ac1", "ag2", "Bob", "bob@example.com")).await;
    let other = add(&store, agent("ac2", "bg1", "Ann Beta", "ann@example.com")).await;
    let known = |account: &'static str, email: &'static str, ip: &'static str| {
        let store = store.clone();
        async move { store.has_session_from_ip(account, email, ip).await.unwrap() }
    };

    assert!(
        !known("ac1", "ann@example.com", "203.0.113.7").await,
        "no session yet"
    );
    open_session(&store, &ann, "s1", T0, T0).await;
    let mut elsewhere = new_session(&bob, "s2", T0);
    elsewhere.ip = "198.51.100.9".into();
    store.insert_session(&elsewhere).await.unwrap();
    let mut beta = new_session(&other, "s3", T0);
    beta.ip = "192.0.2.55".into();
    store.insert_session(&beta).await.unwrap();

    // By normalized e-mail, whichever of the linked pair signed in.
    assert!(known("ac1", "ann@example.com", "203.0.113.7").await);
    assert!(
        !known("ac1", "ann@example.com", "198.51.100.9").await,
        "Bob's place, not Ann's"
    );
    assert!(known("ac1", "bob@example.com", "198.51.100.9").await);
    assert!(!known("ac1", "nobody@example.com", "203.0.113.7").await);
    // Another account's sessions are not a known place here.
    assert!(!known("ac1", "ann@example.com", "192.0.2.55").await);
    assert!(known("ac2", "ann@example.com", "192.0.2.55").await);
    assert!(!known("ac2", "ann@example.com", "203.0.113.7").await);
    // "Ever had": an ended session still counts.
    store
        .end_session("ac1", "s1", EndReason::Logout, None, T0 + 1)
        .await
        .unwrap();
    assert!(known("ac1", "ann@example.com", "203.0.113.7").await);
}

async fn list_members_orders_by_name_and_pages(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    for (id, name) in [
        ("ag1", "bob"),
        ("ag2", "Alice"),
        ("ag3", "eve"),
        ("ag4", "Dave"),
        ("ag5", "carol"),
    ] {
        add(&store, agent("ac1", id, name, &format!("{id}@example.com"))).await;
    }
    // Same name: the id breaks the tie, so pages never overlap.
    add(&store, agent("ac1", "ag7", "Sam", "sam7@example.com")).await;
    add(&store, agent("ac1", "ag6", "sam", "sam6@example.com")).await;
    // Other kinds and other accounts never show.
    add(
        &store,
        admin("ac1", "ad1", "Aaron Admin", "aaron@example.com"),
    )
    .await;
    add(&store, agent("ac2", "bg1", "Abe Beta", "abe@example.com")).await;

    let all = ["Alice", "bob", "carol", "Dave", "eve", "sam", "Sam"];
    let (got, total) = names(&store, "ac1", &query(MemberKind::Agent, T0)).await;
    assert_eq!(got, all);
    assert_eq!(total, 7);

    let mut seen = Vec::new();
    for offset in [0, 3, 6] {
        let q = MemberQuery {
            offset,
            limit: 3,
            ..query(MemberKind::Agent, T0)
        };
        let (page, total) = names(&store, "ac1", &q).await;
        assert_eq!(total, 7, "total is the whole match, not the page");
        assert_eq!(page.len(), if offset == 6 { 1 } else { 3 });
        seen.extend(page);
    }
    assert_eq!(seen, all);

    let past = MemberQuery {
        offset: 50,
        limit: 3,
        ..query(MemberKind::Agent, T0)
    };
    assert_eq!(names(&store, "ac1", &past).await, (vec![], 7));

    let (admins, total) = names(&store, "ac1", &query(MemberKind::Admin, T0)).await;
    assert_eq!(admins, ["Aaron Admin", "Primary ac1-owner"]);
    assert_eq!(total, 2);
    let (beta, total) = names(&store, "ac2", &query(MemberKind::Agent, T0)).await;
    assert_eq!((beta, total), (vec!["Abe Beta".to_string()], 1));
}

async fn list_members_session_filter(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let live = add(&store, agent("ac1", "ag1", "Live", "live@example.com")).await;
    let idle = add(&store, agent("ac1", "ag2", "Idle", "idle@example.com")).await;
    let ended = add(&store, agent("ac1", "ag3", "Ended", "ended@example.com")).await;
    add(&store, agent("ac1", "ag4", "Never", "never@example.com")).await;
    let both = add(&store, agent("ac1", "ag5", "Both", "both@example.com")).await;
    let owner = store.member("ac1", "ac1-owner").await.unwrap();

    let cutoff = T0 + HOUR;
    open_session(&store, &live, "s1", T0, cutoff + 1).await;
    // Last seen before the cutoff: inactive (activity exactly at the cutoff still counts,
    // as the sign-in check expires only sessions idle longer than the timeout).
    open_session(&store, &idle, "s2", T0, cutoff - 1).await;
    open_session(&store, &ended, "s3", T0, cutoff + 10).await;
    store
        .end_session("ac1", "s3", EndReason::Logout, None, cutoff + 20)
        .await
        .unwrap();
    open_session(&store, &both, "s4", T0, T0 + 5).await;
    open_session(&store, &both, "s5", T0, cutoff + 30).await;
    // An administrator's live session does not make agents active.
    open_session(&store, &owner, "s6", T0, cutoff + 40).await;

    let active = MemberQuery {
        session: Some(SessionFilter::Active),
        ..query(MemberKind::Agent, cutoff)
    };
    let none = MemberQuery {
        session: Some(SessionFilter::None),
        ..query(MemberKind::Agent, cutoff)
    };
    assert_eq!(
        names(&store, "ac1", &active).await,
        (vec!["Both".into(), "Live".into()], 2)
    );
    assert_eq!(
        names(&store, "ac1", &none).await,
        (vec!["Ended".into(), "Idle".into(), "Never".into()], 3)
    );
    let all = names(&store, "ac1", &query(MemberKind::Agent, cutoff)).await;
    assert_eq!(all.1, 5);

    // Activity after the cutoff makes the idle one active again.
    store.touch_session("s2", cutoff + 1).await.unwrap();
    assert_eq!(
        names(&store, "ac1", &active).await,
        (vec!["Both".into(), "Idle".into(), "Live".into()], 3)
    );

    // A later cutoff leaves nobody active.
    let later = MemberQuery {
        active_after: cutoff + 1000,
        ..active.clone()
    };
    assert_eq!(names(&store, "ac1", &later).await, (vec![], 0));

    let admins_active = MemberQuery {
        session: Some(SessionFilter::Active),
        ..query(MemberKind::Admin, cutoff)
    };
    assert_eq!(
        names(&store, "ac1", &admins_active).await,
        (vec!["Primary ac1-owner".into()], 1)
    );
}

async fn list_members_status_filter(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    add(&store, agent("ac1", "ag2", "Bob", "bob@example.com")).await;
    add(&store, agent("ac1", "ag3", "Cid", "cid@example.com")).await;
    store
        .set_status("ac1", "ag2", AgentStatus::Online, Some(AgentStatus::Online))
        .await
        .unwrap();
    let online = MemberQuery {
        status: Some(AgentStatus::Online),
        ..query(MemberKind::Agent, T0)
    };
    let offline = MemberQuery {
        status: Some(AgentStatus::Offline),
        ..query(MemberKind::Agent, T0)
    };
    assert_eq!(names(&store, "ac1", &online).await, (vec!["Bob".into()], 1));
    assert_eq!(
        names(&store, "ac1", &offline).await,
        (vec!["Ann".into(), "Cid".into()], 2)
    );
    let (items, _) = store.list_members("ac1", &online).await.unwrap();
    assert_eq!(items[0].status, AgentStatus::Online);
}

async fn list_members_search(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    add(
        &store,
        agent("ac1", "ag1", "Alice Smith", "alice@acme.example"),
    )
    .await;
    add(
        &store,
        agent("ac1", "ag2", "Bob Jones", "bob@Support.example"),
    )
    .await;
    add(
        &store,
        agent("ac1", "ag3", "100% Done", "done@acme.example"),
    )
    .await;
    add(
        &store,
        agent("ac1", "ag4", "100 Done", "hundred@acme.example"),
    )
    .await;
    add(
        &store,
        agent("ac1", "ag5", "Under Score", "a_b@acme.example"),
    )
    .await;
    add(&store, agent("ac1", "ag6", "Ex Ample", "axb@acme.example")).await;
    add(
        &store,
        agent("ac1", "ag7", r"Back\Slash", "back@acme.example"),
    )
    .await;

    let search = |s: &str| MemberQuery {
        search: Some(s.to_string()),
        ..query(MemberKind::Agent, T0)
    };
    let found = |v: &[&str]| {
        (
            v.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            v.len() as i64,
        )
    };

    // Name, any case, any part.
    assert_eq!(
        names(&store, "ac1", &search("SMITH")).await,
        found(&["Alice Smith"])
    );
    assert_eq!(
        names(&store, "ac1", &search("ob jo")).await,
        found(&["Bob Jones"])
    );
    // E-mail, any case.
    assert_eq!(
        names(&store, "ac1", &search("support.EX")).await,
        found(&["Bob Jones"])
    );
    assert_eq!(
        names(&store, "ac1", &search("HUNDRED@")).await,
        found(&["100 Done"])
    );
    // Name or e-mail.
    assert_eq!(
        names(&store, "ac1", &search("a")).await.1,
        7,
        "every name or e-mail here contains an a"
    );
    // Wildcards are literal characters.
    assert_eq!(
        names(&store, "ac1", &search("100%")).await,
        found(&["100% Done"])
    );
    assert_eq!(
        names(&store, "ac1", &search("%")).await,
        found(&["100% Done"])
    );
    assert_eq!(
        names(&store, "ac1", &search("a_b")).await,
        found(&["Under Score"])
    );
    assert_eq!(
        names(&store, "ac1", &search("_")).await,
        found(&["Under Score"])
    );
    assert_eq!(
        names(&store, "ac1", &search(r"k\s")).await,
        found(&[r"Back\Slash"])
    );
    assert_eq!(names(&store, "ac1", &search("zzz")).await, found(&[]));
    // An empty search is no filter.
    assert_eq!(names(&store, "ac1", &search("")).await.1, 7);
}

async fn list_members_filters_combine(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let mut agents = Vec::new();
    for (id, name) in [
        ("ag1", "Ann North"),
        ("ag2", "Ann South"),
        ("ag3", "Ann East"),
        ("ag4", "Bob North"),
    ] {
        agents.push(add(&store, agent("ac1", id, name, &format!("{id}@example.com"))).await);
    }
    for m in [&agents[0], &agents[1], &agents[3]] {
        store
            .set_status("ac1", &m.id, AgentStatus::Online, Some(AgentStatus::Online))
            .await
            .unwrap();
    }
    open_session(&store, &agents[0], "s1", T0, T0 + 10).await;
    open_session(&store, &agents[2], "s3", T0, T0 + 10).await;
    open_session(&store, &agents[3], "s4", T0, T0 + 10).await;

    let q = MemberQuery {
        session: Some(SessionFilter::Active),
        status: Some(AgentStatus::Online),
        search: Some("ann".into()),
        ..query(MemberKind::Agent, T0)
    };
    assert_eq!(
        names(&store, "ac1", &q).await,
        (vec!["Ann North".into()], 1)
    );
    let q = MemberQuery {
        session: Some(SessionFilter::None),
        status: Some(AgentStatus::Online),
        ..query(MemberKind::Agent, T0)
    };
    assert_eq!(
        names(&store, "ac1", &q).await,
        (vec!["Ann South".into()], 1)
    );
    let q = MemberQuery {
        session: Some(SessionFilter::Active),
        search: Some("north".into()),
        limit: 1,
        offset: 1,
        ..query(MemberKind::Agent, T0)
    };
    assert_eq!(
        names(&store, "ac1", &q).await,
        (vec!["Bob North".into()], 2)
    );
}

async fn accounts_are_isolated(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "acA", "alpha").await;
    make_account(&store, "acB", "beta").await;
    let b_agent = add(&store, agent("acB", "bg1", "Beta Agent", "b@example.com")).await;
    let b_admin = add(&store, admin("acB", "bd1", "Beta Admin", "bd@example.com")).await;
    open_session(&store, &b_agent, "sb1", T0, T0 + 10).await;
    store
        .insert_audit(&audit("acB", "au-b", T0, "session.ended", Some("bd1")))
        .await
        .unwrap();

    // Reads through account A see nothing of B.
    assert_not_found(store.member("acA", "bg1").await);
    assert_not_found(store.password_hash("acA", "bg1").await);
    assert!(
        store
            .credentials_by_email("acA", "b@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(store.session("acA", "sb1").await);
    assert!(
        store
            .active_sessions("acA", &["bg1".to_string()], T0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .ended_session_reason("acA", &token_of("sb1"))
            .await
            .unwrap(),
        None
    );
    let (agents, total) = store
        .list_members("acA", &query(MemberKind::Agent, T0))
        .await
        .unwrap();
    assert!(agents.is_empty());
    assert_eq!(total, 0);
    let (entries, total) = store.list_audit("acA", &audit_query()).await.unwrap();
    assert!(entries.is_empty());
    assert_eq!(total, 0);

    // Writes through account A change nothing of B.
    let patch = MemberPatch {
        name: Some("Hijacked".into()),
        disabled: Some(true),
        ..MemberPatch::default()
    };
    assert_not_found(store.update_member("acA", "bg1", &patch).await);
    assert_not_found(
        store
            .set_status("acA", "bg1", AgentStatus::Online, Some(AgentStatus::Online))
            .await,
    );
    assert_eq!(store.member("acB", "bg1").await.unwrap(), b_agent);

    let ended = store
        .end_session(
            "acA",
            "sb1",
            EndReason::EndedByAdmin,
            Some("acA-owner"),
            T0 + 20,
        )
        .await
        .unwrap();
    assert_eq!(ended, None);
    match store
        .end_member_sessions(
            "acA",
            MemberKind::Agent,
            &["bg1".to_string()],
            EndReason::EndedByAdmin,
            Some("acA-owner"),
            T0 + 20,
        )
        .await
    {
        Err(StoreError::UnknownIds(ids)) => assert_eq!(ids, vec!["bg1".to_string()]),
        other => panic!("expected UnknownIds, got {other:?}"),
    }
    match store
        .end_member_sessions(
            "acA",
            MemberKind::Admin,
            &["bd1".to_string()],
            EndReason::EndedByAdmin,
            None,
            T0 + 20,
        )
        .await
    {
        Err(StoreError::UnknownIds(ids)) => assert_eq!(ids, vec![b_admin.id.clone()]),
        other => panic!("expected UnknownIds, got {other:?}"),
    }
    let s = store.session("acB", "sb1").await.unwrap();
    assert_eq!(s.ended_at, None);
    assert!(store.auth_record(&token_of("sb1")).await.unwrap().is_some());
}

async fn session_lifecycle(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let ann = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;

    let s = store
        .insert_session(&new_session(&ann, "s1", T0))
        .await
        .unwrap();
    assert_eq!(s.id, "s1");
    assert_eq!(s.account_id, "ac1");
    assert_eq!(s.member_id, "ag1");
    assert_eq!(s.member_kind, MemberKind::Agent);
    assert_eq!(s.started_at, T0);
    assert_eq!(
        s.last_seen_at, T0,
        "a new session was last seen when it started"
    );
    assert_eq!(s.ip, "203.0.113.7");
    assert_eq!(
        s.user_agent,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0"
    );
    assert_eq!(s.device, "Chrome 131 on Windows");
    assert_eq!(
        (s.ended_at, s.end_reason, s.ended_by.clone()),
        (None, None, None)
    );
    assert_eq!(store.session("ac1", "s1").await.unwrap(), s);
    assert_not_found(store.session("ac1", "nope").await);

    // The hot path finds it by token hash only.
    let rec = store
        .auth_record(&token_of("s1"))
        .await
        .unwrap()
        .expect("live");
    assert_eq!(rec.session, s);
    assert!(store.auth_record("not-a-token").await.unwrap().is_none());
    assert!(
        store.auth_record("s1").await.unwrap().is_none(),
        "the id is not the token"
    );
    assert_eq!(
        store
            .ended_session_reason("ac1", &token_of("s1"))
            .await
            .unwrap(),
        None
    );

    assert!(store.touch_session("s1", T0 + MINUTE).await.unwrap());
    assert_eq!(
        store.session("ac1", "s1").await.unwrap().last_seen_at,
        T0 + MINUTE
    );

    // Ending it: once, with reason, actor and time.
    let ended = store
        .end_session(
            "ac1",
            "s1",
            EndReason::EndedByAdmin,
            Some("ac1-owner"),
            T0 + 2 * MINUTE,
        )
        .await
        .unwrap();
    assert_eq!(
        ended,
        Some(EndedSession {
            id: "s1".into(),
            account_id: "ac1".into(),
            member_id: "ag1".into(),
            member_kind: MemberKind::Agent,
            reason: EndReason::EndedByAdmin,
        })
    );
    let again = store
        .end_session("ac1", "s1", EndReason::Logout, None, T0 + 3 * MINUTE)
        .await
        .unwrap();
    assert_eq!(again, None, "an ended session is not ended twice");
    assert_eq!(
        store
            .end_session("ac1", "nope", EndReason::Logout, None, T0)
            .await
            .unwrap(),
        None
    );

    // Kept, with its history; dead for the hot path; the sign-in page learns why.
    let s = store.session("ac1", "s1").await.unwrap();
    assert_eq!(s.ended_at, Some(T0 + 2 * MINUTE));
    assert_eq!(s.end_reason, Some(EndReason::EndedByAdmin));
    assert_eq!(s.ended_by.as_deref(), Some("ac1-owner"));
    assert_eq!(s.last_seen_at, T0 + MINUTE);
    assert!(store.auth_record(&token_of("s1")).await.unwrap().is_none());
    assert_eq!(
        store
            .ended_session_reason("ac1", &token_of("s1"))
            .await
            .unwrap(),
        Some(EndReason::EndedByAdmin)
    );
    assert_eq!(
        store
            .ended_session_reason("ac1", "not-a-token")
            .await
            .unwrap(),
        None
    );

    // Activity on an ended session is not recorded.
    assert!(!store.touch_session("s1", T0 + HOUR).await.unwrap());
    assert_eq!(
        store.session("ac1", "s1").await.unwrap().last_seen_at,
        T0 + MINUTE
    );

    // A logout has no actor.
    store
        .insert_session(&new_session(&ann, "s2", T0))
        .await
        .unwrap();
    let out = store
        .end_session("ac1", "s2", EndReason::Logout, None, T0 + 5)
        .await
        .unwrap()
        .expect("ended");
    assert_eq!(out.reason, EndReason::Logout);
    let s2 = store.session("ac1", "s2").await.unwrap();
    assert_eq!(
        (s2.end_reason, s2.ended_by),
        (Some(EndReason::Logout), None)
    );
    assert_eq!(
        store
            .ended_session_reason("ac1", &token_of("s2"))
            .await
            .unwrap(),
        Some(EndReason::Logout)
    );

    // Every reason survives the round trip.
    for (i, reason) in [
        EndReason::Expired,
        EndReason::Disabled,
        EndReason::PasswordChanged,
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("r{i}");
        store
            .insert_session(&new_session(&ann, &id, T0))
            .await
            .unwrap();
        store
            .end_session("ac1", &id, reason, None, T0 + 1)
            .await
            .unwrap()
            .expect("ended");
        assert_eq!(
            store.session("ac1", &id).await.unwrap().end_reason,
            Some(reason)
        );
    }

    // A token hash is never shared by two sessions.
    let mut dup = new_session(&ann, "s9", T0);
    dup.token_hash = token_of("s2");
    assert!(matches!(
        store.insert_session(&dup).await,
        Err(StoreError::Conflict { .. })
    ));
}

async fn auth_record_reads_person_and_account(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    store.set_agent_idle_timeout("ac1", 90).await.unwrap();
    store
        .set_max_session_lifetime("ac1", Some(600))
        .await
        .unwrap();
    let perms = Permissions::new(vec![Permission::TeamAgents, Permission::Security]);
    let sub = add(
        &store,
        NewMember {
            permissions: perms.clone(),
            ..admin("ac1", "ad1", "Sub Admin", "Sub@Example.com")
        },
    )
    .await;
    let owner = store.member("ac1", "ac1-owner").await.unwrap();
    open_session(&store, &sub, "s1", T0, T0 + 7).await;
    open_session(&store, &owner, "s2", T0, T0).await;

    let rec = store
        .auth_record(&token_of("s1"))
        .await
        .unwrap()
        .expect("live");
    assert_eq!(rec.session.id, "s1");
    assert_eq!(rec.session.member_id, "ad1");
    assert_eq!(rec.session.member_kind, MemberKind::Admin);
    assert_eq!(rec.session.last_seen_at, T0 + 7);
    assert_eq!(rec.csrf_token, "csrf-s1");
    assert_eq!(rec.member_name, "Sub Admin");
    assert_eq!(rec.member_email, "Sub@Example.com");
    assert!(!rec.primary);
    assert_eq!(rec.permissions, perms);
    assert!(!rec.disabled);
    assert_eq!(rec.agent_idle_timeout_minutes, 90);
    assert_eq!(rec.max_session_lifetime_minutes, Some(600));

    let rec = store
        .auth_record(&token_of("s2"))
        .await
        .unwrap()
        .expect("live");
    assert!(rec.primary);
    assert_eq!(rec.permissions, Permissions::all());

    // The record reflects the person as they are now.
    store
        .update_member(
            "ac1",
            "ad1",
            &MemberPatch {
                disabled: Some(true),
                name: Some("Renamed".into()),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
    let rec = store
        .auth_record(&token_of("s1"))
        .await
        .unwrap()
        .expect("still live");
    assert!(rec.disabled);
    assert_eq!(rec.member_name, "Renamed");
}

async fn touch_session_only_moves_forward(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let ann = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    open_session(&store, &ann, "s1", T0, T0 + 10 * MINUTE).await;
    // An older instant (another instance's slower clock, a late request) never moves it
    // back, and the session is still reported live.
    assert!(store.touch_session("s1", T0 + 5 * MINUTE).await.unwrap());
    assert_eq!(
        store.session("ac1", "s1").await.unwrap().last_seen_at,
        T0 + 10 * MINUTE
    );
    assert!(store.touch_session("s1", T0 + 10 * MINUTE).await.unwrap());
    assert!(store.touch_session("s1", T0 + 11 * MINUTE).await.unwrap());
    assert_eq!(
        store.session("ac1", "s1").await.unwrap().last_seen_at,
        T0 + 11 * MINUTE
    );
    // Unknown sessions are not an error, just not live.
    assert!(!store.touch_session("nope", T0).await.unwrap());
    // Once ended, the caller learns it from the touch.
    store
        .end_session("ac1", "s1", EndReason::Logout, None, T0 + 12 * MINUTE)
        .await
        .unwrap();
    assert!(!store.touch_session("s1", T0 + 13 * MINUTE).await.unwrap());
    assert!(!store.touch_session("s1", T0 + 5 * MINUTE).await.unwrap());
}

async fn active_sessions_lists_live_ones_oldest_first(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let ann = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    let bob = add(&store, agent("ac1", "ag2", "Bob", "bob@example.com")).await;
    let cid = add(&store, agent("ac1", "ag3", "Cid", "cid@example.com")).await;
    let cutoff = T0 + HOUR;
    open_session(&store, &ann, "s-late", T0 + 30, cutoff + 5).await;
    open_session(&store, &ann, "s-early", T0 + 10, cutoff + 50).await;
    open_session(&store, &bob, "s-bob", T0 + 20, cutoff + 1).await;
    open_session(&store, &bob, "s-idle", T0 + 5, cutoff - 1).await;
    open_session(&store, &bob, "s-gone", T0 + 1, cutoff + 9).await;
    store
        .end_session("ac1", "s-gone", EndReason::Logout, None, cutoff + 10)
        .await
        .unwrap();
    open_session(&store, &cid, "s-cid", T0, cutoff + 1).await;

    let both = ["ag1".to_string(), "ag2".to_string()];
    let got = store.active_sessions("ac1", &both, cutoff).await.unwrap();
    let got: Vec<&str> = got.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(got, ["s-early", "s-bob", "s-late"]);

    let only_ann = store
        .active_sessions("ac1", &["ag1".to_string()], cutoff)
        .await
        .unwrap();
    assert_eq!(only_ann.len(), 2);
    assert!(
        only_ann
            .iter()
            .all(|s| s.member_id == "ag1" && s.ended_at.is_none())
    );
    assert_eq!(only_ann[0], store.session("ac1", "s-early").await.unwrap());

    assert!(
        store
            .active_sessions("ac1", &[], cutoff)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .active_sessions("ac1", &["nope".to_string()], cutoff)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn end_member_sessions_ends_every_live_session(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let x = add(&store, agent("ac1", "agX", "X", "x@example.com")).await;
    let y = add(&store, agent("ac1", "agY", "Y", "y@example.com")).await;
    add(&store, agent("ac1", "agZ", "Z", "z@example.com")).await;
    let w = add(&store, agent("ac1", "agW", "W", "w@example.com")).await;
    let owner = store.member("ac1", "ac1-owner").await.unwrap();
    open_session(&store, &x, "x1", T0, T0 + 1).await;
    open_session(&store, &x, "x2", T0, T0 + 2).await;
    open_session(&store, &x, "x-old", T0, T0 + 3).await;
    store
        .end_session("ac1", "x-old", EndReason::Logout, None, T0 + 4)
        .await
        .unwrap();
    open_session(&store, &y, "y1", T0, T0 + 5).await;
    open_session(&store, &w, "w1", T0, T0 + 6).await;
    open_session(&store, &owner, "o1", T0, T0 + 7).await;

    let at = T0 + HOUR;
    let ended = store
        .end_member_sessions(
            "ac1",
            MemberKind::Agent,
            &[
                "agX".to_string(),
                "agY".to_string(),
                "agZ".to_string(),
                "agY".to_string(),
            ],
            EndReason::EndedByAdmin,
            Some("ac1-owner"),
            at,
        )
        .await
        .unwrap();
    assert_eq!(ids(&ended), set(&["x1", "x2", "y1"]));
    assert_eq!(ended.len(), 3);
    for e in &ended {
        assert_eq!(e.account_id, "ac1");
        assert_eq!(e.member_kind, MemberKind::Agent);
        assert_eq!(e.reason, EndReason::EndedByAdmin);
        assert_eq!(e.member_id, if e.id == "y1" { "agY" } else { "agX" });
        let s = store.session("ac1", &e.id).await.unwrap();
        assert_eq!(s.ended_at, Some(at));
        assert_eq!(s.end_reason, Some(EndReason::EndedByAdmin));
        assert_eq!(s.ended_by.as_deref(), Some("ac1-owner"));
        assert!(store.auth_record(&token_of(&e.id)).await.unwrap().is_none());
    }
    // The earlier ending is history and keeps its own reason and time.
    let old = store.session("ac1", "x-old").await.unwrap();
    assert_eq!(
        (old.end_reason, old.ended_at),
        (Some(EndReason::Logout), Some(T0 + 4))
    );
    // People not listed keep their sessions.
    assert_eq!(store.session("ac1", "w1").await.unwrap().ended_at, None);
    assert_eq!(store.session("ac1", "o1").await.unwrap().ended_at, None);

    // Nothing left to end: an empty result, not an error.
    let again = store
        .end_member_sessions(
            "ac1",
            MemberKind::Agent,
            &["agX".to_string()],
            EndReason::EndedByAdmin,
            None,
            at,
        )
        .await
        .unwrap();
    assert!(again.is_empty());
    let none = store
        .end_member_sessions(
            "ac1",
            MemberKind::Agent,
            &[],
            EndReason::EndedByAdmin,
            None,
            at,
        )
        .await
        .unwrap();
    assert!(none.is_empty());

    // Administrators by kind.
    let admins = store
        .end_member_sessions(
            "ac1",
            MemberKind::Admin,
            &["ac1-owner".to_string()],
            EndReason::PasswordChanged,
            None,
            at,
        )
        .await
        .unwrap();
    assert_eq!(
        admins,
        vec![EndedSession {
            id: "o1".into(),
            account_id: "ac1".into(),
            member_id: "ac1-owner".into(),
            member_kind: MemberKind::Admin,
            reason: EndReason::PasswordChanged,
        }]
    );
    let o1 = store.session("ac1", "o1").await.unwrap();
    assert_eq!(o1.ended_by, None);
    assert_eq!(o1.end_reason, Some(EndReason::PasswordChanged));
}

async fn end_member_sessions_refuses_unknown_ids_atomically(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    let x = add(&store, agent("ac1", "agX", "X", "x@example.com")).await;
    let sub = add(&store, admin("ac1", "ad1", "Sub", "sub@example.com")).await;
    let other = add(&store, agent("ac2", "bgX", "Other", "o@example.com")).await;
    open_session(&store, &x, "x1", T0, T0 + 1).await;
    open_session(&store, &sub, "a1", T0, T0 + 1).await;
    open_session(&store, &other, "b1", T0, T0 + 1).await;

    let cases: Vec<(MemberKind, Vec<&str>, Vec<&str>)> = vec![
        // An administrator's id in an agent request.
        (MemberKind::Agent, vec!["agX", "ad1"], vec!["ad1"]),
        // An agent's id in an administrator request.
        (MemberKind::Admin, vec!["ad1", "agX"], vec!["agX"]),
        // Another account's agent.
        (MemberKind::Agent, vec!["agX", "bgX"], vec!["bgX"]),
        // Nobody at all, several of them, in the order given.
        (MemberKind::Agent, vec!["zz", "agX", "aa"], vec!["zz", "aa"]),
    ];
    for (kind, given, unknown) in cases {
        let given: Vec<String> = given.into_iter().map(str::to_string).collect();
        let r = store
            .end_member_sessions(
                "ac1",
                kind,
                &given,
                EndReason::EndedByAdmin,
                Some("ac1-owner"),
                T0 + HOUR,
            )
            .await;
        match r {
            Err(StoreError::UnknownIds(ids)) => assert_eq!(ids, unknown, "for {given:?}"),
            other => panic!("expected UnknownIds for {given:?}, got {other:?}"),
        }
        // Nothing was ended.
        for (acc, sid) in [("ac1", "x1"), ("ac1", "a1"), ("ac2", "b1")] {
            let s = store.session(acc, sid).await.unwrap();
            assert_eq!(
                s.ended_at, None,
                "{sid} must stay live after refused {given:?}"
            );
        }
    }
}

async fn end_member_sessions_under_concurrent_writes(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let mut people = Vec::new();
    for i in 0..6 {
        people.push(
            add(
                &store,
                agent("ac1", &format!("ag{i}"), "A", &format!("a{i}@x.example")),
            )
            .await,
        );
    }
    // Every task signs its person in and bulk-ends their sessions over and over while the
    // others write: each call must succeed (waiting its turn), none may report a busy database.
    let mut tasks = Vec::new();
    for (i, m) in people.into_iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut ended = 0;
            for round in 0..10 {
                let sid = format!("s{i}-{round}");
                store
                    .insert_session(&new_session(&m, &sid, T0 + round))
                    .await?;
                store.touch_session(&sid, T0 + round + 1).await?;
                let e = store
                    .end_member_sessions(
                        "ac1",
                        MemberKind::Agent,
                        std::slice::from_ref(&m.id),
                        EndReason::EndedByAdmin,
                        None,
                        T0 + round + 2,
                    )
                    .await?;
                ended += e.len();
            }
            Ok::<usize, StoreError>(ended)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("store call"), 10);
    }
}

async fn expire_sessions_admin_fixed_timeout(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    // A short agent timeout must not apply to administrators.
    store.set_agent_idle_timeout("ac1", 30).await.unwrap();
    let owner = store.member("ac1", "ac1-owner").await.unwrap();
    let sub = add(&store, admin("ac1", "ad1", "Sub", "sub@example.com")).await;
    let now = T0 + 200 * HOUR;
    let limit = 72 * HOUR;
    open_session(&store, &owner, "at-limit", T0, now - limit).await;
    open_session(&store, &sub, "past-limit", T0, now - limit - 1).await;
    open_session(&store, &sub, "recent", T0, now - HOUR).await;
    open_session(&store, &owner, "old-ended", T0, T0 + 1).await;
    store
        .end_session("ac1", "old-ended", EndReason::Logout, None, T0 + 2)
        .await
        .unwrap();

    let ended = store.expire_sessions(now).await.unwrap();
    assert_eq!(
        ended,
        vec![EndedSession {
            id: "past-limit".into(),
            account_id: "ac1".into(),
            member_id: "ad1".into(),
            member_kind: MemberKind::Admin,
            reason: EndReason::Expired,
        }]
    );
    let s = store.session("ac1", "past-limit").await.unwrap();
    assert_eq!(s.ended_at, Some(now));
    assert_eq!(s.end_reason, Some(EndReason::Expired));
    assert_eq!(s.ended_by, None);
    for live in ["at-limit", "recent"] {
        assert_eq!(
            store.session("ac1", live).await.unwrap().ended_at,
            None,
            "{live}"
        );
    }
    let old = store.session("ac1", "old-ended").await.unwrap();
    assert_eq!(
        (old.end_reason, old.ended_at),
        (Some(EndReason::Logout), Some(T0 + 2))
    );
    assert_eq!(
        store
            .ended_session_reason("ac1", &token_of("past-limit"))
            .await
            .unwrap(),
        Some(EndReason::Expired)
    );

    // Nothing twice; one more millisecond expires the one at the limit.
    assert!(store.expire_sessions(now).await.unwrap().is_empty());
    let ended = store.expire_sessions(now + 1).await.unwrap();
    assert_eq!(ids(&ended), set(&["at-limit"]));
}

async fn expire_sessions_agent_timeout_per_account(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    store.set_agent_idle_timeout("ac1", 30).await.unwrap();
    let a = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    let b = add(&store, agent("ac2", "bg1", "Bea", "bea@example.com")).await;
    let now = T0 + 200 * HOUR;
    // Account 1: 30 minutes.
    open_session(&store, &a, "a-at", T0, now - 30 * MINUTE).await;
    open_session(&store, &a, "a-past", T0, now - 30 * MINUTE - 1).await;
    // Account 2: the default 72 hours.
    open_session(&store, &b, "b-hour", T0, now - HOUR).await;
    open_session(&store, &b, "b-at", T0, now - 72 * HOUR).await;
    open_session(&store, &b, "b-past", T0, now - 72 * HOUR - 1).await;

    let ended = store.expire_sessions(now).await.unwrap();
    assert_eq!(ids(&ended), set(&["a-past", "b-past"]));
    for e in &ended {
        assert_eq!(e.reason, EndReason::Expired);
        assert_eq!(e.member_kind, MemberKind::Agent);
        let expected_account = if e.id == "a-past" { "ac1" } else { "ac2" };
        assert_eq!(e.account_id, expected_account);
        assert_eq!(e.member_id, if e.id == "a-past" { "ag1" } else { "bg1" });
        let s = store.session(&e.account_id, &e.id).await.unwrap();
        assert_eq!(
            (s.ended_at, s.end_reason),
            (Some(now), Some(EndReason::Expired))
        );
    }
    for (acc, live) in [("ac1", "a-at"), ("ac2", "b-hour"), ("ac2", "b-at")] {
        assert_eq!(
            store.session(acc, live).await.unwrap().ended_at,
            None,
            "{live}"
        );
    }

    // A shorter setting applies to sessions already open.
    store.set_agent_idle_timeout("ac2", 60).await.unwrap();
    let ended = store.expire_sessions(now).await.unwrap();
    assert_eq!(ids(&ended), set(&["b-at"]));
    let ended = store.expire_sessions(now + 1).await.unwrap();
    assert_eq!(ids(&ended), set(&["a-at", "b-hour"]));
}

async fn expire_sessions_absolute_lifetime(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    store
        .set_max_session_lifetime("ac1", Some(8 * 60))
        .await
        .unwrap();
    let a = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    let owner = store.member("ac1", "ac1-owner").await.unwrap();
    let b = add(&store, agent("ac2", "bg1", "Bea", "bea@example.com")).await;
    let now = T0 + 200 * HOUR;
    let life = 8 * HOUR;
    // Busy sessions: last seen just now, so only the absolute lifetime can end them.
    open_session(&store, &a, "a-at", now - life, now).await;
    open_session(&store, &a, "a-past", now - life - 1, now).await;
    // The lifetime is a Security setting, which governs agents' sessions only (issue 12):
    // an administrator's busy session outlives it.
    open_session(&store, &owner, "o-past", now - life - 1, now).await;
    // Another account without a lifetime.
    open_session(&store, &b, "b-old", now - 100 * HOUR, now).await;

    let ended = store.expire_sessions(now).await.unwrap();
    assert_eq!(ids(&ended), set(&["a-past"]));
    let agent_end = &ended[0];
    assert_eq!(
        (agent_end.reason, agent_end.account_id.as_str()),
        (EndReason::Expired, "ac1")
    );
    assert_eq!(agent_end.member_kind, MemberKind::Agent);
    assert_eq!(agent_end.member_id, "ag1");
    assert_eq!(store.session("ac1", "o-past").await.unwrap().ended_at, None);
    assert_eq!(store.session("ac1", "a-at").await.unwrap().ended_at, None);
    assert_eq!(store.session("ac2", "b-old").await.unwrap().ended_at, None);

    // Removing the lifetime keeps the rest alive.
    store.set_max_session_lifetime("ac1", None).await.unwrap();
    assert!(store.expire_sessions(now + HOUR).await.unwrap().is_empty());
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
        ip: Some("198.51.100.4".into()),
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
            ip: (i % 3 == 0).then(|| "192.0.2.1".to_string()),
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

async fn set_offline_many_touches_only_online_agents_of_the_account(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "globex").await;
    let on = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    let off = add(&store, agent("ac1", "ag2", "Bob", "bob@example.com")).await;
    let other = add(&store, agent("ac2", "bg1", "Gus", "gus@example.com")).await;
    for (acc, m) in [("ac1", &on), ("ac2", &other)] {
        store
            .set_status(acc, &m.id, AgentStatus::Online, Some(AgentStatus::Online))
            .await
            .unwrap();
    }
    let ids = vec![on.id.clone(), off.id.clone(), other.id.clone()];
    let changed = store.set_offline_many("ac1", &ids).await.unwrap();
    assert_eq!(changed, vec![on.id.clone()]);
    let ann = store.member("ac1", &on.id).await.unwrap();
    assert_eq!(ann.status, AgentStatus::Offline);
    // Her own choice is kept, to come back when a tab connects again.
    assert_eq!(ann.status_choice, AgentStatus::Online);
    assert_eq!(
        store.member("ac2", &other.id).await.unwrap().status,
        AgentStatus::Online
    );
    assert!(store.set_offline_many("ac1", &[]).await.unwrap().is_empty());
}

/// A bulk ending writes one audit row per session in one statement: every row comes back as
/// written, whatever its text, and a batch with one bad row writes nothing.
async fn many_audit_rows_in_one_batch_exactly_or_not_at_all(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let entries: Vec<AuditEntry> = (0..1500i64)
        .map(|i| AuditEntry {
            target: (i % 2 == 0).then(|| format!("ag{i}")),
            ip: (i % 3 == 0).then(|| "2001:db8::1".to_string()),
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

async fn checkpoint_keeps_everything(backend: Backend) {
    let (db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let a = add(&store, agent("ac1", "ag1", "Ann", "ann@acme.test")).await;
    open_session(&store, &a, "se1", T0, T0).await;
    store.checkpoint().await.unwrap();
    store.checkpoint().await.unwrap();
    // A new connection (as after a restart) sees everything.
    drop(store);
    let store = deskward::store::connect(&db.url).await.unwrap();
    assert_eq!(store.member("ac1", "ag1").await.unwrap().name, "Ann");
    assert_eq!(store.session("ac1", "se1").await.unwrap().member_id, "ag1");
}

async fn sign_in_failures_count_per_key_within_the_window(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (a, b) = ("a".repeat(64), "b".repeat(64));
    assert_eq!(
        store.signin_failures(&a, T0 - HOUR).await.unwrap(),
        FailureWindow::default()
    );
    store
        .record_signin_failure(&[a.clone(), b.clone()], T0)
        .await
        .unwrap();
    store
        .record_signin_failure(std::slice::from_ref(&a), T0 + MINUTE)
        .await
        .unwrap();
    store.record_signin_failure(&[], T0 + MINUTE).await.unwrap();
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
    store
        .record_signin_failure(std::slice::from_ref(&b), T0 + HOUR)
        .await
        .unwrap();
    assert_eq!(store.prune_signin_failures(T0).await.unwrap(), 1);
    assert_eq!(
        store.signin_failures(&b, 0).await.unwrap(),
        window(1, T0 + HOUR, T0 + HOUR)
    );
}
