//! Profiles, linked accounts and the Security section through the API.

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::support::{MINUTE, PASSWORD, TestApp};

async fn the_link_follows_the_emails(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Tara Agent", "tara@acme.test").await;
    let admin_m = app
        .add_admin("Tara Admin", "other@acme.test", &["team.agents"])
        .await;
    let c = app.primary_client().await;
    let get = |kind: &'static str, id: String| {
        let c = &c;
        async move {
            c.get(&format!("/api/v1/{kind}/{id}"))
                .await
                .expect_status(StatusCode::OK)
                .json()
        }
    };
    assert_eq!(get("agents", agent.id.clone()).await["linked"], json!(null));
    // Same e-mail, other case and spaces: linked both ways at once.
    c.patch_json(
        &format!("/api/v1/admins/{}", admin_m.id),
        &json!({"email": "  TARA@acme.test "}),
    )
    .await
    .expect_status(StatusCode::OK);
    let a = get("agents", agent.id.clone()).await;
    assert_eq!(
        a["linked"],
        json!({"kind": "admin", "id": admin_m.id, "name": "Tara Admin"})
    );
    let d = get("admins", admin_m.id.clone()).await;
    assert_eq!(d["linked"]["id"], agent.id.as_str());
    assert_eq!(d["linked"]["kind"], "agent");
    // In lists too.
    let list = c.get("/api/v1/agents").await.json();
    assert_eq!(list["items"][0]["linked"]["id"], admin_m.id.as_str());
    // Changing the agent's e-mail breaks the link on both sides.
    c.patch_json(
        &format!("/api/v1/agents/{}", agent.id),
        &json!({"email": "tara.agent@acme.test"}),
    )
    .await
    .expect_status(StatusCode::OK);
    assert_eq!(get("agents", agent.id.clone()).await["linked"], json!(null));
    assert_eq!(
        get("admins", admin_m.id.clone()).await["linked"],
        json!(null)
    );
}

async fn disabling_ends_sessions_and_blocks_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann", "ann@acme.test").await;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    let sid = ann.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = app.primary_client().await;
    let v = c
        .patch_json(
            &format!("/api/v1/agents/{}", agent.id),
            &json!({"disabled": true}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["disabled"], true);
    assert_eq!(v["session_active"], false);
    let s = app.stored_session(&sid).await;
    assert_eq!(s.end_reason.map(|r| r.as_str()), Some("disabled"));
    assert_eq!(s.ended_by.as_deref(), Some(app.primary.id.as_str()));
    ann.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    app.client()
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::FORBIDDEN, "account_disabled");
    c.patch_json(
        &format!("/api/v1/agents/{}", agent.id),
        &json!({"disabled": false}),
    )
    .await
    .expect_status(StatusCode::OK);
    app.client()
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    // The primary administrator cannot be disabled, and nobody disables themselves.
    c.patch_json(
        &format!("/api/v1/admins/{}", app.primary.id),
        &json!({"disabled": true}),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
}

async fn a_password_set_by_an_admin_ends_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sub = app
        .add_admin("Sam", "sam@acme.test", &["team.agents"])
        .await;
    let sam = app.signed_in("sam@acme.test", PASSWORD).await;
    let sid = sam.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = app.primary_client().await;
    c.patch_json(
        &format!("/api/v1/admins/{}", sub.id),
        &json!({"password": "brand new secret phrase"}),
    )
    .await
    .expect_status(StatusCode::OK);
    assert_eq!(
        app.stored_session(&sid)
            .await
            .end_reason
            .map(|r| r.as_str()),
        Some("password_changed")
    );
    sam.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    app.client()
        .login("sam@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.client()
        .login("sam@acme.test", "brand new secret phrase")
        .await
        .expect_status(StatusCode::OK);
}

async fn a_shorter_agent_timeout_expires_an_existing_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    let sid = ann.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = app.primary_client().await;
    app.advance(20 * MINUTE);
    c.me().await.expect_status(StatusCode::OK);
    let v = c
        .put_json(
            "/api/v1/settings/security",
            &json!({"agent_idle_timeout_minutes": 15}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["agent_idle_timeout_minutes"], 15);
    assert_eq!(v["admin_idle_timeout_minutes"], 72 * 60);
    ann.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        app.stored_session(&sid)
            .await
            .end_reason
            .map(|r| r.as_str()),
        Some("expired")
    );
    // Administrators keep their fixed 72 hours.
    c.me().await.expect_status(StatusCode::OK);
}

async fn security_settings_validate_and_need_the_permission(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.primary_client().await;
    let v = c
        .get("/api/v1/settings/security")
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["agent_idle_timeout_minutes"], 4320);
    assert_eq!(v["max_session_lifetime_minutes"], json!(null));
    for bad in [
        json!({"agent_idle_timeout_minutes": 4}),
        json!({"agent_idle_timeout_minutes": 129_601}),
        json!({"agent_idle_timeout_minutes": "ten"}),
        json!({}),
        json!({"agent_idle_timeout_minutes": 60, "extra": 1}),
    ] {
        let msg = c
            .put_json("/api/v1/settings/security", &bad)
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(
            msg.contains("agent_idle_timeout_minutes") || msg.contains("extra"),
            "{msg}"
        );
    }
    for ok in [5, 129_600] {
        c.put_json(
            "/api/v1/settings/security",
            &json!({"agent_idle_timeout_minutes": ok}),
        )
        .await
        .expect_status(StatusCode::OK);
    }
    let v = c.get("/api/v1/settings/security").await.json();
    assert_eq!(v["agent_idle_timeout_minutes"], 129_600);
    app.add_admin("Sam", "sam@acme.test", &["team.agents", "team.admins"])
        .await;
    let sam = app.signed_in("sam@acme.test", PASSWORD).await;
    sam.get("/api/v1/settings/security")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    sam.put_json(
        "/api/v1/settings/security",
        &json!({"agent_idle_timeout_minutes": 60}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.add_admin("Sid", "sid@acme.test", &["security"]).await;
    let sid = app.signed_in("sid@acme.test", PASSWORD).await;
    sid.put_json(
        "/api/v1/settings/security",
        &json!({"agent_idle_timeout_minutes": 60}),
    )
    .await
    .expect_status(StatusCode::OK);
    let agent = app.add_agent("Ann", "ann@acme.test").await;
    let _ = agent;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    ann.get("/api/v1/settings/security")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
}

async fn the_absolute_lifetime_ends_even_active_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let c = app.primary_client().await;
    c.put_json(
        "/api/v1/settings/security",
        &json!({"max_session_lifetime_minutes": 120}),
    )
    .await
    .expect_status(StatusCode::OK);
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    // Active every 50 minutes, so never idle; still ended once two hours old.
    for _ in 0..2 {
        app.advance(50 * MINUTE);
        ann.me().await.expect_status(StatusCode::OK);
    }
    app.advance(50 * MINUTE);
    ann.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    // The Security section governs agents only: the administrator's older session lives on,
    // on its next request and after a sweep alike.
    c.me().await.expect_status(StatusCode::OK);
    app.sweep().await;
    c.me().await.expect_status(StatusCode::OK);
    let v = c
        .put_json(
            "/api/v1/settings/security",
            &json!({"max_session_lifetime_minutes": null}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["max_session_lifetime_minutes"], json!(null));
}

async fn bad_profile_edits_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.add_agent("Ann", "ann@acme.test").await;
    app.add_agent("Bob", "bob@acme.test").await;
    let sub = app
        .add_admin("Sam", "sam@acme.test", &["team.agents", "team.admins"])
        .await;
    let c = app.primary_client().await;
    let path = format!("/api/v1/agents/{}", ann.id);
    for (body, field) in [
        (json!({"email": "not-an-email"}), "email"),
        (json!({"email": "BOB@acme.test"}), "email"),
        (json!({"name": "  "}), "name"),
        (json!({"password": "short"}), "password"),
        (json!({"password": "password123456"}), "password"),
        (json!({"permissions": ["team.agents"]}), "permissions"),
        (json!({"disabled": "yes"}), "disabled"),
    ] {
        let msg = c
            .patch_json(&path, &body)
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(msg.contains(field), "{body}: {msg}");
    }
    let after = app.stored_member(&ann.id).await;
    assert_eq!(
        (after.name.as_str(), after.email.as_str(), after.disabled),
        ("Ann", "ann@acme.test", false)
    );
    let msg = c
        .patch_json(
            &format!("/api/v1/admins/{}", sub.id),
            &json!({"permissions": ["team.agents", "root"]}),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(msg.contains("root"), "{msg}");
    // A sub-administrator can neither grant what they lack nor edit the primary.
    let sam = app.signed_in("sam@acme.test", PASSWORD).await;
    let other = app.add_admin("Oli", "oli@acme.test", &[]).await;
    sam.patch_json(
        &format!("/api/v1/admins/{}", other.id),
        &json!({"permissions": ["security"]}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    sam.patch_json(
        &format!("/api/v1/admins/{}", app.primary.id),
        &json!({"name": "Hacked"}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    sam.delete(&format!("/api/v1/admins/{}/sessions", app.primary.id))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.stored_member(&app.primary.id).await.name, "Pat Primary");
    assert!(
        app.stored_member(&other.id)
            .await
            .permissions
            .names()
            .is_empty()
    );
}

async fn a_linked_admin_needs_team_admins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Tara", "tara@acme.test").await;
    let linked = app.add_admin("Tara", "tara@acme.test", &[]).await;
    app.add_admin("Sam", "sam@acme.test", &["team.agents"])
        .await;
    let sam = app.signed_in("sam@acme.test", PASSWORD).await;
    let v = sam
        .get(&format!("/api/v1/agents/{}", agent.id))
        .await
        .expect_status(StatusCode::OK)
        .json();
    // Without team.admins, Sam learns that a linked administrator account exists, not whose.
    assert_eq!(v["linked"]["kind"], "admin");
    assert_eq!(v["linked"]["id"], serde_json::Value::Null);
    assert_eq!(v["linked"]["name"], serde_json::Value::Null);
    assert!(!v.to_string().contains(&linked.id));
    sam.get(&format!("/api/v1/admins/{}", linked.id))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    sam.patch_json(
        &format!("/api/v1/admins/{}", linked.id),
        &json!({"disabled": true}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(!app.stored_member(&linked.id).await.disabled);
}

backend_tests!(
    the_link_follows_the_emails,
    disabling_ends_sessions_and_blocks_sign_in,
    a_password_set_by_an_admin_ends_sessions,
    a_shorter_agent_timeout_expires_an_existing_session,
    security_settings_validate_and_need_the_permission,
    the_absolute_lifetime_ends_even_active_sessions,
    bad_profile_edits_change_nothing,
    a_linked_admin_needs_team_admins,
);
