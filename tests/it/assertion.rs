//! `Remote-Assertion`, forward auth's signed identity, checked the way an app checks it: by
//! PyJWT (an independent JWT library) with the keys fetched from the server's JWKS, at the
//! test's clock. Tampered, expired, foreign-audience and foreign-issuer tokens refused; one
//! token per session and origin reused for half its life; keys rotated across two instances on
//! one PostgreSQL database with the old key published until its last token expired. Through
//! the real nginx and Caddy: `proxy_blocks.rs`.

use std::sync::Arc;
use std::time::Duration;

use deskward::clock::Clock;
use deskward::domain::assertion::{KEEP_AFTER, PUBLISH_AHEAD, REUSE_SECS, ROTATE_EVERY};
use deskward::domain::time::Millis;
use deskward::server::ServerConfig;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::db::{Backend, TestDb};
use crate::forward_auth::{FORWARD_AUTH, PREFIX, desk, desk_signed_in, guarded_with, session_id};
use crate::support::{
    Client, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, Serving, TestApp, client_for_base, serve,
    test_python,
};

/// What the app behind the proxy is, and what Deskward calls itself.
/// Plain HTTP: the test clients hold the plain-named cookie, which a request the proxy says
/// came over HTTPS would not count.
const APP_ORIGIN: &str = "http://help.example.test";
const ISSUER: &str = "https://desk.example.test/deskward";

/// Checks tokens as an app would with PyJWT: the keys from the JWKS at `jwks` (PyJWKClient,
/// chosen by the token's `kid`), EdDSA only, `iss`, `aud`, and `exp`/`iat` against `now`
/// (PyJWT's own checks, its clock set to the test's). One answer per token: `{"ok": true,
/// "claims", "kid"}` or `{"ok": false, "error": "<PyJWT's exception>"}`.
const PYJWT_CHECK: &str = r#"
import datetime as _dt, json, sys
import jwt, jwt.api_jwt
args = json.loads(sys.argv[1])
class Frozen(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return _dt.datetime.fromtimestamp(args["now"], tz)
jwt.api_jwt.datetime = Frozen
client = jwt.PyJWKClient(args["jwks"], cache_keys=False)
out = []
for token in args["tokens"]:
    try:
        key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["EdDSA"], issuer=args["iss"],
                            audience=args["aud"],
                            options={"require": ["iss", "aud", "sub", "iat", "exp"]})
        out.append({"ok": True, "claims": claims, "kid": jwt.get_unverified_header(token)["kid"]})
    except Exception as e:
        out.append({"ok": False, "error": type(e).__name__, "message": str(e)})
print(json.dumps(out))
"#;

/// PyJWT's verdict on each of `tokens` (see [`PYJWT_CHECK`]).
pub fn pyjwt(jwks: &str, tokens: &[&str], iss: &str, aud: &str, now: Millis) -> Vec<Value> {
    let python = test_python("jwt").expect("PyJWT in the test environment");
    let args = json!({
        "jwks": jwks, "tokens": tokens, "iss": iss, "aud": aud, "now": now as f64 / 1000.0,
    });
    let out = std::process::Command::new(python)
        .args(["-c", PYJWT_CHECK, &args.to_string()])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "PyJWT check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("PyJWT's answer")
}

/// One check as Caddy or Traefik asks it, for a page of the app at `APP_ORIGIN`.
async fn check(c: &Client) -> crate::support::Response {
    let rb = c
        .request(Method::GET, FORWARD_AUTH)
        .header("X-Forwarded-Proto", "http")
        .header("X-Forwarded-Host", "help.example.test")
        .header("X-Forwarded-Uri", "/tickets/7")
        .header("X-Forwarded-Method", "GET");
    c.send(rb).await
}

/// The token of a 200.
async fn token(c: &Client) -> String {
    let r = check(c).await.expect_status(StatusCode::OK);
    r.header("remote-assertion")
        .unwrap_or_else(|| panic!("no Remote-Assertion: {:?}", r.headers))
        .to_string()
}

async fn issuing(backend: Backend) -> TestApp {
    guarded_with(backend, |c| {
        c.mail.public_url = Some(ISSUER.parse().unwrap());
    })
    .await
}

/// Its JWKS URL, as an app would fetch it.
fn jwks_url(base: &str) -> String {
    format!("{base}{PREFIX}/.well-known/jwks.json")
}

/// The token with its claims naming someone else (`sub`, `groups`), the signature kept.
pub(crate) fn tampered(token: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("ad_someone_else");
    claims["groups"] = json!(["admin", "primary"]);
    let forged = b64.encode(claims.to_string());
    format!("{}.{forged}.{}", parts[0], parts[2])
}

async fn an_app_verifies_the_assertion_with_pyjwt(backend: Backend) {
    let app = issuing(backend).await;
    let zoe = app.add_agent("Zoë O'Brien", "zoe@acme.test").await;
    let c = desk_signed_in(&app, "zoe@acme.test", PASSWORD).await;
    let sid = session_id(&c).await;
    let t = token(&c).await;
    let now = app.clock.now();
    let jwks = jwks_url(&app.base);

    let v = pyjwt(&jwks, &[&t], ISSUER, APP_ORIGIN, now);
    assert_eq!(v[0]["ok"], true, "{v:?}");
    let claims = &v[0]["claims"];
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], APP_ORIGIN);
    assert_eq!(claims["sub"], zoe.id.as_str());
    assert_eq!(claims["email"], "zoe@acme.test");
    assert_eq!(claims["name"], "Zoë O'Brien");
    assert_eq!(claims["groups"], json!(["agent"]));
    assert_eq!(claims["sid"], sid.as_str());
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(iat, now / 1000);
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 60);

    // An administrator's groups are a list of the role, primary and the permissions.
    let pat = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let v = pyjwt(&jwks, &[&token(&pat).await], ISSUER, APP_ORIGIN, now);
    assert_eq!(
        v[0]["claims"]["groups"],
        json!([
            "admin",
            "primary",
            "team.agents",
            "team.admins",
            "security",
            "audit"
        ]),
        "{v:?}"
    );

    // Refused: a changed claim, another app's audience, another issuer, and the same token
    // once it has expired (PyJWT's clock 60 s on).
    let forged = tampered(&t);
    let v = pyjwt(&jwks, &[&forged], ISSUER, APP_ORIGIN, now);
    assert_eq!(v[0]["error"], "InvalidSignatureError", "{v:?}");
    let v = pyjwt(&jwks, &[&t], ISSUER, "https://other.example.test", now);
    assert_eq!(v[0]["error"], "InvalidAudienceError", "{v:?}");
    let v = pyjwt(&jwks, &[&t], "https://evil.example.test", APP_ORIGIN, now);
    assert_eq!(v[0]["error"], "InvalidIssuerError", "{v:?}");
    app.clock.advance(60_000);
    let later = app.clock.now();
    let v = pyjwt(&jwks, &[&t], ISSUER, APP_ORIGIN, later);
    assert_eq!(v[0]["error"], "ExpiredSignatureError", "{v:?}");
    // What the server hands out then is fresh and passes.
    let fresh = token(&c).await;
    let v = pyjwt(&jwks, &[&fresh], ISSUER, APP_ORIGIN, later);
    assert_eq!(v[0]["ok"], true, "{v:?}");

    // The JWKS is public, cacheable for a few minutes, and Ed25519 keys only.
    let r = client_for_base(&app.base)
        .get(&format!("{PREFIX}/.well-known/jwks.json"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    let keys = r.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert!(keys[0].get("d").is_none(), "a private key was published");
    let same = desk(&app)
        .get("/api/v1/verify/jwks.json")
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(same["keys"], json!(keys));
}

/// nginx's `auth_request` names the app by `X-Original-URL`: that origin is the audience.
async fn the_audience_is_the_original_requests_origin(backend: Backend) {
    let app = issuing(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let c = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let rb = c
        .request(Method::GET, crate::forward_auth::AUTH_REQUEST)
        .header("X-Original-URL", "https://wiki.example.test:8443/page?x=1");
    let r = c.send(rb).await.expect_status(StatusCode::OK);
    let t = r
        .header("remote-assertion")
        .expect("an assertion")
        .to_string();
    let jwks = jwks_url(&app.base);
    let v = pyjwt(
        &jwks,
        &[&t],
        ISSUER,
        "https://wiki.example.test:8443",
        app.clock.now(),
    );
    assert_eq!(v[0]["ok"], true, "{v:?}");
}

async fn a_token_is_reused_for_half_its_life(backend: Backend) {
    let app = issuing(backend).await;
    let ann_m = app.add_agent("Ann", "ann@acme.test").await;
    let ann = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let first = token(&ann).await;
    app.clock.advance((REUSE_SECS - 1) * 1000);
    assert_eq!(
        token(&ann).await,
        first,
        "signed again within half its life"
    );
    // Another session of the same person has a token of its own.
    let again = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    assert_ne!(token(&again).await, first);
    app.clock.advance(1000);
    let second = token(&ann).await;
    assert_ne!(second, first, "half its life has passed: a new token");
    let v = pyjwt(
        &jwks_url(&app.base),
        &[&second],
        ISSUER,
        APP_ORIGIN,
        app.clock.now(),
    );
    assert_eq!(v[0]["ok"], true, "{v:?}");
    assert_eq!(
        v[0]["claims"]["iat"].as_i64().unwrap(),
        app.clock.now() / 1000
    );
    // A renamed person gets a new token at once, with the new name.
    let pat = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    pat.patch_json(
        &format!("/api/v1/agents/{}", ann_m.id),
        &json!({"name": "Ann B"}),
    )
    .await
    .expect_status(StatusCode::OK);
    let renamed = token(&ann).await;
    assert_ne!(renamed, second);
    let v = pyjwt(
        &jwks_url(&app.base),
        &[&renamed],
        ISSUER,
        APP_ORIGIN,
        app.clock.now(),
    );
    assert_eq!(v[0]["claims"]["name"], "Ann B", "{v:?}");
}

/// A second instance on the test's database and clock, reading the keys every few
/// milliseconds as production instances do every minute.
async fn other_instance(app: &TestApp) -> Serving {
    let store = deskward::store::connect(app.database_url())
        .await
        .expect("connect the second instance");
    let mut config = fast_keys();
    config.web.path_prefix = PREFIX.to_string();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.mail.public_url = Some(ISSUER.parse().unwrap());
    let svc = deskward::server::build(
        store,
        Arc::new(app.clock.clone()),
        deskward::events::EventBus::new(),
        &config,
    );
    serve(svc, config).await
}

fn fast_keys() -> ServerConfig {
    ServerConfig {
        sweep_interval: Duration::from_secs(3600),
        assertion_key_tick: Duration::from_millis(20),
        ..crate::support::server_config()
    }
}

/// The kids a JWKS lists.
async fn kids(base: &str) -> Vec<String> {
    let v = client_for_base(base)
        .get(&format!("{PREFIX}/.well-known/jwks.json"))
        .await
        .expect_status(StatusCode::OK)
        .json();
    let mut k: Vec<String> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k
}

/// Waits until both instances' JWKS list `n` keys; their kids.
async fn both_list(a: &str, b: &str, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (ka, kb) = (kids(a).await, kids(b).await);
        if ka.len() == n && ka == kb {
            return ka;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the instances list {ka:?} and {kb:?}, not the same {n} keys"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn kid_of(token: &str) -> String {
    use base64::Engine;
    let head = token.split('.').next().unwrap();
    let head = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .unwrap();
    serde_json::from_slice::<Value>(&head).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Two instances on one PostgreSQL database rotate together: the next key is written once
/// and published by both before it signs; the old key stays published, and its last token
/// verifies, until that token has expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_across_two_instances() {
    let db = TestDb::new(Backend::Postgres).await;
    let app = TestApp::spawn_on(db, Backend::Postgres, |c| {
        c.assertion_key_tick = Duration::from_millis(20);
        c.web.path_prefix = PREFIX.to_string();
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.mail.public_url = Some(ISSUER.parse().unwrap());
    })
    .await;
    let b = other_instance(&app).await;
    let (a_base, b_base) = (app.base.clone(), b.base.clone());
    let first = both_list(&a_base, &b_base, 1).await;
    // An administrator: their sessions outlast the day the clock moves on by.
    let on_a = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let on_b = client_for_base(&format!("{b_base}{PREFIX}"));
    on_b.plant_cookie(&on_a.session_token().unwrap());
    let start = app.clock.now();

    // The next key is due: both publish it, neither signs with it yet.
    app.clock.set(start + ROTATE_EVERY - PUBLISH_AHEAD);
    let two = both_list(&a_base, &b_base, 2).await;
    assert!(two.contains(&first[0]));
    let next = two.iter().find(|k| **k != first[0]).unwrap().clone();
    assert_eq!(kid_of(&token(&on_b).await), first[0]);

    // The old key's last token, signed just before the switch.
    app.clock.set(start + ROTATE_EVERY - 1000);
    let last_old = token(&on_a).await;
    assert_eq!(kid_of(&last_old), first[0]);

    // The switch: both sign with the new key; the old token still verifies with either
    // instance's JWKS until it expires.
    let switch = start + ROTATE_EVERY;
    app.clock.set(switch);
    let new_a = token(&on_a).await;
    let new_b = token(&on_b).await;
    assert_eq!(kid_of(&new_a), next);
    assert_eq!(kid_of(&new_b), next);
    for base in [&a_base, &b_base] {
        let v = pyjwt(
            &jwks_url(base),
            &[&last_old, &new_a, &new_b],
            ISSUER,
            APP_ORIGIN,
            switch + 58_000,
        );
        assert!(v.iter().all(|r| r["ok"] == true), "{base}: {v:?}");
        let v = pyjwt(
            &jwks_url(base),
            &[&last_old],
            ISSUER,
            APP_ORIGIN,
            switch + 60_000,
        );
        assert_eq!(v[0]["error"], "ExpiredSignatureError", "{v:?}");
    }
    assert_eq!(kids(&a_base).await, two);

    // Once none of its tokens can be valid, the old key is gone from both, and from the
    // database.
    app.clock.set(switch + KEEP_AFTER);
    let left = both_list(&a_base, &b_base, 1).await;
    assert_eq!(left, vec![next.clone()]);
    let v = pyjwt(&jwks_url(&b_base), &[&last_old], ISSUER, APP_ORIGIN, switch);
    assert_eq!(v[0]["ok"], false, "{v:?}");
    drop(b);
}

/// A client-sent `Remote-Assertion` means nothing to Deskward, and no verify answer without a
/// session carries one.
async fn only_a_live_session_gets_an_assertion(backend: Backend) {
    let app = issuing(backend).await;
    let nobody = desk(&app);
    let rb = nobody
        .request(Method::GET, FORWARD_AUTH)
        .header("Remote-Assertion", "forged.jwt.value")
        .header("Accept", "application/json");
    let r = nobody
        .send(rb)
        .await
        .expect_status(StatusCode::UNAUTHORIZED);
    assert!(r.header("remote-assertion").is_none());
    app.add_agent("Ann", "ann@acme.test").await;
    let ann = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let r = ann
        .send(
            ann.request(Method::GET, &format!("{FORWARD_AUTH}?require=admin"))
                .header("X-Forwarded-Proto", "http")
                .header("X-Forwarded-Host", "help.example.test"),
        )
        .await
        .expect_status(StatusCode::FORBIDDEN);
    assert!(r.header("remote-assertion").is_none());
}

/// A database moved onto `--secret-key-file` can no longer open the key sealed before the
/// move: an instance started with the key signs with a new key from then on (never with the
/// wrong bytes the old seal opens to), and publishes both while the old one's tokens live.
async fn a_key_sealed_under_a_former_secret_is_replaced(backend: Backend) {
    let app = issuing(backend).await;
    let pat = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let before = token(&pat).await;
    let mut config = fast_keys();
    config.web.path_prefix = PREFIX.to_string();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.mail.public_url = Some(ISSUER.parse().unwrap());
    let svc = deskward::server::build(
        app.store.clone(),
        Arc::new(app.clock.clone()),
        deskward::events::EventBus::new(),
        &config,
    );
    let key = deskward::service::keys::SecretKey::from_text(
        "9c1f0a7be35d4c2e8f61a0b7d93e4c5f2a8b6d0e1c3f5a7b9d2e4f6a8c0b1d3e",
        "test",
    )
    .unwrap();
    svc.use_secret_key(Some(key))
        .await
        .expect("moved to the key");
    let moved = serve(svc, config).await;
    let on_moved = client_for_base(&format!("{}{PREFIX}", moved.base));
    on_moved.plant_cookie(&pat.session_token().unwrap());
    let after = token(&on_moved).await;
    assert_ne!(kid_of(&after), kid_of(&before));
    let v = pyjwt(
        &jwks_url(&moved.base),
        &[&before, &after],
        ISSUER,
        APP_ORIGIN,
        app.clock.now(),
    );
    assert!(v.iter().all(|r| r["ok"] == true), "{v:?}");
}

backend_tests!(
    an_app_verifies_the_assertion_with_pyjwt,
    a_key_sealed_under_a_former_secret_is_replaced,
    the_audience_is_the_original_requests_origin,
    a_token_is_reused_for_half_its_life,
    only_a_live_session_gets_an_assertion,
);
