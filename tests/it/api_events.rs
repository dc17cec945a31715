//! Presence and live updates: event streams, instant sign-out of ended tabs, Online/Offline
//! kept apart from the session, and what each viewer's stream is allowed to hear.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::db::Backend;
use crate::support::{Client, PASSWORD, TestApp};

/// One open `GET /api/v1/events` stream, parsed into (event, data) pairs.
pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl EventStream {
    pub async fn open(c: &Client) -> EventStream {
        let res = c
            .raw
            .get(c.url("/api/v1/events"))
            .send()
            .await
            .expect("open event stream");
        assert_eq!(res.status(), StatusCode::OK, "event stream refused");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let mut s = EventStream {
            body: Box::pin(res.bytes_stream()),
            buf: String::new(),
        };
        let (name, _) = s.next(Duration::from_secs(5)).await.expect("ready event");
        assert_eq!(name, "ready");
        s
    }

    /// The next named event within `wait`; `None` when the stream closed or nothing came.
    pub async fn next(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..pos + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if data.is_empty() && name == "message" {
                    continue; // keep-alive comment
                }
                let value = serde_json::from_str(&data).unwrap_or(Value::String(data));
                return Some((name, value));
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }

    /// Waits for an event of this name, skipping others.
    pub async fn until(&mut self, name: &str, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let (n, v) = self.next(left).await?;
            if n == name {
                return Some(v);
            }
        }
    }

    /// True when the server has closed the stream (within `wait`).
    pub async fn closed(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }
}

async fn agent_status(app: &TestApp, id: &str) -> String {
    app.stored_member(id).await.status.as_str().to_string()
}

async fn wait_status(app: &TestApp, id: &str, want: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if agent_status(app, id).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    agent_status(app, id).await == want
}

async fn ending_reaches_every_tab_and_closes_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    let session_id = tab.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut one = EventStream::open(&tab).await;
    let mut two = EventStream::open(&tab).await;
    assert!(wait_status(&app, &agent.id, "online", Duration::from_secs(2)).await);
    let admin = app.primary_client().await;
    admin
        .delete(&format!("/api/v1/sessions/{session_id}"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    // Pushed, not polled: the event arrives on both open streams (how fast is BENCHMARKS.md's
    // business; the generous bound only keeps a lost event from hanging the test).
    for s in [&mut one, &mut two] {
        let data = s
            .until("session_ended", Duration::from_secs(10))
            .await
            .expect("session_ended pushed to every tab");
        assert_eq!(data, json!({"reason": "ended_by_admin"}));
        assert!(
            s.closed(Duration::from_secs(10)).await,
            "stream closes after the event"
        );
    }
    // Offline at once, without waiting for the grace period.
    assert_eq!(agent_status(&app, &agent.id).await, "offline");
    tab.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

async fn stream_needs_a_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.client().get("/api/v1/events").await;
    res.expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let forged = crate::support::client_with_token(&app, &"ab".repeat(32));
    forged
        .get("/api/v1/events")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

async fn status_is_set_by_the_agent_and_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    let res = tab
        .put_json("/api/v1/me/status", &json!({"status": "away"}))
        .await;
    let msg = res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(msg.contains("status"), "{msg}");
    let res = tab
        .put_json("/api/v1/me/status", &json!({"status": "offline"}))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(res.json()["status"], "offline");
    assert_eq!(
        res.json()["session_active"],
        true,
        "the session stays active"
    );
    let admin = app.primary_client().await;
    admin
        .put_json("/api/v1/me/status", &json!({"status": "online"}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // Without the CSRF header the change is refused.
    tab.set_csrf(None);
    tab.put_json("/api/v1/me/status", &json!({"status": "online"}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "csrf");
}

async fn closing_every_tab_goes_offline_after_grace_and_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    let stream = EventStream::open(&tab).await;
    assert!(wait_status(&app, &agent.id, "online", Duration::from_secs(2)).await);
    drop(stream);
    // Grace is 300 ms in tests: still Online right after, Offline soon after.
    assert!(wait_status(&app, &agent.id, "offline", Duration::from_secs(3)).await);
    // The session is untouched by presence.
    let me = tab.me().await.expect_status(StatusCode::OK).json();
    assert_eq!(me["user"]["session_active"], true);
    // A tab connecting again brings back the agent's own choice (Online).
    let _again = EventStream::open(&tab).await;
    assert!(wait_status(&app, &agent.id, "online", Duration::from_secs(2)).await);
}

async fn reconnecting_within_grace_stays_online(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.service.presence_grace_ms = 1_500).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    // Bob leaves at the same moment and does not come back: once he is Offline, Ann's grace
    // period has run out too, so her staying Online is the reconnection's doing and not a
    // look taken too early.
    let bob = app.add_agent("Bob Agent", "bob@acme.test").await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    let bob_tab = app.signed_in("bob@acme.test", PASSWORD).await;
    let first = EventStream::open(&tab).await;
    let bobs = EventStream::open(&bob_tab).await;
    assert!(wait_status(&app, &agent.id, "online", Duration::from_secs(10)).await);
    assert!(wait_status(&app, &bob.id, "online", Duration::from_secs(10)).await);
    drop(first);
    drop(bobs);
    let _second = EventStream::open(&tab).await;
    assert!(
        wait_status(&app, &bob.id, "offline", Duration::from_secs(30)).await,
        "Bob, who left for good, goes Offline after the grace period"
    );
    assert_eq!(agent_status(&app, &agent.id).await, "online");
}

async fn an_offline_choice_survives_reconnecting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    tab.put_json("/api/v1/me/status", &json!({"status": "offline"}))
        .await
        .expect_status(StatusCode::OK);
    let _s = EventStream::open(&tab).await;
    // Bob, whose choice is Online, connects after Ann: once his tab has made him Online,
    // Ann's (opened first) has been handled too.
    let bob = app.add_agent("Bob Agent", "bob@acme.test").await;
    let bob_tab = app.signed_in("bob@acme.test", PASSWORD).await;
    let _b = EventStream::open(&bob_tab).await;
    assert!(wait_status(&app, &bob.id, "online", Duration::from_secs(10)).await);
    assert_eq!(agent_status(&app, &agent.id).await, "offline");
}

/// Online needs a tab: an agent set Online through the API with no tab open is Offline after
/// the grace period (the heartbeat notices), while one with a tab stays Online; the choice is
/// kept, so the next tab brings them back.
async fn online_without_any_tab_goes_offline_after_grace(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.service.presence_grace_ms = 200).await;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let bob = app.add_agent("Bob Agent", "bob@acme.test").await;
    let ann_api = app.signed_in("ann@acme.test", PASSWORD).await;
    let bob_tab = app.signed_in("bob@acme.test", PASSWORD).await;
    let _bob_stream = EventStream::open(&bob_tab).await;
    assert!(wait_status(&app, &bob.id, "online", Duration::from_secs(2)).await);
    let set = ann_api
        .put_json("/api/v1/me/status", &json!({"status": "online"}))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(set["status"], "online", "the answer says what was set");

    // First look: noted, not yet acted on.
    app.svc.presence_tick().await;
    assert_eq!(agent_status(&app, &ann.id).await, "online");
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.svc.presence_tick().await;
    assert_eq!(agent_status(&app, &ann.id).await, "offline");
    assert_eq!(
        agent_status(&app, &bob.id).await,
        "online",
        "a tab keeps Bob Online"
    );
    assert_eq!(
        app.stored_member(&ann.id).await.status_choice.as_str(),
        "online"
    );
    // Her session is untouched, and her next tab brings her back.
    ann_api.me().await.expect_status(StatusCode::OK);
    let _ann_stream = EventStream::open(&ann_api).await;
    assert!(wait_status(&app, &ann.id, "online", Duration::from_secs(2)).await);
}

async fn routing_never_sees_an_ended_agent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let bob = app.add_agent("Bob Agent", "bob@acme.test").await;
    let ann_tab = app.signed_in("ann@acme.test", PASSWORD).await;
    let bob_tab = app.signed_in("bob@acme.test", PASSWORD).await;
    let _a = EventStream::open(&ann_tab).await;
    let _b = EventStream::open(&bob_tab).await;
    assert!(wait_status(&app, &ann.id, "online", Duration::from_secs(2)).await);
    assert!(wait_status(&app, &bob.id, "online", Duration::from_secs(2)).await);
    let admin = app.primary_client().await;
    let ids = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let route = "/api/v1/agents?status=online&session=active";
    let before = ids(admin.get(route).await.expect_status(StatusCode::OK).json());
    assert_eq!(before, vec![ann.id.clone(), bob.id.clone()]);
    admin
        .delete(&format!("/api/v1/agents/{}/sessions", ann.id))
        .await
        .expect_status(StatusCode::OK);
    let after = ids(admin.get(route).await.expect_status(StatusCode::OK).json());
    assert_eq!(after, vec![bob.id.clone()]);
}

async fn administrators_hear_only_what_they_may_see(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    app.add_admin("Sue Admins", "sue@acme.test", &["team.admins"])
        .await;
    let primary = app.primary_client().await;
    let sue = app.signed_in("sue@acme.test", PASSWORD).await;
    let mut primary_stream = EventStream::open(&primary).await;
    let mut sue_stream = EventStream::open(&sue).await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    let member = primary_stream
        .until("member", Duration::from_secs(1))
        .await
        .expect("the primary administrator hears of the new session");
    assert_eq!(member["id"], agent.id.as_str());
    assert_eq!(member["change"], "session_started");
    let _agent_stream = EventStream::open(&tab).await;
    let status = primary_stream
        .until("status", Duration::from_secs(1))
        .await
        .expect("status change within a second");
    assert_eq!(
        status,
        json!({"id": agent.id, "kind": "agent", "status": "online"})
    );
    // Sue (team.admins only) hears nothing about agents.
    assert!(sue_stream.next(Duration::from_millis(500)).await.is_none());
}

async fn sign_out_and_expiry_end_the_stream_with_their_reason(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    let mut s = EventStream::open(&tab).await;
    tab.logout().await.expect_status(StatusCode::NO_CONTENT);
    assert_eq!(
        s.until("session_ended", Duration::from_secs(1)).await,
        Some(json!({"reason": "logout"}))
    );

    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    let mut s = EventStream::open(&tab).await;
    app.advance(73 * crate::support::HOUR);
    assert_eq!(app.sweep().await, 1);
    assert_eq!(
        s.until("session_ended", Duration::from_secs(1)).await,
        Some(json!({"reason": "expired"}))
    );
}

async fn disabling_and_password_change_reach_open_tabs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    let admin = app.primary_client().await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    let mut s = EventStream::open(&tab).await;
    admin
        .patch_json(
            &format!("/api/v1/agents/{}", agent.id),
            &json!({"password": "a brand new passphrase"}),
        )
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        s.until("session_ended", Duration::from_secs(1)).await,
        Some(json!({"reason": "password_changed"}))
    );
    let tab = app
        .signed_in("ann@acme.test", "a brand new passphrase")
        .await;
    let mut s = EventStream::open(&tab).await;
    admin
        .patch_json(
            &format!("/api/v1/agents/{}", agent.id),
            &json!({"disabled": true}),
        )
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        s.until("session_ended", Duration::from_secs(1)).await,
        Some(json!({"reason": "disabled"}))
    );
    let _ = tab.request(Method::GET, "/").send().await;
}

backend_tests!(
    ending_reaches_every_tab_and_closes_it,
    stream_needs_a_session,
    status_is_set_by_the_agent_and_validated,
    closing_every_tab_goes_offline_after_grace_and_back,
    reconnecting_within_grace_stays_online,
    an_offline_choice_survives_reconnecting,
    routing_never_sees_an_ended_agent,
    online_without_any_tab_goes_offline_after_grace,
    administrators_hear_only_what_they_may_see,
    sign_out_and_expiry_end_the_stream_with_their_reason,
    disabling_and_password_change_reach_open_tabs,
);
