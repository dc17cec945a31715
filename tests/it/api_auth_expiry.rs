//! Idle expiry through the JSON API with the injected clock: administrators' 72 hours, the
//! agents' timeout setting, the sweep (called and on its own), activity written at most once a
//! minute, and concurrent requests after an idle spell. Every test runs on SQLite and
//! PostgreSQL.

use std::time::Duration;

use deskward::domain::session::EndReason;
use reqwest::StatusCode;
use serde_json::json;

use crate::api_auth::session_id_of;
use crate::db::Backend;
use crate::support::*;

backend_tests!(
    admin_session_expires_after_72_idle_hours,
    agent_timeout_setting_applies_to_existing_sessions,
    shortening_the_timeout_ends_already_idle_sessions_at_once,
    sweep_expires_idle_sessions_without_a_request,
    background_sweep_runs_by_itself,
    last_activity_is_written_at_most_once_a_minute,
    concurrent_requests_after_idle_all_succeed,
);

async fn admin_session_expires_after_72_idle_hours(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.primary_client().await;
    let sid = c.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Exactly 72 hours idle is not "longer than" the timeout: still in, and that counts as
    // activity.
    app.advance(72 * HOUR);
    c.me().await.expect_status(StatusCode::OK);
    let resumed_at = START + 72 * HOUR;
    assert_eq!(app.stored_session(&sid).await.last_seen_at, resumed_at);

    app.advance(72 * HOUR + 1);
    let msg = c
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(msg.to_lowercase().contains("expired"), "says why: {msg}");
    let stored = app.stored_session(&sid).await;
    assert_eq!(stored.end_reason, Some(EndReason::Expired));
    assert_eq!(stored.ended_at, Some(resumed_at + 72 * HOUR + 1));
    assert_eq!(stored.ended_by, None, "nobody ended it");
    c.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // Signed in again, the old session no longer shows as active.
    let again = app.primary_client().await;
    let me = again
        .get(&format!("/api/v1/admins/{}", app.primary.id))
        .await
        .json();
    let sessions = me["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_ne!(sessions[0]["id"], sid.as_str());
}

async fn agent_timeout_setting_applies_to_existing_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    let a = app.signed_in("ann@acme.test", PASSWORD).await;
    let sid = a.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = app.primary_client().await;

    let s = p
        .put_json(
            "/api/v1/settings/security",
            &json!({"agent_idle_timeout_minutes": 30}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(s["agent_idle_timeout_minutes"], 30);
    assert_eq!(
        s["admin_idle_timeout_minutes"],
        72 * 60,
        "administrators keep 72 hours"
    );
    let s = p.get("/api/v1/settings/security").await.json();
    assert_eq!(s["agent_idle_timeout_minutes"], 30);

    app.advance(30 * MINUTE);
    a.me().await.expect_status(StatusCode::OK);
    app.advance(30 * MINUTE + SECOND);
    a.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let stored = app.stored_session(&sid).await;
    assert_eq!(stored.end_reason, Some(EndReason::Expired));

    // The administrator, idle just as long, is unaffected; the agent shows no session.
    let v = p
        .get(&format!("/api/v1/agents/{}", agent.id))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(v.json()["session_active"], false);
}

async fn shortening_the_timeout_ends_already_idle_sessions_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let (sid, _) = app.start_session("ann@acme.test", PASSWORD).await;
    app.advance(40 * MINUTE);
    let p = app.primary_client().await;
    p.put_json(
        "/api/v1/settings/security",
        &json!({"agent_idle_timeout_minutes": 30}),
    )
    .await
    .expect_status(StatusCode::OK);
    let stored = app.stored_session(&sid).await;
    assert_eq!(
        stored.end_reason,
        Some(EndReason::Expired),
        "ended without any request of its own"
    );
    assert_eq!(stored.ended_at, Some(START + 40 * MINUTE));
}

async fn sweep_expires_idle_sessions_without_a_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let busy = app.add_agent("Bob Agent", "bob@acme.test").await;
    app.add_admin("Sue Sub", "sue@acme.test", &["team.agents"])
        .await;
    let (idle_agent, _) = app.start_session("ann@acme.test", PASSWORD).await;
    let (idle_admin, _) = app.start_session("sue@acme.test", PASSWORD).await;
    assert_eq!(app.sweep().await, 0, "nothing is idle yet");

    app.advance(71 * HOUR);
    let (busy_sid, _) = app.start_session("bob@acme.test", PASSWORD).await;
    app.advance(HOUR + 1);
    assert_eq!(app.sweep().await, 2);
    for sid in [&idle_agent, &idle_admin] {
        let s = app.stored_session(sid).await;
        assert_eq!(s.end_reason, Some(EndReason::Expired), "{sid}");
        assert_eq!(s.ended_at, Some(START + 72 * HOUR + 1));
        assert_eq!(s.ended_by, None);
    }
    assert_eq!(app.stored_session(&busy_sid).await.ended_at, None);
    assert_eq!(
        app.sweep().await,
        0,
        "already ended sessions are not ended again"
    );

    let p = app.primary_client().await;
    let active = p
        .get("/api/v1/agents?session=active")
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(ids(&active.json()), vec![busy.id]);
}

async fn background_sweep_runs_by_itself(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.sweep_interval = Duration::from_millis(50)).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let (sid, _) = app.start_session("ann@acme.test", PASSWORD).await;
    app.advance(72 * HOUR + MINUTE);
    let mut ended = None;
    for _ in 0..200 {
        ended = app.stored_session(&sid).await.end_reason;
        if ended.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        ended,
        Some(EndReason::Expired),
        "the periodic sweep expired the session"
    );
}

async fn last_activity_is_written_at_most_once_a_minute(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.primary_client().await;
    let sid = c.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    app.advance(30 * SECOND);
    let me = c.me().await.json();
    assert_eq!(me["session"]["last_seen_at"], rfc3339(START));
    app.advance(29 * SECOND);
    c.get("/api/v1/agents").await.expect_status(StatusCode::OK);
    assert_eq!(
        app.stored_session(&sid).await.last_seen_at,
        START,
        "no write within a minute"
    );

    app.advance(2 * SECOND); // 61 s after the last write
    let me = c.me().await.json();
    assert_eq!(me["session"]["last_seen_at"], rfc3339(START + 61 * SECOND));
    assert_eq!(
        app.stored_session(&sid).await.last_seen_at,
        START + 61 * SECOND
    );

    app.advance(10 * SECOND);
    c.me().await.expect_status(StatusCode::OK);
    assert_eq!(
        app.stored_session(&sid).await.last_seen_at,
        START + 61 * SECOND
    );
}

async fn concurrent_requests_after_idle_all_succeed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.primary_client().await;
    let sid = session_id_of(&c).await;
    app.advance(2 * MINUTE);
    let answers = futures_util::future::join_all((0..8).map(|_| c.me())).await;
    for res in answers {
        res.expect_status(StatusCode::OK);
    }
    assert_eq!(
        app.stored_session(&sid).await.last_seen_at,
        START + 2 * MINUTE
    );
}
