//! Deskward guarding an app behind the real nginx and Caddy, each running the configuration of
//! `docs/reverse-proxy.md` (read from the file, loopback addresses filled in), in front of the
//! sample inbox (`deskward::guarded::inbox`), whose `/api/` paths echo what they received.
//!
//! nginx and Caddy are required (scripts/test.sh installs them): when either is missing the
//! test fails saying so; it never skips.

use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deskward::guarded::{self, Addresses};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, COOKIE, LOCATION};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::db::Backend;
use crate::forward_auth::{PREFIX, desk_signed_in};
use crate::support::{
    COOKIE as COOKIE_NAME, HOUR, MINUTE, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, TestApp,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    Caddy,
}

impl Kind {
    fn program(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Caddy => "caddy",
        }
    }
}

/// The guide as it is in the repository now.
pub(crate) fn guide() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reverse-proxy.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// How a proxy gets its port without a window between a test picking a free one and the
/// proxy taking it (another test's server could take it meanwhile).
enum Listen {
    /// A listening socket the test bound on port 0, handed to nginx, which refuses `listen
    /// …:0` but takes over listening sockets from its parent (see [`hand_over`]).
    Socket(StdListener),
    /// Port 0 in the configuration (Caddy accepts it): the port is read from `/proc` once the
    /// proxy listens.
    PortZero,
}

/// A loopback listener on port 0 for a proxy, and its address.
fn port_zero_listener() -> (Listen, SocketAddr) {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind a loopback port for the proxy");
    let at = listener.local_addr().expect("the proxy's address");
    (Listen::Socket(listener), at)
}

/// Makes `listener` nginx's: nginx takes listening sockets over from its parent as it does
/// across a binary upgrade, by their descriptor numbers in the `NGINX` environment variable
/// (`"3;"`), and a `listen` of the same address then uses that socket instead of binding one.
/// The descriptor survives `exec` because its close-on-exec flag is cleared in the child only.
fn hand_over(cmd: &mut Command, listener: &StdListener) {
    use std::os::fd::{AsRawFd, BorrowedFd};
    let fd = listener.as_raw_fd();
    cmd.env("NGINX", format!("{fd};"));
    // SAFETY: runs in the forked child before exec, and only calls fcntl (async-signal-safe)
    // on a descriptor the parent keeps open until the child has started.
    unsafe {
        cmd.pre_exec(move || {
            let fd = BorrowedFd::borrow_raw(fd);
            socket2::SockRef::from(&fd).set_cloexec(false)
        });
    }
}

/// A proxy process on a loopback port, killed (with its workers) when dropped.
pub struct Proxy {
    child: Child,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:port` (or `https://localhost:port`), what the browser opens.
    pub base: String,
}

impl Proxy {
    pub async fn start(kind: Kind, deskward: SocketAddr, app: SocketAddr) -> Proxy {
        let program = guarded::find_program(kind.program()).unwrap_or_else(|| {
            panic!(
                "the proxy tests need {0}, and it is not installed \
                 (scripts/test.sh installs it: apt-get install -y nginx caddy)",
                kind.program()
            )
        });
        let dir = tempfile::tempdir().expect("temporary directory for the proxy");
        // nginx's workers drop root privileges; they must still reach their temp files.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod the proxy's directory");
        let (listen, proxy) = match kind {
            Kind::Nginx => port_zero_listener(),
            Kind::Caddy => (Listen::PortZero, SocketAddr::from(([127, 0, 0, 1], 0))),
        };
        let at = Addresses {
            proxy,
            deskward,
            app,
        };
        let mut cmd = Command::new(&program);
        match kind {
            Kind::Nginx => {
                let conf = guarded::write_nginx(&guide(), &at, dir.path())
                    .unwrap_or_else(|e| panic!("nginx configuration from the guide: {e}"));
                cmd.arg("-e")
                    .arg("stderr")
                    .arg("-p")
                    .arg(dir.path())
                    .arg("-c")
                    .arg(conf);
            }
            Kind::Caddy => {
                // `http://127.0.0.1:0 {`: Caddy listens on a port the kernel picks. Its host
                // matcher ignores the port, so requests to the real one are this site's.
                let caddyfile = guarded::caddyfile(&guide(), &at)
                    .unwrap_or_else(|e| panic!("Caddyfile from the guide: {e}"));
                let path = dir.path().join("Caddyfile");
                std::fs::write(&path, caddyfile).expect("write the Caddyfile");
                cmd.args(["run", "--adapter", "caddyfile", "--config"])
                    .arg(&path)
                    .env("HOME", dir.path())
                    .env("XDG_DATA_HOME", dir.path())
                    .env("XDG_CONFIG_HOME", dir.path());
            }
        }
        Proxy::run(kind, cmd, dir, listen, &format!("{PREFIX}/healthz"), None).await
    }

    /// nginx running the configuration `write` puts in the directory it is given for a proxy
    /// on the address it is given; ready once `ready` (a path) answers 200 through it.
    pub async fn nginx_with(
        write: impl FnOnce(&std::path::Path, SocketAddr) -> PathBuf,
        ready: &str,
    ) -> Proxy {
        Self::nginx_serving(write, ready, None).await
    }

    /// As [`Proxy::nginx_with`], for a configuration serving HTTPS with a certificate for
    /// `localhost` issued by the certificate authority `ca_pem`: the proxy's base is then
    /// `https://localhost:port` (a name, so the browser sends it as SNI and nginx's
    /// `ssl_reject_handshake` default server lets it through).
    pub async fn nginx_https_with(
        write: impl FnOnce(&std::path::Path, SocketAddr) -> PathBuf,
        ready: &str,
        ca_pem: &[u8],
    ) -> Proxy {
        Self::nginx_serving(write, ready, Some(ca_pem)).await
    }

    async fn nginx_serving(
        write: impl FnOnce(&std::path::Path, SocketAddr) -> PathBuf,
        ready: &str,
        ca_pem: Option<&[u8]>,
    ) -> Proxy {
        let program = guarded::find_program("nginx").expect(
            "this test needs nginx (scripts/test.sh installs it: apt-get install -y nginx)",
        );
        let dir = tempfile::tempdir().expect("temporary directory for nginx");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod nginx's directory");
        let (listen, at) = port_zero_listener();
        let conf = write(dir.path(), at);
        let mut cmd = Command::new(&program);
        cmd.arg("-e")
            .arg("stderr")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(conf);
        Proxy::run(Kind::Nginx, cmd, dir, listen, ready, ca_pem).await
    }

    async fn run(
        kind: Kind,
        mut cmd: Command,
        dir: tempfile::TempDir,
        listen: Listen,
        ready: &str,
        ca_pem: Option<&[u8]>,
    ) -> Proxy {
        let log = std::fs::File::create(dir.path().join("stderr.log")).expect("proxy log file");
        if let Listen::Socket(listener) = &listen {
            hand_over(&mut cmd, listener);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", kind.program()));
        let mut proxy = Proxy {
            child,
            dir,
            base: String::new(),
        };
        let port = match listen {
            // nginx holds the socket now; the test's copy is closed so that nothing but nginx
            // ever accepts on it.
            Listen::Socket(listener) => listener.local_addr().expect("the proxy's port").port(),
            Listen::PortZero => crate::support::port_of(&mut proxy.child, kind.program())
                .await
                .unwrap_or_else(|e| panic!("{e}:\n{}", proxy.log())),
        };
        let mut http = reqwest::Client::builder();
        proxy.base = match ca_pem {
            None => format!("http://127.0.0.1:{port}"),
            Some(pem) => {
                let ca = reqwest::Certificate::from_pem(pem).expect("the test CA's certificate");
                http = http
                    .tls_certs_only([ca])
                    .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)));
                format!("https://localhost:{port}")
            }
        };
        proxy
            .wait_ready(kind, ready, http.build().expect("an HTTP client"))
            .await;
        proxy
    }

    async fn wait_ready(&mut self, kind: Kind, ready: &str, http: reqwest::Client) {
        let start = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}{ready}", self.base)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before answering:\n{}",
                    kind.program(),
                    self.log()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{} did not answer on {} within 20 s:\n{}",
                kind.program(),
                self.base,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the proxy wrote to stderr (and nginx to its error log).
    pub fn log(&self) -> String {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        read(self.dir.path().join("stderr.log")) + &read(self.dir.path().join("error.log"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The whole group: the master and its workers.
        crate::support::kill_group(&mut self.child);
    }
}

/// The sample inbox on a loopback port, stopped when dropped.
pub struct Inbox {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Inbox {
    /// With nginx the proxy injects guard.js; behind Caddy the app includes it.
    pub async fn start(kind: Kind) -> Inbox {
        let guard = (kind == Kind::Caddy).then_some("/deskward/guard.js");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the inbox");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let app = guarded::inbox(PREFIX, guard);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Inbox { addr, _stop: tx }
    }
}

/// Deskward (under `/deskward`, the loopback proxy trusted), the inbox, and the proxy in front.
pub struct Stack {
    pub app: TestApp,
    pub proxy: Proxy,
    _inbox: Inbox,
}

/// The guide's access rules as the loopback runs use them: the status host's rule is for
/// `status.localhost`, a name the loopback nginx server answers (`guarded::write_nginx`).
pub(crate) fn guide_rules() -> String {
    let rules = guarded::block(&guide(), "access-rules").expect("the guide's access rules");
    assert!(
        rules.contains("host = \"status.example.com\""),
        "the guide's rules lost their host rule"
    );
    rules.replace(
        "host = \"status.example.com\"",
        "host = \"status.localhost\"",
    )
}

impl Stack {
    /// Deskward with the guide's access rules, the inbox, and the proxy running the guide's
    /// configuration.
    pub async fn start(backend: Backend, kind: Kind) -> Stack {
        let app = crate::access_rules::ruled(backend, &guide_rules()).await;
        let inbox = Inbox::start(kind).await;
        let proxy = Proxy::start(kind, app.addr, inbox.addr).await;
        Stack {
            app,
            proxy,
            _inbox: inbox,
        }
    }
}

/// A browser stand-in talking to the proxy: cookies kept, redirects not followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location on {}", r.status()))
        .to_str()
        .unwrap()
        .to_string()
}

/// A query value percent-encoded as RFC 3986 says (everything but the unreserved characters),
/// written here rather than taken from Deskward, so the expected URL is not made by the code
/// under test.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A page load, as a browser's navigation asks for it.
async fn page(c: &reqwest::Client, url: &str) -> reqwest::Response {
    c.get(url)
        .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap()
}

/// An API call of the app's own scripts.
async fn api(c: &reqwest::Client, url: &str) -> reqwest::Response {
    c.get(url)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap()
}

/// Asserts the answer to a request without a (live) session: a page load goes to sign-in with
/// the page as `rd`, an API call gets 401 JSON.
async fn assert_refused(stack: &Stack, c: &reqwest::Client, what: &str) {
    let wanted = stack.proxy.url("/inbox/7?tab=open");
    let r = page(c, &wanted).await;
    assert_eq!(r.status(), StatusCode::FOUND, "{what}: page load");
    assert_eq!(
        location(&r),
        stack
            .proxy
            .url(&format!("{PREFIX}/login?rd={}", encode(&wanted))),
        "{what}: sign-in URL"
    );
    let r = api(c, &stack.proxy.url("/api/cases")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}: API call");
    let body: Value = r.json().await.expect("a JSON error");
    assert_eq!(body["error"]["code"], "unauthenticated", "{what}");
}

async fn the_proxy_guards_the_app(backend: Backend, kind: Kind) {
    let stack = Stack::start(backend, kind).await;
    let app = &stack.app;
    let ann = app.add_agent("Zoë O'Brien", "zoe@acme.test").await;
    let c = browser();

    // No cookie: a page load goes to sign-in, an API call gets 401 JSON; a form post too.
    assert_refused(&stack, &c, "no cookie").await;
    let r = c
        .post(stack.proxy.url("/inbox/7/reply"))
        .header(ACCEPT, "text/html")
        .form(&[("text", "hello")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a form post");

    // The sign-in page, through the proxy, keeps rd; signing in goes back there.
    let wanted = stack.proxy.url("/inbox/7?tab=open");
    let sign_in = location(&page(&c, &wanted).await);
    let r = page(&c, &sign_in).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("name=\"rd\""));
    let r = c
        .post(stack.proxy.url(&format!("{PREFIX}/login")))
        .form(&[
            ("email", "zoe@acme.test"),
            ("password", PASSWORD),
            ("rd", wanted.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), wanted);

    // The app sees who it is, once, whatever the client claimed.
    let r = c
        .get(stack.proxy.url("/api/echo"))
        .header("Remote-User", "owner@acme.test")
        .header("Remote-Groups", "admin,primary")
        .header("Remote-Id", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let seen: Value = r.json().await.unwrap();
    let h = &seen["headers"];
    assert_eq!(h["remote-user"], json!(["zoe@acme.test"]), "{seen}");
    assert_eq!(h["remote-email"], json!(["zoe@acme.test"]), "{seen}");
    assert_eq!(h["remote-name"], json!(["Zo%C3%AB%20O%27Brien"]), "{seen}");
    assert_eq!(h["remote-id"], json!([ann.id]), "{seen}");
    assert_eq!(h["remote-groups"], json!(["agent"]), "{seen}");
    // Deskward's own pages are reachable through the proxy, signed in.
    let r = page(&c, &stack.proxy.url(&format!("{PREFIX}/agent"))).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Every page of the app carries guard.js exactly once (injected by nginx, included by the
    // app behind Caddy).
    let html = page(&c, &wanted).await.text().await.unwrap();
    assert_eq!(
        html.matches("<script src=\"/deskward/guard.js\" defer></script>")
            .count(),
        1,
        "{html}"
    );
    assert!(html.contains("<b id=\"who\">Zoë O&#39;Brien</b>"), "{html}");

    // An administrators' part: agents get 403, administrators pass.
    let r = page(&c, &stack.proxy.url("/admin/settings")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let owner = browser();
    let r = owner
        .post(stack.proxy.url(&format!("{PREFIX}/login")))
        .form(&[("email", PRIMARY_EMAIL), ("password", PRIMARY_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), format!("{PREFIX}/"));
    let r = owner
        .get(stack.proxy.url("/admin/api/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(
        seen["headers"]["remote-groups"],
        json!(["admin,primary,team.agents,team.admins,security,audit"])
    );

    // Forged descriptions of the original request from the client change nothing: the proxy
    // sets its own.
    let anonymous = browser();
    let r = anonymous
        .get(&wanted)
        .header(ACCEPT, "text/html")
        .header("X-Original-URL", "http://evil.example/")
        .header("X-Forwarded-Uri", "/evil")
        .header("X-Forwarded-Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        location(&r),
        stack
            .proxy
            .url(&format!("{PREFIX}/login?rd={}", encode(&wanted)))
    );

    // An rd to another origin is ignored by the sign-in page.
    let r = anonymous
        .post(stack.proxy.url(&format!("{PREFIX}/login")))
        .form(&[
            ("email", "zoe@acme.test"),
            ("password", PASSWORD),
            ("rd", "http://evil.example/inbox"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), format!("{PREFIX}/agent"));
}

async fn ended_expired_and_disabled_sessions_stop_at_the_proxy(backend: Backend, kind: Kind) {
    let stack = Stack::start(backend, kind).await;
    let app = &stack.app;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let owner = desk_signed_in(app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let wanted = stack.proxy.url("/inbox/7?tab=open");

    // A browser signed in through the proxy.
    let signed_in = || async {
        let c = browser();
        let r = c
            .post(stack.proxy.url(&format!("{PREFIX}/login")))
            .form(&[("email", "ann@acme.test"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(page(&c, &wanted).await.status(), StatusCode::OK);
        c
    };

    // Ended by an administrator: the very next request is refused.
    let c = signed_in().await;
    owner
        .delete(&format!("/api/v1/agents/{}/sessions", ann.id))
        .await
        .expect_status(StatusCode::OK);
    assert_refused(&stack, &c, "ended by an administrator").await;

    // Expired.
    let c = signed_in().await;
    app.advance(72 * HOUR + MINUTE);
    assert_refused(&stack, &c, "expired").await;

    // The person disabled.
    let owner = desk_signed_in(app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let c = signed_in().await;
    owner
        .patch_json(
            &format!("/api/v1/agents/{}", ann.id),
            &json!({"disabled": true}),
        )
        .await
        .expect_status(StatusCode::OK);
    assert_refused(&stack, &c, "disabled").await;

    // A cookie that never named a session.
    let forged = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = forged
        .get(&wanted)
        .header(ACCEPT, "text/html")
        .header(COOKIE, format!("{COOKIE_NAME}={}", "ab".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "a made-up cookie");
}

/// Straight to Deskward from a peer that is not the proxy, the forwarded headers are ignored.
async fn untrusted_peers_cannot_describe_the_original_request(backend: Backend, kind: Kind) {
    let stack = Stack::start(backend, kind).await;
    let peer = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let endpoint = match kind {
        Kind::Nginx => "auth-request",
        Kind::Caddy => "forward-auth",
    };
    let r = peer
        .get(stack.app.url(&format!("{PREFIX}/api/v1/verify/{endpoint}")))
        .header(ACCEPT, "text/html")
        .header("X-Forwarded-Proto", "http")
        .header(
            "X-Forwarded-Host",
            stack.proxy.base.trim_start_matches("http://"),
        )
        .header("X-Forwarded-Uri", "/evil")
        .header("X-Original-URL", stack.proxy.url("/evil"))
        .send()
        .await
        .unwrap();
    assert!(
        matches!(r.status(), StatusCode::FOUND | StatusCode::UNAUTHORIZED),
        "{}",
        r.status()
    );
    assert_eq!(
        location(&r),
        format!("{}{PREFIX}/login", stack.app.base),
        "no rd from an untrusted peer"
    );
}

async fn nginx_guards_the_app(backend: Backend) {
    the_proxy_guards_the_app(backend, Kind::Nginx).await
}
async fn caddy_guards_the_app(backend: Backend) {
    the_proxy_guards_the_app(backend, Kind::Caddy).await
}
async fn nginx_stops_ended_expired_and_disabled_sessions(backend: Backend) {
    ended_expired_and_disabled_sessions_stop_at_the_proxy(backend, Kind::Nginx).await
}
async fn caddy_stops_ended_expired_and_disabled_sessions(backend: Backend) {
    ended_expired_and_disabled_sessions_stop_at_the_proxy(backend, Kind::Caddy).await
}
async fn nginx_untrusted_peers_cannot_describe_the_original_request(backend: Backend) {
    untrusted_peers_cannot_describe_the_original_request(backend, Kind::Nginx).await
}
async fn caddy_untrusted_peers_cannot_describe_the_original_request(backend: Backend) {
    untrusted_peers_cannot_describe_the_original_request(backend, Kind::Caddy).await
}

/// The Traefik block cannot run here (not packaged); at least it must name the endpoint and
/// the headers the tests reproduce.
#[test]
fn the_traefik_configuration_names_what_deskward_answers() {
    let block = guarded::block(&guide(), "traefik").expect("the guide's Traefik block");
    for needle in [
        "address: \"http://127.0.0.1:8080/deskward/api/v1/verify/forward-auth\"",
        "trustForwardHeader: false",
        // Removes every spelling a client sent and the Cookie header, then copies Deskward's.
        "authResponseHeadersRegex: \"(?i)^(remote[-_](user|email|name|id|groups|assertion)|cookie)$\"",
        "X_Forwarded_User: \"\"",
        "X-Original-URL: \"\"",
        "PathPrefix(`/deskward/`)",
    ] {
        assert!(block.contains(needle), "{needle} missing from:\n{block}");
    }
}

/// The README shows the nginx configuration: the same blocks as the guide, word for word.
#[test]
fn the_readme_shows_the_guides_nginx_configuration() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    for name in ["nginx-http", "nginx-guard", "nginx-server"] {
        assert_eq!(
            guarded::block(&readme, name).unwrap(),
            guarded::block(&guide(), name).unwrap(),
            "README.md's {name} block differs from docs/reverse-proxy.md's"
        );
    }
}

backend_tests!(
    nginx_guards_the_app,
    caddy_guards_the_app,
    nginx_stops_ended_expired_and_disabled_sessions,
    caddy_stops_ended_expired_and_disabled_sessions,
    nginx_untrusted_peers_cannot_describe_the_original_request,
    caddy_untrusted_peers_cannot_describe_the_original_request,
);
