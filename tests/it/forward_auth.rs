//! Forward auth without a proxy in between: the test client plays nginx, Caddy or Traefik and
//! asks the verify endpoints what they would. The real proxies are in `proxies.rs`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use deskward::clock::SystemClock;
use deskward::domain::session::EndReason;
use deskward::server::ServerConfig;
use deskward::service::ServiceConfig;
use reqwest::header::{ACCEPT, COOKIE, HOST, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::db::{Backend, TestDb};
use crate::support::{
    COOKIE as COOKIE_NAME, Client, HOUR, MINUTE, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD,
    Response, SECOND, Serving, TestApp, client_for_base, serve,
};

/// Where the guarded deployments of these tests mount Deskward.
pub const PREFIX: &str = "/deskward";
pub const AUTH_REQUEST: &str = "/api/v1/verify/auth-request";
pub const FORWARD_AUTH: &str = "/api/v1/verify/forward-auth";

/// Deskward as it runs in front of an app: under `/deskward`, with the loopback proxy trusted.
pub async fn guarded(backend: Backend) -> TestApp {
    guarded_with(backend, |_| {}).await
}

pub async fn guarded_with(backend: Backend, adjust: impl FnOnce(&mut ServerConfig)) -> TestApp {
    TestApp::spawn_with(backend, |c| {
        c.web.path_prefix = PREFIX.to_string();
        c.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        adjust(c);
    })
    .await
}

/// A client of the guarded Deskward: its paths are relative to the prefix.
pub fn desk(app: &TestApp) -> Client {
    client_for_base(&format!("{}{PREFIX}", app.base))
}

/// A client signed in through the API; panics unless sign-in answers 200.
pub async fn desk_signed_in(app: &TestApp, email: &str, password: &str) -> Client {
    let c = desk(app);
    c.login(email, password).await.expect_status(StatusCode::OK);
    c
}

/// The id of the session a client signed in with.
pub async fn session_id(c: &Client) -> String {
    c.me().await.expect_status(StatusCode::OK).json()["session"]["id"]
        .as_str()
        .expect("session id")
        .to_string()
}

/// A check as a proxy on 127.0.0.1 (trusted) would ask it, with the client's cookie.
async fn verify(c: &Client, endpoint: &str, headers: &[(&str, &str)]) -> Response {
    let mut rb = c.request(Method::GET, endpoint);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    c.send(rb).await
}

/// A plain client connecting from 127.0.0.2: a peer that is not a trusted proxy.
fn untrusted() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client on 127.0.0.2")
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?} {:?}", r.status, r.headers))
}

async fn verify_answers_with_the_identity_of_a_live_session(backend: Backend) {
    let app = guarded(backend).await;
    let zoe = app.add_agent("Zoë O'Brien-Ñúñez", "Zoe@Acme.test").await;
    let sub = app
        .add_admin("Sam Sub", "sam@acme.test", &["audit", "team.agents"])
        .await;
    let agent = desk_signed_in(&app, "zoe@acme.test", PASSWORD).await;
    for endpoint in [AUTH_REQUEST, FORWARD_AUTH] {
        let r = verify(&agent, endpoint, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{endpoint}: {}", r.text);
        assert_eq!(header(&r, "remote-user"), "Zoe@Acme.test");
        assert_eq!(header(&r, "remote-email"), "Zoe@Acme.test");
        assert_eq!(
            header(&r, "remote-name"),
            "Zo%C3%AB%20O%27Brien-%C3%91%C3%BA%C3%B1ez"
        );
        assert_eq!(header(&r, "remote-id"), zoe.id);
        assert_eq!(header(&r, "remote-groups"), "agent");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    let admin = desk_signed_in(&app, "sam@acme.test", PASSWORD).await;
    let r = verify(&admin, AUTH_REQUEST, &[]).await;
    assert_eq!(header(&r, "remote-id"), sub.id);
    assert_eq!(header(&r, "remote-groups"), "admin,team.agents,audit");
    let owner = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let r = verify(&owner, FORWARD_AUTH, &[]).await;
    assert_eq!(
        header(&r, "remote-groups"),
        "admin,primary,team.agents,team.admins,security,audit"
    );
    assert_eq!(header(&r, "remote-name"), "Pat%20Primary");
}

async fn verify_without_a_session_points_to_sign_in(backend: Backend) {
    let app = guarded(backend).await;
    let c = desk(&app);
    let original = "http://desk.test:8080/inbox/7?tab=open&q=a%20b";
    let sign_in = "http://desk.test:8080/deskward/login?rd=http%3A%2F%2Fdesk.test%3A8080%2Finbox%2F7%3Ftab%3Dopen%26q%3Da%2520b";

    // nginx: 401 with the absolute sign-in URL, on the original URL's origin, rd = that URL.
    let r = verify(&c, AUTH_REQUEST, &[("x-original-url", original)]).await;
    r.expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(header(&r, "location"), sign_in);
    // Whatever the request asks for: nginx decides what the browser gets.
    let r = verify(
        &c,
        AUTH_REQUEST,
        &[("x-original-url", original), ("accept", "text/html")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "location"), sign_in);

    // Caddy and Traefik: a page load (GET or HEAD for HTML) is redirected ...
    let forwarded = [
        ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "desk.test:8080"),
        ("x-forwarded-uri", "/inbox/7?tab=open&q=a%20b"),
    ];
    for method in ["GET", "HEAD"] {
        let mut h = forwarded.to_vec();
        h.push(("x-forwarded-method", method));
        h.push(("accept", "text/html,application/xhtml+xml,*/*;q=0.8"));
        let r = verify(&c, FORWARD_AUTH, &h).await;
        assert_eq!(r.status, StatusCode::FOUND, "{method}: {}", r.text);
        assert_eq!(header(&r, "location"), sign_in);
    }
    // ... anything else gets 401 JSON: an API call, a form post, a script's fetch.
    for (method, accept) in [
        ("GET", "application/json"),
        ("GET", "*/*"),
        ("POST", "text/html"),
        ("DELETE", "text/html"),
    ] {
        let mut h = forwarded.to_vec();
        h.push(("x-forwarded-method", method));
        h.push(("accept", accept));
        verify(&c, FORWARD_AUTH, &h)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    }

    // A cookie that names no session is no session.
    let planted = desk(&app);
    planted.plant_cookie(&"ab".repeat(32));
    let r = verify(&planted, AUTH_REQUEST, &[("x-original-url", original)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "location"), sign_in);

    // Without any original URL, sign-in is on the request's own origin and carries no rd.
    let r = verify(&c, AUTH_REQUEST, &[]).await;
    assert_eq!(
        header(&r, "location"),
        format!("{}{PREFIX}/login", app.base)
    );
}

async fn verify_refuses_ended_expired_and_disabled_sessions(backend: Backend) {
    let app = guarded(backend).await;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let owner = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;

    // Ended by an administrator: refused on the very next check (no cache lag).
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let id = session_id(&agent).await;
    verify(&agent, AUTH_REQUEST, &[])
        .await
        .expect_status(StatusCode::OK);
    owner
        .delete(&format!("/api/v1/sessions/{id}"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    verify(&agent, AUTH_REQUEST, &[])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    verify(&agent, FORWARD_AUTH, &[])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // Signed out.
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    verify(&agent, AUTH_REQUEST, &[])
        .await
        .expect_status(StatusCode::OK);
    let token = agent.session_token().unwrap();
    agent.logout().await.expect_status(StatusCode::NO_CONTENT);
    let replay = desk(&app);
    replay.plant_cookie(&token);
    verify(&replay, AUTH_REQUEST, &[])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // Expired: idle past the agents' timeout; the check itself ends it.
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let id = session_id(&agent).await;
    app.advance(72 * HOUR + MINUTE);
    verify(&agent, AUTH_REQUEST, &[])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        app.stored_session(&id).await.end_reason,
        Some(EndReason::Expired)
    );

    // Disabled.
    let owner = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    verify(&agent, FORWARD_AUTH, &[])
        .await
        .expect_status(StatusCode::OK);
    owner
        .patch_json(
            &format!("/api/v1/agents/{}", ann.id),
            &json!({"disabled": true}),
        )
        .await
        .expect_status(StatusCode::OK);
    verify(&agent, FORWARD_AUTH, &[])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

async fn verify_counts_as_activity_without_a_write_per_check(backend: Backend) {
    let app = guarded(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let owner = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    owner
        .put_json(
            "/api/v1/settings/security",
            &json!({"agent_idle_timeout_minutes": 10}),
        )
        .await
        .expect_status(StatusCode::OK);
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let id = session_id(&agent).await;
    let signed_in_at = app.stored_session(&id).await.last_seen_at;

    // Checks within the minute are answered from memory: nothing is written.
    for _ in 0..5 {
        app.advance(10 * SECOND);
        verify(&agent, AUTH_REQUEST, &[])
            .await
            .expect_status(StatusCode::OK);
    }
    assert_eq!(app.stored_session(&id).await.last_seen_at, signed_in_at);
    // Past the minute, one check records the activity.
    app.advance(15 * SECOND);
    verify(&agent, AUTH_REQUEST, &[])
        .await
        .expect_status(StatusCode::OK);
    let touched = app.stored_session(&id).await.last_seen_at;
    assert_eq!(touched, signed_in_at + 65 * SECOND);

    // The app's traffic alone keeps the session alive well past the 10-minute timeout ...
    for _ in 0..5 {
        app.advance(9 * MINUTE);
        verify(&agent, FORWARD_AUTH, &[])
            .await
            .expect_status(StatusCode::OK);
    }
    assert_eq!(app.stored_session(&id).await.end_reason, None);
    // ... and without it, the session expires.
    app.advance(11 * MINUTE);
    verify(&agent, FORWARD_AUTH, &[])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        app.stored_session(&id).await.end_reason,
        Some(EndReason::Expired)
    );
}

async fn require_selects_roles_and_permissions(backend: Backend) {
    let app = guarded(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    app.add_admin("Sam Sub", "sam@acme.test", &["audit"]).await;
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let sub = desk_signed_in(&app, "sam@acme.test", PASSWORD).await;
    let owner = desk_signed_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let cases: [(&Client, &str, bool); 15] = [
        (&agent, "require=agent", true),
        (&agent, "require=admin", false),
        (&agent, "require=audit", false),
        (&agent, "require=team.agents", false),
        (&sub, "require=admin", true),
        (&sub, "require=agent", false),
        (&sub, "require=audit", true),
        (&sub, "require=security", false),
        (&sub, "require=admin&require=audit", true),
        (&sub, "require=admin&require=team.admins", false),
        (&owner, "require=admin", true),
        (&owner, "require=security", true),
        (&owner, "require=team.admins&require=audit", true),
        (&owner, "require=agent", false),
        (&owner, "other=1", true),
    ];
    for (c, query, allowed) in cases {
        for endpoint in [AUTH_REQUEST, FORWARD_AUTH] {
            let r = verify(c, &format!("{endpoint}?{query}"), &[]).await;
            if allowed {
                assert_eq!(r.status, StatusCode::OK, "{endpoint}?{query}: {}", r.text);
                assert!(r.header("remote-user").is_some());
            } else {
                let msg = r.expect_error(StatusCode::FORBIDDEN, "forbidden");
                assert!(msg.starts_with("this page needs"), "{msg}");
                if query == "require=security" {
                    // The permission in words, as the pages name it, not its code.
                    assert_eq!(
                        msg, "this page needs the “Security settings” permission",
                        "{endpoint}?{query}"
                    );
                }
                assert!(r.header("remote-user").is_none(), "{endpoint}?{query}");
            }
        }
    }
    // A requirement nobody could meet is a mistake in the proxy's configuration: said so,
    // and nobody passes, signed in or not.
    for c in [&owner, &desk(&app)] {
        let msg = verify(c, &format!("{AUTH_REQUEST}?require=root"), &[])
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(msg.contains("require") && msg.contains("\"root\""), "{msg}");
    }
}

async fn forwarded_headers_count_only_from_trusted_proxies(backend: Backend) {
    let app = guarded(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let peer = untrusted();
    let forged = [
        ("x-original-url", "https://desk.test/inbox"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-uri", "/steal"),
        ("x-forwarded-method", "GET"),
        ("accept", "text/html"),
    ];
    let own_sign_in = format!("{}{PREFIX}/login", app.base);
    for endpoint in [AUTH_REQUEST, FORWARD_AUTH] {
        let mut rb = peer.get(app.url(&format!("{PREFIX}{endpoint}")));
        for (k, v) in forged {
            rb = rb.header(k, v);
        }
        let r = rb.send().await.unwrap();
        let expected = if endpoint == AUTH_REQUEST {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FOUND
        };
        assert_eq!(r.status(), expected, "{endpoint}");
        // As if there were no original URL: the peer's own origin, no rd.
        assert_eq!(
            r.headers().get(LOCATION).unwrap().to_str().unwrap(),
            own_sign_in,
            "{endpoint}"
        );
    }
    // A forged X-Forwarded-Method from an untrusted peer changes nothing either: the check
    // itself is a GET for HTML, so it is redirected.
    let r = peer
        .get(app.url(&format!("{PREFIX}{FORWARD_AUTH}")))
        .header("x-forwarded-method", "POST")
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);

    // The same headers from the trusted proxy are believed.
    let c = desk(&app);
    let r = verify(&c, FORWARD_AUTH, &forged).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        header(&r, "location"),
        "https://evil.example/deskward/login?rd=https%3A%2F%2Fevil.example%2Fsteal"
    );

    // A session works from any peer; only the description of the original request is
    // ignored.
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let token = agent.session_token().unwrap();
    let r = peer
        .get(app.url(&format!("{PREFIX}{AUTH_REQUEST}")))
        .header(COOKIE, format!("{COOKIE_NAME}={token}"))
        .header("remote-user", "owner@acme.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["remote-user"], "ann@acme.test");
}

/// Traefik's `forwardAuth` is not packaged here: its documented request is reproduced
/// instead (GET to the address, the original request's headers, `X-Forwarded-Method`,
/// `-Proto`, `-Host`, `-Uri`, `-For`).
async fn traefik_forward_auth_request_is_understood(backend: Backend) {
    let app = guarded(backend).await;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let traefik = |c: &Client, method: &str, accept: &str| {
        c.request(Method::GET, FORWARD_AUTH)
            .header(HOST, app.addr.to_string())
            .header("x-forwarded-method", method)
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "desk.example.com")
            .header("x-forwarded-uri", "/tickets/42?view=full")
            .header("x-forwarded-for", "198.51.100.4")
            .header(ACCEPT, accept)
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
            )
    };
    let anonymous = desk(&app);
    let r = anonymous
        .send(traefik(&anonymous, "GET", "text/html,*/*;q=0.8"))
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(
        header(&r, "location"),
        "https://desk.example.com/deskward/login?rd=https%3A%2F%2Fdesk.example.com%2Ftickets%2F42%3Fview%3Dfull"
    );
    anonymous
        .send(traefik(&anonymous, "GET", "application/json"))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");

    // Behind Traefik over HTTPS the browser holds the `__Host-` cookie (over HTTPS no other
    // name is accepted), as it would after signing in through the same proxy.
    let agent = desk_signed_in(&app, "ann@acme.test", PASSWORD).await;
    let token = agent.session_token().expect("signed in");
    let browser = desk(&app);
    let r = browser
        .send(
            traefik(&browser, "PATCH", "application/json")
                .header("cookie", format!("__Host-deskward_session={token}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header(&r, "remote-user"), "ann@acme.test");
    assert_eq!(header(&r, "remote-id"), ann.id);
    // Nothing but Deskward's cookie: no `Cookie` in the answer, so Traefik (which removes the
    // request's `Cookie` because `authResponseHeadersRegex` matches it) passes none to the app.
    assert!(r.headers.get("cookie").is_none(), "{:?}", r.headers);

    // The app's own cookies come back without Deskward's, for Traefik to pass on instead.
    let r = browser
        .send(traefik(&browser, "GET", "application/json").header(
            "cookie",
            format!(
                "app_session=s1; __Host-deskward_session={token}; __Host-deskward_device=p; \
                 theme=dark"
            ),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header(&r, "cookie"), "app_session=s1; theme=dark");
}

/// With several instances on one PostgreSQL, a session ended on one is refused by the
/// others' checks once the event reaches them (within a second, as for pages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_refuses_an_ended_session() {
    let db = TestDb::new(Backend::Postgres).await;
    let a = instance(&db.url).await;
    let b = instance(&db.url).await;
    crate::support::create_acme(&a.svc).await;
    let admin = client_for_base(&format!("{}{PREFIX}", a.base));
    admin
        .login("pat@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    admin
        .post_json(
            "/api/v1/agents",
            &json!({"name": "Ann", "email": "ann@acme.test", "password": PASSWORD}),
        )
        .await
        .expect_status(StatusCode::CREATED);
    let on_a = client_for_base(&format!("{}{PREFIX}", a.base));
    on_a.login("ann@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let id = session_id(&on_a).await;
    let on_b = client_for_base(&format!("{}{PREFIX}", b.base));
    on_b.plant_cookie(&on_a.session_token().unwrap());
    // B has checked (and cached) the session.
    verify(&on_b, AUTH_REQUEST, &[])
        .await
        .expect_status(StatusCode::OK);
    admin
        .delete(&format!("/api/v1/sessions/{id}"))
        .await
        .expect_status(StatusCode::NO_CONTENT);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = verify(&on_b, AUTH_REQUEST, &[]).await;
        if r.status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert!(
            tokio::time::Instant::now() < deadline,
            "instance B still lets an ended session through"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Instance {
    svc: Arc<deskward::service::Service>,
    base: String,
    _server: Serving,
}

async fn instance(url: &str) -> Instance {
    let store = deskward::store::connect(url).await.expect("connect");
    let events = deskward::relay::events_for(url).await;
    let mut config = ServerConfig {
        service: ServiceConfig {
            presence_grace_ms: 300,
        },
        ..crate::support::server_config()
    };
    config.web.path_prefix = PREFIX.to_string();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let svc = deskward::server::build(store, Arc::new(SystemClock), events, &config);
    let server = serve(svc.clone(), config).await;
    Instance {
        svc,
        base: server.base.clone(),
        _server: server,
    }
}

backend_tests!(
    verify_answers_with_the_identity_of_a_live_session,
    verify_without_a_session_points_to_sign_in,
    verify_refuses_ended_expired_and_disabled_sessions,
    verify_counts_as_activity_without_a_write_per_check,
    require_selects_roles_and_permissions,
    forwarded_headers_count_only_from_trusted_proxies,
    traefik_forward_auth_request_is_understood,
);
