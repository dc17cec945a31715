//! Issue 30.1: the answers keep their bytes now that their bodies are typed. Bodies first
//! built as `serde_json::Value` go out with their keys sorted, all the way down; bodies typed
//! from the start (a single Member, `/me`, errors) in their fields' order. Clients have seen
//! both, so each answer's opening is pinned here.

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::support::{PASSWORD, TestApp};

fn opens_with(text: &str, start: &str) {
    assert!(text.starts_with(start), "expected {start}…, got {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_keep_their_key_order() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;

    let ann = app.client();
    let login = ann.login("ann@acme.test", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK);
    opens_with(&login.text, r#"{"csrf_token":""#);
    assert!(
        login
            .text
            .contains(r#","user":{"disabled":false,"email":"ann@acme.test","id":""#),
        "{}",
        login.text
    );
    opens_with(&ann.me().await.text, r#"{"user":{"id":""#);
    opens_with(
        &ann.get("/api/v1/me/sessions").await.text,
        r#"{"items":[{"auth_methods":["password"],"current":true,"device":"#,
    );

    let admin = app.primary_client().await;
    opens_with(
        &admin.get("/api/v1/agents").await.text,
        r#"{"items":[{"disabled":false,"email":"ann@acme.test","id":""#,
    );
    opens_with(
        &admin
            .get(&format!("/api/v1/agents/{}", agent.id))
            .await
            .text,
        &format!(
            r#"{{"id":"{}","kind":"agent","name":"Ann Agent","#,
            agent.id
        ),
    );
    opens_with(
        &admin.get("/api/v1/settings/security").await.text,
        r#"{"admin_idle_timeout_minutes":4320,"agent_idle_timeout_minutes":"#,
    );
    let ended = admin
        .delete(&format!("/api/v1/agents/{}/sessions", agent.id))
        .await;
    assert_eq!(ended.text, r#"{"ended":1,"people":1}"#);
    let refused = admin
        .post_json("/api/v1/agents", &json!({"name": "x"}))
        .await;
    opens_with(
        &refused.text,
        r#"{"error":{"code":"invalid_input","message":"#,
    );
}
