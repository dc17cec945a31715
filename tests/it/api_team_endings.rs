//! The Team API, ending sessions: one session, a person's sessions and bulk, another
//! account's ids, a password change by an administrator, and sessions already idle-expired.
//! Every test runs on SQLite and PostgreSQL.

use deskward::domain::session::EndReason;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api_team::session_id;
use crate::db::Backend;
use crate::support::*;

backend_tests!(
    ending_one_session,
    ending_all_of_a_persons_sessions,
    bulk_ending_agents_sessions,
    bulk_refuses_bad_ids_and_ends_nothing,
    another_accounts_ids_are_not_found,
    password_change_by_an_admin_ends_sessions,
    ending_sessions_skips_ones_already_idle_expired,
);

async fn ending_one_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    let laptop = app.signed_in("ann@acme.test", PASSWORD).await;
    app.advance(SECOND);
    let phone = app.signed_in("ann@acme.test", PASSWORD).await;
    let (laptop_sid, phone_sid) = (session_id(&laptop).await, session_id(&phone).await);
    let p = app.primary_client().await;

    let card = p.get(&format!("/api/v1/agents/{}", agent.id)).await.json();
    let listed: Vec<&str> = card["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [laptop_sid.as_str(), phone_sid.as_str()],
        "oldest first"
    );

    app.advance(MINUTE);
    let res = p.delete(&format!("/api/v1/sessions/{laptop_sid}")).await;
    let res = res.expect_status(StatusCode::NO_CONTENT);
    assert!(res.text.is_empty());
    laptop
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    phone.me().await.expect_status(StatusCode::OK);

    let stored = app.stored_session(&laptop_sid).await;
    assert_eq!(stored.end_reason, Some(EndReason::EndedByAdmin));
    assert_eq!(stored.ended_by.as_deref(), Some(app.primary.id.as_str()));
    assert_eq!(stored.ended_at, Some(START + SECOND + MINUTE));
    assert_eq!(app.stored_session(&phone_sid).await.ended_at, None);
    let card = p.get(&format!("/api/v1/agents/{}", agent.id)).await.json();
    assert_eq!(card["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(card["sessions"][0]["id"], phone_sid.as_str());

    // An ended or unknown session is 404.
    p.delete(&format!("/api/v1/sessions/{laptop_sid}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    p.delete("/api/v1/sessions/se_000000000000000000000000")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    // An administrator's session ends the same way.
    let sub = app.add_admin("Sue Sub", "sue@acme.test", &[]).await;
    let s = app.signed_in("sue@acme.test", PASSWORD).await;
    let sid = session_id(&s).await;
    p.delete(&format!("/api/v1/sessions/{sid}"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    s.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let card = p.get(&format!("/api/v1/admins/{}", sub.id)).await.json();
    assert_eq!(card["session_active"], false);
}

async fn ending_all_of_a_persons_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    let other = app.add_agent("Bob Agent", "bob@acme.test").await;
    let laptop = app.signed_in("ann@acme.test", PASSWORD).await;
    let phone = app.signed_in("ann@acme.test", PASSWORD).await;
    let bob = app.signed_in("bob@acme.test", PASSWORD).await;
    laptop
        .put_json("/api/v1/me/status", &json!({"status": "online"}))
        .await
        .expect_status(StatusCode::OK);
    let p = app.primary_client().await;
    assert_eq!(
        p.get(&format!("/api/v1/agents/{}", agent.id)).await.json()["status"],
        "online"
    );

    let v = p
        .delete(&format!("/api/v1/agents/{}/sessions", agent.id))
        .await;
    assert_eq!(
        v.expect_status(StatusCode::OK).json(),
        json!({"ended": 2, "people": 1})
    );
    laptop
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    phone
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    bob.me().await.expect_status(StatusCode::OK);
    let card = p.get(&format!("/api/v1/agents/{}", agent.id)).await.json();
    assert_eq!(card["session_active"], false);
    assert_eq!(
        card["status"], "offline",
        "ending the sessions makes the agent Offline at once"
    );
    let v = p
        .delete(&format!("/api/v1/agents/{}/sessions", agent.id))
        .await;
    assert_eq!(
        v.expect_status(StatusCode::OK).json(),
        json!({"ended": 0, "people": 0})
    );
    assert_eq!(
        p.get(&format!("/api/v1/agents/{}", other.id)).await.json()["session_active"],
        true
    );

    // Administrators: the same, under /admins.
    let sub = app
        .add_admin("Sue Sub", "sue@acme.test", &["team.agents"])
        .await;
    let s = app.signed_in("sue@acme.test", PASSWORD).await;
    let sid = session_id(&s).await;
    let v = p
        .delete(&format!("/api/v1/admins/{}/sessions", sub.id))
        .await;
    assert_eq!(
        v.expect_status(StatusCode::OK).json(),
        json!({"ended": 1, "people": 1})
    );
    s.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let stored = app.stored_session(&sid).await;
    assert_eq!(stored.end_reason, Some(EndReason::EndedByAdmin));
    assert_eq!(stored.ended_by.as_deref(), Some(app.primary.id.as_str()));

    // The kind in the path must match the person.
    p.delete(&format!("/api/v1/agents/{}/sessions", sub.id))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    p.delete(&format!("/api/v1/admins/{}/sessions", other.id))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    p.delete("/api/v1/agents/ag_nobody/sessions")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    bob.me().await.expect_status(StatusCode::OK);
}

async fn bulk_ending_agents_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.add_agent("Ann Agent", "ann@acme.test").await;
    let b = app.add_agent("Bob Agent", "bob@acme.test").await;
    let c = app.add_agent("Cat Agent", "cat@acme.test").await;
    let d = app.add_agent("Dan Agent", "dan@acme.test").await;
    let a1 = app.signed_in("ann@acme.test", PASSWORD).await;
    let a2 = app.signed_in("ann@acme.test", PASSWORD).await;
    let b1 = app.signed_in("bob@acme.test", PASSWORD).await;
    let d1 = app.signed_in("dan@acme.test", PASSWORD).await;
    let p = app.primary_client().await;

    let v = p
        .post_json(
            "/api/v1/agents/sessions/end",
            &json!({"ids": [a.id, b.id, c.id]}),
        )
        .await;
    assert_eq!(
        v.expect_status(StatusCode::OK).json(),
        json!({"ended": 3, "people": 2}),
        "counts sessions and people apart"
    );
    for s in [&a1, &a2, &b1] {
        s.me()
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    d1.me().await.expect_status(StatusCode::OK);
    let v = p.get("/api/v1/agents?session=active").await.json();
    assert_eq!(ids(&v), [d.id.as_str()]);

    // The same id twice ends its sessions once.
    app.start_session("ann@acme.test", PASSWORD).await;
    let v = p
        .post_json("/api/v1/agents/sessions/end", &json!({"ids": [a.id, a.id]}))
        .await;
    assert_eq!(
        v.expect_status(StatusCode::OK).json(),
        json!({"ended": 1, "people": 1})
    );
    let v = p
        .post_json("/api/v1/agents/sessions/end", &json!({"ids": [a.id]}))
        .await;
    assert_eq!(
        v.expect_status(StatusCode::OK).json(),
        json!({"ended": 0, "people": 0})
    );
}

async fn bulk_refuses_bad_ids_and_ends_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other = app.other_account().await;
    let a = app.add_agent("Ann Agent", "ann@acme.test").await;
    let sub = app.add_admin("Sue Sub", "sue@acme.test", &[]).await;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    let (sub_sid, _) = app.start_session("sue@acme.test", PASSWORD).await;
    let (gus_sid, _) = app
        .start_session_in(&other.account.id, "gus@globex.test", PASSWORD)
        .await;
    let p = app.primary_client().await;

    for (body, field) in [
        (json!({"ids": []}), "ids".to_string()),
        (json!({}), "ids".to_string()),
        (json!({"ids": "all"}), "ids".to_string()),
        (json!({"ids": [1, 2]}), "ids".to_string()),
        (json!({"ids": [a.id, sub.id]}), sub.id.clone()),
        (
            json!({"ids": [a.id, app.primary.id]}),
            app.primary.id.clone(),
        ),
        (
            json!({"ids": [other.agent.id, a.id]}),
            other.agent.id.clone(),
        ),
        (
            json!({"ids": [a.id, "ag_000000000000000000000000"]}),
            "ag_000000000000000000000000".to_string(),
        ),
    ] {
        let res = p.post_json("/api/v1/agents/sessions/end", &body).await;
        let msg = res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(msg.contains(&field), "{body}: should name {field}: {msg}");
        assert!(!msg.contains(&a.id), "only the bad ids are named: {msg}");
    }
    // Nothing ended anywhere.
    ann.me().await.expect_status(StatusCode::OK);
    assert_eq!(app.stored_session(&sub_sid).await.ended_at, None);
    p.me().await.expect_status(StatusCode::OK);
    let gus = app
        .store
        .session(&other.account.id, &gus_sid)
        .await
        .unwrap();
    assert_eq!(gus.ended_at, None, "another account's session is untouched");
}

async fn another_accounts_ids_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let other = app.other_account().await;
    let (gus_sid, _) = app
        .start_session_in(&other.account.id, "gus@globex.test", PASSWORD)
        .await;
    let (gil_sid, _) = app
        .start_session_in(&other.account.id, "gil@globex.test", PASSWORD)
        .await;
    app.add_admin("Aga Agents", "aga@acme.test", &["team.agents"])
        .await;
    let p = app.primary_client().await;
    let sub = app.signed_in("aga@acme.test", PASSWORD).await;

    let (gus, gil) = (&other.agent.id, &other.primary.id);
    let requests: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/agents/{gus}"), None),
        (
            Method::PATCH,
            format!("/api/v1/agents/{gus}"),
            Some(json!({"name": "Hacked"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/agents/{gus}"),
            Some(json!({"disabled": true})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/agents/{gus}/sessions"),
            None,
        ),
        (Method::DELETE, format!("/api/v1/sessions/{gus_sid}"), None),
        (Method::GET, format!("/api/v1/admins/{gil}"), None),
        (
            Method::PATCH,
            format!("/api/v1/admins/{gil}"),
            Some(json!({"name": "Hacked"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admins/{gil}/sessions"),
            None,
        ),
        (Method::DELETE, format!("/api/v1/sessions/{gil_sid}"), None),
    ];
    for (method, path, body) in &requests {
        let mut rb = p.request(method.clone(), path);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        p.send(rb)
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    // A sub-administrator gets 404 too, never 403, even where the kind is not theirs to see.
    sub.get(&format!("/api/v1/agents/{gus}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    sub.delete(&format!("/api/v1/sessions/{gus_sid}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    sub.delete(&format!("/api/v1/sessions/{gil_sid}"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    // Lists never show the other account's people.
    assert_eq!(p.get("/api/v1/agents").await.json()["total"], 0);
    assert_eq!(p.get("/api/v1/admins?q=globex").await.json()["total"], 0);

    let store = &app.store;
    for sid in [&gus_sid, &gil_sid] {
        assert_eq!(
            store
                .session(&other.account.id, sid)
                .await
                .unwrap()
                .ended_at,
            None
        );
    }
    let gus_now = store.member(&other.account.id, gus).await.unwrap();
    assert_eq!(
        (gus_now.name.as_str(), gus_now.disabled),
        ("Gus Globex", false)
    );
}

async fn password_change_by_an_admin_ends_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    let a = app.signed_in("ann@acme.test", PASSWORD).await;
    let sid = session_id(&a).await;
    let p = app.primary_client().await;
    let v = p
        .patch_json(
            &format!("/api/v1/agents/{}", agent.id),
            &json!({"password": "a brand new password"}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["session_active"], false);
    a.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let stored = app.stored_session(&sid).await;
    assert_eq!(stored.end_reason, Some(EndReason::PasswordChanged));
    assert_eq!(stored.ended_by.as_deref(), Some(app.primary.id.as_str()));
    app.client()
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.signed_in("ann@acme.test", "a brand new password").await;
}

/// SRC BUG: a session idle beyond its timeout is already over (the lists show it as not
/// active), yet ending "every active session" counts it and records it as ended by an
/// administrator instead of expired.
async fn ending_sessions_skips_ones_already_idle_expired(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    app.add_agent("Bob Agent", "bob@acme.test").await;
    let (ann_sid, _) = app.start_session("ann@acme.test", PASSWORD).await;
    let (bob_sid, _) = app.start_session("bob@acme.test", PASSWORD).await;
    app.advance(72 * HOUR + MINUTE); // both idle beyond 72 h; no sweep has run
    let p = app.primary_client().await;
    let card = p.get(&format!("/api/v1/agents/{}", agent.id)).await.json();
    assert_eq!(
        card["session_active"], false,
        "the card shows no active session"
    );

    let per_person = p
        .delete(&format!("/api/v1/agents/{}/sessions", agent.id))
        .await;
    let per_person = per_person.expect_status(StatusCode::OK).json();
    let one = p.delete(&format!("/api/v1/sessions/{bob_sid}")).await;
    let mut problems = Vec::new();
    if per_person != json!({"ended": 0, "people": 0}) {
        problems.push(format!(
            "DELETE /agents/{{id}}/sessions answered {per_person}, want {{\"ended\": 0, \"people\": 0}}"
        ));
    }
    if one.status != StatusCode::NOT_FOUND {
        problems.push(format!(
            "DELETE /sessions/{{idle id}} answered {}, want 404",
            one.status
        ));
    }
    for sid in [&ann_sid, &bob_sid] {
        let s = app.stored_session(sid).await;
        if s.end_reason == Some(EndReason::EndedByAdmin) {
            problems.push(format!(
                "session {sid} recorded as ended_by_admin, not expired"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
