//! Session policies through the API: the limit of sessions per person (the oldest replaced,
//! the tab told why), the latest address and device of a session, on both databases and
//! across two instances. Clients claim their addresses through a trusted proxy.

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::support::{
    CHROME_WINDOWS_UA, Client, MINUTE, PASSWORD, SECOND, TestApp, forwarded_client, moved_client,
    second_instance,
};

const FIREFOX_LINUX_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// A server that takes `X-Forwarded-For` from loopback (every test client).
pub(crate) async fn proxied_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
}

/// An agent signed in from `ip` (with a Windows Chrome User-Agent).
pub(crate) async fn agent_from(app: &TestApp, email: &str, ip: &str) -> Client {
    let c = forwarded_client(&app.base, ip, CHROME_WINDOWS_UA);
    c.login(email, PASSWORD).await.expect_status(StatusCode::OK);
    c
}

/// The audit entries of these kinds about a person.
pub(crate) async fn audit_of(app: &TestApp, target: &str, kind: &str) -> Vec<serde_json::Value> {
    let admin = app.primary_client().await;
    admin
        .get(&format!(
            "/api/v1/audit?target={target}&kind={kind}&per_page=200"
        ))
        .await
        .expect_status(StatusCode::OK)
        .json()["items"]
        .as_array()
        .unwrap()
        .clone()
}

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

/// The latest address and device are written with the once-a-minute activity write (not per
/// request), audited when they change, and shown in the Team tooltip and the profile.
async fn latest_address_and_device(backend: Backend) {
    let app = proxied_app(backend).await;
    let agent = app.add_agent("Moving Agent", "mover@acme.test").await;
    let c = agent_from(&app, &agent.email, "203.0.113.24").await;
    let me = c.me().await.expect_status(StatusCode::OK).json();
    assert_eq!(me["session"]["ip"], "203.0.113.24");
    assert_eq!(me["session"]["last_ip"], "203.0.113.24");
    assert_eq!(me["session"]["last_user_agent"], CHROME_WINDOWS_UA);
    let moved = moved_client(&c, "198.51.100.7", FIREFOX_LINUX_UA);
    // Within the minute nothing is written.
    moved.me().await.expect_status(StatusCode::OK);
    assert_eq!(
        app.stored_session(&session_id(&c).await)
            .await
            .last_ip
            .to_string(),
        "203.0.113.24"
    );
    assert!(
        audit_of(&app, &agent.id, "session.ip_changed")
            .await
            .is_empty()
    );
    app.advance(MINUTE + SECOND);
    let me = moved.me().await.expect_status(StatusCode::OK).json();
    let s = &me["session"];
    assert_eq!(s["ip"], "203.0.113.24", "the first address stays");
    assert_eq!(s["last_ip"], "198.51.100.7");
    assert_eq!(s["last_user_agent"], FIREFOX_LINUX_UA);
    assert_eq!(s["user_agent"], CHROME_WINDOWS_UA);
    let stored = app.stored_session(s["id"].as_str().unwrap()).await;
    assert_eq!(stored.last_ip.to_string(), "198.51.100.7");
    let ip = audit_of(&app, &agent.id, "session.ip_changed").await;
    assert_eq!(ip.len(), 1, "{ip:?}");
    assert!(
        ip[0]["detail"]
            .as_str()
            .unwrap()
            .contains("203.0.113.24 → 198.51.100.7"),
        "{ip:?}"
    );
    assert_eq!(ip[0]["ip"], "198.51.100.7");
    let dev = audit_of(&app, &agent.id, "session.device_changed").await;
    assert_eq!(dev.len(), 1, "{dev:?}");
    // The Team list and the profile say so.
    let admin = app.primary_client().await;
    let api = admin
        .get(&format!("/api/v1/agents/{}", agent.id))
        .await
        .json();
    assert_eq!(api["sessions"][0]["last_ip"], "198.51.100.7");
    for path in [
        "/team/agents".to_string(),
        format!("/team/agents/{}", agent.id),
    ] {
        let html = admin.get(&path).await.text;
        assert!(html.contains("IP changed at"), "{path}");
        assert!(html.contains("203.0.113.24 → 198.51.100.7"), "{path}");
        assert!(html.contains("Device changed at"), "{path}");
    }
    // The same address again a minute later: no new entry.
    app.advance(MINUTE + SECOND);
    moved.me().await.expect_status(StatusCode::OK);
    assert_eq!(
        audit_of(&app, &agent.id, "session.ip_changed").await.len(),
        1
    );
}

/// Sets the policy as the primary administrator (from 127.0.0.1, exempt).
async fn set_networks(app: &TestApp, agents: &str, admins: &str) {
    set_security(
        app,
        json!({
            "office_networks": [
                {"cidr": "203.0.113.0/24", "name": "Riga office"},
                "2001:db8:aa::/48",
            ],
            "office_network_policy": {"agents": agents, "admins": admins},
        }),
    )
    .await;
}

fn ids_of(list: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

async fn flag_marks_sessions_outside(backend: Backend) {
    let app = proxied_app(backend).await;
    set_networks(&app, "flag", "off").await;
    let inside4 = app.add_agent("Ina Inside", "ina@acme.test").await;
    let outside4 = app.add_agent("Otto Outside", "otto@acme.test").await;
    let inside6 = app.add_agent("Iris Inside", "iris@acme.test").await;
    let outside6 = app.add_agent("Olga Outside", "olga@acme.test").await;
    app.add_agent("Nora Nosession", "nora@acme.test").await;
    let admin = app
        .add_admin("Ada Away", "ada@acme.test", &["team.agents"])
        .await;
    let _a = agent_from(&app, &inside4.email, "203.0.113.5").await;
    let o = agent_from(&app, &outside4.email, "198.51.100.7").await;
    let _b = agent_from(&app, &inside6.email, "2001:db8:aa:1::5").await;
    let _c = agent_from(&app, &outside6.email, "2001:db8:bb::1").await;
    let ad = agent_from(&app, &admin.email, "198.51.100.8").await;
    let me = o.me().await.json();
    assert_eq!(me["session"]["outside_office_network"], true);
    // Administrators' policy is off: not marked.
    assert_eq!(
        ad.me().await.json()["session"]["outside_office_network"],
        false
    );
    let primary = app.primary_client().await;
    let list = primary.get("/api/v1/agents?network=outside").await.json();
    assert_eq!(list["total"], 2, "{list}");
    let mut want = vec![outside4.id.clone(), outside6.id.clone()];
    want.sort();
    assert_eq!(ids_of(&list), want);
    // Paging by person: one a page, both found, each once.
    let p1 = primary
        .get("/api/v1/agents?network=outside&per_page=1&page=1")
        .await
        .json();
    let p2 = primary
        .get("/api/v1/agents?network=outside&per_page=1&page=2")
        .await
        .json();
    assert_eq!(p1["total"], 2);
    let mut got = [ids_of(&p1), ids_of(&p2)].concat();
    got.sort();
    assert_eq!(got, want);
    let all = primary
        .get(&format!("/api/v1/agents/{}", inside6.id))
        .await
        .json();
    assert_eq!(all["sessions"][0]["outside_office_network"], false);
    let both = primary
        .get("/api/v1/agents?network=outside&session=active&per_page=1")
        .await
        .json();
    assert_eq!(both["total"], 2);
    primary
        .get("/api/v1/agents?network=outside&session=none")
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    primary
        .get("/api/v1/agents?network=elsewhere")
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    // The Team page: the filter option, the icon and its tooltip line.
    let html = primary.get("/team/agents?session=outside").await.text;
    assert!(
        html.contains("Outside office networks: 198.51.100.7"),
        "{html}"
    );
    assert!(html.contains("Otto Outside") && !html.contains("Ina Inside"));
    assert!(html.contains("<option value=\"outside\" selected"));
    let same = primary.get("/team/agents?network=outside").await.text;
    assert!(same.contains("Otto Outside") && !same.contains("Ina Inside"));
    // My sessions and the profile say it too.
    assert!(
        o.get("/me/sessions")
            .await
            .text
            .contains("Outside office networks: 198.51.100.7")
    );
    let prof = primary
        .get(&format!("/team/agents/{}", outside4.id))
        .await
        .text;
    assert!(prof.contains("Outside office networks: 198.51.100.7"));
    // Turning the flag off unmarks live sessions at once.
    set_security(&app, json!({"office_network_policy": {"agents": "off"}})).await;
    let list = primary.get("/api/v1/agents?network=outside").await.json();
    assert_eq!(list["total"], 0, "{list}");
    // Administrators flagged when their policy says so.
    set_security(&app, json!({"office_network_policy": {"admins": "flag"}})).await;
    let list = primary.get("/api/v1/admins?network=outside").await.json();
    // The primary administrator here comes from 127.0.0.1, outside too.
    let mut want = vec![admin.id.clone(), app.primary.id.clone()];
    want.sort();
    assert_eq!(ids_of(&list), want, "{list}");
}

async fn enforce_refuses_and_ends(backend: Backend) {
    let app = proxied_app(backend).await;
    let other = second_instance(&app).await;
    let agent = app.add_agent("Eve Enforced", "eve@acme.test").await;
    set_networks(&app, "enforce", "off").await;
    // Refused from outside, on either instance, with its own code (not a wrong password).
    let out = forwarded_client(&app.base, "198.51.100.7", CHROME_WINDOWS_UA);
    out.login(&agent.email, PASSWORD)
        .await
        .expect_error(StatusCode::FORBIDDEN, "outside_office_network");
    let out2 = forwarded_client(&other.base, "2001:db8:bb::1", CHROME_WINDOWS_UA);
    out2.login(&agent.email, PASSWORD)
        .await
        .expect_error(StatusCode::FORBIDDEN, "outside_office_network");
    let page = out
        .post_form("/login", &[("email", &agent.email), ("password", PASSWORD)])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.text.contains("outside the office networks"),
        "{}",
        page.text
    );
    let refused = audit_of(&app, &agent.id, "signin.refused").await;
    assert!(!refused.is_empty());
    // Inside (IPv6 range): fine, until a request comes from outside (on the other instance).
    let c = agent_from(&app, &agent.email, "2001:db8:aa::7").await;
    let sid = session_id(&c).await;
    let moved = forwarded_client(&other.base, "198.51.100.7", CHROME_WINDOWS_UA);
    moved.plant_cookie(&c.session_token().unwrap());
    moved
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let stored = app.stored_session(&sid).await;
    assert_eq!(
        stored.end_reason.map(|r| r.as_str()),
        Some("outside_office_network")
    );
    // The first instance learns of it at its next activity write (test instances share no
    // event relay).
    app.advance(MINUTE + SECOND);
    c.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let page = c.get("/login?reason=outside_office_network").await;
    assert!(page.text.contains("outside the office"), "{}", page.text);
    let ended = audit_of(&app, &agent.id, "session.ended").await;
    assert!(
        ended.iter().any(|e| e["detail"]
            .as_str()
            .unwrap()
            .contains("outside_office_network")),
        "{ended:?}"
    );
    // The primary administrator is never locked out, even under enforce for administrators.
    set_security(
        &app,
        json!({"office_network_policy": {"admins": "enforce"}}),
    )
    .await;
    let p = forwarded_client(&app.base, "198.51.100.9", CHROME_WINDOWS_UA);
    p.login(
        crate::support::PRIMARY_EMAIL,
        crate::support::PRIMARY_PASSWORD,
    )
    .await
    .expect_status(StatusCode::OK);
    let me = p.me().await.expect_status(StatusCode::OK).json();
    assert_eq!(
        me["session"]["outside_office_network"], true,
        "flagged, not locked out"
    );
    // A sub-administrator from outside is refused.
    let sub = app
        .add_admin("Sub Admin", "sub@acme.test", &["security"])
        .await;
    forwarded_client(&app.base, "198.51.100.10", CHROME_WINDOWS_UA)
        .login(&sub.email, PASSWORD)
        .await
        .expect_error(StatusCode::FORBIDDEN, "outside_office_network");
}

/// Switching a role to `enforce` ends, as it is saved, the sessions of that role already
/// outside (by their latest address), through the ending path: stored with the reason, audited,
/// pushed to the tab, the agent Offline. Sessions inside, of other roles, and the primary's
/// stay live.
async fn enforce_ends_sessions_already_outside_when_saved(backend: Backend) {
    let app = proxied_app(backend).await;
    let ann = app.add_agent("Ann Outside", "ann@acme.test").await;
    let bob = app.add_agent("Bob Inside", "bob@acme.test").await;
    let sub = app
        .add_admin("Sid Sub", "sid@acme.test", &["team.agents"])
        .await;
    let ann_c = agent_from(&app, &ann.email, "198.51.100.7").await;
    let bob_c = agent_from(&app, &bob.email, "203.0.113.5").await;
    let sub_c = agent_from(&app, &sub.email, "198.51.100.8").await;
    let (ann_s, bob_s, sub_s) = (
        session_id(&ann_c).await,
        session_id(&bob_c).await,
        session_id(&sub_c).await,
    );
    let mut ann_tab = crate::api_events::EventStream::open(&ann_c).await;
    assert_eq!(app.stored_member(&ann.id).await.status.as_str(), "online");

    // Flagging ends nothing.
    set_networks(&app, "flag", "off").await;
    assert_eq!(app.stored_session(&ann_s).await.end_reason, None);

    set_networks(&app, "enforce", "off").await;
    let reason = |s: deskward::store::Session| s.end_reason.map(|r| r.as_str());
    assert_eq!(
        reason(app.stored_session(&ann_s).await),
        Some("outside_office_network"),
        "ended when the policy was saved, not at its next request"
    );
    assert_eq!(reason(app.stored_session(&bob_s).await), None, "inside");
    assert_eq!(
        reason(app.stored_session(&sub_s).await),
        None,
        "admins: off"
    );
    let pushed = ann_tab
        .until("session_ended", std::time::Duration::from_secs(5))
        .await
        .expect("the tab hears of its ending");
    assert_eq!(pushed, json!({"reason": "outside_office_network"}));
    assert_eq!(app.stored_member(&ann.id).await.status.as_str(), "offline");
    let ended = audit_of(&app, &ann.id, "session.ended").await;
    assert!(
        ended.iter().any(|e| e["detail"]
            .as_str()
            .unwrap()
            .contains("outside_office_network")),
        "{ended:?}"
    );

    // The administrators' turn: the sub-administrator outside ends; the primary, outside too
    // (127.0.0.1), only flagged.
    let primary = app.primary_client().await;
    let primary_s = session_id(&primary).await;
    set_networks(&app, "enforce", "enforce").await;
    assert_eq!(
        reason(app.stored_session(&sub_s).await),
        Some("outside_office_network")
    );
    assert_eq!(reason(app.stored_session(&primary_s).await), None);
    assert_eq!(reason(app.stored_session(&bob_s).await), None);
    primary.me().await.expect_status(StatusCode::OK);
}

async fn only_the_primary_changes_admins_and_their_ranges(backend: Backend) {
    let app = proxied_app(backend).await;
    let sub = app
        .add_admin("Sub Admin", "sub@acme.test", &["security"])
        .await;
    set_security(
        &app,
        json!({
            "office_networks": ["198.51.100.0/24"],
            "office_network_policy": {"agents": "off", "admins": "enforce"},
        }),
    )
    .await;
    let c = agent_from(&app, &sub.email, "198.51.100.7").await;
    // Sub-administrators may not change the administrators' policy.
    c.put_json(
        "/api/v1/settings/security",
        &json!({"office_network_policy": {"admins": "off"}}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // The ranges the administrators' policy enforces are the primary's too:
    // moving the office away, even confirmed, is refused and changes nothing.
    let change = json!({"office_networks": [{"cidr": "203.0.113.0/24", "name": "Riga"}]});
    c.put_json("/api/v1/settings/security", &change)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let mut confirmed = change.clone();
    confirmed["confirm"] = json!(true);
    c.put_json("/api/v1/settings/security", &confirmed)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let now = c.get("/api/v1/settings/security").await.json();
    assert_eq!(now["office_networks"][0]["cidr"], "198.51.100.0/24");
    c.me().await.expect_status(StatusCode::OK);
    // The primary administrator is exempt: no question asked.
    let p = forwarded_client(&app.base, "192.0.2.1", CHROME_WINDOWS_UA);
    p.login(
        crate::support::PRIMARY_EMAIL,
        crate::support::PRIMARY_PASSWORD,
    )
    .await
    .expect_status(StatusCode::OK);
    p.put_json(
        "/api/v1/settings/security",
        &json!({"office_networks": ["10.0.0.0/8"]}),
    )
    .await
    .expect_status(StatusCode::OK);
}

async fn bad_networks_are_named(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.primary_client().await;
    let put = |body: serde_json::Value| {
        let admin = &admin;
        async move { admin.put_json("/api/v1/settings/security", &body).await }
    };
    let msg = put(json!({"office_networks": ["10.0.0.0/8", "10.0.0.0/33"]}))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(
        msg.contains("office_networks[1]") && msg.contains("10.0.0.0/33"),
        "{msg}"
    );
    let msg = put(json!({"office_networks": [42]}))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(msg.contains("office_networks[0]"), "{msg}");
    let many: Vec<String> = (0..101).map(|i| format!("10.{i}.0.0/16")).collect();
    let msg = put(json!({"office_networks": many}))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(msg.contains("office_networks"), "{msg}");
    let msg = put(json!({"office_network_policy": {"agents": "sometimes"}}))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(msg.contains("office_network_policy.agents"), "{msg}");
    let got = admin.get("/api/v1/settings/security").await.json();
    assert_eq!(got["office_networks"], json!([]));
    assert_eq!(
        got["office_network_policy"],
        json!({"agents": "off", "admins": "off"})
    );
    // A hundred ranges, bare strings normalised.
    let hundred: Vec<String> = (0..100).map(|i| format!("10.{i}.1.2/16")).collect();
    let got = put(json!({"office_networks": hundred}))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(got["office_networks"].as_array().unwrap().len(), 100);
    assert_eq!(
        got["office_networks"][0],
        json!({"cidr": "10.0.0.0/16", "name": ""})
    );
}

backend_tests!(
    flag_marks_sessions_outside,
    enforce_refuses_and_ends,
    enforce_ends_sessions_already_outside_when_saved,
    an_enforce_ending_at_the_same_address_is_not_an_address_change,
    only_the_primary_changes_admins_and_their_ranges,
    bad_networks_are_named,
    limit_of_one,
    limit_of_three,
    limit_bounds_and_removal,
    latest_address_and_device,
);

/// Under `enforce`, a request from outside ends its session; the address is audited as
/// changed only when it is not the session's latest. A session whose latest address was
/// already outside when enforce came in (here written to the database behind the instances'
/// backs, as a change on another instance would be before this one hears of it) ends with
/// its ending's entry alone: it was once also recorded as "Session's IP address changed".
async fn an_enforce_ending_at_the_same_address_is_not_an_address_change(backend: Backend) {
    let app = proxied_app(backend).await;
    let agent = app.add_agent("Sam Same", "sam@acme.test").await;
    set_networks(&app, "flag", "off").await;
    // From 127.0.0.1 itself, outside both ranges, as every instance sees it.
    let c = app.signed_in(&agent.email, PASSWORD).await;
    let sid = session_id(&c).await;
    assert_eq!(
        app.stored_session(&sid).await.last_ip.to_string(),
        "127.0.0.1"
    );
    let mut p = app.store.session_policy(&app.account.id).await.unwrap();
    p.agents_network_policy = "enforce".into();
    app.store
        .set_session_policy(&app.account.id, &p)
        .await
        .unwrap();
    // An instance that reads the policy afresh.
    let other = second_instance(&app).await;
    let there = crate::support::client_for_base(&other.base);
    there.plant_cookie(&c.session_token().unwrap());
    there
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        app.stored_session(&sid)
            .await
            .end_reason
            .map(|r| r.as_str()),
        Some("outside_office_network")
    );
    let ended = audit_of(&app, &agent.id, "session.ended").await;
    assert_eq!(ended.len(), 1, "{ended:?}");
    let changed = audit_of(&app, &agent.id, "session.ip_changed").await;
    assert!(
        changed.is_empty(),
        "the address did not change: {changed:?}"
    );
}
