//! Store conformance, `end_sessions`: every way a session ends, in one transaction with its
//! audit rows; sessions already past their timeout end as `expired`, by no one.

use std::collections::BTreeMap;

use deskward::domain::member::{AgentStatus, MemberKind};
use deskward::domain::session::EndReason;
use deskward::domain::time::{HOUR, MINUTE, Millis};
use deskward::store::{AuditEntry, EndSessions, Ended, EndedSession, StoreError, Which};

use crate::conformance::{
    Db, T0, add, admin, agent, audit_query, make_account, open, open_session,
};
use crate::db::Backend;

backend_tests!(
    end_sessions_ends_one_session_with_its_audit_row,
    a_session_past_its_timeout_ends_as_expired_by_no_one,
    people_endings_refuse_unknown_ids_and_change_nothing,
    person_except_and_all_but_newest,
    expired_sweep_in_one_account_or_everywhere,
    concurrent_endings_return_each_session_once,
    bulk_ending_of_a_thousand_agents,
    endings_set_only_online_agents_offline,
);

const NOW: Millis = T0 + 200 * HOUR;
const IP: &str = "203.0.113.5";

fn req(account: &str, which: Which, reason: EndReason, by: Option<&str>) -> EndSessions {
    EndSessions {
        account_id: Some(account.to_string()),
        which,
        reason,
        by: by.map(str::to_string),
        ip: Some(crate::support::client_ip(IP)),
        at: NOW,
    }
}

fn people(kind: MemberKind, ids: &[&str]) -> Which {
    Which::People {
        kind,
        ids: ids.iter().map(|s| s.to_string()).collect(),
    }
}

/// Ended sessions as id → reason.
fn reasons(ended: &[EndedSession]) -> BTreeMap<String, EndReason> {
    let map: BTreeMap<String, EndReason> = ended.iter().map(|e| (e.id.clone(), e.reason)).collect();
    assert_eq!(
        map.len(),
        ended.len(),
        "a session returned twice: {ended:?}"
    );
    map
}

fn expect(pairs: &[(&str, EndReason)]) -> BTreeMap<String, EndReason> {
    pairs.iter().map(|(id, r)| (id.to_string(), *r)).collect()
}

/// The account's audit rows, newest first.
async fn audits(store: &Db, account: &str) -> Vec<AuditEntry> {
    let q = deskward::store::AuditQuery {
        limit: 10_000,
        ..audit_query()
    };
    store.list_audit(account, &q).await.unwrap().0
}

/// The one shape of a session-ending row, as (kind, actor, target, ip, detail).
type Shape = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

fn shape(e: &AuditEntry) -> Shape {
    assert_eq!(e.count, 1);
    assert_eq!(
        e.id,
        format!("au_{:012x}{}", e.at, &e.id[15..]),
        "audit ids are new_ordered_id(\"au\", at)"
    );
    assert_eq!(e.id.len(), 31);
    (
        e.kind.clone(),
        e.actor.clone(),
        e.target.clone(),
        e.ip.map(|ip| ip.to_string()),
        e.detail.clone(),
    )
}

fn row(kind: &str, actor: Option<&str>, target: &str, ip: Option<&str>, detail: &str) -> Shape {
    (
        kind.to_string(),
        actor.map(str::to_string),
        Some(target.to_string()),
        ip.map(str::to_string),
        detail.to_string(),
    )
}

async fn is_live(store: &Db, account: &str, id: &str) -> bool {
    store.session(account, id).await.unwrap().ended_at.is_none()
}

async fn end_sessions_ends_one_session_with_its_audit_row(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    let ann = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    let other = add(&store, agent("ac2", "bg1", "Bea", "bea@example.com")).await;
    for id in ["s1", "s2", "s3", "s4"] {
        open_session(&store, &ann, id, NOW - HOUR, NOW).await;
    }
    open_session(&store, &other, "sb1", NOW - HOUR, NOW).await;

    let ended = store
        .end_sessions(&req(
            "ac1",
            Which::Session("s1".into()),
            EndReason::EndedByAdmin,
            Some("ac1-owner"),
        ))
        .await
        .unwrap()
        .sessions;
    assert_eq!(
        ended,
        vec![EndedSession {
            id: "s1".into(),
            account_id: "ac1".into(),
            member_id: "ag1".into(),
            member_kind: MemberKind::Agent,
            reason: EndReason::EndedByAdmin,
        }]
    );
    let s = store.session("ac1", "s1").await.unwrap();
    assert_eq!(
        (s.ended_at, s.end_reason, s.ended_by.as_deref()),
        (Some(NOW), Some(EndReason::EndedByAdmin), Some("ac1-owner"))
    );
    let rows = audits(&store, "ac1").await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].account_id.as_str(), rows[0].at), ("ac1", NOW));
    assert_eq!(
        shape(&rows[0]),
        row(
            "session.ended",
            Some("ac1-owner"),
            "ag1",
            Some(IP),
            "session s1 ended (ended_by_admin)"
        )
    );

    // Already ended, another account's, or unknown: nothing ends, nothing is written.
    for which in ["s1", "sb1", "nope"] {
        let again = store
            .end_sessions(&req(
                "ac1",
                Which::Session(which.into()),
                EndReason::Logout,
                None,
            ))
            .await
            .unwrap()
            .sessions;
        assert!(again.is_empty(), "{which}");
    }
    assert_eq!(audits(&store, "ac1").await.len(), 1);
    assert!(audits(&store, "ac2").await.is_empty());
    assert!(is_live(&store, "ac2", "sb1").await);
    assert_eq!(
        store.session("ac1", "s1").await.unwrap().ended_at,
        Some(NOW)
    );

    // The kind follows the reason: a sign-out, or an ending by someone for any other.
    for (id, reason, by, kind) in [
        ("s2", EndReason::Logout, Some("ag1"), "signout"),
        (
            "s3",
            EndReason::Disabled,
            Some("ac1-owner"),
            "session.ended",
        ),
        ("s4", EndReason::PasswordChanged, None, "session.ended"),
    ] {
        let ended = store
            .end_sessions(&req("ac1", Which::Session(id.into()), reason, by))
            .await
            .unwrap()
            .sessions;
        assert_eq!(reasons(&ended), expect(&[(id, reason)]));
        let rows = audits(&store, "ac1").await;
        let written = rows.iter().find(|e| e.detail.contains(id)).unwrap();
        assert_eq!(
            shape(written),
            row(
                kind,
                by,
                "ag1",
                Some(IP),
                &format!("session {id} ended ({reason})")
            )
        );
        assert_eq!(
            store.session("ac1", id).await.unwrap().ended_by.as_deref(),
            by
        );
    }
}

async fn a_session_past_its_timeout_ends_as_expired_by_no_one(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    store.set_agent_idle_timeout("ac1", 30).await.unwrap();
    store
        .set_max_session_lifetime("ac1", Some(8 * 60))
        .await
        .unwrap();
    let ann = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    let sub = add(&store, admin("ac1", "ad1", "Sub", "sub@example.com")).await;
    let life = 8 * HOUR;
    open_session(&store, &ann, "fresh", NOW - HOUR, NOW).await;
    open_session(&store, &ann, "idle-at", NOW - HOUR, NOW - 30 * MINUTE).await;
    open_session(&store, &ann, "idle-past", NOW - HOUR, NOW - 30 * MINUTE - 1).await;
    open_session(&store, &ann, "old-at", NOW - life, NOW).await;
    open_session(&store, &ann, "old-past", NOW - life - 1, NOW).await;
    // Administrators: 72 hours idle, whatever the account says; no lifetime.
    open_session(&store, &sub, "adm-idle-at", T0, NOW - 72 * HOUR).await;
    open_session(&store, &sub, "adm-idle-past", T0, NOW - 72 * HOUR - 1).await;
    open_session(&store, &sub, "adm-old-busy", T0, NOW).await;

    let ended = store
        .end_sessions(&req(
            "ac1",
            people(MemberKind::Agent, &["ag1"]),
            EndReason::Disabled,
            Some("ac1-owner"),
        ))
        .await
        .unwrap()
        .sessions;
    assert_eq!(
        reasons(&ended),
        expect(&[
            ("fresh", EndReason::Disabled),
            ("idle-at", EndReason::Disabled),
            ("idle-past", EndReason::Expired),
            ("old-at", EndReason::Disabled),
            ("old-past", EndReason::Expired),
        ])
    );
    for e in &ended {
        let s = store.session("ac1", &e.id).await.unwrap();
        assert_eq!((s.end_reason, s.ended_at), (Some(e.reason), Some(NOW)));
        let by = (e.reason != EndReason::Expired).then_some("ac1-owner");
        assert_eq!(s.ended_by.as_deref(), by, "{}", e.id);
    }

    let ended = store
        .end_sessions(&req(
            "ac1",
            people(MemberKind::Admin, &["ad1"]),
            EndReason::PasswordChanged,
            None,
        ))
        .await
        .unwrap()
        .sessions;
    assert_eq!(
        reasons(&ended),
        expect(&[
            ("adm-idle-at", EndReason::PasswordChanged),
            ("adm-idle-past", EndReason::Expired),
            ("adm-old-busy", EndReason::PasswordChanged),
        ])
    );

    // Expired rows: no actor, no address; the others name who and from where.
    let mut rows: Vec<Shape> = audits(&store, "ac1").await.iter().map(shape).collect();
    rows.sort_by(|a, b| a.4.cmp(&b.4));
    let ended = |id: &str, reason: &str| format!("session {id} ended ({reason})");
    let mut want = vec![
        row(
            "session.ended",
            None,
            "ad1",
            Some(IP),
            &ended("adm-idle-at", "password_changed"),
        ),
        row(
            "session.expired",
            None,
            "ad1",
            None,
            &ended("adm-idle-past", "expired"),
        ),
        row(
            "session.ended",
            None,
            "ad1",
            Some(IP),
            &ended("adm-old-busy", "password_changed"),
        ),
        row(
            "session.ended",
            Some("ac1-owner"),
            "ag1",
            Some(IP),
            &ended("fresh", "disabled"),
        ),
        row(
            "session.ended",
            Some("ac1-owner"),
            "ag1",
            Some(IP),
            &ended("idle-at", "disabled"),
        ),
        row(
            "session.expired",
            None,
            "ag1",
            None,
            &ended("idle-past", "expired"),
        ),
        row(
            "session.ended",
            Some("ac1-owner"),
            "ag1",
            Some(IP),
            &ended("old-at", "disabled"),
        ),
        row(
            "session.expired",
            None,
            "ag1",
            None,
            &ended("old-past", "expired"),
        ),
    ];
    want.sort_by(|a, b| a.4.cmp(&b.4));
    assert_eq!(rows, want);
}

async fn people_endings_refuse_unknown_ids_and_change_nothing(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    let x = add(&store, agent("ac1", "agX", "X", "x@example.com")).await;
    let y = add(&store, agent("ac1", "agY", "Y", "y@example.com")).await;
    let sub = add(&store, admin("ac1", "ad1", "Sub", "sub@example.com")).await;
    let other = add(&store, agent("ac2", "bgX", "Other", "o@example.com")).await;
    open_session(&store, &x, "x1", NOW - HOUR, NOW).await;
    open_session(&store, &x, "x2", NOW - HOUR, NOW).await;
    open_session(&store, &y, "y1", NOW - HOUR, NOW).await;
    open_session(&store, &sub, "a1", NOW - HOUR, NOW).await;
    open_session(&store, &other, "b1", NOW - HOUR, NOW).await;
    let all_live = |store: Db| async move {
        for (acc, id) in [
            ("ac1", "x1"),
            ("ac1", "x2"),
            ("ac1", "y1"),
            ("ac1", "a1"),
            ("ac2", "b1"),
        ] {
            assert!(is_live(&store, acc, id).await, "{id} must stay live");
        }
        assert!(audits(&store, "ac1").await.is_empty());
        assert!(audits(&store, "ac2").await.is_empty());
    };

    for (account, kind, given, unknown) in [
        ("ac1", MemberKind::Agent, vec!["agX", "ad1"], vec!["ad1"]),
        ("ac1", MemberKind::Admin, vec!["ad1", "agX"], vec!["agX"]),
        ("ac1", MemberKind::Agent, vec!["agX", "bgX"], vec!["bgX"]),
        (
            "ac1",
            MemberKind::Agent,
            vec!["zz", "agY", "aa", "zz"],
            vec!["zz", "aa"],
        ),
        ("nope", MemberKind::Agent, vec!["agX"], vec!["agX"]),
    ] {
        let r = store
            .end_sessions(&req(
                account,
                people(kind, &given),
                EndReason::EndedByAdmin,
                Some("ac1-owner"),
            ))
            .await;
        match r {
            Err(StoreError::UnknownIds(ids)) => assert_eq!(ids, unknown, "for {given:?}"),
            other => panic!("expected UnknownIds for {given:?}, got {other:?}"),
        }
        all_live(store.clone()).await;
    }

    // No account is only for the sweep: refused, nothing changes.
    for which in [
        people(MemberKind::Agent, &["agX"]),
        Which::Session("x1".into()),
        Which::PersonExcept {
            member_id: "agX".into(),
            keep: None,
        },
    ] {
        let r = store
            .end_sessions(&EndSessions {
                account_id: None,
                ..req("ac1", which, EndReason::EndedByAdmin, None)
            })
            .await;
        assert!(matches!(r, Err(StoreError::Other(_))), "{r:?}");
        all_live(store.clone()).await;
    }
    // Nobody named: nothing to end, not an error. Another account's session: nothing.
    let none = store
        .end_sessions(&req(
            "ac1",
            people(MemberKind::Agent, &[]),
            EndReason::EndedByAdmin,
            None,
        ))
        .await
        .unwrap()
        .sessions;
    assert!(none.is_empty());
    let none = store
        .end_sessions(&req(
            "nope",
            Which::Session("x1".into()),
            EndReason::EndedByAdmin,
            None,
        ))
        .await
        .unwrap()
        .sessions;
    assert!(none.is_empty());
    all_live(store.clone()).await;

    // A repeated id is one person; everyone listed is ended, no one else.
    let ended = store
        .end_sessions(&req(
            "ac1",
            people(MemberKind::Agent, &["agX", "agX"]),
            EndReason::EndedByAdmin,
            Some("ac1-owner"),
        ))
        .await
        .unwrap()
        .sessions;
    assert_eq!(
        reasons(&ended),
        expect(&[
            ("x1", EndReason::EndedByAdmin),
            ("x2", EndReason::EndedByAdmin)
        ])
    );
    assert!(is_live(&store, "ac1", "y1").await);
    assert_eq!(audits(&store, "ac1").await.len(), 2);
}

async fn person_except_and_all_but_newest(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    store.set_agent_idle_timeout("ac1", 30).await.unwrap();
    let ann = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    let bob = add(&store, agent("ac1", "ag2", "Bob", "bob@example.com")).await;
    for i in 1..=5 {
        open_session(&store, &ann, &format!("a{i}"), NOW - HOUR + i, NOW).await;
    }
    // The newest of all, but idle past the timeout.
    open_session(&store, &ann, "a-idle", NOW - HOUR + 6, NOW - HOUR + 6).await;
    open_session(&store, &bob, "b1", NOW - HOUR, NOW).await;
    open_session(&store, &bob, "b2", NOW - HOUR, NOW).await;

    // "Sign out my other sessions".
    let ended = store
        .end_sessions(&req(
            "ac1",
            Which::PersonExcept {
                member_id: "ag1".into(),
                keep: Some("a3".into()),
            },
            EndReason::Logout,
            Some("ag1"),
        ))
        .await
        .unwrap()
        .sessions;
    assert_eq!(
        reasons(&ended),
        expect(&[
            ("a1", EndReason::Logout),
            ("a2", EndReason::Logout),
            ("a4", EndReason::Logout),
            ("a5", EndReason::Logout),
            ("a-idle", EndReason::Expired),
        ])
    );
    assert!(is_live(&store, "ac1", "a3").await);
    assert!(is_live(&store, "ac1", "b1").await && is_live(&store, "ac1", "b2").await);
    let kinds: Vec<String> = audits(&store, "ac1")
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "signout").count(), 4);
    assert_eq!(kinds.iter().filter(|k| *k == "session.expired").count(), 1);

    // Without a session to keep: all of them.
    let ended = store
        .end_sessions(&req(
            "ac1",
            Which::PersonExcept {
                member_id: "ag2".into(),
                keep: None,
            },
            EndReason::Logout,
            Some("ag2"),
        ))
        .await
        .unwrap()
        .sessions;
    assert_eq!(
        reasons(&ended).keys().cloned().collect::<Vec<_>>(),
        ["b1", "b2"]
    );
    assert!(is_live(&store, "ac1", "a3").await);

    // A cap of two: the newest two by (started_at, id) stay; an expired session takes no
    // place among them and ends as expired.
    for (id, started) in [("c1", 10), ("c2", 11), ("c5", 20), ("c6", 20)] {
        open_session(&store, &ann, id, NOW - HOUR + started, NOW).await;
    }
    open_session(&store, &ann, "c-idle", NOW - HOUR + 30, NOW - HOUR + 30).await;
    let cap = |keep: usize| {
        let store = store.clone();
        async move {
            let ended = store
                .end_sessions(&req(
                    "ac1",
                    Which::AllButNewest {
                        member_id: "ag1".into(),
                        keep,
                    },
                    EndReason::EndedByAdmin,
                    None,
                ))
                .await
                .unwrap()
                .sessions;
            reasons(&ended)
        }
    };
    assert_eq!(
        cap(2).await,
        expect(&[
            ("a3", EndReason::EndedByAdmin),
            ("c1", EndReason::EndedByAdmin),
            ("c2", EndReason::EndedByAdmin),
            ("c-idle", EndReason::Expired),
        ])
    );
    assert!(is_live(&store, "ac1", "c5").await && is_live(&store, "ac1", "c6").await);
    assert!(cap(2).await.is_empty(), "two left, two kept");
    assert!(cap(5).await.is_empty());
    assert_eq!(cap(1).await, expect(&[("c5", EndReason::EndedByAdmin)]));
    assert_eq!(cap(0).await, expect(&[("c6", EndReason::EndedByAdmin)]));
    // Other people are untouched by a person's cap.
    open_session(&store, &bob, "b3", NOW - HOUR, NOW).await;
    assert!(cap(0).await.is_empty());
    assert!(is_live(&store, "ac1", "b3").await);
}

async fn expired_sweep_in_one_account_or_everywhere(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    store.set_agent_idle_timeout("ac1", 30).await.unwrap();
    store
        .set_max_session_lifetime("ac1", Some(8 * 60))
        .await
        .unwrap();
    let a = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    let owner = store.member("ac1", "ac1-owner").await.unwrap();
    let b = add(&store, agent("ac2", "bg1", "Bea", "bea@example.com")).await;
    let b_owner = store.member("ac2", "ac2-owner").await.unwrap();
    open_session(&store, &a, "a-fresh", NOW - HOUR, NOW).await;
    open_session(&store, &a, "a-idle", T0, NOW - 30 * MINUTE - 1).await;
    open_session(&store, &a, "a-old", NOW - 8 * HOUR - 1, NOW).await;
    open_session(&store, &owner, "o-idle", T0, NOW - 72 * HOUR - 1).await;
    open_session(&store, &owner, "o-old", T0, NOW).await;
    open_session(&store, &b, "b-idle", T0, NOW - 72 * HOUR - 1).await;
    open_session(&store, &b, "b-fresh", T0, NOW - 72 * HOUR).await;
    open_session(&store, &b_owner, "bo-idle", T0, NOW - 72 * HOUR - 1).await;

    let sweep = |account: Option<&str>| EndSessions {
        account_id: account.map(str::to_string),
        // What the sweep is asked for does not matter: it expires, by no one.
        ..req("ac1", Which::Expired, EndReason::EndedByAdmin, Some("x"))
    };
    let ended = store
        .end_sessions(&sweep(Some("ac1")))
        .await
        .unwrap()
        .sessions;
    assert_eq!(
        reasons(&ended),
        expect(&[
            ("a-idle", EndReason::Expired),
            ("a-old", EndReason::Expired),
            ("o-idle", EndReason::Expired),
        ])
    );
    for id in ["b-idle", "bo-idle"] {
        assert!(is_live(&store, "ac2", id).await, "{id}: another account");
    }
    let rows: Vec<Shape> = audits(&store, "ac1").await.iter().map(shape).collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(
            (r.0.as_str(), &r.1, &r.3),
            ("session.expired", &None, &None)
        );
    }

    let ended = store.end_sessions(&sweep(None)).await.unwrap().sessions;
    assert_eq!(
        reasons(&ended),
        expect(&[
            ("b-idle", EndReason::Expired),
            ("bo-idle", EndReason::Expired),
        ])
    );
    let mut who: Vec<(&str, &str, MemberKind)> = ended
        .iter()
        .map(|e| (e.id.as_str(), e.account_id.as_str(), e.member_kind))
        .collect();
    who.sort_by_key(|w| w.0);
    assert_eq!(
        who,
        [
            ("b-idle", "ac2", MemberKind::Agent),
            ("bo-idle", "ac2", MemberKind::Admin)
        ]
    );
    let mut rows: Vec<Shape> = audits(&store, "ac2").await.iter().map(shape).collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            row(
                "session.expired",
                None,
                "ac2-owner",
                None,
                "session bo-idle ended (expired)"
            ),
            row(
                "session.expired",
                None,
                "bg1",
                None,
                "session b-idle ended (expired)"
            ),
        ]
    );
    for (acc, id) in [("ac1", "a-fresh"), ("ac1", "o-old"), ("ac2", "b-fresh")] {
        assert!(is_live(&store, acc, id).await, "{id}");
    }
    assert!(
        store
            .end_sessions(&sweep(None))
            .await
            .unwrap()
            .sessions
            .is_empty()
    );
}

async fn concurrent_endings_return_each_session_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let mut all = Vec::new();
    let mut agents = Vec::new();
    for i in 0..10 {
        let m = add(
            &store,
            agent("ac1", &format!("ag{i}"), "A", &format!("a{i}@x.example")),
        )
        .await;
        for j in 0..3 {
            let id = format!("s{i}-{j}");
            open_session(&store, &m, &id, NOW - HOUR, NOW).await;
            all.push(id);
        }
        agents.push(m.id);
    }
    // Every way at once, each over every session: one-by-one, per person, everyone.
    let mut tasks = Vec::new();
    for t in 0..9 {
        let store = store.clone();
        let (all, agents) = (all.clone(), agents.clone());
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let end = |which| req("ac1", which, EndReason::EndedByAdmin, Some("ac1-owner"));
            match t % 3 {
                0 => {
                    for id in all.iter().rev() {
                        got.extend(
                            store
                                .end_sessions(&end(Which::Session(id.clone())))
                                .await?
                                .sessions,
                        );
                    }
                }
                1 => {
                    for a in &agents {
                        let which = Which::PersonExcept {
                            member_id: a.clone(),
                            keep: None,
                        };
                        got.extend(store.end_sessions(&end(which)).await?.sessions);
                    }
                }
                _ => {
                    let which = Which::People {
                        kind: MemberKind::Agent,
                        ids: agents.clone(),
                    };
                    got.extend(store.end_sessions(&end(which)).await?.sessions);
                }
            }
            Ok::<_, StoreError>(got)
        }));
    }
    let mut returned = Vec::new();
    for t in tasks {
        returned.extend(t.await.expect("task").expect("end_sessions"));
    }
    let mut ids: Vec<String> = returned.into_iter().map(|e| e.id).collect();
    ids.sort();
    let mut want = all.clone();
    want.sort();
    assert_eq!(ids, want, "each session returned by exactly one call");
    let rows = audits(&store, "ac1").await;
    assert_eq!(rows.len(), all.len(), "one audit row per ended session");
    let details: std::collections::BTreeSet<String> = rows.into_iter().map(|e| e.detail).collect();
    assert_eq!(details.len(), all.len());
}

async fn bulk_ending_of_a_thousand_agents(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    let mut ids = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..1000 {
        let m = add(
            &store,
            agent("ac1", &format!("ag{i:04}"), "A", &format!("a{i}@x.example")),
        )
        .await;
        let n = if i % 100 < 27 { 2 } else { 1 };
        for j in 0..n {
            let id = format!("s{i:04}-{j}");
            open_session(&store, &m, &id, NOW - HOUR, NOW).await;
            sessions.push(id);
        }
        ids.push(m.id);
    }
    assert_eq!(sessions.len(), 1270);
    let started = std::time::Instant::now();
    let ended = store
        .end_sessions(&req(
            "ac1",
            Which::People {
                kind: MemberKind::Agent,
                ids,
            },
            EndReason::EndedByAdmin,
            Some("ac1-owner"),
        ))
        .await
        .unwrap()
        .sessions;
    // A figure to read, never asserted.
    eprintln!(
        "{backend:?}: ended 1,000 agents' {} sessions with their audit rows in {:?}",
        ended.len(),
        started.elapsed()
    );
    let got: Vec<String> = reasons(&ended).into_keys().collect();
    let mut want = sessions.clone();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        store.list_audit("ac1", &audit_query()).await.unwrap().1,
        1270
    );
}

/// Ends through `end_sessions`, returning what it did.
async fn end(store: &Db, req: &EndSessions) -> Ended {
    store.end_sessions(req).await.unwrap()
}

async fn status(store: &Db, account: &str, id: &str) -> AgentStatus {
    store.member(account, id).await.unwrap().status
}

async fn endings_set_only_online_agents_offline(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    let ann = add(&store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    let bob = add(&store, agent("ac1", "ag2", "Bob", "bob@example.com")).await;
    let cid = add(&store, agent("ac1", "ag3", "Cid", "cid@example.com")).await;
    let ada = add(&store, admin("ac1", "ad1", "Ada", "ada@example.com")).await;
    let gus = add(&store, agent("ac2", "bg1", "Gus", "gus@example.com")).await;
    for (acc, m) in [("ac1", &ann), ("ac1", &cid), ("ac2", &gus)] {
        store
            .set_status(acc, &m.id, AgentStatus::Online, Some(AgentStatus::Online))
            .await
            .unwrap();
    }
    for (m, id) in [
        (&ann, "s-ann-1"),
        (&ann, "s-ann-2"),
        (&bob, "s-bob"),
        (&cid, "s-cid"),
        (&ada, "s-ada"),
    ] {
        open_session(&store, m, id, NOW - HOUR, NOW).await;
    }
    // Gus's session is idle for a day, past his account's half hour: the sweep ends it.
    store.set_agent_idle_timeout("ac2", 30).await.unwrap();
    open_session(&store, &gus, "s-gus", NOW - 30 * HOUR, NOW - 24 * HOUR).await;

    // Ann (Online, two sessions) goes Offline once; Bob was Offline already; Cid keeps his
    // session and stays Online; an administrator has no presence.
    let ann_and_bob = req(
        "ac1",
        people(MemberKind::Agent, &["ag1", "ag2"]),
        EndReason::EndedByAdmin,
        Some("ad1"),
    );
    let ended = end(&store, &ann_and_bob).await;
    assert_eq!(ended.sessions.len(), 3);
    assert_eq!(ended.offline, vec![("ac1".to_string(), "ag1".to_string())]);
    let ann_now = store.member("ac1", "ag1").await.unwrap();
    assert_eq!(ann_now.status, AgentStatus::Offline);
    // Her own choice is kept, to come back when a tab connects again.
    assert_eq!(ann_now.status_choice, AgentStatus::Online);
    assert_eq!(status(&store, "ac1", "ag3").await, AgentStatus::Online);
    let ada_out = req(
        "ac1",
        Which::Session("s-ada".into()),
        EndReason::Logout,
        None,
    );
    let ada_end = end(&store, &ada_out).await;
    assert_eq!(ada_end.sessions.len(), 1);
    assert!(ada_end.offline.is_empty());

    // The sweep, across accounts: Gus's idle session ends and he goes Offline; Cid's live one
    // stays.
    let sweep = EndSessions {
        account_id: None,
        ..req("ac1", Which::Expired, EndReason::Expired, None)
    };
    let swept = end(&store, &sweep).await;
    assert_eq!(
        reasons(&swept.sessions),
        expect(&[("s-gus", EndReason::Expired)])
    );
    assert_eq!(swept.offline, vec![("ac2".to_string(), "bg1".to_string())]);
    assert_eq!(status(&store, "ac2", "bg1").await, AgentStatus::Offline);
    assert_eq!(status(&store, "ac1", "ag3").await, AgentStatus::Online);

    // Nothing left to end: nobody changes.
    assert_eq!(end(&store, &ann_and_bob).await, Ended::default());
}
