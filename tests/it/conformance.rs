//! Store conformance suite: every `Store` method, written once against the trait and run on
//! SQLite and PostgreSQL through `backend_tests!`, one file per area (`conformance_*.rs`).
//! This one holds the fixtures they share and the accounts' tests. Times are fixed Unix
//! milliseconds, ids and password hashes are plain strings (the store neither generates nor
//! hashes them).

use std::collections::BTreeSet;
use std::sync::Arc;

use deskward::domain::email::normalize;
use deskward::domain::member::{AgentStatus, MemberKind, Permission, Permissions};
use deskward::domain::session::EndReason;
use deskward::domain::signin::AuthMethods;
use deskward::domain::time::Millis;
use deskward::store::testing::TestStore;
use deskward::store::{
    Account, AuditEntry, AuditQuery, EndSessions, EndedSession, Member, MemberPatch, MemberQuery,
    NewAccount, NewMember, NewSession, StoreError, Which,
};

use crate::db::{Backend, TestDb};

/// 2026-01-01T00:00:00Z.
pub(crate) const T0: Millis = 1_767_225_600_000;

/// The store with the test shortcuts (`store::testing`).
pub(crate) type Db = Arc<dyn TestStore>;

pub(crate) async fn open(backend: Backend) -> (TestDb, Db) {
    let db = TestDb::new(backend).await;
    let store = deskward::store::testing::connect(&db.url)
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
        ip: crate::support::client_ip("203.0.113.7"),
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0".to_string(),
        device: "Chrome 131 on Windows".to_string(),
        auth_methods: AuthMethods::password(),
        mfa_enrollment: false,
        sso: None,
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

/// Ends one session through `Store::end_sessions`, the one ending path; what ended, if it did.
pub(crate) async fn end_one(
    store: &Db,
    account_id: &str,
    session_id: &str,
    reason: EndReason,
    by: Option<&str>,
    at: Millis,
) -> Option<EndedSession> {
    let mut ended = store
        .end_sessions(&EndSessions {
            account_id: Some(account_id.to_string()),
            which: Which::Session(session_id.to_string()),
            reason,
            by: by.map(str::to_string),
            ip: None,
            at,
        })
        .await
        .expect("end one session")
        .sessions;
    assert!(ended.len() <= 1, "one session ended as several: {ended:?}");
    ended.pop()
}

/// Ends every live session of these people of `kind` through `Store::end_sessions`.
pub(crate) async fn end_people(
    store: &Db,
    account_id: &str,
    kind: MemberKind,
    ids: &[String],
    reason: EndReason,
    by: Option<&str>,
    at: Millis,
) -> Result<Vec<EndedSession>, StoreError> {
    store
        .end_sessions(&EndSessions {
            account_id: Some(account_id.to_string()),
            which: Which::People {
                kind,
                ids: ids.to_vec(),
            },
            reason,
            by: by.map(str::to_string),
            ip: None,
            at,
        })
        .await
        .map(|e| e.sessions)
}

/// The background sweep at `now`: every account's expired sessions, through `end_sessions`.
pub(crate) async fn expire(store: &Db, now: Millis) -> Vec<EndedSession> {
    store
        .end_sessions(&EndSessions {
            account_id: None,
            which: Which::Expired,
            reason: EndReason::Expired,
            by: None,
            ip: None,
            at: now,
        })
        .await
        .expect("sweep")
        .sessions
}

/// Records one failed sign-in at `at` for each key: a reservation never forgiven, as a wrong
/// password leaves it.
pub(crate) async fn record_failure(store: &Db, keys: &[String], at: Millis) {
    store
        .reserve_signin_attempt(keys, at, at, &|_| true)
        .await
        .expect("reserve")
        .expect("allowed");
}

backend_tests!(
    opens_and_reports_backend,
    creates_accounts_and_their_primary_admin,
    first_run_setup_cannot_race,
    account_creation_is_atomic,
    account_settings,
    accounts_are_isolated,
    checkpoint_keeps_everything,
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

    let ended = end_one(
        &store,
        "acA",
        "sb1",
        EndReason::EndedByAdmin,
        Some("acA-owner"),
        T0 + 20,
    )
    .await;
    assert_eq!(ended, None);
    match end_people(
        &store,
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
    match end_people(
        &store,
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

/// Claims from a queue with four claimers at once until it is empty, and checks that every
/// one of `expected` rows was claimed exactly once. `claim` takes one batch (its ids).
pub(crate) async fn claimed_once_by_racers<Fut>(store: &Db, expected: usize, claim: fn(Db) -> Fut)
where
    Fut: std::future::Future<Output = Vec<String>> + Send + 'static,
{
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = claim(store.clone()).await;
                if batch.is_empty() {
                    break;
                }
                mine.extend(batch);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(all.len(), expected, "every row claimed");
    assert_eq!(unique.len(), expected, "none claimed twice");
}
