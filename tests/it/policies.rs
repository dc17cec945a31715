//! Session policies through the API: the limit of sessions per person (the oldest replaced,
//! the tab told why), on both databases and across two instances.

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::support::{Client, PASSWORD, SECOND, TestApp, second_instance};

/// Sets any fields of the Security settings as the primary administrator.
pub(crate) async fn set_security(app: &TestApp, body: serde_json::Value) -> serde_json::Value {
    let admin = app.primary_client().await;
    admin
        .put_json("/api/v1/settings/security", &body)
        .await
        .expect_status(StatusCode::OK)
        .json()
}

/// The id of the session a signed-in client acts through.
async fn session_id(c: &Client) -> String {
    c.me().await.expect_status(StatusCode::OK).json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Signs the agent in `n` times, a second apart (so "oldest" is well defined), alternating
/// between the two instances' addresses; returns the clients in sign-in order.
async fn sign_in_times(app: &TestApp, bases: &[String], email: &str, n: usize) -> Vec<Client> {
    let mut out = Vec::new();
    for i in 0..n {
        let c = crate::support::client_for_base(&bases[i % bases.len()]);
        c.login(email, PASSWORD).await.expect_status(StatusCode::OK);
        out.push(c);
        app.advance(SECOND);
    }
    out
}

async fn limit_of(backend: Backend, limit: usize) {
    let app = TestApp::spawn(backend).await;
    let other = second_instance(&app).await;
    let agent = app.add_agent("Lim Agent", "lim@acme.test").await;
    let admin = app
        .add_admin("Lim Admin", "limadmin@acme.test", &["security"])
        .await;
    let body = set_security(&app, json!({"max_sessions_per_person": limit})).await;
    assert_eq!(body["max_sessions_per_person"], json!(limit));
    let bases = vec![app.base.clone(), other.base.clone()];
    let clients = sign_in_times(&app, &bases, &agent.email, limit + 2).await;
    // The newest `limit` live on, whichever instance signed them in; the two oldest were
    // replaced.
    for (i, c) in clients.iter().enumerate() {
        let me = c.me().await;
        if i < 2 {
            me.expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
            // The sign-in page tells that tab why.
            let page = c.get("/login?reason=replaced").await;
            assert!(
                page.text.contains("only a limited number of sessions"),
                "{}",
                page.text
            );
        } else {
            me.expect_status(StatusCode::OK);
        }
    }
    let live = clients[2]
        .get("/api/v1/me/sessions")
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(live["items"].as_array().unwrap().len(), limit);
    // Stored as replaced, through the one ending path (audited with its reason).
    let audit = app
        .primary_client()
        .await
        .get(&format!("/api/v1/audit?target={}&per_page=200", agent.id))
        .await
        .expect_status(StatusCode::OK)
        .json();
    let endings = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["kind"] == "session.ended" && e["detail"].as_str().unwrap().contains("replaced")
        })
        .count();
    assert_eq!(endings, 2, "{audit}");
    // Administrators are not limited by it.
    let admins = sign_in_times(&app, &bases, &admin.email, limit + 2).await;
    for c in &admins {
        c.me().await.expect_status(StatusCode::OK);
    }
}

async fn limit_of_one(backend: Backend) {
    limit_of(backend, 1).await
}

async fn limit_of_three(backend: Backend) {
    limit_of(backend, 3).await
}

async fn limit_bounds_and_removal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.primary_client().await;
    for bad in [json!(0), json!(11), json!("3"), json!(2.5)] {
        let res = admin
            .put_json(
                "/api/v1/settings/security",
                &json!({"max_sessions_per_person": bad}),
            )
            .await;
        let msg = res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(msg.contains("max_sessions_per_person"), "{msg}");
    }
    let got = admin.get("/api/v1/settings/security").await.json();
    assert_eq!(got["max_sessions_per_person"], json!(null));
    set_security(&app, json!({"max_sessions_per_person": 2})).await;
    // Other fields stay as they are when only the limit changes, and back.
    let got = set_security(&app, json!({"agent_idle_timeout_minutes": 60})).await;
    assert_eq!(got["max_sessions_per_person"], json!(2));
    let got = set_security(&app, json!({"max_sessions_per_person": null})).await;
    assert_eq!(got["max_sessions_per_person"], json!(null));
    assert_eq!(got["agent_idle_timeout_minutes"], json!(60));
    // A sub-administrator without the security permission may not change it.
    app.add_admin("No Sec", "nosec@acme.test", &["team.agents"])
        .await;
    let c = app.signed_in("nosec@acme.test", PASSWORD).await;
    c.put_json(
        "/api/v1/settings/security",
        &json!({"max_sessions_per_person": 1}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let _ = session_id(&admin).await;
}

backend_tests!(limit_of_one, limit_of_three, limit_bounds_and_removal);
