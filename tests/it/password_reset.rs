//! Self-service password reset through the API and the pages: the same answer for known,
//! unknown and disabled addresses, three messages an address an hour, one link per linked
//! account, single use even when two confirmations race, expiry, the sessions ended with
//! `password_reset`, the audit, and bad input refused with nothing changed.

use deskward::domain::session::EndReason;
use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::mail_support::{ask_reset, confirm_reset, outbox, sent_tokens, set_password_on_page};
use crate::support::{HOUR, MINUTE, PASSWORD, TestApp};

backend_tests!(
    the_answer_is_the_same_for_every_address,
    three_messages_an_address_an_hour,
    linked_accounts_get_one_link_each,
    a_link_sets_the_password_and_ends_every_session,
    two_confirmations_at_once_one_wins,
    spent_expired_and_unknown_links_are_gone,
    bad_input_is_refused_and_changes_nothing,
    the_pages_walk_through_a_reset,
);

const NEW_PASSWORD: &str = "a brand new passphrase";

/// The reset tokens of the newest message to `to`, in the order of its links.
async fn tokens(app: &TestApp, to: &str) -> Vec<String> {
    sent_tokens(app, to, "password_reset", "/reset").await
}

async fn the_answer_is_the_same_for_every_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let gone = app.add_agent("Gus Gone", "gus@acme.test").await;
    app.primary_client()
        .await
        .patch_json(
            &format!("/api/v1/agents/{}", gone.id),
            &json!({"disabled": true}),
        )
        .await
        .expect_status(StatusCode::OK);
    let known = ask_reset(&app, "ann@acme.test").await;
    let unknown = ask_reset(&app, "nobody@acme.test").await;
    let disabled = ask_reset(&app, "gus@acme.test").await;
    assert_eq!(known.0, StatusCode::ACCEPTED);
    assert_eq!(unknown, known);
    assert_eq!(disabled, known);
    assert!(
        known.1["message"]
            .as_str()
            .unwrap()
            .contains("If this address belongs")
    );
    assert_eq!(outbox(&app, "ann@acme.test").await.len(), 1);
    assert!(outbox(&app, "nobody@acme.test").await.is_empty());
    assert!(outbox(&app, "gus@acme.test").await.is_empty());
    let audit = app
        .primary_client()
        .await
        .get("/api/v1/audit?kind=password.reset_requested")
        .await
        .json();
    // The known address's request, and one entry counting this hour's requests from this
    // client for addresses with no enabled account (the unknown and the disabled one): a
    // write on either path, so both take as long.
    assert_eq!(audit["total"], 2, "{audit:#}");
    let details: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["detail"].as_str().unwrap())
        .collect();
    assert!(
        details.contains(&"password reset link sent to ann@acme.test"),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("nothing sent")),
        "{details:?}"
    );
}

async fn three_messages_an_address_an_hour(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Bo Agent", "bo@acme.test").await;
    for _ in 0..5 {
        assert_eq!(
            ask_reset(&app, "BO@acme.test ").await.0,
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(outbox(&app, "bo@acme.test").await.len(), 3);
    app.advance(HOUR + MINUTE);
    assert_eq!(
        ask_reset(&app, "bo@acme.test").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(outbox(&app, "bo@acme.test").await.len(), 4);
}

async fn linked_accounts_get_one_link_each(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Cy Both", "cy@acme.test").await;
    let admin = app.add_admin("Cy Both", "cy@acme.test", &["audit"]).await;
    ask_reset(&app, "cy@acme.test").await;
    assert_eq!(outbox(&app, "cy@acme.test").await.len(), 1, "one message");
    let t = tokens(&app, "cy@acme.test").await;
    assert_eq!(t.len(), 2, "{t:?}");
    // The first link is the agent's, the second the administrator's.
    confirm_reset(&app, &t[1], NEW_PASSWORD)
        .await
        .expect_status(StatusCode::NO_CONTENT);
    app.client()
        .login_as("cy@acme.test", NEW_PASSWORD, "admin")
        .await
        .expect_status(StatusCode::OK);
    app.client()
        .login_as("cy@acme.test", PASSWORD, "agent")
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(app.stored_member(&admin.id).await.id, admin.id);
    // Each account's link is its own: the agent's still works after the administrator's.
    confirm_reset(&app, &t[0], "another new passphrase")
        .await
        .expect_status(StatusCode::NO_CONTENT);
    app.client()
        .login_as("cy@acme.test", "another new passphrase", "agent")
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(app.stored_member(&agent.id).await.id, agent.id);
}

async fn a_link_sets_the_password_and_ends_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let di = app.add_agent("Di Agent", "di@acme.test").await;
    let (one, _) = app.start_session("di@acme.test", PASSWORD).await;
    let (two, _) = app.start_session("di@acme.test", PASSWORD).await;
    app.add_agent("Ed Other", "ed@acme.test").await;
    let (ed_session, _) = app.start_session("ed@acme.test", PASSWORD).await;
    ask_reset(&app, "di@acme.test").await;
    let t = tokens(&app, "di@acme.test").await;
    assert_eq!(t.len(), 1);
    confirm_reset(&app, &t[0], NEW_PASSWORD)
        .await
        .expect_status(StatusCode::NO_CONTENT);
    for id in [&one, &two] {
        let s = app.stored_session(id).await;
        assert_eq!(s.end_reason, Some(EndReason::PasswordReset), "{s:?}");
        assert_eq!(s.ended_by, None);
    }
    assert_eq!(app.stored_session(&ed_session).await.end_reason, None);
    app.client()
        .login("di@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.client()
        .login("di@acme.test", NEW_PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let audit = app
        .primary_client()
        .await
        .get("/api/v1/audit?kind=password.reset")
        .await
        .json();
    assert_eq!(audit["total"], 1, "{audit:#}");
    assert_eq!(audit["items"][0]["target"], di.id.as_str());
}

async fn two_confirmations_at_once_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Fa Agent", "fa@acme.test").await;
    ask_reset(&app, "fa@acme.test").await;
    let t = tokens(&app, "fa@acme.test").await;
    let (a, b) = tokio::join!(
        confirm_reset(&app, &t[0], "first tab's passphrase"),
        confirm_reset(&app, &t[0], "second tab's passphrase"),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::NO_CONTENT, StatusCode::GONE]);
    let loser = if a.status == StatusCode::GONE { &a } else { &b };
    loser.expect_error(StatusCode::GONE, "link_expired");
    let winner = if a.status == StatusCode::NO_CONTENT {
        "first tab's passphrase"
    } else {
        "second tab's passphrase"
    };
    app.client()
        .login("fa@acme.test", winner)
        .await
        .expect_status(StatusCode::OK);
}

async fn spent_expired_and_unknown_links_are_gone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Gi Agent", "gi@acme.test").await;
    ask_reset(&app, "gi@acme.test").await;
    let first = tokens(&app, "gi@acme.test").await.remove(0);
    app.advance(MINUTE);
    ask_reset(&app, "gi@acme.test").await;
    let second = tokens(&app, "gi@acme.test").await.remove(0);
    assert_ne!(first, second);
    confirm_reset(&app, &second, NEW_PASSWORD)
        .await
        .expect_status(StatusCode::NO_CONTENT);
    // Used, and the person's older link with it.
    for t in [&second, &first] {
        confirm_reset(&app, t, "yet another passphrase")
            .await
            .expect_error(StatusCode::GONE, "link_expired");
    }
    // Expired after an hour.
    ask_reset(&app, "gi@acme.test").await;
    let late = tokens(&app, "gi@acme.test").await.remove(0);
    app.advance(HOUR);
    confirm_reset(&app, &late, "yet another passphrase")
        .await
        .expect_error(StatusCode::GONE, "link_expired");
    // Unknown, malformed, huge.
    for t in [
        "0".repeat(64),
        "not a token".to_string(),
        "a".repeat(10_000),
    ] {
        confirm_reset(&app, &t, "yet another passphrase")
            .await
            .expect_error(StatusCode::GONE, "link_expired");
    }
    app.client()
        .login("gi@acme.test", NEW_PASSWORD)
        .await
        .expect_status(StatusCode::OK);
}

async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Hu Agent", "hu@acme.test").await;
    for bad in [
        json!({"email": "not an address"}),
        json!({"email": "hu@acme.test\r\nBcc: evil@example.com"}),
        json!({"email": format!("{}@acme.test", "h".repeat(10_000))}),
        json!({"email": ""}),
        json!({"mail": "hu@acme.test"}),
    ] {
        let res = app
            .client()
            .post_json("/api/v1/auth/password-reset", &bad)
            .await;
        let msg = res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(msg.contains("email") || msg.contains("mail"), "{msg}");
    }
    assert!(
        outbox(&app, "hu@acme.test").await.is_empty(),
        "nothing queued"
    );
    ask_reset(&app, "hu@acme.test").await;
    let t = tokens(&app, "hu@acme.test").await.remove(0);
    // A password the rules refuse: 422, and the link still works afterwards.
    for weak in ["short", "password123456", &"x".repeat(200)] {
        let msg = confirm_reset(&app, &t, weak)
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(msg.contains("password"), "{msg}");
    }
    app.client()
        .login("hu@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    confirm_reset(&app, &t, NEW_PASSWORD)
        .await
        .expect_status(StatusCode::NO_CONTENT);
}

async fn the_pages_walk_through_a_reset(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Io Agent", "io@acme.test").await;
    let browser = app.client();
    let login = browser.get("/login").await;
    assert!(
        login
            .text
            .contains("href=\"/reset\">Forgot your password?</a>"),
        "{}",
        login.text
    );
    let ask_page = browser.get("/reset").await;
    assert_eq!(ask_page.status, StatusCode::OK);
    assert!(ask_page.text.contains("name=\"email\""));
    let known = browser
        .post_form("/reset", &[("email", "io@acme.test")])
        .await;
    let unknown = browser
        .post_form("/reset", &[("email", "nobody@acme.test")])
        .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(unknown.status, StatusCode::OK);
    assert!(known.text.contains("Check your e-mail"));
    assert_eq!(
        known.text.replace("io@acme.test", "ADDRESS"),
        unknown.text.replace("nobody@acme.test", "ADDRESS"),
        "the same page for known and unknown addresses"
    );
    let bad = browser.post_form("/reset", &[("email", "nope")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let t = tokens(&app, "io@acme.test").await.remove(0);
    let form = browser.get(&format!("/reset/{t}")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains("Set a new password"));
    let done = set_password_on_page(&browser, &format!("/reset/{t}"), NEW_PASSWORD).await;
    assert_eq!(
        done.header("location"),
        Some("/login?reason=password_reset")
    );
    let told = browser.get("/login?reason=password_reset").await;
    assert!(
        told.text.contains(EndReason::PasswordReset.message()),
        "{}",
        told.text
    );
    let spent = browser.get(&format!("/reset/{t}")).await;
    assert_eq!(spent.status, StatusCode::GONE);
    assert!(spent.text.contains("This link has expired"));
    assert!(
        spent
            .text
            .contains("href=\"/reset\">Ask for a new link</a>")
    );
    app.client()
        .login("io@acme.test", NEW_PASSWORD)
        .await
        .expect_status(StatusCode::OK);
}
