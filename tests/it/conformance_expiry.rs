//! Store conformance, the sweep (`end_sessions` with `Which::Expired` in every account):
//! administrators' fixed idle timeout, agents' per account, and agents' absolute lifetime.

use deskward::domain::member::MemberKind;
use deskward::domain::session::EndReason;
use deskward::domain::time::{HOUR, MINUTE};
use deskward::store::EndedSession;

use crate::conformance::{
    T0, add, admin, agent, end_one, expire, ids, make_account, open, open_session, set, token_of,
};
use crate::db::Backend;

backend_tests!(
    expire_sessions_admin_fixed_timeout,
    expire_sessions_agent_timeout_per_account,
    expire_sessions_absolute_lifetime,
);

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
    end_one(&store, "ac1", "old-ended", EndReason::Logout, None, T0 + 2).await;

    let ended = expire(&store, now).await;
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
    assert!(expire(&store, now).await.is_empty());
    let ended = expire(&store, now + 1).await;
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

    let ended = expire(&store, now).await;
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
    let ended = expire(&store, now).await;
    assert_eq!(ids(&ended), set(&["b-at"]));
    let ended = expire(&store, now + 1).await;
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
    // The lifetime is a Security setting, which governs agents' sessions only:
    // an administrator's busy session outlives it.
    open_session(&store, &owner, "o-past", now - life - 1, now).await;
    // Another account without a lifetime.
    open_session(&store, &b, "b-old", now - 100 * HOUR, now).await;

    let ended = expire(&store, now).await;
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
    assert!(expire(&store, now + HOUR).await.is_empty());
}
