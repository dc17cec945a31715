//! Invitations through the API and the pages: a person added without a password is invited,
//! cannot sign in until they accept, and accepts once with the e-mailed link (signed in at
//! once, or restricted to setting up a second factor where the account requires one); used,
//! expired, replaced and unknown links are gone; two acceptances at once, one wins; a new
//! invitation spends the earlier links; the address rule holds for invitations too; bad input
//! is refused with nothing queued and nothing half-changed.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::mail_support::{
    accept_invitation, ask_reset, confirm_reset, outbox, sent_token, set_password_on_page,
};
use crate::support::{Client, DAY, MINUTE, PASSWORD, PRIMARY_EMAIL, TestApp, assert_member_shape};

backend_tests!(
    an_invited_agent_accepts_and_is_signed_in,
    an_invited_person_cannot_sign_in_before_accepting,
    two_acceptances_at_once_one_wins,
    used_expired_and_unknown_links_are_gone,
    a_new_invitation_spends_the_earlier_links,
    only_those_who_may_set_the_password_resend,
    nobody_invites_onto_an_administrator_they_may_not_administer,
    bad_input_is_refused_and_changes_nothing,
    required_two_factor_comes_before_anything_else,
    the_pages_invite_resend_and_accept,
);

const CHOSEN: &str = "my own chosen passphrase";

/// Invites a person through the API as `by`; the answer's body.
pub(crate) async fn invite(by: &Client, section: &str, body: Value) -> Value {
    let res = by.post_json(&format!("/api/v1/{section}"), &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    res.json()
}

/// The invitation token of the newest message to `to`.
pub(crate) async fn token(app: &TestApp, to: &str) -> String {
    sent_token(app, to, "invitation", "/invite").await
}

async fn audit_count(app: &TestApp, kind: &str) -> u64 {
    app.primary_client()
        .await
        .get(&format!("/api/v1/audit?kind={kind}"))
        .await
        .json()["total"]
        .as_u64()
        .unwrap()
}

async fn an_invited_agent_accepts_and_is_signed_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    let ann = invite(
        &owner,
        "agents",
        json!({"name": "Ann Agent", "email": " Ann@Acme.test "}),
    )
    .await;
    assert_member_shape(&ann);
    assert_eq!(ann["invited"], json!(true));
    assert_eq!(ann["email"], "Ann@Acme.test");
    let id = ann["id"].as_str().unwrap().to_string();
    let listed = owner.get("/api/v1/agents").await.json();
    let row = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["invited"], json!(true));
    let rows = outbox(&app, "ann@acme.test").await;
    assert_eq!(rows.len(), 1, "one message");
    assert_eq!(rows[0].subject, "Pat Primary invited you to Acme Support");
    let t = token(&app, "ann@acme.test").await;

    let res = accept_invitation(&app, &t, CHOSEN)
        .await
        .expect_status(StatusCode::OK);
    let body = res.json();
    assert_eq!(body["user"]["id"], id.as_str());
    assert_eq!(body["user"]["invited"], json!(false));
    assert_eq!(body["redirect_to"], "/agent");
    assert!(res.session_token().is_some(), "a session cookie");
    assert!(body["csrf_token"].as_str().is_some_and(|c| !c.is_empty()));
    let me = app
        .client()
        .login("ann@acme.test", CHOSEN)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(me.json()["user"]["invited"], json!(false));
    assert_eq!(
        owner.get(&format!("/api/v1/agents/{id}")).await.json()["invited"],
        json!(false)
    );
    assert_eq!(audit_count(&app, "invitation.sent").await, 1);
    assert_eq!(audit_count(&app, "invitation.accepted").await, 1);
    // Still one message: accepting sends nothing.
    assert_eq!(outbox(&app, "ann@acme.test").await.len(), 1);
}

async fn an_invited_person_cannot_sign_in_before_accepting(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    invite(
        &owner,
        "admins",
        json!({"name": "Bo Admin", "email": "bo@acme.test", "permissions": ["audit"]}),
    )
    .await;
    for guess in [PASSWORD, CHOSEN, "", "correct horse battery staple"] {
        let res = app.client().login("bo@acme.test", guess).await;
        assert!(
            res.status == StatusCode::UNAUTHORIZED
                || res.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{guess:?}: {} {}",
            res.status,
            res.text
        );
    }
    let t = token(&app, "bo@acme.test").await;
    accept_invitation(&app, &t, CHOSEN)
        .await
        .expect_status(StatusCode::OK);
    app.client()
        .login("bo@acme.test", CHOSEN)
        .await
        .expect_status(StatusCode::OK);

    // A password reset proves the address as well: it ends the invitation, whose link then
    // finds nobody to invite.
    invite(
        &owner,
        "agents",
        json!({"name": "Bea Agent", "email": "bea@acme.test"}),
    )
    .await;
    let invitation = token(&app, "bea@acme.test").await;
    assert_eq!(
        ask_reset(&app, "bea@acme.test").await.0,
        StatusCode::ACCEPTED
    );
    let reset_token = sent_token(&app, "bea@acme.test", "password_reset", "/reset").await;
    confirm_reset(&app, &reset_token, CHOSEN)
        .await
        .expect_status(StatusCode::NO_CONTENT);
    app.client()
        .login("bea@acme.test", CHOSEN)
        .await
        .expect_status(StatusCode::OK);
    accept_invitation(&app, &invitation, "yet another passphrase")
        .await
        .expect_error(StatusCode::GONE, "link_expired");
}

async fn two_acceptances_at_once_one_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    invite(
        &owner,
        "agents",
        json!({"name": "Cy Agent", "email": "cy@acme.test"}),
    )
    .await;
    let t = token(&app, "cy@acme.test").await;
    let (a, b) = tokio::join!(
        accept_invitation(&app, &t, "first tab's passphrase"),
        accept_invitation(&app, &t, "second tab's passphrase"),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::GONE]);
    let (winner, loser) = if a.status == StatusCode::OK {
        ("first tab's passphrase", &b)
    } else {
        ("second tab's passphrase", &a)
    };
    loser.expect_error(StatusCode::GONE, "link_expired");
    assert!(loser.session_token().is_none());
    app.client()
        .login("cy@acme.test", winner)
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(audit_count(&app, "invitation.accepted").await, 1);
}

async fn used_expired_and_unknown_links_are_gone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    invite(
        &owner,
        "agents",
        json!({"name": "Di Agent", "email": "di@acme.test"}),
    )
    .await;
    let used = token(&app, "di@acme.test").await;
    accept_invitation(&app, &used, CHOSEN)
        .await
        .expect_status(StatusCode::OK);
    accept_invitation(&app, &used, "another passphrase here")
        .await
        .expect_error(StatusCode::GONE, "link_expired");

    let ed = invite(
        &owner,
        "agents",
        json!({"name": "Ed Agent", "email": "ed@acme.test"}),
    )
    .await;
    let late = token(&app, "ed@acme.test").await;
    // Seven days to the minute: still good the minute before, gone after.
    app.advance(7 * DAY - MINUTE);
    let page = app.client().get(&format!("/invite/{late}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    app.advance(2 * MINUTE);
    accept_invitation(&app, &late, CHOSEN)
        .await
        .expect_error(StatusCode::GONE, "link_expired");
    let page = app.client().get(&format!("/invite/{late}")).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.text.contains("no longer works"), "{}", page.text);
    let id = ed["id"].as_str().unwrap();
    assert!(app.stored_member(id).await.invited, "still invited");
    for t in [
        "0".repeat(64),
        "not a token".to_string(),
        "a".repeat(10_000),
        String::new(),
    ] {
        accept_invitation(&app, &t, CHOSEN)
            .await
            .expect_error(StatusCode::GONE, "link_expired");
    }
    app.client()
        .login("ed@acme.test", CHOSEN)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

async fn a_new_invitation_spends_the_earlier_links(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    let fa = invite(
        &owner,
        "admins",
        json!({"name": "Fa Admin", "email": "fa@acme.test", "permissions": []}),
    )
    .await;
    let id = fa["id"].as_str().unwrap();
    let first = token(&app, "fa@acme.test").await;
    app.advance(MINUTE);
    let res = owner
        .post_json(&format!("/api/v1/admins/{id}/invitation"), &json!({}))
        .await
        .expect_status(StatusCode::ACCEPTED);
    assert!(res.json()["message"].as_str().is_some());
    assert_eq!(outbox(&app, "fa@acme.test").await.len(), 2);
    let second = token(&app, "fa@acme.test").await;
    assert_ne!(first, second);
    accept_invitation(&app, &first, CHOSEN)
        .await
        .expect_error(StatusCode::GONE, "link_expired");
    accept_invitation(&app, &second, CHOSEN)
        .await
        .expect_status(StatusCode::OK);
    // Accepted: nothing more to send.
    owner
        .post_json(&format!("/api/v1/admins/{id}/invitation"), &json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "not_invited");
    // The wrong section's path is 404, as for any id of another kind.
    owner
        .post_json(&format!("/api/v1/agents/{id}/invitation"), &json!({}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(outbox(&app, "fa@acme.test").await.len(), 2);
    assert_eq!(audit_count(&app, "invitation.sent").await, 2);

    // A password set by an administrator ends an invitation too: its link finds nobody.
    let gi = invite(
        &owner,
        "agents",
        json!({"name": "Gi Agent", "email": "gi@acme.test"}),
    )
    .await;
    let gi_id = gi["id"].as_str().unwrap();
    let link = token(&app, "gi@acme.test").await;
    owner
        .patch_json(
            &format!("/api/v1/agents/{gi_id}"),
            &json!({"password": PASSWORD}),
        )
        .await
        .expect_status(StatusCode::OK);
    accept_invitation(&app, &link, CHOSEN)
        .await
        .expect_error(StatusCode::GONE, "link_expired");
    app.client()
        .login("gi@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);

    // A new address spends the links sent to the old one: whoever reads the old mailbox
    // cannot open the account now under another address. A resend reaches the new one.
    let jo = invite(
        &owner,
        "agents",
        json!({"name": "Jo Agent", "email": "jo@old.test"}),
    )
    .await;
    let jo_id = jo["id"].as_str().unwrap();
    let old_link = token(&app, "jo@old.test").await;
    let moved = owner
        .patch_json(
            &format!("/api/v1/agents/{jo_id}"),
            &json!({"email": "jo@new.test"}),
        )
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(moved.json()["invited"], true);
    accept_invitation(&app, &old_link, CHOSEN)
        .await
        .expect_error(StatusCode::GONE, "link_expired");
    owner
        .post_json(&format!("/api/v1/agents/{jo_id}/invitation"), &json!({}))
        .await
        .expect_status(StatusCode::ACCEPTED);
    let new_link = token(&app, "jo@new.test").await;
    accept_invitation(&app, &new_link, CHOSEN)
        .await
        .expect_status(StatusCode::OK);
}

async fn only_those_who_may_set_the_password_resend(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    let hu = invite(
        &owner,
        "agents",
        json!({"name": "Hu Agent", "email": "hu@acme.test"}),
    )
    .await;
    let id = hu["id"].as_str().unwrap();
    let boss = invite(
        &owner,
        "admins",
        json!({"name": "Big Boss", "email": "boss@acme.test", "permissions": ["team.agents", "team.admins", "security"]}),
    )
    .await;
    let boss_id = boss["id"].as_str().unwrap();
    app.add_admin("Au Auditor", "au@acme.test", &["audit"])
        .await;
    app.add_admin("Ag Agents", "ag@acme.test", &["team.agents", "team.admins"])
        .await;
    let auditor = app.signed_in("au@acme.test", PASSWORD).await;
    auditor
        .post_json(&format!("/api/v1/agents/{id}/invitation"), &json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let sub = app.signed_in("ag@acme.test", PASSWORD).await;
    // Someone holding more than the sub-administrator: not theirs to re-invite.
    sub.post_json(&format!("/api/v1/admins/{boss_id}/invitation"), &json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // Without the CSRF token: refused.
    let csrf = sub.csrf();
    sub.set_csrf(None);
    sub.post_json(&format!("/api/v1/agents/{id}/invitation"), &json!({}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "csrf");
    sub.set_csrf(csrf.as_deref());
    sub.post_json(&format!("/api/v1/agents/{id}/invitation"), &json!({}))
        .await
        .expect_status(StatusCode::ACCEPTED);
    // Another account's people are not found.
    let other = app.other_account().await;
    owner
        .post_json(
            &format!("/api/v1/agents/{}/invitation", other.agent.id),
            &json!({}),
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // A disabled person gets no new link.
    owner
        .patch_json(&format!("/api/v1/agents/{id}"), &json!({"disabled": true}))
        .await
        .expect_status(StatusCode::OK);
    owner
        .post_json(&format!("/api/v1/agents/{id}/invitation"), &json!({}))
        .await
        .expect_error(StatusCode::CONFLICT, "not_invited");
    assert_eq!(outbox(&app, "hu@acme.test").await.len(), 2);
}

async fn nobody_invites_onto_an_administrator_they_may_not_administer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_admin("Ag Agents", "ag@acme.test", &["team.agents"])
        .await;
    let sub = app.signed_in("ag@acme.test", PASSWORD).await;
    // The attack of issue 26: an agent on the primary administrator's address with a
    // password of the sub-administrator's choosing; and the same as an invitation.
    for body in [
        json!({"name": "Pat Primary", "email": PRIMARY_EMAIL, "password": "a takeover password"}),
        json!({"name": "Pat Primary", "email": PRIMARY_EMAIL}),
        json!({"name": "Pat Primary", "email": "  OWNER@acme.test"}),
    ] {
        sub.post_json("/api/v1/agents", &body)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    assert!(
        outbox(&app, PRIMARY_EMAIL).await.is_empty(),
        "nothing queued"
    );
    let agents = app
        .primary_client()
        .await
        .get("/api/v1/agents")
        .await
        .json();
    assert_eq!(agents["total"], 0, "{agents:#}");
    // Their own agents they invite as they like.
    invite(
        &sub,
        "agents",
        json!({"name": "Ivy Agent", "email": "ivy@acme.test"}),
    )
    .await;
}

async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    for (body, field) in [
        (json!({"name": "Jo", "email": "not an address"}), "email"),
        (
            json!({"name": "Jo", "email": "jo@acme.test\r\nBcc: evil@example.com"}),
            "email",
        ),
        (
            json!({"name": "Jo", "email": format!("{}@acme.test", "j".repeat(10_000))}),
            "email",
        ),
        (
            json!({"name": "Jo\r\nBcc: evil@example.com", "email": "jo@acme.test"}),
            "name",
        ),
        (
            json!({"name": "J".repeat(10_000), "email": "jo@acme.test"}),
            "name",
        ),
        (json!({"name": "", "email": "jo@acme.test"}), "name"),
        (
            json!({"name": "Jo", "email": "jo@acme.test", "password": "short"}),
            "password",
        ),
        (
            json!({"name": "Jo", "email": "jo@acme.test", "permissions": ["audit"]}),
            "permissions",
        ),
        (
            json!({"name": "Jo", "email": "jo@acme.test", "invite": true}),
            "invite",
        ),
    ] {
        let msg = owner
            .post_json("/api/v1/agents", &body)
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(msg.contains(field), "{field}: {msg}");
    }
    assert!(
        outbox(&app, "jo@acme.test").await.is_empty(),
        "nothing queued"
    );
    assert_eq!(owner.get("/api/v1/agents").await.json()["total"], 0);

    // A taken address: refused, and its person's one message stays one.
    invite(
        &owner,
        "agents",
        json!({"name": "Jo Agent", "email": "jo@acme.test"}),
    )
    .await;
    let msg = owner
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Jo Again", "email": "JO@acme.test"}),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(msg.contains("email"), "{msg}");
    assert_eq!(outbox(&app, "jo@acme.test").await.len(), 1);
    assert_eq!(owner.get("/api/v1/agents").await.json()["total"], 1);

    // A password the rules refuse: 422, and the link still works afterwards.
    let t = token(&app, "jo@acme.test").await;
    for weak in ["short", "password123456", &"x".repeat(200)] {
        let msg = accept_invitation(&app, &t, weak)
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(msg.contains("password"), "{msg}");
    }
    let res = app
        .client()
        .post_json("/api/v1/invitations/accept", &json!({"token": t}))
        .await;
    res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    accept_invitation(&app, &t, CHOSEN)
        .await
        .expect_status(StatusCode::OK);
}

async fn required_two_factor_comes_before_anything_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    owner
        .put_json(
            "/api/v1/settings/security",
            &json!({"mfa_required": {"agents": true}}),
        )
        .await
        .expect_status(StatusCode::OK);
    invite(
        &owner,
        "agents",
        json!({"name": "Kai Agent", "email": "kai@acme.test"}),
    )
    .await;
    let t = token(&app, "kai@acme.test").await;
    let kai = app.client();
    let res = kai
        .post_json(
            "/api/v1/invitations/accept",
            &json!({"token": t, "password": CHOSEN}),
        )
        .await
        .expect_status(StatusCode::OK);
    let body = res.json();
    assert_eq!(body["redirect_to"], "/me/security");
    kai.set_csrf(body["csrf_token"].as_str());
    // Signed in only to set up the second factor.
    kai.get("/api/v1/me/sessions")
        .await
        .expect_error(StatusCode::FORBIDDEN, "mfa_enrollment_required");
    crate::mfa::enroll(&app, &kai, CHOSEN).await;
}

async fn the_pages_invite_resend_and_accept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    let form = owner.get("/team/agents/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.text
            .contains("name=\"how\" value=\"invite\" id=\"how-invite\" checked"),
        "invitation is the default: {}",
        form.text
    );
    assert!(form.text.contains("Set a password now"));
    let added = owner
        .post_form(
            "/team/agents",
            &[
                ("name", "Lu Agent"),
                ("email", "lu@acme.test"),
                ("how", "invite"),
            ],
        )
        .await
        .expect_status(StatusCode::SEE_OTHER);
    assert!(
        added.header("location").unwrap().contains("done=invited"),
        "{:?}",
        added.header("location")
    );
    // "Set a password now" still needs the password.
    let missing = owner
        .post_form(
            "/team/agents",
            &[
                ("name", "Mo Agent"),
                ("email", "mo@acme.test"),
                ("how", "password"),
            ],
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    // A password typed with "Send an invitation" chosen: which was meant is asked, not guessed.
    let unclear = owner
        .post_form(
            "/team/agents",
            &[
                ("name", "Mo Agent"),
                ("email", "mo@acme.test"),
                ("how", "invite"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(unclear.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unclear.text.contains("Set a password now"),
        "{}",
        unclear.text
    );
    assert!(outbox(&app, "mo@acme.test").await.is_empty());
    assert_eq!(owner.get("/api/v1/agents").await.json()["total"], 1);
    let list = owner.get("/team/agents?done=invited").await;
    assert!(
        list.text.contains("Invited, not signed in yet"),
        "{}",
        list.text
    );
    assert!(
        list.text.contains("Invited. They get an e-mail"),
        "{}",
        list.text
    );
    let lu = app
        .store
        .credentials_by_email(&app.account.id, "lu@acme.test")
        .await
        .unwrap()
        .remove(0)
        .member;
    assert!(
        list.text
            .contains(&format!("formaction=\"/team/agents/{}/invitation\"", lu.id)),
        "{}",
        list.text
    );
    let profile = owner.get(&format!("/team/agents/{}", lu.id)).await;
    assert!(
        profile.text.contains("id=\"profile-invited\""),
        "{}",
        profile.text
    );
    assert!(profile.text.contains("Resend invitation"));
    let first = token(&app, "lu@acme.test").await;
    app.advance(MINUTE);
    let sent = owner
        .post_form(
            &format!("/team/agents/{}/invitation", lu.id),
            &[("back", "/team/agents")],
        )
        .await
        .expect_status(StatusCode::SEE_OTHER);
    assert_eq!(
        sent.header("location"),
        Some("/team/agents?done=invitation_sent")
    );
    // Without the form's CSRF token nothing is sent.
    let csrf = owner.csrf();
    owner.set_csrf(Some("forged"));
    let refused = owner
        .post_form(&format!("/team/agents/{}/invitation", lu.id), &[])
        .await;
    owner.set_csrf(csrf.as_deref());
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(outbox(&app, "lu@acme.test").await.len(), 2);
    let second = token(&app, "lu@acme.test").await;
    let gone = app.client().get(&format!("/invite/{first}")).await;
    assert_eq!(gone.status, StatusCode::GONE);

    let browser = app.client();
    let page = browser.get(&format!("/invite/{second}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("Accept your invitation"),
        "{}",
        page.text
    );
    let done = set_password_on_page(&browser, &format!("/invite/{second}"), CHOSEN).await;
    assert_eq!(done.header("location"), Some("/agent"));
    // Signed in: the agent's page opens (without a session it redirects to sign-in).
    browser.get("/agent").await.expect_status(StatusCode::OK);
    let spent = app.client().get(&format!("/invite/{second}")).await;
    assert_eq!(spent.status, StatusCode::GONE);
    assert!(spent.text.contains("This invitation link no longer works"));
    let list = owner.get("/team/agents").await;
    assert!(
        !list.text.contains("Invited, not signed in yet"),
        "{}",
        list.text
    );
}
