//! Single sign-on's rules over HTTP that need no identity provider: who may change the
//! administrators' policy, a provider that cannot be read saves nothing (and one on a private
//! address is refused without `--sso-allow-private`), `required` refusing passwords but never
//! the primary administrator's nor the sessions already open, the sign-in pages' words when
//! the provider is down or the callback is bad, and back-channel logout tokens that are not
//! even signed ending nothing. The flow against a real provider is in `sso*.rs`.

use reqwest::StatusCode;
use serde_json::json;

use deskward::clock::Clock;
use deskward::store::{NewSession, SsoOrigin, SsoSettingsRow};

use crate::db::Backend;
use crate::support::{PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, TestApp};

backend_tests!(
    only_the_primary_changes_the_administrators_policy,
    a_provider_that_cannot_be_read_saves_nothing,
    required_refuses_the_password_but_not_the_primary,
    the_pages_say_why_nobody_was_signed_in,
    backchannel_refuses_unsigned_tokens_and_ends_nothing,
);

/// Settings written straight to the store (saving through the service reads the provider,
/// which these tests do not have).
async fn stored(app: &TestApp, agents: &str, admins: &str, issuer: &str) {
    app.store
        .put_sso_settings(&SsoSettingsRow {
            account_id: app.account.id.clone(),
            issuer: issuer.to_string(),
            client_id: "deskward".to_string(),
            client_secret: String::new(),
            button_label: "Acme SSO".to_string(),
            agents: agents.to_string(),
            admins: admins.to_string(),
            allowed_domains: Vec::new(),
            create_agents: false,
            updated_at: 1,
        })
        .await
        .expect("store settings");
}

async fn only_the_primary_changes_the_administrators_policy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_admin("Sue", "sue@example.com", &["security"]).await;
    let sue = app.signed_in("sue@example.com", PASSWORD).await;
    let res = sue
        .put_json(
            "/api/v1/settings/security",
            &json!({"sso": {"admins": "allowed"}}),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text);
    assert!(res.text.contains("primary administrator"), "{}", res.text);
    // The same value as now is no change: not refused (a form sends every field).
    let res = sue
        .put_json(
            "/api/v1/settings/security",
            &json!({"sso": {"admins": "off", "button_label": "Acme"}}),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let sso = &res.json()["sso"];
    assert_eq!(sso["admins"], "off");
    assert_eq!(sso["button_label"], "Acme");
    // Nobody may be allowed in before there is a provider.
    let res = sue
        .put_json(
            "/api/v1/settings/security",
            &json!({"sso": {"agents": "allowed"}}),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
    assert!(res.text.contains("sso.issuer"), "{}", res.text);
    let got = sue.get("/api/v1/settings/security").await.json();
    assert_eq!(got["sso"]["agents"], "off");
    assert!(
        got["sso"]["redirect_uri"]
            .as_str()
            .unwrap()
            .ends_with("/sso/callback"),
        "{got}"
    );
    assert!(
        got["sso"]["backchannel_logout_uri"]
            .as_str()
            .unwrap()
            .ends_with("/sso/backchannel-logout")
    );
    // Without `security`, nothing at all.
    app.add_admin("Tim", "tim@example.com", &["team.agents"])
        .await;
    let tim = app.signed_in("tim@example.com", PASSWORD).await;
    let res = tim
        .put_json(
            "/api/v1/settings/security",
            &json!({"sso": {"button_label": "x"}}),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
}

async fn a_provider_that_cannot_be_read_saves_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.sso_allow_private = true).await;
    let c = app.primary_client().await;
    let (_held, port) = crate::support::held_closed_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let res = c
        .put_json(
            "/api/v1/settings/security",
            &json!({
                "agent_idle_timeout_minutes": 60,
                "sso": {"issuer": issuer, "client_id": "deskward", "client_secret": "s3cret",
                        "agents": "allowed", "admins": "required"}
            }),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
    let message = res.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("discovery document"), "{message}");
    assert!(message.contains("could not connect"), "{message}");
    assert!(!message.contains("s3cret"));
    let got = c.get("/api/v1/settings/security").await.json();
    assert_eq!(got["sso"]["issuer"], "");
    assert_eq!(got["sso"]["has_client_secret"], false);
    assert_eq!(got["sso"]["agents"], "off");
    assert_eq!(
        got["agent_idle_timeout_minutes"],
        72 * 60,
        "nothing else saved either"
    );
    assert!(!got.to_string().contains("s3cret"));
    // Bad fields are named before the provider is asked.
    for (body, named) in [
        (json!({"issuer": "ftp://x.example"}), "issuer"),
        (json!({"agents": "sometimes"}), "sso.agents"),
        (
            json!({"allowed_domains": ["not a domain"]}),
            "allowed_domains",
        ),
        (json!({"button_label": "x".repeat(61)}), "button_label"),
    ] {
        let res = c
            .put_json("/api/v1/settings/security", &json!({ "sso": body }))
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(res.text.contains(named), "{body}: {}", res.text);
    }
    let res = c
        .put_json("/api/v1/settings/security", &json!({"sso": {"nope": 1}}))
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);

    // Without --sso-allow-private: a provider on a private address, or plain http, is refused.
    let strict = TestApp::spawn(backend).await;
    let c = strict.primary_client().await;
    for (issuer, said) in [
        ("https://127.0.0.1:9443", "loopback or private"),
        ("https://10.20.30.40", "loopback or private"),
        ("http://idp.example.com", "https"),
    ] {
        let res = c
            .put_json(
                "/api/v1/settings/security",
                &json!({"sso": {"issuer": issuer, "client_id": "x"}}),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{issuer}");
        assert!(res.text.contains(said), "{issuer}: {}", res.text);
    }
    assert_eq!(
        c.get("/api/v1/settings/security").await.json()["sso"]["issuer"],
        ""
    );
    // The page's test says the same, and saves nothing.
    let page = c
        .post_form(
            "/security/sso/test",
            &[("issuer", "https://127.0.0.1:9443")],
        )
        .await;
    assert!(
        page.text.contains("The connection test failed"),
        "{}",
        page.text
    );
    assert!(page.text.contains("loopback or private"), "{}", page.text);
}

async fn required_refuses_the_password_but_not_the_primary(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@example.com").await;
    app.add_admin("Sue", "sue@example.com", &["security"]).await;
    let before = app.signed_in("ann@example.com", PASSWORD).await;
    stored(&app, "required", "required", "https://idp.example.com").await;
    // A session already open stays open.
    assert_eq!(before.me().await.status, StatusCode::OK);
    for (email, kind) in [("ann@example.com", "agent"), ("sue@example.com", "admin")] {
        let res = app.client().login(email, PASSWORD).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{kind}: {}", res.text);
        let body = res.json();
        assert_eq!(body["error"]["code"], "sso_required", "{kind}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Sign in with Acme SSO"),
            "{body}"
        );
    }
    // A wrong password is still only a wrong password: nothing says what the role needs.
    let res = app
        .client()
        .login("ann@example.com", "wrong password")
        .await;
    assert_eq!(res.json()["error"]["code"], "invalid_credentials");
    // The primary administrator keeps the password.
    let res = app.client().login(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    // The page shows the button instead of the form.
    let page = app
        .client()
        .post_form(
            "/login",
            &[("email", "ann@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.text.contains("Sign in with Acme SSO"), "{}", page.text);
    assert!(!page.text.contains("name=\"password\""), "{}", page.text);
    // Allowed: both ways in, the button beside the form.
    stored(&app, "allowed", "off", "https://idp.example.com").await;
    let res = app.client().login("ann@example.com", PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    let login = app.client().get("/login").await.text;
    assert!(login.contains("Sign in with Acme SSO"));
    assert!(login.contains("name=\"password\""));
    let audit = app
        .primary_client()
        .await
        .get("/api/v1/audit?kind=signin.refused")
        .await
        .text;
    assert!(audit.contains("single sign-on is required"), "{audit}");
}

async fn the_pages_say_why_nobody_was_signed_in(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.sso_allow_private = true).await;
    // Not set up: no button, and the start says so.
    assert!(
        !app.client()
            .get("/login")
            .await
            .text
            .contains("Sign in with")
    );
    let res = app.client().get("/sso/start").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(res.text.contains("not set up"), "{}", res.text);
    // The provider down: a clear page, and the password form still there.
    let (_held, port) = crate::support::held_closed_port();
    let issuer = format!("http://127.0.0.1:{port}");
    stored(&app, "allowed", "off", &issuer).await;
    let res = app.client().get("/sso/start?rd=/agent").await;
    assert_eq!(res.status, StatusCode::BAD_GATEWAY, "{}", res.text);
    assert!(res.text.contains("cannot be reached"), "{}", res.text);
    assert!(res.text.contains("name=\"password\""));
    // A callback with no pending sign-in behind it, or none of this browser's.
    for q in ["", "?state=abc&code=def", "?state=abc&error=access_denied"] {
        let res = app.client().get(&format!("/sso/callback{q}")).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(res.text.contains("started in another browser"), "{q}");
        assert!(res.session_token().is_none());
    }
    let audit = app
        .primary_client()
        .await
        .get("/api/v1/audit?kind=sso.failed")
        .await
        .json();
    let text = audit.to_string();
    assert!(text.contains("bad_state"), "{text}");
}

async fn backchannel_refuses_unsigned_tokens_and_ends_nothing(backend: Backend) {
    use base64::Engine;
    let app = TestApp::spawn_with(backend, |c| c.sso_allow_private = true).await;
    let ann = app.add_agent("Ann", "ann@example.com").await;
    app.store
        .insert_session(&NewSession {
            sso: Some(SsoOrigin {
                sub: "u-ann".to_string(),
                sid: Some("sid-1".to_string()),
            }),
            ..crate::conformance::new_session(&ann, "se_sso1", app.clock.now())
        })
        .await
        .expect("session");
    let post = |body: Vec<(&'static str, String)>| {
        let url = format!("{}/sso/backchannel-logout", app.base);
        async move {
            reqwest::Client::new()
                .post(url)
                .form(&body)
                .send()
                .await
                .expect("post")
        }
    };
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let claims = json!({
        "iss": "http://127.0.0.1", "aud": "deskward", "iat": app.clock.now() / 1000,
        "jti": "j1", "sid": "sid-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}}
    });
    let unsigned = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(&claims.to_string()));
    let hs256 = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64(&claims.to_string()),
        b64("not a mac")
    );
    // Not set up yet: refused.
    let res = post(vec![("logout_token", hs256.clone())]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("not set up"));
    let (_held, port) = crate::support::held_closed_port();
    let issuer = format!("http://127.0.0.1:{port}");
    stored(&app, "allowed", "off", &issuer).await;
    for (body, said) in [
        (vec![], "logout_token is required"),
        (vec![("logout_token", "garbage".to_string())], ""),
        (vec![("logout_token", unsigned)], ""),
        (vec![("logout_token", hs256)], ""),
    ] {
        let res = post(body.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body:?}");
        assert_eq!(
            res.headers().get("cache-control").unwrap(),
            "no-store",
            "{body:?}"
        );
        let text = res.text().await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["error"], "invalid_request", "{text}");
        assert!(text.contains(said), "{text}");
    }
    let s = app.store.session(&app.account.id, "se_sso1").await.unwrap();
    assert!(s.ended_at.is_none(), "nothing ended");
    let audit = app
        .primary_client()
        .await
        .get("/api/v1/audit?kind=sso.logout_refused")
        .await
        .text;
    assert!(
        audit.contains("back-channel logout token refused"),
        "{audit}"
    );
}
