//! Sign-in alerts through the API and the pages: a message for a sign-in from a browser without
//! the person's device pass and none with it, the per-role setting (administrators by default,
//! agents when turned on; the `admins` field the primary's), its validation, and the "This
//! wasn't me" link: it ends exactly that session (reason `ended_by_owner`), once, even when
//! used twice at once, and leads to setting a new password; unknown, used and expired links
//! say so.

use deskward::domain::session::EndReason;
use deskward::store::Mail;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::mail_support::{outbox, sent_token};
use crate::support::{Client, DAY, PASSWORD, PRIMARY_EMAIL, TestApp};

backend_tests!(
    a_new_browser_is_told_and_a_known_one_is_not,
    agents_are_told_only_when_the_account_says_so,
    the_setting_merges_validates_and_is_audited,
    this_wasnt_me_ends_exactly_that_session_once,
    two_uses_at_once_one_wins,
    unknown_used_and_expired_links_say_so,
    the_pages_lead_from_the_alert_to_a_new_password,
    linked_accounts_are_told_apart,
);

const KIND: &str = "signin_alert";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// The sign-in alerts to an address, newest first.
async fn alerts(app: &TestApp, to: &str) -> Vec<Mail> {
    outbox(app, to)
        .await
        .into_iter()
        .filter(|m| m.kind == KIND)
        .collect()
}

/// The token of the newest alert's link to `to`.
async fn alert_token(app: &TestApp, to: &str) -> String {
    sent_token(app, to, KIND, "/signin-alert").await
}

/// A new browser signed in as `email`; panics unless it is.
async fn browser(app: &TestApp, email: &str, kind: &str) -> Client {
    let c = app.client();
    c.login_as(email, PASSWORD, kind)
        .await
        .expect_status(StatusCode::OK);
    c
}

async fn session_id(c: &Client) -> String {
    let me = c.me().await.expect_status(StatusCode::OK).json();
    me["session"]["id"].as_str().unwrap().to_string()
}

async fn use_link(app: &TestApp, token: &str) -> crate::support::Response {
    app.client()
        .post_json("/api/v1/auth/signin-alert", &json!({ "token": token }))
        .await
}

async fn put_alerts(c: &Client, alerts: Value) -> crate::support::Response {
    c.put_json(
        "/api/v1/settings/security",
        &json!({ "signin_alerts": alerts }),
    )
    .await
}

async fn a_new_browser_is_told_and_a_known_one_is_not(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_admin("Sue Sub", "sue@acme.test", &["audit"]).await;
    let c = browser(&app, "sue@acme.test", "admin").await;
    let rows = alerts(&app, "sue@acme.test").await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].subject, "New sign-in to Acme Support");
    assert_eq!(rows[0].recipient, "sue@acme.test");
    // The same browser again: it holds Sue's device pass now.
    c.logout().await.expect_status(StatusCode::NO_CONTENT);
    c.login_as("sue@acme.test", PASSWORD, "admin")
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(alerts(&app, "sue@acme.test").await.len(), 1);
    // Another browser is new again.
    browser(&app, "sue@acme.test", "admin").await;
    assert_eq!(alerts(&app, "sue@acme.test").await.len(), 2);
    // What the message says: the time, device, address and one link.
    let token = alert_token(&app, "sue@acme.test").await;
    assert_eq!(token.len(), 64);
    // A wrong password tells nobody.
    app.client()
        .login_as("sue@acme.test", "wrong password here", "admin")
        .await
        .expect_status(StatusCode::UNAUTHORIZED);
    assert_eq!(alerts(&app, "sue@acme.test").await.len(), 2);
}

async fn agents_are_told_only_when_the_account_says_so(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    browser(&app, "ann@acme.test", "agent").await;
    assert!(
        alerts(&app, "ann@acme.test").await.is_empty(),
        "off for agents"
    );
    let primary = app.primary_client().await;
    // The primary administrator is an administrator: told by default.
    assert_eq!(alerts(&app, PRIMARY_EMAIL).await.len(), 1);
    put_alerts(&primary, json!({"agents": true, "admins": false}))
        .await
        .expect_status(StatusCode::OK);
    browser(&app, "ann@acme.test", "agent").await;
    assert_eq!(alerts(&app, "ann@acme.test").await.len(), 1);
    app.primary_client().await;
    assert_eq!(
        alerts(&app, PRIMARY_EMAIL).await.len(),
        1,
        "off for admins now"
    );
}

async fn the_setting_merges_validates_and_is_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let primary = app.primary_client().await;
    let got = primary
        .get("/api/v1/settings/security")
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        got["signin_alerts"],
        json!({"agents": false, "admins": true})
    );
    let before_timeout = got["agent_idle_timeout_minutes"].clone();
    // A PUT of one field leaves the other, and every other setting, as it was.
    let set = put_alerts(&primary, json!({"agents": true}))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        set["signin_alerts"],
        json!({"agents": true, "admins": true})
    );
    assert_eq!(set["agent_idle_timeout_minutes"], before_timeout);
    let set = primary
        .put_json(
            "/api/v1/settings/security",
            &json!({"agent_idle_timeout_minutes": 60}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        set["signin_alerts"],
        json!({"agents": true, "admins": true})
    );
    // Bad input names the field and changes nothing.
    for bad in [
        json!({"signin_alerts": {"agents": "yes"}}),
        json!({"signin_alerts": {"agents": null, "admins": null}}),
        json!({"signin_alerts": {}}),
        json!({"signin_alerts": {"everyone": true}}),
        json!({"signin_alerts": true}),
    ] {
        let res = primary.put_json("/api/v1/settings/security", &bad).await;
        let message = res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(message.contains("signin_alerts"), "{bad}: {message}");
    }
    // Only the primary administrator decides for administrators.
    app.add_admin("Sam Sec", "sam@acme.test", &["security"])
        .await;
    let sam = browser(&app, "sam@acme.test", "admin").await;
    put_alerts(&sam, json!({"admins": false}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    put_alerts(&sam, json!({"agents": false}))
        .await
        .expect_status(StatusCode::OK);
    // Unchanged: allowed, a no-op.
    put_alerts(&sam, json!({"admins": true}))
        .await
        .expect_status(StatusCode::OK);
    let got = primary.get("/api/v1/settings/security").await.json();
    assert_eq!(
        got["signin_alerts"],
        json!({"agents": false, "admins": true})
    );
    let audit = primary
        .get("/api/v1/audit?kind=settings.changed")
        .await
        .json();
    // Written at the same instant of the test's clock: compared in any order.
    let mut details: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["detail"].as_str())
        .filter(|d| d.starts_with("sign-in alerts"))
        .collect();
    details.sort();
    assert_eq!(
        details,
        [
            "sign-in alerts for agents off → on, for administrators on → on",
            "sign-in alerts for agents on → off, for administrators on → on",
        ]
    );
}

async fn this_wasnt_me_ends_exactly_that_session_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sue = app.add_admin("Sue Sub", "sue@acme.test", &["audit"]).await;
    let mine = browser(&app, "sue@acme.test", "admin").await;
    let _ = alert_token(&app, "sue@acme.test").await;
    let intruder = browser(&app, "sue@acme.test", "admin").await;
    let intruder_session = session_id(&intruder).await;
    let token = alert_token(&app, "sue@acme.test").await;
    let used = use_link(&app, &token)
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(used["session_ended"], true, "{used}");
    let reset = used["reset_token"].as_str().expect("a reset token");
    // That session, and only that one, ended, by its owner.
    intruder
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    mine.me().await.expect_status(StatusCode::OK);
    let ended = app.stored_session(&intruder_session).await;
    assert_eq!(ended.end_reason, Some(EndReason::EndedByOwner));
    assert_eq!(ended.ended_by, Some(sue.id.clone()));
    // Single use.
    use_link(&app, &token)
        .await
        .expect_error(StatusCode::GONE, "link_expired");
    // The reset token sets a new password, which ends the rest.
    app.client()
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            &json!({ "token": reset, "password": NEW_PASSWORD }),
        )
        .await
        .expect_status(StatusCode::NO_CONTENT);
    mine.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    // The audit log has the ending and the use of the link.
    let audit = app
        .primary_client()
        .await
        .get("/api/v1/audit?kind=signin_alert.used")
        .await
        .json();
    assert_eq!(audit["total"], 1, "{audit:#}");
}

async fn two_uses_at_once_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_admin("Sue Sub", "sue@acme.test", &["audit"]).await;
    browser(&app, "sue@acme.test", "admin").await;
    let token = alert_token(&app, "sue@acme.test").await;
    let (a, b) = tokio::join!(use_link(&app, &token), use_link(&app, &token));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::GONE]);
}

async fn unknown_used_and_expired_links_say_so(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sue = app.add_admin("Sue Sub", "sue@acme.test", &["audit"]).await;
    browser(&app, "sue@acme.test", "admin").await;
    let token = alert_token(&app, "sue@acme.test").await;
    let (unknown, long) = ("ab".repeat(32), "x".repeat(1_000));
    for bad in ["nope", unknown.as_str(), long.as_str()] {
        use_link(&app, bad)
            .await
            .expect_error(StatusCode::GONE, "link_expired");
        let page = app.client().get(&format!("/signin-alert/{bad}")).await;
        assert_eq!(page.status, StatusCode::GONE);
        assert!(page.text.contains("This link has expired"), "{}", page.text);
    }
    use_link(&app, "")
        .await
        .expect_error(StatusCode::GONE, "link_expired");
    app.client()
        .post_json("/api/v1/auth/signin-alert", &json!({}))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    // Seven days later the link is spent; nothing changed.
    app.advance(7 * DAY + 1);
    let page = app.client().get(&format!("/signin-alert/{token}")).await;
    assert_eq!(page.status, StatusCode::GONE);
    let page = app
        .client()
        .post_form(&format!("/signin-alert/{token}"), &[])
        .await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.text.contains("more than 7 days old"), "{}", page.text);
    use_link(&app, &token)
        .await
        .expect_error(StatusCode::GONE, "link_expired");
    let sessions = app
        .store
        .active_sessions(&app.account.id, std::slice::from_ref(&sue.id), 0)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1, "the session was not ended");
}

async fn the_pages_lead_from_the_alert_to_a_new_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_admin("Sue Sub", "sue@acme.test", &["audit"]).await;
    let intruder = app.client_with_user_agent(crate::support::CHROME_WINDOWS_UA);
    intruder
        .login_as("sue@acme.test", PASSWORD, "admin")
        .await
        .expect_status(StatusCode::OK);
    let token = alert_token(&app, "sue@acme.test").await;
    // Opening the link (as a mail scanner would) changes nothing.
    let page = app.client().get(&format!("/signin-alert/{token}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("Chrome 131 on Windows 10"),
        "{}",
        page.text
    );
    assert!(page.text.contains("This wasn't me"), "{}", page.text);
    intruder.me().await.expect_status(StatusCode::OK);
    let res = app
        .client()
        .post_form(&format!("/signin-alert/{token}"), &[])
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let to = res.header("location").unwrap().to_string();
    assert!(
        to.starts_with("/reset/") && to.ends_with("?from=alert"),
        "{to}"
    );
    intruder
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let page = app.client().get(&to).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Set a new password"), "{}", page.text);
    assert!(
        page.text.contains("That session has ended"),
        "{}",
        page.text
    );
    let reset_path = to.split('?').next().unwrap();
    let done = app
        .client()
        .post_form(
            reset_path,
            &[("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    app.client()
        .login_as("sue@acme.test", NEW_PASSWORD, "admin")
        .await
        .expect_status(StatusCode::OK);
}

async fn linked_accounts_are_told_apart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Cy Both", "cy@acme.test").await;
    app.add_admin("Cy Both", "cy@acme.test", &["audit"]).await;
    put_alerts(&app.primary_client().await, json!({"agents": true}))
        .await
        .expect_status(StatusCode::OK);
    // One browser: the administrator's pass is no pass for the agent.
    let c = browser(&app, "cy@acme.test", "admin").await;
    let admin_session = session_id(&c).await;
    assert_eq!(alerts(&app, "cy@acme.test").await.len(), 1);
    let admin_token = alert_token(&app, "cy@acme.test").await;
    c.login_as("cy@acme.test", PASSWORD, "agent")
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(alerts(&app, "cy@acme.test").await.len(), 2);
    let agent_session = session_id(&c).await;
    c.login_as("cy@acme.test", PASSWORD, "agent")
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        alerts(&app, "cy@acme.test").await.len(),
        2,
        "the agent's pass held"
    );
    // The administrator's link ends the administrator's session only.
    use_link(&app, &admin_token)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        app.stored_session(&admin_session).await.end_reason,
        Some(EndReason::EndedByOwner)
    );
    assert_eq!(app.stored_session(&agent_session).await.end_reason, None);
}
