//! Store conformance, single sign-on: the settings are written whole and read back; a pending
//! sign-in is taken once, only by the browser that started it and only in time (of two
//! callbacks at once, one wins); a logout token's `jti` is remembered once; the sweep prunes
//! what expired; sessions remember the provider's `sub` and `sid`, and a back-channel logout
//! ends by `sid` when given, else every session of the `sub`, in one account only.

use deskward::domain::session::EndReason;
use deskward::domain::time::MINUTE;
use deskward::store::{EndSessions, NewSession, SsoOrigin, SsoSettingsRow, SsoState, Which};

use crate::conformance::{Db, T0, add, agent, ids, make_account, new_session, open, set};
use crate::db::Backend;

backend_tests!(
    settings_are_written_whole,
    a_pending_sign_in_is_taken_once_by_its_browser_in_time,
    a_logout_jti_is_remembered_once_and_pruned,
    a_backchannel_logout_ends_by_sid_else_by_sub,
);

fn row(account: &str, issuer: &str, at: i64) -> SsoSettingsRow {
    SsoSettingsRow {
        account_id: account.to_string(),
        issuer: issuer.to_string(),
        client_id: "deskward".to_string(),
        client_secret: "00ff.abcd".to_string(),
        button_label: "Okta".to_string(),
        agents: "allowed".to_string(),
        admins: "required".to_string(),
        allowed_domains: vec!["example.com".to_string(), "corp.example.org".to_string()],
        create_agents: true,
        updated_at: at,
    }
}

async fn settings_are_written_whole(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "other").await;
    assert_eq!(store.sso_settings("ac1").await.unwrap(), None);
    let first = row("ac1", "https://idp.example.com", T0);
    store.put_sso_settings(&first).await.unwrap();
    assert_eq!(store.sso_settings("ac1").await.unwrap(), Some(first));
    let second = SsoSettingsRow {
        allowed_domains: Vec::new(),
        create_agents: false,
        agents: "off".to_string(),
        ..row("ac1", "https://login.example.net/realms/x", T0 + 1)
    };
    store.put_sso_settings(&second).await.unwrap();
    assert_eq!(store.sso_settings("ac1").await.unwrap(), Some(second));
    assert_eq!(store.sso_settings("ac2").await.unwrap(), None);
}

fn pending(account: &str, state: &str, binding: &str, expires_at: i64) -> SsoState {
    SsoState {
        state_hash: state.to_string(),
        account_id: account.to_string(),
        binding_hash: binding.to_string(),
        nonce: format!("nonce-{state}"),
        pkce_verifier: format!("verifier-{state}"),
        rd: "https://app.example.com/x".to_string(),
        created_at: T0,
        expires_at,
    }
}

async fn a_pending_sign_in_is_taken_once_by_its_browser_in_time(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "other").await;
    let s1 = pending("ac1", "st1", "b1", T0 + 10 * MINUTE);
    store.insert_sso_state(&s1).await.unwrap();
    // Another browser, another account, a wrong state: nothing, and the row stays.
    assert_eq!(
        store.take_sso_state("ac1", "st1", "b2", T0).await.unwrap(),
        None
    );
    assert_eq!(
        store.take_sso_state("ac2", "st1", "b1", T0).await.unwrap(),
        None
    );
    assert_eq!(
        store.take_sso_state("ac1", "st9", "b1", T0).await.unwrap(),
        None
    );
    assert_eq!(
        store.take_sso_state("ac1", "st1", "b1", T0).await.unwrap(),
        Some(s1)
    );
    assert_eq!(
        store.take_sso_state("ac1", "st1", "b1", T0).await.unwrap(),
        None
    );
    // Expired: refused.
    store
        .insert_sso_state(&pending("ac1", "st2", "b1", T0 + MINUTE))
        .await
        .unwrap();
    assert_eq!(
        store
            .take_sso_state("ac1", "st2", "b1", T0 + MINUTE)
            .await
            .unwrap(),
        None
    );
    // Two callbacks at once (two tabs with the same answer): exactly one gets it.
    for round in 0..5 {
        let state = format!("race{round}");
        store
            .insert_sso_state(&pending("ac1", &state, "b1", T0 + 10 * MINUTE))
            .await
            .unwrap();
        let takes = (0..4).map(|_| {
            let store = store.clone();
            let state = state.clone();
            tokio::spawn(async move { store.take_sso_state("ac1", &state, "b1", T0).await })
        });
        let got = futures_util::future::join_all(takes)
            .await
            .into_iter()
            .map(|r| r.unwrap().unwrap())
            .filter(Option::is_some)
            .count();
        assert_eq!(got, 1, "round {round}");
    }
    // The sweep prunes the expired pending sign-in, not the live one.
    store
        .insert_sso_state(&pending("ac1", "live", "b1", T0 + 10 * MINUTE))
        .await
        .unwrap();
    assert_eq!(store.prune_sso(T0 + 2 * MINUTE).await.unwrap(), 1);
    assert!(
        store
            .take_sso_state("ac1", "live", "b1", T0)
            .await
            .unwrap()
            .is_some()
    );
}

async fn a_logout_jti_is_remembered_once_and_pruned(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "other").await;
    let until = T0 + 10 * MINUTE;
    assert!(store.remember_logout_jti("ac1", "j1", until).await.unwrap());
    assert!(!store.remember_logout_jti("ac1", "j1", until).await.unwrap());
    // Each account's tokens are its own.
    assert!(store.remember_logout_jti("ac2", "j1", until).await.unwrap());
    // Two at once: one is new.
    let both = futures_util::future::join_all((0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.remember_logout_jti("ac1", "j2", until).await })
    }))
    .await;
    let fresh = both
        .into_iter()
        .filter(|r| *r.as_ref().unwrap().as_ref().unwrap())
        .count();
    assert_eq!(fresh, 1);
    // Until it expires; then it is pruned (and would be too old to replay anyway).
    assert_eq!(store.prune_sso(until - 1).await.unwrap(), 0);
    assert_eq!(store.prune_sso(until).await.unwrap(), 3);
    assert!(
        store
            .remember_logout_jti("ac1", "j1", until + MINUTE)
            .await
            .unwrap()
    );
}

fn from_idp(s: NewSession, sub: &str, sid: Option<&str>) -> NewSession {
    NewSession {
        sso: Some(SsoOrigin {
            sub: sub.to_string(),
            sid: sid.map(str::to_string),
        }),
        ..s
    }
}

fn logout(account: &str, sid: Option<&str>, sub: Option<&str>) -> EndSessions {
    EndSessions {
        account_id: Some(account.to_string()),
        which: Which::Sso {
            sid: sid.map(str::to_string),
            sub: sub.map(str::to_string),
        },
        reason: EndReason::IdpLogout,
        by: None,
        ip: None,
        at: T0 + MINUTE,
    }
}

async fn a_backchannel_logout_ends_by_sid_else_by_sub(backend: Backend) {
    let (_db, store): (_, Db) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "other").await;
    let ann = add(&store, agent("ac1", "ag-ann", "Ann", "ann@acme.example")).await;
    let bo = add(&store, agent("ac1", "ag-bo", "Bo", "bo@acme.example")).await;
    let other = add(&store, agent("ac2", "ag-x", "X", "ann@acme.example")).await;
    let open_as = |s: NewSession| {
        let store = store.clone();
        async move { store.insert_session(&s).await.expect("insert") }
    };
    open_as(from_idp(
        new_session(&ann, "s1", T0),
        "u-ann",
        Some("sid-1"),
    ))
    .await;
    open_as(from_idp(
        new_session(&ann, "s2", T0),
        "u-ann",
        Some("sid-2"),
    ))
    .await;
    open_as(from_idp(new_session(&ann, "s3", T0), "u-ann", None)).await;
    open_as(new_session(&ann, "s4", T0)).await;
    open_as(from_idp(new_session(&bo, "s5", T0), "u-bo", Some("sid-5"))).await;
    open_as(from_idp(
        new_session(&other, "s6", T0),
        "u-ann",
        Some("sid-1"),
    ))
    .await;

    // By sid: only that provider session, in this account.
    let ended = store
        .end_sessions(&logout("ac1", Some("sid-1"), None))
        .await
        .unwrap();
    assert_eq!(ids(&ended.sessions), set(&["s1"]));
    assert!(
        ended
            .sessions
            .iter()
            .all(|e| e.reason == EndReason::IdpLogout)
    );
    // sid and sub together must both match.
    let ended = store
        .end_sessions(&logout("ac1", Some("sid-5"), Some("u-ann")))
        .await
        .unwrap();
    assert!(ended.sessions.is_empty());
    // By sub: every live session the provider opened for that subject, not the password one.
    let ended = store
        .end_sessions(&logout("ac1", None, Some("u-ann")))
        .await
        .unwrap();
    assert_eq!(ids(&ended.sessions), set(&["s2", "s3"]));
    // Neither: nothing.
    let ended = store
        .end_sessions(&logout("ac1", None, None))
        .await
        .unwrap();
    assert!(ended.sessions.is_empty());
    for live in ["s4", "s5"] {
        assert!(
            store.session("ac1", live).await.unwrap().ended_at.is_none(),
            "{live}"
        );
    }
    assert!(store.session("ac2", "s6").await.unwrap().ended_at.is_none());
}
