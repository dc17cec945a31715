//! The permission model's promises, tried as an attacker would: through the API and, where a
//! page offers the same thing, through the page.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::support::{Client, MINUTE, PASSWORD, TestApp};

async fn session_id(c: &Client) -> String {
    c.me().await.json()["session"]["id"]
        .as_str()
        .expect("session id")
        .to_string()
}

/// A sub-administrator holding only `team.admins` may end a stronger sub-administrator's
/// sessions, but not become them: no password, e-mail, permissions or disabling.
async fn nobody_gains_more_than_they_hold(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sue = app
        .add_admin(
            "Sue Strong",
            "sue@acme.test",
            &["team.agents", "team.admins", "security", "audit"],
        )
        .await;
    let peer = app
        .add_admin("Pia Peer", "pia@acme.test", &["team.admins"])
        .await;
    app.add_admin("Wes Weak", "wes@acme.test", &["team.admins"])
        .await;
    let wes = app.signed_in("wes@acme.test", PASSWORD).await;
    let sue_path = format!("/api/v1/admins/{}", sue.id);
    for body in [
        json!({"password": "taken over at last"}),
        json!({"email": "wes+sue@acme.test"}),
        json!({"permissions": ["team.admins"]}),
        json!({"disabled": true}),
    ] {
        wes.patch_json(&sue_path, &body)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    // Through the pages too.
    let page = format!("/team/admins/{}", sue.id);
    let res = wes
        .post_form(
            &page,
            &[
                ("name", "Sue Strong"),
                ("email", "sue@acme.test"),
                ("password", "taken over at last"),
            ],
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
    let res = wes
        .post_form(&format!("{page}/disabled"), &[("disabled", "true")])
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
    let stored = app.stored_member(&sue.id).await;
    assert_eq!(stored.email, "sue@acme.test");
    assert!(!stored.disabled);
    assert_eq!(stored.permissions.names().len(), 4);
    app.signed_in("sue@acme.test", PASSWORD).await;

    // Ending her sessions stays allowed with team.admins, as the announcement says.
    let v = wes
        .delete(&format!("{sue_path}/sessions"))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["ended"], 1);
    // A name is no power: it may be changed.
    wes.patch_json(&sue_path, &json!({"name": "Sue S."}))
        .await
        .expect_status(StatusCode::OK);
    // Someone holding no more than Wes is his to administer.
    wes.patch_json(
        &format!("/api/v1/admins/{}", peer.id),
        &json!({"password": "a fresh peer secret"}),
    )
    .await
    .expect_status(StatusCode::OK);
    // The primary administrator may do anything.
    app.primary_client()
        .await
        .patch_json(&sue_path, &json!({"password": "reset by the owner"}))
        .await
        .expect_status(StatusCode::OK);
}

/// Changing one's own password or e-mail asks for the current password on every route, and
/// wrong ones count like failed sign-ins.
async fn own_credentials_need_the_current_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sam = app
        .add_admin("Sam", "sam@acme.test", &["team.admins"])
        .await;
    let c = app.signed_in("sam@acme.test", PASSWORD).await;
    let other = app.signed_in("sam@acme.test", PASSWORD).await;
    let me = format!("/api/v1/admins/{}", sam.id);
    let m = c
        .patch_json(&me, &json!({"email": "sam2@acme.test"}))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(m.contains("current_password"), "{m}");
    let m = c
        .patch_json(
            &me,
            &json!({"password": "new secret words", "current_password": "not my password"}),
        )
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(m.contains("current_password"), "{m}");
    // The page asks the same.
    let res = c
        .post_form(
            &format!("/team/admins/{}", sam.id),
            &[("name", "Sam"), ("email", "sam3@acme.test")],
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text.contains("current_password"), "{}", res.text);
    assert_eq!(app.stored_member(&sam.id).await.email, "sam@acme.test");

    // The right one works; a new password ends the other sessions, not this one.
    c.patch_json(
        &me,
        &json!({"password": "new secret words", "current_password": PASSWORD}),
    )
    .await
    .expect_status(StatusCode::OK);
    c.me().await.expect_status(StatusCode::OK);
    let res = other.me().await;
    res.expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let live = app
        .store
        .active_sessions(&app.account.id, std::slice::from_ref(&sam.id), 0)
        .await
        .unwrap();
    assert_eq!(live.len(), 1, "only the current session stays");

    // Wrong current passwords are throttled like sign-ins: a few free, then 429.
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let res = c
            .patch_json(
                &me,
                &json!({"email": "sam4@acme.test", "current_password": "still not it"}),
            )
            .await;
        statuses.push(res.status.as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // They count for sign-in too: a browser without Sam's known-device pass must wait.
    app.client()
        .login("sam@acme.test", "new secret words")
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // They are the same failures sign-in counts for that e-mail.
    let key = deskward::service::token_hash(&format!("account:{}:sam@acme.test", app.account.id));
    let window = app.store.signin_failures(&key, 0).await.unwrap();
    assert_eq!(window.count, 5, "{window:?}");
}

/// A password change ends the person's other sessions unless they ask otherwise.
async fn a_password_change_ends_other_sessions_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let laptop = app.signed_in("ann@acme.test", PASSWORD).await;
    let phone = app.signed_in("ann@acme.test", PASSWORD).await;
    let phone_sid = session_id(&phone).await;
    let v = laptop
        .put_json(
            "/api/v1/me/password",
            &json!({"current_password": PASSWORD, "new_password": "a fresher secret"}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["ended"], 1);
    laptop.me().await.expect_status(StatusCode::OK);
    phone
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let s = app.stored_session(&phone_sid).await;
    assert_eq!(s.end_reason.map(|r| r.as_str()), Some("password_changed"));

    // Keeping the others is a choice one makes explicitly.
    let tablet = app.signed_in("ann@acme.test", "a fresher secret").await;
    let v = laptop
        .put_json(
            "/api/v1/me/password",
            &json!({"current_password": "a fresher secret", "new_password": "the freshest one",
                    "end_other_sessions": false}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["ended"], 0);
    tablet.me().await.expect_status(StatusCode::OK);
}

/// Sub-administrators are offered nothing that ends the primary administrator's session: no
/// confirmation page, no link; and the server refuses it anyway.
async fn the_primarys_session_is_not_offered_to_sub_admins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_admin(
        "Sue",
        "sue@acme.test",
        &["team.agents", "team.admins", "security", "audit"],
    )
    .await;
    let owner = app.primary_client().await;
    let sid = session_id(&owner).await;
    let sue = app.signed_in("sue@acme.test", PASSWORD).await;
    let res = sue.get(&format!("/sessions/{sid}/end")).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
    assert!(
        !res.text
            .contains("<form method=\"post\" action=\"/sessions/")
    );
    let res = sue
        .get(&format!("/team/admins/{}/end-sessions", app.primary.id))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let list = sue.get("/team/admins").await.text;
    assert!(!list.contains(&format!("/team/admins/{}/end-sessions", app.primary.id)));
    assert!(!list.contains(&format!("/sessions/{sid}/end")));
    let profile = sue
        .get(&format!("/team/admins/{}", app.primary.id))
        .await
        .text;
    assert!(!profile.contains(&format!("/sessions/{sid}/end")));
    assert!(!profile.contains("end-sessions"));
    owner.me().await.expect_status(StatusCode::OK);
    // The primary administrator is offered it.
    let res = owner.get(&format!("/sessions/{sid}/end")).await;
    assert_eq!(res.status, StatusCode::OK);
}

/// Nothing a sub-administrator with `security` sets ends or shortens an administrator's
/// session; the Security page says so.
async fn security_settings_never_touch_administrators(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_admin("Sid", "sid@acme.test", &["security"]).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let owner = app.primary_client().await;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    app.advance(30 * MINUTE);
    let sid = app.signed_in("sid@acme.test", PASSWORD).await;
    sid.put_json(
        "/api/v1/settings/security",
        &json!({"max_session_lifetime_minutes": 10, "agent_idle_timeout_minutes": 5}),
    )
    .await
    .expect_status(StatusCode::OK);
    app.sweep().await;
    owner.me().await.expect_status(StatusCode::OK);
    sid.me().await.expect_status(StatusCode::OK);
    ann.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let page = sid.get("/security").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text
            .contains("the sessions per person apply to agents only"),
        "{}",
        page.text
    );
}

/// Without `team.admins`, a viewer learns that an agent has a linked administrator account,
/// but not whose: not in the API, not on the page.
async fn linked_administrators_stay_anonymous(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tara = app.add_agent("Tara Agent", "tara@acme.test").await;
    let linked = app
        .add_admin("Tara Boss", "TARA@acme.test", &["audit"])
        .await;
    app.add_admin("Sam", "sam@acme.test", &["team.agents"])
        .await;
    let sam = app.signed_in("sam@acme.test", PASSWORD).await;
    let list = sam.get("/api/v1/agents").await.json();
    let item = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == tara.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        item["linked"],
        json!({"kind": "admin", "id": null, "name": null})
    );
    let page = sam.get("/team/agents").await.text;
    // The chain icon is not a link for Sam, and its tooltip says why.
    assert!(
        page.contains(
            "Linked account: an administrator account with the same e-mail. Opening it \
             needs the Team → Administrators permission."
        ),
        "{page}"
    );
    assert!(!page.contains("Tara Boss"), "the name leaks");
    assert!(!page.contains(&linked.id), "the id leaks");
    let profile = sam.get(&format!("/team/agents/{}", tara.id)).await.text;
    assert!(!profile.contains("Tara Boss") && !profile.contains(&linked.id));
    assert!(
        profile.contains(
            "Linked account: an administrator account. Opening it needs the Team → \
             Administrators permission."
        ),
        "{profile}"
    );
    // With team.admins they see who it is.
    let owner = app.primary_client().await;
    let v: Value = owner
        .get(&format!("/api/v1/agents/{}", tara.id))
        .await
        .json();
    assert_eq!(v["linked"]["id"], linked.id.as_str());
    assert_eq!(v["linked"]["name"], "Tara Boss");
}

backend_tests!(
    nobody_gains_more_than_they_hold,
    own_credentials_need_the_current_password,
    a_password_change_ends_other_sessions_by_default,
    the_primarys_session_is_not_offered_to_sub_admins,
    security_settings_never_touch_administrators,
    linked_administrators_stay_anonymous,
);
