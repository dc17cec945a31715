//! The Team API, permissions: the matrix of every Team endpoint by role, the primary
//! administrator out of every sub-administrator's reach, granting only what one holds, and
//! changes applied on the very next request. Every test runs on SQLite and PostgreSQL.

use deskward::domain::session::EndReason;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::api_team::session_id;
use crate::db::Backend;
use crate::support::*;

const ALL_PERMISSIONS: [&str; 4] = ["team.agents", "team.admins", "security", "audit"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Anonymous,
    Agent,
    SubNone,
    SubAgents,
    SubAdmins,
    SubAll,
    Primary,
}

const ROLES: [Role; 7] = [
    Role::Anonymous,
    Role::Agent,
    Role::SubNone,
    Role::SubAgents,
    Role::SubAdmins,
    Role::SubAll,
    Role::Primary,
];

/// Whose fresh session a matrix row acts on (created just before each request, so every
/// role meets a live one; `{session}` in the path names it).
#[derive(Clone, Copy, Debug)]
enum Fresh {
    No,
    TargetAgent,
    TargetSub,
    Primary,
}

struct Case {
    method: Method,
    /// `{agent}`, `{sub}`, `{primary}`: the target agent, target sub-administrator and
    /// primary administrator; `{session}`: the fresh session; `{n}`: a unique number.
    path: &'static str,
    body: Option<&'static str>,
    fresh: Fresh,
    /// Expected status per role, in the order of [`ROLES`].
    expect: [u16; 7],
}

fn case(
    method: Method,
    path: &'static str,
    body: Option<&'static str>,
    fresh: Fresh,
    expect: [u16; 7],
) -> Case {
    Case {
        method,
        path,
        body,
        fresh,
        expect,
    }
}

backend_tests!(
    permission_matrix,
    no_sub_admin_can_touch_the_primary_administrator,
    sub_admins_grant_only_permissions_they_hold,
    permission_changes_apply_on_the_very_next_request,
);

async fn permission_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let target_agent = app.add_agent("Tom Target", "tom@acme.test").await;
    let target_sub = app.add_admin("Tess Target", "tess@acme.test", &[]).await;
    app.add_agent("Alex Agent", "alex@acme.test").await;
    app.add_admin("Nina None", "nina@acme.test", &[]).await;
    app.add_admin("Aga Agents", "aga@acme.test", &["team.agents"])
        .await;
    app.add_admin("Adam Admins", "adam@acme.test", &["team.admins"])
        .await;
    app.add_admin("Alla All", "alla@acme.test", &ALL_PERMISSIONS)
        .await;
    let anonymous = app.client();
    let clients = [
        anonymous,
        app.signed_in("alex@acme.test", PASSWORD).await,
        app.signed_in("nina@acme.test", PASSWORD).await,
        app.signed_in("aga@acme.test", PASSWORD).await,
        app.signed_in("adam@acme.test", PASSWORD).await,
        app.signed_in("alla@acme.test", PASSWORD).await,
        app.primary_client().await,
    ];
    let mut actor_ids = vec![String::new()];
    for c in &clients[1..] {
        actor_ids.push(
            c.me().await.json()["user"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let primary_sid = session_id(&clients[6]).await;

    use Fresh::*;
    let get = Method::GET;
    let post = Method::POST;
    let patch = Method::PATCH;
    let del = Method::DELETE;
    //                         anon agent none  t.ag  t.ad  all   primary
    const AGENTS: [u16; 7] = [401, 403, 403, 200, 403, 200, 200];
    const AGENTS_201: [u16; 7] = [401, 403, 403, 201, 403, 201, 201];
    const ADMINS: [u16; 7] = [401, 403, 403, 403, 200, 200, 200];
    const ADMINS_201: [u16; 7] = [401, 403, 403, 403, 201, 201, 201];
    const PRIMARY_ONLY: [u16; 7] = [401, 403, 403, 403, 403, 403, 200];
    // A session id names its owner only to those who may see the owner's section: for
    // everyone else it is not found, like another account's.
    const AGENT_SESSION: [u16; 7] = [401, 404, 404, 204, 404, 204, 204];
    const SUB_SESSION: [u16; 7] = [401, 404, 404, 404, 204, 204, 204];
    const PRIMARY_SESSION: [u16; 7] = [401, 404, 404, 404, 403, 403, 204];
    let new_agent =
        r#"{"name": "New {n}", "email": "new{n}@acme.test", "password": "correct horse battery"}"#;
    let new_admin = r#"{"name": "Adm {n}", "email": "adm{n}@acme.test", "password": "correct horse battery", "permissions": []}"#;
    let cases = vec![
        case(get.clone(), "/api/v1/agents", None, No, AGENTS),
        case(
            get.clone(),
            "/api/v1/agents?session=active&q=tom",
            None,
            No,
            AGENTS,
        ),
        case(
            post.clone(),
            "/api/v1/agents",
            Some(new_agent),
            No,
            AGENTS_201,
        ),
        case(get.clone(), "/api/v1/agents/{agent}", None, No, AGENTS),
        case(
            patch.clone(),
            "/api/v1/agents/{agent}",
            Some(r#"{"name": "Tom Target"}"#),
            No,
            AGENTS,
        ),
        case(
            del.clone(),
            "/api/v1/agents/{agent}/sessions",
            None,
            TargetAgent,
            AGENTS,
        ),
        case(
            post.clone(),
            "/api/v1/agents/sessions/end",
            Some(r#"{"ids": ["{agent}"]}"#),
            TargetAgent,
            AGENTS,
        ),
        case(
            del.clone(),
            "/api/v1/sessions/{session}",
            None,
            TargetAgent,
            AGENT_SESSION,
        ),
        case(get.clone(), "/api/v1/admins", None, No, ADMINS),
        case(get.clone(), "/api/v1/admins?session=none", None, No, ADMINS),
        case(
            post.clone(),
            "/api/v1/admins",
            Some(new_admin),
            No,
            ADMINS_201,
        ),
        case(get.clone(), "/api/v1/admins/{sub}", None, No, ADMINS),
        case(
            patch.clone(),
            "/api/v1/admins/{sub}",
            Some(r#"{"name": "Tess Target"}"#),
            No,
            ADMINS,
        ),
        case(
            del.clone(),
            "/api/v1/admins/{sub}/sessions",
            None,
            TargetSub,
            ADMINS,
        ),
        case(
            del.clone(),
            "/api/v1/sessions/{session}",
            None,
            TargetSub,
            SUB_SESSION,
        ),
        // The primary administrator: visible to whoever sees administrators, but only they
        // may act on themselves.
        case(get.clone(), "/api/v1/admins/{primary}", None, No, ADMINS),
        case(
            patch.clone(),
            "/api/v1/admins/{primary}",
            Some(r#"{"name": "Pat Primary"}"#),
            No,
            PRIMARY_ONLY,
        ),
        case(
            patch.clone(),
            "/api/v1/admins/{primary}",
            Some(r#"{"disabled": true}"#),
            No,
            [401, 403, 403, 403, 403, 403, 422],
        ),
        case(
            patch.clone(),
            "/api/v1/admins/{primary}",
            Some(r#"{"email": "owner@acme.test"}"#),
            No,
            PRIMARY_ONLY,
        ),
        case(
            del.clone(),
            "/api/v1/sessions/{session}",
            None,
            Primary,
            PRIMARY_SESSION,
        ),
        // Last: for the primary it also ends the session this matrix signs in with.
        case(
            del.clone(),
            "/api/v1/admins/{primary}/sessions",
            None,
            Primary,
            PRIMARY_ONLY,
        ),
    ];

    let mut failures = Vec::new();
    let mut n = 0;
    for (ci, c) in cases.iter().enumerate() {
        for (ri, role) in ROLES.iter().enumerate() {
            n += 1;
            let fresh = match c.fresh {
                No => None,
                TargetAgent => Some(app.start_session("tom@acme.test", PASSWORD).await.0),
                TargetSub => Some(app.start_session("tess@acme.test", PASSWORD).await.0),
                Primary => Some(app.start_session(PRIMARY_EMAIL, PRIMARY_PASSWORD).await.0),
            };
            let fill = |s: &str| {
                s.replace("{agent}", &target_agent.id)
                    .replace("{sub}", &target_sub.id)
                    .replace("{primary}", &app.primary.id)
                    .replace("{session}", fresh.as_deref().unwrap_or("-"))
                    .replace("{n}", &n.to_string())
            };
            let client = &clients[ri];
            let mut rb = client.request(c.method.clone(), &fill(c.path));
            if let Some(body) = c.body {
                rb = rb
                    .header("content-type", "application/json")
                    .body(fill(body));
            }
            let res = client.send(rb).await;
            let want = c.expect[ri];
            let label = format!("#{ci} {} {} as {role:?}", c.method, c.path);
            if res.status.as_u16() != want {
                failures.push(format!(
                    "{label}: got {} want {want}: {}",
                    res.status, res.text
                ));
                continue;
            }
            let code = match want {
                401 => Some("unauthenticated"),
                403 => Some("forbidden"),
                404 => Some("not_found"),
                422 => Some("invalid_input"),
                _ => None,
            };
            if let Some(code) = code
                && res.json()["error"]["code"] != code
            {
                failures.push(format!(
                    "{label}: error code should be {code}: {}",
                    res.text
                ));
            }
            // A refused request changed nothing; an allowed one ended the session it named.
            if let Some(sid) = &fresh {
                let s = app.stored_session(sid).await;
                let allowed = res.status.is_success();
                if allowed != s.ended_at.is_some() {
                    failures.push(format!("{label}: fresh session ended={:?}", s.end_reason));
                }
                if allowed && s.ended_by.as_deref() != Some(actor_ids[ri].as_str()) {
                    failures.push(format!("{label}: ended_by {:?}", s.ended_by));
                }
            }
            if matches!(c.fresh, Primary) && *role != Role::Primary {
                let s = app.stored_session(&primary_sid).await;
                if s.ended_at.is_some() {
                    failures.push(format!("{label}: the primary's own session was ended"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing refused slipped through: the primary and the target are as they were.
    let primary = app.stored_member(&app.primary.id).await;
    assert_eq!(
        (primary.name.as_str(), primary.disabled),
        (PRIMARY_NAME, false)
    );
    app.signed_in(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    assert_eq!(
        app.stored_session(&primary_sid).await.end_reason,
        Some(EndReason::EndedByAdmin)
    );
}

async fn no_sub_admin_can_touch_the_primary_administrator(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_admin("Alla All", "alla@acme.test", &ALL_PERMISSIONS)
        .await;
    let all = app.signed_in("alla@acme.test", PASSWORD).await;
    let p = app.primary_client().await;
    let psid = session_id(&p).await;
    let pid = &app.primary.id;

    let card = all
        .get(&format!("/api/v1/admins/{pid}"))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(card["primary"], true);
    assert_eq!(card["session_active"], true, "sees the session");
    all.delete(&format!("/api/v1/sessions/{psid}"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    all.delete(&format!("/api/v1/admins/{pid}/sessions"))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    for body in [
        json!({"disabled": true}),
        json!({"password": "a takeover password"}),
        json!({"email": "alla2@acme.test"}),
        json!({"name": "Demoted"}),
        json!({"permissions": []}),
    ] {
        all.patch_json(&format!("/api/v1/admins/{pid}"), &body)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    // Not through bulk either: the primary is no agent.
    let res = all
        .post_json("/api/v1/agents/sessions/end", &json!({"ids": [pid]}))
        .await;
    res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");

    p.me().await.expect_status(StatusCode::OK);
    assert_eq!(app.stored_session(&psid).await.ended_at, None);
    app.signed_in(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let primary = app.stored_member(pid).await;
    assert_eq!(
        (primary.name.as_str(), primary.email.as_str()),
        (PRIMARY_NAME, PRIMARY_EMAIL)
    );
}

async fn sub_admins_grant_only_permissions_they_hold(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let me = app
        .add_admin("Adam Admins", "adam@acme.test", &["team.admins"])
        .await;
    let other = app.add_admin("Otto Other", "otto@acme.test", &[]).await;
    let adam = app.signed_in("adam@acme.test", PASSWORD).await;

    for perms in [
        json!(["security"]),
        json!(["team.admins", "team.agents"]),
        json!(ALL_PERMISSIONS),
    ] {
        let body = json!({"name": "Eve", "email": "eve@acme.test", "password": PASSWORD, "permissions": perms});
        adam.post_json("/api/v1/admins", &body)
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
        adam.patch_json(
            &format!("/api/v1/admins/{}", other.id),
            &json!({"permissions": perms}),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
        adam.patch_json(
            &format!("/api/v1/admins/{}", me.id),
            &json!({"permissions": perms}),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(
        adam.get("/api/v1/admins").await.json()["total"],
        3,
        "nobody was added"
    );
    assert_eq!(
        app.stored_member(&other.id).await.permissions.names(),
        Vec::<&str>::new()
    );
    assert_eq!(
        app.stored_member(&me.id).await.permissions.names(),
        ["team.admins"]
    );

    // What they hold, they may grant.
    let body = json!({"name": "Eve", "email": "eve@acme.test", "password": PASSWORD, "permissions": ["team.admins"]});
    let v = adam
        .post_json("/api/v1/admins", &body)
        .await
        .expect_status(StatusCode::CREATED)
        .json();
    assert_eq!(v["permissions"], json!(["team.admins"]));
    let v = adam
        .patch_json(
            &format!("/api/v1/admins/{}", other.id),
            &json!({"permissions": ["team.admins"]}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["permissions"], json!(["team.admins"]));

    // A sub-administrator with every permission may grant every permission.
    app.add_admin("Alla All", "alla@acme.test", &ALL_PERMISSIONS)
        .await;
    let alla = app.signed_in("alla@acme.test", PASSWORD).await;
    let body = json!({"name": "Ful", "email": "ful@acme.test", "password": PASSWORD, "permissions": ALL_PERMISSIONS});
    let v = alla
        .post_json("/api/v1/admins", &body)
        .await
        .expect_status(StatusCode::CREATED)
        .json();
    assert_eq!(v["permissions"], json!(ALL_PERMISSIONS));
    assert_eq!(v["primary"], false);
}

async fn permission_changes_apply_on_the_very_next_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let sub = app
        .add_admin("Aga Agents", "aga@acme.test", &["team.agents"])
        .await;
    let s = app.signed_in("aga@acme.test", PASSWORD).await;
    let p = app.primary_client().await;
    let path = format!("/api/v1/admins/{}", sub.id);

    s.get("/api/v1/agents").await.expect_status(StatusCode::OK);
    s.get("/api/v1/admins")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    let v = p
        .patch_json(&path, &json!({"permissions": []}))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(v.json()["permissions"], json!([]));
    s.get("/api/v1/agents")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    s.post_json("/api/v1/agents/sessions/end", &json!({"ids": ["x"]}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    s.me().await.expect_status(StatusCode::OK); // still signed in, just not allowed

    p.patch_json(&path, &json!({"permissions": ["team.admins"]}))
        .await
        .expect_status(StatusCode::OK);
    s.get("/api/v1/admins").await.expect_status(StatusCode::OK);
    s.get("/api/v1/agents")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let me = s.me().await.json();
    assert_eq!(me["user"]["permissions"], json!(["team.admins"]));
}
