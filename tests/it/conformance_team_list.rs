//! Store conformance, the Team list (`list_members`): order and paging, the session, status
//! and search filters and how they combine.

use deskward::domain::member::{AgentStatus, MemberKind};
use deskward::domain::session::EndReason;
use deskward::domain::time::{HOUR, MINUTE};
use deskward::store::{MemberQuery, SessionFilter};

use crate::conformance::{
    T0, add, admin, agent, end_one, expire, make_account, names, open, open_session, query,
};
use crate::db::Backend;

backend_tests!(
    list_members_orders_by_name_and_pages,
    list_members_session_filter,
    list_members_session_filter_follows_every_change,
    list_members_session_filter_after_endings_at_once,
    list_members_status_filter,
    list_members_search,
    list_members_filters_combine,
);

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
    end_one(&store, "ac1", "s3", EndReason::Logout, None, cutoff + 20).await;
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

/// The filter reads what the person row keeps of their live sessions (the latest activity,
/// kept by the database on every start, touch and ending): each way a session changes must
/// move it, including an older session taking over when the newest ends.
async fn list_members_session_filter_follows_every_change(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let ann = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    let cutoff = T0 + HOUR;
    let active = |after| MemberQuery {
        session: Some(SessionFilter::Active),
        ..query(MemberKind::Agent, after)
    };
    let none = |after| MemberQuery {
        session: Some(SessionFilter::None),
        ..query(MemberKind::Agent, after)
    };
    let ann_only = (vec!["Ann".to_string()], 1);
    let nobody = (Vec::<String>::new(), 0);

    // Signing in makes her active at once; an older, idle session sits beside the new one.
    open_session(&store, &ann, "old", T0, cutoff - 5).await;
    assert_eq!(names(&store, "ac1", &none(cutoff)).await, ann_only);
    open_session(&store, &ann, "new", T0, cutoff + 10).await;
    assert_eq!(names(&store, "ac1", &active(cutoff)).await, ann_only);
    // A touch that would move time back changes nothing.
    store.touch_session("new", cutoff - 100).await.unwrap();
    assert_eq!(names(&store, "ac1", &active(cutoff)).await, ann_only);

    // Ending the newest leaves the idle one deciding: no longer active.
    end_one(&store, "ac1", "new", EndReason::Logout, None, cutoff + 11).await;
    assert_eq!(names(&store, "ac1", &active(cutoff)).await, nobody);
    assert_eq!(names(&store, "ac1", &none(cutoff)).await, ann_only);
    // Before the idle one's last activity she still counts as active.
    assert_eq!(names(&store, "ac1", &active(cutoff - 5)).await, ann_only);

    // Activity on the older session (the policies' touch, with address and device).
    let s = store.session("ac1", "old").await.unwrap();
    let seen = deskward::store::SessionSeen {
        session_id: "old".to_string(),
        at: cutoff + 20,
        ip: s.ip,
        user_agent: s.user_agent.clone(),
        outside_office: false,
    };
    assert!(store.touch_session_seen(&seen).await.unwrap());
    assert_eq!(names(&store, "ac1", &active(cutoff + 20)).await, ann_only);

    // The sweep expires it: nothing live is left, whatever the cutoff.
    store.set_agent_idle_timeout("ac1", 30).await.unwrap();
    let ended = expire(&store, cutoff + 20 + 31 * MINUTE).await;
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(names(&store, "ac1", &active(T0)).await, nobody);
    assert_eq!(names(&store, "ac1", &none(T0)).await, ann_only);

    // Signing in again counts her once more.
    open_session(&store, &ann, "again", cutoff + HOUR, cutoff + HOUR).await;
    assert_eq!(names(&store, "ac1", &active(cutoff + HOUR)).await, ann_only);
}

/// Two sessions of one person ending at once in two transactions: each must not count the
/// other's as still live (on PostgreSQL the recount waits for the person's row, then reads).
async fn list_members_session_filter_after_endings_at_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let cutoff = T0 + HOUR;
    let mut sessions = Vec::new();
    for i in 0..20 {
        let m = add(
            &store,
            agent(
                "ac1",
                &format!("ag{i:02}"),
                &format!("A{i:02}"),
                &format!("a{i}@x.test"),
            ),
        )
        .await;
        for k in 0..2 {
            let id = format!("s{i:02}-{k}");
            open_session(&store, &m, &id, T0, cutoff + 10 + k).await;
            sessions.push(id);
        }
    }
    let active = MemberQuery {
        session: Some(SessionFilter::Active),
        ..query(MemberKind::Agent, cutoff)
    };
    assert_eq!(names(&store, "ac1", &active).await.1, 20);
    let endings = sessions
        .iter()
        .map(|id| end_one(&store, "ac1", id, EndReason::Logout, None, cutoff + 100));
    let ended = futures_util::future::join_all(endings).await;
    assert!(ended.iter().all(Option::is_some), "{ended:?}");
    assert_eq!(names(&store, "ac1", &active).await, (vec![], 0));
    let none = MemberQuery {
        session: Some(SessionFilter::None),
        ..query(MemberKind::Agent, cutoff)
    };
    assert_eq!(names(&store, "ac1", &none).await.1, 20);
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
