//! Store conformance, sessions: their life from insert to end, the hot path's read by token
//! hash, activity, live sessions, and people's sessions ended through `end_sessions`.

use deskward::domain::ClientIp;
use deskward::domain::member::{MemberKind, Permission, Permissions};
use deskward::domain::session::EndReason;
use deskward::domain::time::{HOUR, MINUTE};
use deskward::store::{AuditEntry, EndedSession, MemberPatch, NewMember, NewSession, StoreError};

use crate::conformance::{
    T0, add, admin, agent, assert_not_found, audit, audit_query, end_one, end_people, ids,
    make_account, new_session, open, open_session, set, token_of,
};
use crate::db::{Backend, TestDb};
use crate::support::client_ip;

backend_tests!(
    session_lifecycle,
    auth_record_reads_person_and_account,
    touch_session_only_moves_forward,
    active_sessions_lists_live_ones_oldest_first,
    end_member_sessions_ends_every_live_session,
    end_member_sessions_refuses_unknown_ids_atomically,
    end_member_sessions_under_concurrent_writes,
    client_addresses_are_stored_as_text,
);

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
    assert_eq!(s.ip.to_string(), "203.0.113.7");
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
    assert_eq!(*rec.session, s);
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
    let ended = end_one(
        &store,
        "ac1",
        "s1",
        EndReason::EndedByAdmin,
        Some("ac1-owner"),
        T0 + 2 * MINUTE,
    )
    .await;
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
    let again = end_one(
        &store,
        "ac1",
        "s1",
        EndReason::Logout,
        None,
        T0 + 3 * MINUTE,
    )
    .await;
    assert_eq!(again, None, "an ended session is not ended twice");
    assert_eq!(
        end_one(&store, "ac1", "nope", EndReason::Logout, None, T0).await,
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
    let out = end_one(&store, "ac1", "s2", EndReason::Logout, None, T0 + 5)
        .await
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
        end_one(&store, "ac1", &id, reason, None, T0 + 1)
            .await
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
    end_one(
        &store,
        "ac1",
        "s1",
        EndReason::Logout,
        None,
        T0 + 12 * MINUTE,
    )
    .await;
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
    end_one(
        &store,
        "ac1",
        "s-gone",
        EndReason::Logout,
        None,
        cutoff + 10,
    )
    .await;
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
    end_one(&store, "ac1", "x-old", EndReason::Logout, None, T0 + 4).await;
    open_session(&store, &y, "y1", T0, T0 + 5).await;
    open_session(&store, &w, "w1", T0, T0 + 6).await;
    open_session(&store, &owner, "o1", T0, T0 + 7).await;

    let at = T0 + HOUR;
    let ended = end_people(
        &store,
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
    let again = end_people(
        &store,
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
    let none = end_people(
        &store,
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
    let admins = end_people(
        &store,
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
        let r = end_people(
            &store,
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
                let e = end_people(
                    &store,
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

/// One statement run straight on the database, as an operator would; the text column it
/// returns, if any.
async fn column(db: &TestDb, backend: Backend, sql: &'static str) -> Vec<Option<String>> {
    match backend {
        Backend::Sqlite => {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut c).await.unwrap()
        }
    }
}

/// Client addresses cross the store as `ClientIp` and are written as the text they always
/// were (`unknown` for a client without one); rows holding text that is no address (an
/// older row, an operator's edit) still read back, as unknown.
async fn client_addresses_are_stored_as_text(backend: Backend) {
    let (db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let ann = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    let from = |id: &str, ip| NewSession {
        ip,
        ..new_session(&ann, id, T0)
    };
    let s = store
        .insert_session(&from("s1", ClientIp::UNKNOWN))
        .await
        .unwrap();
    assert_eq!((s.ip, s.last_ip), (ClientIp::UNKNOWN, ClientIp::UNKNOWN));
    store
        .insert_session(&from("s2", client_ip("2001:db8::7")))
        .await
        .unwrap();
    assert_eq!(
        column(&db, backend, "SELECT ip FROM sessions ORDER BY id").await,
        [Some("unknown".to_string()), Some("2001:db8::7".to_string())]
    );
    let s = store.session("ac1", "s2").await.unwrap();
    assert_eq!(
        (s.ip, s.last_ip.to_string()),
        (client_ip("2001:db8::7"), "2001:db8::7".to_string())
    );

    let sql = "UPDATE sessions SET ip = '', last_ip = 'somewhere' WHERE id = 's2'";
    assert_eq!(column(&db, backend, sql).await, []);
    let s = store.session("ac1", "s2").await.unwrap();
    assert_eq!((s.ip, s.last_ip), (ClientIp::UNKNOWN, ClientIp::UNKNOWN));
    assert_eq!(s.ip.to_string(), "unknown");

    // The audit log's three cases: nobody from nowhere (NULL), an unknown address, an address.
    let written = [
        None,
        Some(ClientIp::UNKNOWN),
        Some(client_ip("203.0.113.7")),
    ];
    for (i, ip) in written.iter().enumerate() {
        let id = format!("au{i}");
        store
            .insert_audit(&AuditEntry {
                ip: *ip,
                ..audit("ac1", &id, T0 + i as i64, "signin", None)
            })
            .await
            .unwrap();
    }
    assert_eq!(
        column(&db, backend, "SELECT ip FROM audit_log ORDER BY id").await,
        [
            None,
            Some("unknown".to_string()),
            Some("203.0.113.7".to_string())
        ]
    );
    let (mut read, _) = store.list_audit("ac1", &audit_query()).await.unwrap();
    read.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(read.iter().map(|e| e.ip).collect::<Vec<_>>(), written);
}
