//! Who may become whom: nobody puts a credential on an address that
//! belongs to an administrator they may not administer; a device pass lifts the sign-in limit
//! of the one person it was issued to; the ranges the administrators' network policy enforces
//! are the primary's; an administrator's own second factor goes only with the password; and
//! webhooks carry only what their creator may see. Every test runs on SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::mfa::enroll;
use crate::support::*;

backend_tests!(
    nobody_puts_a_credential_on_an_administrator_they_may_not_administer,
    a_device_pass_lifts_the_limit_of_its_own_person_only,
    the_ranges_of_the_administrators_policy_are_the_primarys,
    nobody_resets_their_own_second_factor_without_the_password,
    an_endpoint_carries_only_what_its_creator_may_see,
    endpoints_made_before_creators_were_recorded_are_attributed,
);

const TAKEOVER: &str = "a takeover password";

async fn hash_of(app: &TestApp, id: &str) -> String {
    app.store.password_hash(&app.account.id, id).await.unwrap()
}

/// The e-mails of the agents, as stored.
async fn agent_emails(c: &Client) -> Vec<String> {
    c.get("/api/v1/agents?per_page=200")
        .await
        .expect_status(StatusCode::OK)
        .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_string())
        .collect()
}

async fn nobody_puts_a_credential_on_an_administrator_they_may_not_administer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tom = app.add_agent("Tom", "tom@acme.test").await;
    let sam = app
        .add_admin("Sam", "sam@acme.test", &["team.agents"])
        .await;
    app.add_admin("Aga", "aga@acme.test", &["team.agents"])
        .await;
    app.add_admin(
        "Alla",
        "alla@acme.test",
        &["team.agents", "team.admins", "security", "audit"],
    )
    .await;
    let aga = app.signed_in("aga@acme.test", PASSWORD).await;
    let alla = app.signed_in("alla@acme.test", PASSWORD).await;
    let primary = app.primary_client().await;
    // Any case, any spaces around it: the same address.
    let owner = format!("  {}  ", PRIMARY_EMAIL.to_uppercase());
    let before = agent_emails(&primary).await;

    // (a) An agent created on the primary's address.
    aga.post_json(
        "/api/v1/agents",
        &json!({"name": "Mallory", "email": owner, "password": TAKEOVER}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // (b) One of their agents moved onto it.
    aga.patch_json(
        &format!("/api/v1/agents/{}", tom.id),
        &json!({"email": owner}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        agent_emails(&primary).await,
        before,
        "nobody was added or moved"
    );
    assert_eq!(app.stored_member(&tom.id).await.email, "tom@acme.test");
    // Neither through the page's form.
    let page = aga
        .post_form(
            "/team/agents",
            &[
                ("name", "Mallory"),
                ("email", owner.as_str()),
                ("password", TAKEOVER),
            ],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::FORBIDDEN,
        "the page refuses too: {}",
        page.text
    );
    assert_eq!(agent_emails(&primary).await, before);

    // The primary may give themselves an agent twin.
    let twin = primary
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Pat at the desk", "email": owner, "password": PASSWORD}),
        )
        .await
        .expect_status(StatusCode::CREATED)
        .json();
    let twin_id = twin["id"].as_str().unwrap().to_string();
    let twin_hash = hash_of(&app, &twin_id).await;

    // (c) The twin's password set by a sub-administrator: refused, unchanged.
    let twin_path = format!("/api/v1/agents/{twin_id}");
    aga.patch_json(&twin_path, &json!({"password": TAKEOVER}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(hash_of(&app, &twin_id).await, twin_hash);
    app.client()
        .login_as(PRIMARY_EMAIL, TAKEOVER, "agent")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // Nor its second factor reset (a way in as the twin, like its password).
    let twin_c = app.client();
    twin_c
        .login_as(PRIMARY_EMAIL, PASSWORD, "agent")
        .await
        .expect_status(StatusCode::OK);
    enroll(&app, &twin_c, PASSWORD).await;
    aga.delete(&format!("{twin_path}/mfa"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(twin_c.me().await.json()["mfa"]["totp"], json!(true));
    // Its name is no credential: still the agents' administrators' to edit.
    aga.patch_json(&twin_path, &json!({"name": "Pat (desk)"}))
        .await
        .expect_status(StatusCode::OK);

    // The primary sets it.
    primary
        .patch_json(&twin_path, &json!({"password": "the primary's choice"}))
        .await
        .expect_status(StatusCode::OK);
    app.client()
        .login_as(PRIMARY_EMAIL, "the primary's choice", "agent")
        .await
        .expect_status(StatusCode::OK);

    // A sub-administrator's address: refused to whoever may not administer them, allowed to
    // whoever may (all of Sam's permissions, and the Administrators section).
    let sams = json!({"name": "Sam's twin", "email": "SAM@acme.test", "password": PASSWORD});
    aga.post_json("/api/v1/agents", &sams)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    alla.post_json("/api/v1/agents", &sams)
        .await
        .expect_status(StatusCode::CREATED);
    assert_eq!(
        app.stored_member(&sam.id)
            .await
            .linked
            .map(|l| l.kind.to_string()),
        Some("agent".to_string())
    );
    // One's own address is one's own.
    aga.post_json(
        "/api/v1/agents",
        &json!({"name": "Aga at the desk", "email": "aga@acme.test", "password": PASSWORD}),
    )
    .await
    .expect_status(StatusCode::CREATED);
    // Moving an agent elsewhere stays possible.
    aga.patch_json(
        &format!("/api/v1/agents/{}", tom.id),
        &json!({"email": "tom2@acme.test"}),
    )
    .await
    .expect_status(StatusCode::OK);
}

/// A device pass earned as the primary's agent twin is no pass for the primary: wrong guesses
/// at the administrator from that browser meet the limit like anyone's, and the twin's own
/// sign-ins forgive none of them.
async fn a_device_pass_lifts_the_limit_of_its_own_person_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Pat at the desk", PRIMARY_EMAIL).await;
    let twin = app.client();
    twin.login_as(PRIMARY_EMAIL, PASSWORD, "agent")
        .await
        .expect_status(StatusCode::OK);
    assert!(
        twin.cookie("deskward_device").is_some(),
        "a pass was earned"
    );

    let mut answers = Vec::new();
    for _ in 0..12 {
        answers.push(
            twin.login_as(PRIMARY_EMAIL, "a guess at the owner", "admin")
                .await
                .status
                .as_u16(),
        );
    }
    // Five failures are free; the sixth must wait, as for anyone.
    assert_eq!(&answers[..5], &[401; 5], "{answers:?}");
    assert!(answers[5..].iter().all(|s| *s == 429), "{answers:?}");
    // Without "as" either, and not even the right password opens the administrator from here
    // while the limit holds.
    twin.login(PRIMARY_EMAIL, "another guess")
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    twin.login_as(PRIMARY_EMAIL, PRIMARY_PASSWORD, "admin")
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    app.client()
        .login_as(PRIMARY_EMAIL, PRIMARY_PASSWORD, "admin")
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // The pass still does what it is for: its own person signs in through the flood...
    twin.login(PRIMARY_EMAIL, PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let me = twin.me().await.json();
    assert_eq!(me["user"]["kind"], "agent");
    // ...and that sign-in wiped no guess at the administrator.
    app.client()
        .login_as(PRIMARY_EMAIL, "one more guess", "admin")
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

async fn put(c: &Client, body: serde_json::Value) -> Response {
    c.put_json("/api/v1/settings/security", &body).await
}

async fn ranges(c: &Client) -> serde_json::Value {
    c.get("/api/v1/settings/security")
        .await
        .expect_status(StatusCode::OK)
        .json()["office_networks"]
        .clone()
}

/// While the administrators' office-network policy is on, the ranges decide who of the
/// administrators may stay signed in: a `security`-only sub-administrator may not change them.
async fn the_ranges_of_the_administrators_policy_are_the_primarys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_admin("Sue", "sue@acme.test", &["security"]).await;
    let sue = app.signed_in("sue@acme.test", PASSWORD).await;
    let primary = app.primary_client().await;
    put(
        &primary,
        json!({"office_networks": ["127.0.0.0/8"],
               "office_network_policy": {"agents": "off", "admins": "flag"}}),
    )
    .await
    .expect_status(StatusCode::OK);
    let before = ranges(&primary).await;
    for other in [json!(["0.0.0.0/0"]), json!(["10.0.0.0/8"]), json!([])] {
        for confirm in [false, true] {
            put(&sue, json!({"office_networks": other, "confirm": confirm}))
                .await
                .expect_error(StatusCode::FORBIDDEN, "forbidden");
        }
    }
    assert_eq!(ranges(&primary).await, before, "the ranges are unchanged");
    // A new name changes nobody's access.
    put(
        &sue,
        json!({"office_networks": [{"cidr": "127.0.0.0/8", "name": "Loopback office"}]}),
    )
    .await
    .expect_status(StatusCode::OK);
    // Her other settings stay hers.
    put(&sue, json!({"agent_idle_timeout_minutes": 600}))
        .await
        .expect_status(StatusCode::OK);
    // The primary changes them.
    put(
        &primary,
        json!({"office_networks": ["127.0.0.0/8", "10.0.0.0/8"]}),
    )
    .await
    .expect_status(StatusCode::OK);
    // With the administrators' policy off they are the Security section's again.
    put(
        &primary,
        json!({"office_network_policy": {"admins": "off"}}),
    )
    .await
    .expect_status(StatusCode::OK);
    let saved = put(&sue, json!({"office_networks": ["192.0.2.0/24"]}))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(saved["office_networks"][0]["cidr"], "192.0.2.0/24");
}

/// The administrators' reset of a second factor asks for no password: on one's own id it is
/// refused and points to the route that asks for it.
async fn nobody_resets_their_own_second_factor_without_the_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let primary = app.primary_client().await;
    enroll(&app, &primary, PRIMARY_PASSWORD).await;
    let own = format!("/api/v1/admins/{}/mfa", app.primary.id);
    let msg = primary
        .delete(&own)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(msg.contains("/api/v1/me/mfa/totp"), "{msg}");
    assert_eq!(primary.me().await.json()["mfa"]["totp"], json!(true));
    // Nor through the profile page's form.
    primary
        .post_form(&format!("/team/admins/{}/mfa/reset", app.primary.id), &[])
        .await;
    assert_eq!(primary.me().await.json()["mfa"]["totp"], json!(true));
    // A sub-administrator on their own card: the same.
    let sub = app
        .add_admin("Ada", "ada@acme.test", &["team.admins"])
        .await;
    let ada = app.signed_in("ada@acme.test", PASSWORD).await;
    enroll(&app, &ada, PASSWORD).await;
    ada.delete(&format!("/api/v1/admins/{}/mfa", sub.id))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(ada.me().await.json()["mfa"]["totp"], json!(true));
    // The own route, with the password, removes it.
    let res = primary
        .send(
            primary
                .request(reqwest::Method::DELETE, "/api/v1/me/mfa/totp")
                .json(&json!({"password": PRIMARY_PASSWORD})),
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    assert_eq!(primary.me().await.json()["mfa"]["totp"], json!(false));
    // Someone else's stays the administrators' to reset.
    primary
        .delete(&format!("/api/v1/admins/{}/mfa", sub.id))
        .await
        .expect_status(StatusCode::NO_CONTENT);
}

/// Who each of an endpoint's deliveries is about, as (event type, person id).
async fn delivered(app: &TestApp, endpoint: &str) -> Vec<(String, String)> {
    app.store
        .webhook_deliveries(&app.account.id, endpoint, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.event_type, d.member_id))
        .collect()
}

async fn endpoint_of(c: &Client) -> String {
    c.post_json(
        "/api/v1/webhooks",
        &json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
    )
    .await
    .expect_status(StatusCode::CREATED)
    .json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Webhooks are under the `security` permission, but an endpoint is no way around the Team
/// permissions: it carries events only about the people its creator may see (the sections
/// they may view, and themselves); the primary administrator's carry everyone's.
async fn an_endpoint_carries_only_what_its_creator_may_see(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.webhooks.allow_private = true).await;
    let sue = app.add_admin("Sue", "sue@acme.test", &["security"]).await;
    app.add_admin("Sam", "sam@acme.test", &["security", "team.agents"])
        .await;
    let ann = app.add_agent("Ann", "ann@acme.test").await;
    let sue_c = app.signed_in("sue@acme.test", PASSWORD).await;
    let sam_c = app.signed_in("sam@acme.test", PASSWORD).await;
    let primary = app.primary_client().await;
    let (of_sue, of_sam, of_primary) = (
        endpoint_of(&sue_c).await,
        endpoint_of(&sam_c).await,
        endpoint_of(&primary).await,
    );

    // The primary signs in and out, Ann signs in, Sue signs in.
    let p2 = app.primary_client().await;
    p2.logout().await;
    app.signed_in("ann@acme.test", PASSWORD).await;
    app.signed_in("sue@acme.test", PASSWORD).await;

    let about = |log: &[(String, String)], id: &str| log.iter().filter(|(_, m)| m == id).count();
    let pid = app.primary.id.clone();
    let sues = delivered(&app, &of_sue).await;
    assert_eq!(
        about(&sues, &pid),
        0,
        "security only: not the primary's sessions: {sues:?}"
    );
    assert_eq!(about(&sues, &ann.id), 0, "nor the agents': {sues:?}");
    assert!(about(&sues, &sue.id) > 0, "their own: {sues:?}");
    let sams = delivered(&app, &of_sam).await;
    assert_eq!(about(&sams, &pid), 0, "agents' section only: {sams:?}");
    assert!(about(&sams, &ann.id) > 0, "{sams:?}");
    let all = delivered(&app, &of_primary).await;
    assert!(about(&all, &pid) >= 2, "started and ended: {all:?}");
    assert!(
        about(&all, &ann.id) > 0 && about(&all, &sue.id) > 0,
        "{all:?}"
    );

    // What the creator may see is read at each event: Sam given the administrators' section
    // hears about administrators from then on.
    primary
        .patch_json(
            &format!(
                "/api/v1/admins/{}",
                sam_c.me().await.json()["user"]["id"].as_str().unwrap()
            ),
            &json!({"permissions": ["security", "team.agents", "team.admins"]}),
        )
        .await
        .expect_status(StatusCode::OK);
    app.primary_client().await;
    let sams = delivered(&app, &of_sam).await;
    assert!(about(&sams, &pid) > 0, "{sams:?}");
}

/// Runs statements on the test's database directly.
async fn execute(app: &TestApp, backend: Backend, sql: &str) {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(app.database_url())
                .await
                .unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(app.database_url())
                .await
                .unwrap();
            sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        }
    }
}

/// The upgrade attributes an endpoint to the actor of its `webhook.created` audit entry; one
/// whose entry is gone keeps every event, as before.
async fn endpoints_made_before_creators_were_recorded_are_attributed(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.webhooks.allow_private = true).await;
    let sue = app.add_admin("Sue", "sue@acme.test", &["security"]).await;
    let sue_c = app.signed_in("sue@acme.test", PASSWORD).await;
    let hers = endpoint_of(&sue_c).await;
    let unknown = endpoint_of(&sue_c).await;
    // As a database from before the change: no creators, and one entry aged out.
    execute(
        &app,
        backend,
        &format!(
            "UPDATE webhook_endpoints SET created_by = NULL; \
             DELETE FROM audit_log WHERE kind = 'webhook.created' AND detail LIKE 'webhook {unknown} %'"
        ),
    )
    .await;
    let dir = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let migration = std::fs::read_to_string(format!(
        "{}/migrations/{dir}/20261207000001_webhook_creator.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let backfill = &migration[migration.find("UPDATE webhook_endpoints").unwrap()..];
    execute(&app, backend, backfill).await;
    let creator = |id: String| {
        let app = &app;
        async move {
            app.store
                .webhook(&app.account.id, &id)
                .await
                .unwrap()
                .created_by
        }
    };
    assert_eq!(creator(hers).await, Some(sue.id.clone()));
    assert_eq!(creator(unknown.clone()).await, None);
    // That one keeps every event: the primary's sign-in reaches it.
    app.primary_client().await;
    let log = delivered(&app, &unknown).await;
    assert!(log.iter().any(|(_, m)| *m == app.primary.id), "{log:?}");
}
