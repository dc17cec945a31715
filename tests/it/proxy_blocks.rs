//! What the documented proxy blocks let through to the app, probed byte for byte through the
//! real nginx and Caddy running `docs/reverse-proxy.md` as written: a client's own identity
//! headers in every spelling, Deskward's cookies and forged request descriptions never arrive;
//! the administrators' part is guarded under every spelling of its path.

use std::collections::BTreeSet;
use std::sync::Arc;

use deskward::clock::{Clock, SystemClock};
use deskward::guarded;
use deskward::service::Service;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::browser::ChromeDriver;
use crate::db::{Backend, TestDb};
use crate::forward_auth::{PREFIX, desk_signed_in};
use crate::proxies::{Kind, Proxy, Stack};
use crate::support::{COOKIE, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, Serving, serve};

/// An answer as it came off the wire.
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    /// The inbox's echo of what it received.
    fn echo(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not the app's echo ({e}): {} {}", self.head, self.body))
    }
}

/// `GET path` written byte for byte (a `Host` of its own unless one is given), header names exactly as given (HTTP clients would
/// normalize their case, and the case is what is tested here). HTTP/1.0, so that the answer is
/// neither chunked nor kept alive.
async fn raw_get(base: &str, path: &str, headers: &[(&str, &str)]) -> Raw {
    let host = base.trim_start_matches("http://");
    let mut ask = format!("GET {path} HTTP/1.0\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        ask.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in headers {
        ask.push_str(&format!("{k}: {v}\r\n"));
    }
    ask.push_str("\r\n");
    let mut tcp = tokio::net::TcpStream::connect(host)
        .await
        .expect("connect to the proxy");
    tcp.write_all(ask.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    // nginx's `return 444` closes without a word: an empty answer.
    let _ = tcp.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Raw {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// Every spelling a framework may read as one of the identity headers (CGI, WSGI and Rack turn
/// `-` into `_` and ignore case), each carrying a forged value.
const FORGED_IDENTITY: &[(&str, &str)] = &[
    ("REMOTE-USER", "owner@acme.test"),
    ("Remote_User", "owner@acme.test"),
    ("REMOTE_USER", "owner@acme.test"),
    ("remote_user", "owner@acme.test"),
    ("Remote_Email", "owner@acme.test"),
    ("remote-EMAIL", "owner@acme.test"),
    ("Remote_Name", "Pat"),
    ("REMOTE_ID", "forged"),
    ("remote-id", "forged"),
    ("Remote_Groups", "admin,primary"),
    ("REMOTE-GROUPS", "admin,primary"),
    ("remote_groups", "admin,primary"),
    ("Remote-Assertion", "forged.jwt.value"),
    ("REMOTE_ASSERTION", "forged.jwt.value"),
];

/// The identity headers as one spelling: lower case, `_` as `-`.
fn folded(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

async fn a_clients_identity_headers_never_reach_the_app(backend: Backend, kind: Kind) {
    let stack = Stack::start(backend, kind).await;
    let app = &stack.app;
    let zoe = app.add_agent("Zoë O'Brien", "zoe@acme.test").await;
    let token = desk_signed_in(app, "zoe@acme.test", PASSWORD)
        .await
        .session_token()
        .expect("signed in");
    let cookie = format!("{COOKIE}={token}");
    let mut headers = vec![("Cookie", cookie.as_str())];
    headers.extend_from_slice(FORGED_IDENTITY);

    for path in ["/api/echo", "/admin/api/echo"] {
        let r = raw_get(&stack.proxy.base, path, &headers).await;
        if path.starts_with("/admin") {
            // An agent: refused before the app, whatever they claimed.
            assert_eq!(r.status, 403, "{kind:?} {path}: {} {}", r.head, r.body);
            continue;
        }
        assert_eq!(r.status, 200, "{kind:?} {path}: {} {}", r.head, r.body);
        let seen = r.echo();
        let h = seen["headers"].as_object().expect("the echoed headers");
        // Only Deskward's values, once each, under Deskward's spelling.
        let identity: BTreeSet<&str> = h
            .keys()
            .filter(|k| folded(k).starts_with("remote-"))
            .map(String::as_str)
            .collect();
        assert_eq!(
            identity,
            BTreeSet::from([
                "remote-assertion",
                "remote-email",
                "remote-groups",
                "remote-id",
                "remote-name",
                "remote-user"
            ]),
            "{kind:?}: the app received {seen}"
        );
        // The signed identity is Deskward's, not the client's, and checks out with PyJWT:
        // the keys fetched through the proxy, the proxy's origin as the audience.
        let token = h["remote-assertion"][0].as_str().expect("one assertion");
        assert_ne!(token, "forged.jwt.value", "{kind:?}");
        let v = crate::assertion::pyjwt(
            &format!("{}{PREFIX}/.well-known/jwks.json", stack.proxy.base),
            &[token],
            &format!("{}{PREFIX}", app.base),
            &stack.proxy.base,
            app.clock.now(),
        );
        assert_eq!(v[0]["ok"], true, "{kind:?}: {v:?}");
        assert_eq!(v[0]["claims"]["sub"], json!(zoe.id), "{kind:?}");
        assert_eq!(v[0]["claims"]["name"], "Zoë O'Brien", "{kind:?}");
        assert_eq!(
            h["remote-user"],
            json!(["zoe@acme.test"]),
            "{kind:?} {seen}"
        );
        assert_eq!(
            h["remote-email"],
            json!(["zoe@acme.test"]),
            "{kind:?} {seen}"
        );
        assert_eq!(
            h["remote-name"],
            json!(["Zo%C3%AB%20O%27Brien"]),
            "{kind:?}"
        );
        assert_eq!(h["remote-id"], json!([zoe.id]), "{kind:?} {seen}");
        assert_eq!(h["remote-groups"], json!(["agent"]), "{kind:?} {seen}");
    }

    // The same forgeries from someone signed in as nobody: sign-in, never the app.
    let r = raw_get(
        &stack.proxy.base,
        "/api/echo",
        &[FORGED_IDENTITY, &[("Accept", "application/json")]].concat(),
    )
    .await;
    assert_eq!(r.status, 401, "{kind:?}: {} {}", r.head, r.body);
}

/// The app's own cookies arrive; Deskward's (the session, the device pass, plain or prefixed)
/// and a client's `X-Forwarded-User`, `X-Original-URL` and `X-Forwarded-Host` do not.
async fn deskwards_cookies_and_forged_descriptions_never_reach_the_app(
    backend: Backend,
    kind: Kind,
) {
    let stack = Stack::start(backend, kind).await;
    let app = &stack.app;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let token = desk_signed_in(app, "ann@acme.test", PASSWORD)
        .await
        .session_token()
        .expect("signed in");
    let cookie = format!(
        "theme=dark; {COOKIE}={token}; app_session=s1; deskward_device=d1; \
         __Host-deskward_session=stale; xdeskward_session=app"
    );
    for path in ["/api/echo", "/inbox/api/echo"] {
        let r = raw_get(
            &stack.proxy.base,
            path,
            &[
                ("Cookie", cookie.as_str()),
                ("X-Forwarded-User", "owner@acme.test"),
                ("X_Forwarded_User", "owner@acme.test"),
                ("x-original-url", "/admin/settings"),
                ("X_Original_URL", "/admin/settings"),
                ("X-Forwarded-Host", "evil.example"),
            ],
        )
        .await;
        assert_eq!(r.status, 200, "{kind:?} {path}: {} {}", r.head, r.body);
        let seen = r.echo();
        let h = seen["headers"].as_object().expect("the echoed headers");
        let names: BTreeSet<String> = h
            .get("cookie")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .flat_map(|c| c.split(';'))
            .filter_map(|pair| pair.split_once('=').map(|(n, _)| n.trim().to_string()))
            .collect();
        assert_eq!(
            names,
            BTreeSet::from(["app_session", "theme", "xdeskward_session"].map(String::from)),
            "{kind:?}: the app received {seen}"
        );
        for (name, values) in h {
            let folded = folded(name);
            assert!(
                folded != "x-forwarded-user" && folded != "x-original-url",
                "{kind:?}: the app received {name}: {values}"
            );
        }
        if let Some(host) = h.get("x-forwarded-host") {
            assert_eq!(
                host,
                &json!([stack.proxy.base.trim_start_matches("http://")]),
                "{kind:?}: the proxy's own X-Forwarded-Host, not the client's"
            );
        }
    }
}

/// Spellings of the administrators' part `/admin/…` an app may route as it: case, the bare
/// path, `;` parameters, percent-encoding, dot segments, repeated slashes, a format suffix.
const ADMIN_SPELLINGS: &[&str] = &[
    "/admin/x",
    "/ADMIN/x",
    "/Admin/x",
    "/admin",
    "/ADMIN",
    "/admin/",
    "/admin;/x",
    "/Admin;jsessionid=1/x",
    "/admin;",
    "/%61dmin/x",
    "/%41DMIN/x",
    "/adm%69n/x",
    "//admin/x",
    "///ADMIN/x",
    "/./admin/x",
    "/x/../admin/x",
    "/x/..;/admin/x",
    "/admin/./x",
    "/admin/.",
    "/admin.json",
];

/// Spellings that apps read differently (an encoded `/`, `\` or `;`): refused to everyone,
/// the administrator too, rather than judged one way and routed another.
const REFUSED_SPELLINGS: &[&str] = &["/admin%3B/x", "/admin%2Fx", "/admin%2fx", "/admin%5Cx"];

async fn every_spelling_of_the_admin_path_is_guarded(backend: Backend, kind: Kind) {
    let stack = Stack::start(backend, kind).await;
    let app = &stack.app;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let cookie_of = async |email: &str, password: &str| {
        let token = desk_signed_in(app, email, password)
            .await
            .session_token()
            .expect("signed in");
        format!("{COOKIE}={token}")
    };
    let agent = cookie_of("ann@acme.test", PASSWORD).await;
    let admin = cookie_of(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let is_the_app = |r: &Raw| r.status == 200 && r.body.contains("Sample helpdesk");

    let (mut reached, mut missed) = (Vec::new(), Vec::new());
    for path in ADMIN_SPELLINGS {
        let as_agent = raw_get(
            &stack.proxy.base,
            path,
            &[("Cookie", agent.as_str()), ("Accept", "text/html")],
        )
        .await;
        if is_the_app(&as_agent) || as_agent.status != 403 {
            reached.push(format!("{path} → {}", as_agent.status));
        }
        let as_admin = raw_get(
            &stack.proxy.base,
            path,
            &[("Cookie", admin.as_str()), ("Accept", "text/html")],
        )
        .await;
        if !is_the_app(&as_admin) {
            missed.push(format!("{path} → {}", as_admin.status));
        }
    }
    assert!(
        reached.is_empty(),
        "{kind:?}: an agent was not refused (403) at {reached:?}"
    );
    assert!(
        missed.is_empty(),
        "{kind:?}: the administrator did not reach the app at {missed:?}"
    );
    for path in REFUSED_SPELLINGS {
        for cookie in [&agent, &admin] {
            let r = raw_get(
                &stack.proxy.base,
                path,
                &[("Cookie", cookie.as_str()), ("Accept", "application/json")],
            )
            .await;
            assert_eq!(r.status, 403, "{kind:?} {path}: {} {}", r.head, r.body);
        }
    }
    // What is not the administrators' part stays open to agents.
    for path in ["/administrator", "/inbox/admin", "/admins"] {
        let r = raw_get(
            &stack.proxy.base,
            path,
            &[("Cookie", agent.as_str()), ("Accept", "text/html")],
        )
        .await;
        assert!(is_the_app(&r), "{kind:?} {path}: {}", r.head);
    }
}

async fn nginx_drops_a_clients_identity_headers(backend: Backend) {
    a_clients_identity_headers_never_reach_the_app(backend, Kind::Nginx).await
}
async fn caddy_drops_a_clients_identity_headers(backend: Backend) {
    a_clients_identity_headers_never_reach_the_app(backend, Kind::Caddy).await
}
async fn nginx_keeps_deskwards_cookies_from_the_app(backend: Backend) {
    deskwards_cookies_and_forged_descriptions_never_reach_the_app(backend, Kind::Nginx).await
}
async fn caddy_keeps_deskwards_cookies_from_the_app(backend: Backend) {
    deskwards_cookies_and_forged_descriptions_never_reach_the_app(backend, Kind::Caddy).await
}

async fn nginx_guards_every_spelling_of_the_admin_path(backend: Backend) {
    every_spelling_of_the_admin_path_is_guarded(backend, Kind::Nginx).await
}
async fn caddy_guards_every_spelling_of_the_admin_path(backend: Backend) {
    every_spelling_of_the_admin_path_is_guarded(backend, Kind::Caddy).await
}

backend_tests!(
    nginx_refuses_unknown_hosts,
    nginx_guards_every_spelling_of_the_admin_path,
    caddy_guards_every_spelling_of_the_admin_path,
    nginx_drops_a_clients_identity_headers,
    caddy_drops_a_clients_identity_headers,
    nginx_keeps_deskwards_cookies_from_the_app,
    caddy_keeps_deskwards_cookies_from_the_app,
);

/// The documented nginx server answers only its own host name: a forged `Host` gets no answer
/// at all, so it never lands in a sign-in link; the real one still works.
async fn nginx_refuses_unknown_hosts(backend: Backend) {
    let stack = Stack::start(backend, Kind::Nginx).await;
    let ours = stack.proxy.base.trim_start_matches("http://").to_string();
    let port = ours.rsplit_once(':').expect("host:port").1;
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("127.0.0.2:{port}"),
    ] {
        let r = raw_get(
            &stack.proxy.base,
            "/inbox/7",
            &[("Host", host.as_str()), ("Accept", "text/html")],
        )
        .await;
        assert_eq!(
            (r.status, r.head.as_str()),
            (0, ""),
            "Host {host}: nginx should close without answering"
        );
    }
    for host in [ours.clone(), format!("localhost:{port}")] {
        let r = raw_get(
            &stack.proxy.base,
            "/inbox/7",
            &[("Host", host.as_str()), ("Accept", "text/html")],
        )
        .await;
        assert_eq!(r.status, 302, "Host {host}: {}", r.head);
        assert!(
            r.head.contains(&format!(
                "Location: http://{host}{PREFIX}/login?rd=http%3A%2F%2F"
            )),
            "Host {host}: {}",
            r.head
        );
    }
}

/// A Deskward instance as the README starts them: the proxy on loopback trusted.
async fn readme_instance(url: &str) -> (Arc<Service>, Serving) {
    let store = deskward::store::connect(url).await.expect("connect");
    let events = deskward::relay::events_for(url).await;
    let mut config = crate::support::server_config();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().expect("a CIDR")];
    let svc = deskward::server::build(store, Arc::new(SystemClock), events, &config);
    let serving = serve(svc.clone(), config).await;
    (svc, serving)
}

/// The README's load balancer in front of two instances, exactly as written (only its ports
/// changed): a browser signs in through it and lands on its page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_load_balancer_lets_a_browser_sign_in() {
    let db = TestDb::new(Backend::Postgres).await;
    let (svc, a) = readme_instance(&db.url).await;
    let (_, b) = readme_instance(&db.url).await;
    crate::support::create_acme(&svc).await;

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let block = guarded::block(&readme, "nginx-instances").expect("the README's nginx block");
    let proxy = Proxy::nginx_with(
        |dir, at| {
            let mut http = block.clone();
            for (from, to) in [
                ("server 127.0.0.1:8081;", format!("server {};", a.addr)),
                ("server 127.0.0.1:8082;", format!("server {};", b.addr)),
                ("listen 8080;", format!("listen {at};")),
            ] {
                assert!(http.contains(from), "the README's block lost `{from}`");
                http = http.replace(from, &to);
            }
            guarded::write_nginx_http(&http, dir).expect("write nginx.conf")
        },
        "/healthz",
    )
    .await;

    let driver = ChromeDriver::start().await;
    let browser = driver.browser().await;
    browser.goto(&proxy.url("/login")).await;
    browser
        .find("input[name=email]")
        .await
        .send_keys("pat@acme.test")
        .await
        .expect("type the e-mail");
    browser
        .find("input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await
        .expect("type the password");
    browser.click("main form button[type=submit]").await;
    let landed = browser
        .wait_path("the browser to leave the sign-in page", |p| {
            !p.starts_with("/login")
        })
        .await;
    assert_eq!(landed, "/team/agents", "the administrator's start page");
    assert_eq!(browser.status().await, 200, "{}", proxy.log());
    browser.close().await;
}

/// Traefik cannot run here (not packaged): what its block relies on is reproduced with its
/// own regular expressions (Go's RE2 syntax, which the `regex` crate shares). Its forward-auth
/// middleware deletes every request header `authResponseHeadersRegex` matches, by Go's
/// canonical name, before copying Deskward's; its router takes the administrators' part by
/// `PathRegexp` on the decoded, sanitized path.
#[test]
fn the_traefik_block_strips_every_spelling_and_guards_every_admin_path() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reverse-proxy.md");
    let guide = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let block = guarded::block(&guide, "traefik").expect("the guide's Traefik block");
    let quoted = |key: &str, open: char, close: char| -> Vec<String> {
        block
            .lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .map(|rest| {
                let rest = &rest[rest.find(open).expect("a quoted value") + 1..];
                rest[..rest.rfind(close).expect("a closed value")].to_string()
            })
            .collect()
    };

    let headers = quoted("authResponseHeadersRegex:", '"', '"');
    assert_eq!(headers.len(), 1, "the forward-auth middleware: {block}");
    for re in &headers {
        let re = regex::Regex::new(re).expect("a valid regex");
        for (name, _) in FORGED_IDENTITY {
            // Go's net/http canonicalizes names: `REMOTE_USER` arrives as `Remote_user`.
            let canonical = go_canonical(name);
            assert!(re.is_match(&canonical), "{re} misses {canonical}");
        }
        // `Cookie` too: Traefik replaces it with Deskward's answer, the request's cookies
        // without Deskward's own (forward_auth.rs checks that answer).
        assert!(
            re.is_match("Cookie"),
            "{re} leaves Deskward's cookie to the app"
        );
        for name in [
            "Remote-Addr",
            "X-Remote-User",
            "Remote-Users",
            "Set-Cookie",
            "Cookies",
        ] {
            assert!(!re.is_match(name), "{re} would also remove {name}");
        }
    }

    // The administrators' part is the access rules' business, not a router's: every spelling
    // of it reaches Deskward's check (tests/it/proxy_rules.rs, tests/it/access_rules.rs).
    assert!(!block.contains("require="), "{block}");
}

/// A header name as Go's `http.CanonicalHeaderKey` spells it.
fn go_canonical(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}
