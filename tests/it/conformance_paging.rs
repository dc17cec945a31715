//! Store conformance, Team list paging: a person with several live sessions counts
//! once and appears on exactly one page, for every filter, on both databases; the total agrees
//! with the items.

use std::sync::Arc;

use deskward::domain::email::normalize;
use deskward::domain::member::{AgentStatus, MemberKind, Permissions};
use deskward::domain::signin::AuthMethods;
use deskward::domain::time::{HOUR, Millis};
use deskward::store::testing::TestStore;
use deskward::store::{Member, MemberQuery, NewAccount, NewMember, NewSession, SessionFilter};

use crate::db::{Backend, TestDb};

const T0: Millis = 1_767_225_600_000;
const NOW: Millis = T0 + 10 * HOUR;

backend_tests!(people_with_many_sessions_appear_on_exactly_one_page);

fn person(id: &str, kind: MemberKind, name: &str, primary: bool) -> NewMember {
    let email = format!("{id}@example.com");
    NewMember {
        id: id.to_string(),
        account_id: "ac1".to_string(),
        kind,
        name: name.to_string(),
        email_norm: normalize(&email),
        email,
        password_hash: "hash".to_string(),
        primary,
        permissions: if primary {
            Permissions::all()
        } else {
            Permissions::default()
        },
        created_at: T0,
    }
}

/// Opens `live` sessions seen just now, one idle since before the cutoff and one ended.
async fn sessions(store: &Arc<dyn TestStore>, m: &Member, live: usize, idle: bool, ended: bool) {
    let mut n = 0;
    let mut open = |seen: Millis| {
        n += 1;
        let id = format!("{}-s{n}", m.id);
        let s = NewSession {
            id: id.clone(),
            account_id: m.account_id.clone(),
            member_id: m.id.clone(),
            member_kind: m.kind,
            token_hash: format!("token-{id}"),
            csrf_token: "csrf".to_string(),
            started_at: T0 + n as Millis,
            ip: crate::support::client_ip("192.0.2.1"),
            user_agent: "test".to_string(),
            device: "test".to_string(),
            auth_methods: AuthMethods::password(),
            mfa_enrollment: false,
            sso: None,
        };
        let store = store.clone();
        async move {
            store.insert_session(&s).await.expect("insert session");
            assert!(store.touch_session(&s.id, seen).await.expect("touch"));
            s.id
        }
    };
    for _ in 0..live {
        open(NOW).await;
    }
    if idle {
        open(T0 + HOUR).await;
    }
    if ended {
        let id = open(NOW).await;
        let ended = crate::conformance::end_one(
            store,
            &m.account_id,
            &id,
            deskward::domain::session::EndReason::Logout,
            None,
            NOW,
        )
        .await;
        assert!(ended.is_some(), "{id} ended");
    }
}

async fn people_with_many_sessions_appear_on_exactly_one_page(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = deskward::store::testing::connect(&db.url)
        .await
        .expect("open store");
    let owner = NewMember {
        name: "Olivia Park".to_string(),
        ..person("ad0", MemberKind::Admin, "", true)
    };
    store
        .create_account(
            &NewAccount {
                id: "ac1".to_string(),
                slug: "acme".to_string(),
                name: "Acme".to_string(),
                created_at: T0,
            },
            &owner,
            false,
        )
        .await
        .expect("account");
    let owner = store.member("ac1", "ad0").await.unwrap();
    // What the list must hold, written down as the people are made: (id, kind, name, has a
    // live session, status). The expected pages are computed from it, not from the store.
    let mut model: Vec<(String, MemberKind, String, bool, AgentStatus)> = vec![(
        "ad0".into(),
        MemberKind::Admin,
        "Olivia Park".into(),
        true,
        AgentStatus::Offline,
    )];
    // Every administrator signed in, the primary several times.
    sessions(&store, &owner, 4, true, true).await;
    for (id, name) in [
        ("ad1", "Sam Agents-Only"),
        ("ad2", "Tara Quinn"),
        ("ad3", "Sid Security"),
    ] {
        let m = store
            .insert_member(&person(id, MemberKind::Admin, name, false))
            .await
            .unwrap();
        sessions(&store, &m, 1, false, false).await;
        model.push((
            id.into(),
            MemberKind::Admin,
            name.into(),
            true,
            AgentStatus::Offline,
        ));
    }
    store
        .insert_member(&person("ad4", MemberKind::Admin, "Una Signed-Out", false))
        .await
        .unwrap();
    model.push((
        "ad4".into(),
        MemberKind::Admin,
        "Una Signed-Out".into(),
        false,
        AgentStatus::Offline,
    ));
    // Agents in every state, several with many live sessions, two with the same name.
    let agents = [
        ("ag1", "Ann", 3, true, false, true),
        ("ag2", "Ben", 1, false, true, false),
        ("ag3", "Cid", 0, true, true, true),
        ("ag4", "Dee", 2, false, false, true),
        ("ag5", "Eve", 0, false, false, false),
        ("ag6", "Fay", 5, true, true, false),
        ("ag7", "Gus", 1, false, false, true),
        ("ag8", "Gus", 2, true, false, false),
        ("ag9", "Hal", 0, false, true, true),
    ];
    for (id, name, live, idle, ended, online) in agents {
        let m = store
            .insert_member(&person(id, MemberKind::Agent, name, false))
            .await
            .unwrap();
        sessions(&store, &m, live, idle, ended).await;
        model.push((
            id.into(),
            MemberKind::Agent,
            name.into(),
            live > 0,
            if online {
                AgentStatus::Online
            } else {
                AgentStatus::Offline
            },
        ));
        if online {
            store
                .set_status("ac1", id, AgentStatus::Online, Some(AgentStatus::Online))
                .await
                .unwrap();
        }
    }

    let cutoff = T0 + 2 * HOUR;
    let mut checked = 0;
    for kind in [MemberKind::Admin, MemberKind::Agent] {
        let statuses: &[Option<AgentStatus>] = match kind {
            MemberKind::Admin => &[None],
            MemberKind::Agent => &[None, Some(AgentStatus::Online), Some(AgentStatus::Offline)],
        };
        for session in [None, Some(SessionFilter::Active), Some(SessionFilter::None)] {
            for &status in statuses {
                // "a" is in every address (example.com); "u" only in some names.
                for search in [None, Some("a".to_string()), Some("u".to_string())] {
                    let q = MemberQuery {
                        kind,
                        session,
                        status,
                        search,
                        active_after: cutoff,
                        offset: 0,
                        limit: 1000,
                    };
                    let (all, total) = store.list_members("ac1", &q).await.unwrap();
                    let all: Vec<String> = all.into_iter().map(|m| m.id).collect();
                    let mut expected: Vec<&(String, MemberKind, String, bool, AgentStatus)> = model
                        .iter()
                        .filter(|(id, k, name, live, st)| {
                            *k == kind
                                && match session {
                                    None => true,
                                    Some(SessionFilter::Active) => *live,
                                    Some(SessionFilter::None) => !*live,
                                    Some(other) => unreachable!("{other:?}"),
                                }
                                && status.is_none_or(|s| s == *st)
                                && q.search.as_deref().is_none_or(|s| {
                                    name.to_lowercase().contains(s)
                                        || format!("{id}@example.com").contains(s)
                                })
                        })
                        .collect();
                    expected.sort_by_key(|(id, _, name, ..)| (name.to_lowercase(), id.clone()));
                    let expected: Vec<String> = expected.into_iter().map(|p| p.0.clone()).collect();
                    assert_eq!(all, expected, "{q:?}: the list the people make");
                    let mut unique = all.clone();
                    unique.sort();
                    unique.dedup();
                    assert_eq!(unique.len(), all.len(), "{q:?}: someone listed twice");
                    assert_eq!(total, all.len() as i64, "{q:?}: total vs items");
                    for per_page in [1, 2, 3] {
                        let mut paged = Vec::new();
                        for page in 0..(total + per_page - 1) / per_page {
                            let (items, page_total) = store
                                .list_members(
                                    "ac1",
                                    &MemberQuery {
                                        offset: page * per_page,
                                        limit: per_page,
                                        ..q.clone()
                                    },
                                )
                                .await
                                .unwrap();
                            assert_eq!(page_total, total, "{q:?} page {page}: total");
                            paged.extend(items.into_iter().map(|m| m.id));
                        }
                        assert_eq!(
                            paged, all,
                            "{q:?}, {per_page} a page: pages must add up to the list"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 36);

    // The active administrators, one a page, each once.
    let q = MemberQuery {
        kind: MemberKind::Admin,
        session: Some(SessionFilter::Active),
        status: None,
        search: None,
        active_after: cutoff,
        offset: 0,
        limit: 1,
    };
    let mut pages = Vec::new();
    for offset in 0..5 {
        let (items, total) = store
            .list_members(
                "ac1",
                &MemberQuery {
                    offset,
                    ..q.clone()
                },
            )
            .await
            .unwrap();
        assert_eq!(total, 4);
        pages.push(items.into_iter().map(|m| m.name).collect::<Vec<_>>());
    }
    assert_eq!(
        pages,
        [
            vec!["Olivia Park"],
            vec!["Sam Agents-Only"],
            vec!["Sid Security"],
            vec!["Tara Quinn"],
            vec![],
        ]
    );
}
