//! Store conformance, session policies: the per-account policy row (defaults without one), the
//! activity write with the latest address and device, the office-network mark and the Team
//! filter on it, paging by person.

use deskward::domain::member::MemberKind;
use deskward::domain::time::MINUTE;
use deskward::store::{SessionFilter, SessionPolicyRecord, SessionSeen};

use crate::conformance::{T0, add, agent, make_account, names, open, open_session, query};
use crate::db::Backend;

backend_tests!(
    policy_row_defaults_and_upserts,
    touch_records_latest_address_and_device,
    outside_mark_filters_the_team_list_by_person,
);

async fn policy_row_defaults_and_upserts(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = make_account(&store, "ac_1", "one").await;
    let b = make_account(&store, "ac_2", "two").await;
    assert_eq!(
        store.session_policy(&a.id).await.unwrap(),
        SessionPolicyRecord::default()
    );
    let p = SessionPolicyRecord {
        max_sessions_per_person: Some(3),
        office_networks: r#"[{"cidr":"203.0.113.0/24","name":"Riga"}]"#.to_string(),
        agents_network_policy: "enforce".to_string(),
        admins_network_policy: "flag".to_string(),
    };
    store.set_session_policy(&a.id, &p).await.unwrap();
    assert_eq!(store.session_policy(&a.id).await.unwrap(), p);
    let q = SessionPolicyRecord {
        max_sessions_per_person: None,
        ..p.clone()
    };
    store.set_session_policy(&a.id, &q).await.unwrap();
    assert_eq!(store.session_policy(&a.id).await.unwrap(), q);
    // Another account is untouched.
    assert_eq!(
        store.session_policy(&b.id).await.unwrap(),
        SessionPolicyRecord::default()
    );
}

async fn touch_records_latest_address_and_device(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = make_account(&store, "ac_1", "one").await;
    let m = add(&store, agent(&a.id, "ag_1", "Ann", "ann@x.test")).await;
    open_session(&store, &m, "se_1", T0, T0).await;
    let s = store.session(&a.id, "se_1").await.unwrap();
    assert_eq!(
        (s.last_ip.to_string().as_str(), s.ip_changed_at),
        ("203.0.113.7", None)
    );
    assert_eq!(s.last_user_agent, s.user_agent);
    let seen = |at, ip: &str, ua: &str, outside| SessionSeen {
        session_id: "se_1".to_string(),
        at,
        ip: crate::support::client_ip(ip),
        user_agent: ua.to_string(),
        outside_office: outside,
    };
    let ua = s.user_agent.clone();
    assert!(
        store
            .touch_session_seen(&seen(T0 + MINUTE, "203.0.113.7", &ua, false))
            .await
            .unwrap()
    );
    let s = store.session(&a.id, "se_1").await.unwrap();
    assert_eq!(
        (s.last_seen_at, s.ip_changed_at, s.device_changed_at),
        (T0 + MINUTE, None, None)
    );
    assert!(
        store
            .touch_session_seen(&seen(T0 + 2 * MINUTE, "198.51.100.7", "Firefox", true))
            .await
            .unwrap()
    );
    let s = store.session(&a.id, "se_1").await.unwrap();
    assert_eq!(s.ip.to_string(), "203.0.113.7");
    assert_eq!(s.last_ip.to_string(), "198.51.100.7");
    assert_eq!(s.last_user_agent, "Firefox");
    assert_eq!(s.ip_changed_at, Some(T0 + 2 * MINUTE));
    assert_eq!(s.device_changed_at, Some(T0 + 2 * MINUTE));
    assert!(s.outside_office);
    // Activity never moves back; the change time stays when nothing changes.
    assert!(
        store
            .touch_session_seen(&seen(T0 + MINUTE, "198.51.100.7", "Firefox", true))
            .await
            .unwrap()
    );
    let s = store.session(&a.id, "se_1").await.unwrap();
    assert_eq!(
        (s.last_seen_at, s.ip_changed_at),
        (T0 + 2 * MINUTE, Some(T0 + 2 * MINUTE))
    );
    // An unknown or ended session is not live.
    let mut gone = seen(T0 + 3 * MINUTE, "192.0.2.9", "y", false);
    gone.session_id = "se_nope".to_string();
    assert!(!store.touch_session_seen(&gone).await.unwrap());
}

async fn outside_mark_filters_the_team_list_by_person(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = make_account(&store, "ac_1", "one").await;
    let b = make_account(&store, "ac_2", "two").await;
    let ann = add(&store, agent(&a.id, "ag_1", "Ann", "ann@x.test")).await;
    let bob = add(&store, agent(&a.id, "ag_2", "Bob", "bob@x.test")).await;
    let cid = add(&store, agent(&a.id, "ag_3", "Cid", "cid@x.test")).await;
    let other = add(&store, agent(&b.id, "ag_4", "Oda", "oda@x.test")).await;
    // Ann holds three live sessions: paging must count her once.
    for (m, id) in [
        (&ann, "se_1"),
        (&ann, "se_2"),
        (&ann, "se_3"),
        (&bob, "se_4"),
        (&cid, "se_5"),
        (&other, "se_6"),
    ] {
        open_session(&store, m, id, T0, T0).await;
    }
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    store
        .set_outside_office(&a.id, &ids(&["se_1", "se_2", "se_3", "se_5", "se_6"]))
        .await
        .unwrap();
    let mut q = query(MemberKind::Agent, T0 - MINUTE);
    q.session = Some(SessionFilter::OutsideOffice);
    assert_eq!(
        names(&store, &a.id, &q).await,
        (vec!["Ann".to_string(), "Cid".to_string()], 2)
    );
    q.limit = 1;
    assert_eq!(names(&store, &a.id, &q).await, (vec!["Ann".to_string()], 2));
    q.offset = 1;
    assert_eq!(names(&store, &a.id, &q).await, (vec!["Cid".to_string()], 2));
    // The other account's session was not this account's to mark.
    assert!(!store.session(&b.id, "se_6").await.unwrap().outside_office);
    // Marking afresh unmarks the rest; the live addresses come back for the service.
    store
        .set_outside_office(&a.id, &ids(&["se_4"]))
        .await
        .unwrap();
    let mut q = query(MemberKind::Agent, T0 - MINUTE);
    q.session = Some(SessionFilter::OutsideOffice);
    assert_eq!(names(&store, &a.id, &q).await, (vec!["Bob".to_string()], 1));
    let live = store.live_session_addresses(&a.id).await.unwrap();
    assert_eq!(live.len(), 5);
    assert!(live.iter().all(|s| s.member_kind == MemberKind::Agent
        && s.first_ip.to_string() == "203.0.113.7"
        && s.last_ip.to_string() == "203.0.113.7"));
    store.set_outside_office(&a.id, &[]).await.unwrap();
    assert_eq!(names(&store, &a.id, &q).await.1, 0);
}
