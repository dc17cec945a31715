//! TestApp: the real server on port 0 with a manual clock, fixtures made through the service,
//! and a cookie-keeping API client that sends the CSRF token it was given.
// Shared by every test module of the binary: not each one uses every helper.
#![allow(dead_code)]

pub mod oidc;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deskward::clock::ManualClock;
use deskward::domain::ClientIp;
use deskward::domain::member::{MemberKind, Permissions};
use deskward::domain::policy::Actor;
use deskward::domain::time::Millis;
use deskward::server::ServerConfig;
use deskward::service::NewAccountRequest;
use deskward::service::{LoginRequest, NewPerson, Service, ServiceConfig};
use deskward::store::testing::TestStore;
use deskward::store::{Account, Member, Session};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::db::{Backend, TestDb};

/// Where the manual clock starts: a whole second, so RFC 3339 (second precision) is exact.
pub const START: Millis = 1_790_000_000_000;
pub const SECOND: Millis = 1_000;
pub const MINUTE: Millis = 60 * SECOND;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;

pub const PRIMARY_NAME: &str = "Pat Primary";
pub const PRIMARY_EMAIL: &str = "owner@acme.test";
pub const PRIMARY_PASSWORD: &str = "owner password 123";
/// The password every fixture person gets unless a test says otherwise.
pub const PASSWORD: &str = "correct horse battery";

pub const CHROME_WINDOWS_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The name of the session cookie over plain HTTP.
pub const COOKIE: &str = "deskward_session";

/// The running service of one test, on its own fresh database.
pub struct TestApp {
    pub backend: Backend,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:port`
    pub base: String,
    pub clock: ManualClock,
    pub svc: Arc<Service>,
    /// The same database, read directly to check what was stored.
    pub store: Arc<dyn TestStore>,
    /// The account the deployment serves (the first created).
    pub account: Account,
    /// Its primary administrator (password [`PRIMARY_PASSWORD`]).
    pub primary: Member,
    /// Where messages go as `.eml` files unless the test gave an SMTP server.
    pub mail_dir: tempfile::TempDir,
    server: Serving,
    // Dropped last: the server must stop before its database goes.
    _db: TestDb,
}

impl TestApp {
    /// A fresh database with one account and its primary administrator, served on port 0.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// As [`TestApp::spawn`], with the server configuration adjusted first (trusted proxies,
    /// HTTPS).
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut ServerConfig)) -> TestApp {
        Self::spawn_on(TestDb::new(backend).await, backend, adjust).await
    }

    /// As [`TestApp::spawn_with`], on a database the test made (a SQLite file on a volume
    /// of its own).
    pub async fn spawn_on(
        db: TestDb,
        backend: Backend,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestApp {
        let store = deskward::store::testing::connect(&db.url)
            .await
            .expect("connect to the test database");
        Self::spawn_with_store(db, backend, store, adjust).await
    }

    /// As `spawn_on`, on a store already connected to `db` (through a proxy, with another pool).
    pub async fn spawn_with_store(
        db: TestDb,
        backend: Backend,
        store: Arc<dyn TestStore>,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestApp {
        let clock = ManualClock::new(START);
        let mail_dir = tempfile::tempdir().expect("a directory for e-mail");
        let mut config = ServerConfig {
            sweep_interval: Duration::from_secs(3600),
            service: ServiceConfig {
                presence_grace_ms: 300,
            },
            ..server_config()
        };
        config.mail.transport =
            deskward::service::mailer::Transport::Files(mail_dir.path().to_path_buf());
        adjust(&mut config);
        let svc = deskward::server::build(
            store.clone(),
            Arc::new(clock.clone()),
            deskward::events::EventBus::new(),
            &config,
        );
        let (account, primary) = create_acme_support(&svc).await;
        let server = serve(svc.clone(), config).await;
        TestApp {
            backend,
            addr: server.addr,
            base: server.base.clone(),
            clock,
            svc,
            store,
            account,
            primary,
            mail_dir,
            server,
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The URL of the test's database.
    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    /// A new browser-like client: its own cookie jar, no session yet.
    pub fn client(&self) -> Client {
        Client::new(&self.base, None)
    }

    /// A new client whose every request carries this User-Agent.
    pub fn client_with_user_agent(&self, user_agent: &str) -> Client {
        Client::new(&self.base, Some(user_agent))
    }

    /// A client signed in as the primary administrator.
    pub async fn primary_client(&self) -> Client {
        self.signed_in(PRIMARY_EMAIL, PRIMARY_PASSWORD).await
    }

    /// A client signed in with these credentials; panics unless sign-in answers 200.
    pub async fn signed_in(&self, email: &str, password: &str) -> Client {
        let c = self.client();
        c.login(email, password).await.expect_status(StatusCode::OK);
        c
    }

    /// The primary administrator as the service's rules see them.
    pub fn primary_actor(&self) -> Actor {
        primary_actor(&self.account, &self.primary)
    }

    /// Adds a person through the service, as the primary administrator.
    pub async fn add_person(
        &self,
        kind: MemberKind,
        name: &str,
        email: &str,
        password: &str,
        permissions: &[&str],
    ) -> Member {
        let person = new_person(kind, name, email, password, permissions);
        add_person(&self.svc, &self.primary_actor(), person).await
    }

    /// An agent with the fixture password [`PASSWORD`].
    pub async fn add_agent(&self, name: &str, email: &str) -> Member {
        self.add_person(MemberKind::Agent, name, email, PASSWORD, &[])
            .await
    }

    /// A sub-administrator with the fixture password [`PASSWORD`].
    pub async fn add_admin(&self, name: &str, email: &str, permissions: &[&str]) -> Member {
        self.add_person(MemberKind::Admin, name, email, PASSWORD, permissions)
            .await
    }

    /// Starts a session directly through the service (no HTTP), returning its id and token.
    pub async fn start_session(&self, email: &str, password: &str) -> (String, String) {
        self.start_session_in(&self.account.id, email, password)
            .await
    }

    /// As [`TestApp::start_session`], in any account.
    pub async fn start_session_in(
        &self,
        account_id: &str,
        email: &str,
        password: &str,
    ) -> (String, String) {
        let out = fixture_sign_in(
            &self.svc,
            LoginRequest {
                account_id: account_id.to_string(),
                email: email.to_string(),
                password: password.to_string(),
                as_kind: None,
                ip: client_ip("127.0.0.1"),
                user_agent: "fixture".to_string(),
                device_pass: None,
            },
        )
        .await;
        (out.session.id, out.token)
    }

    /// Creates a second account (the deployment keeps serving the first one) with its primary
    /// administrator and one agent, through the service.
    pub async fn other_account(&self) -> OtherAccount {
        // Accounts are ordered by creation time: keep the test's account the first.
        self.advance(SECOND);
        let (account, primary) = self
            .svc
            .create_account(
                NewAccountRequest {
                    name: "Globex Helpdesk".to_string(),
                    slug: Some("globex".to_string()),
                    admin_name: "Gil Globex".to_string(),
                    admin_email: "gil@globex.test".to_string(),
                    admin_password: PASSWORD.to_string(),
                },
                false,
            )
            .await
            .expect("create the other account");
        let agent = add_person(
            &self.svc,
            &primary_actor(&account, &primary),
            NewPerson {
                kind: MemberKind::Agent,
                name: "Gus Globex".to_string(),
                email: "gus@globex.test".to_string(),
                password: Some(PASSWORD.to_string()),
                permissions: Vec::new(),
            },
        )
        .await;
        OtherAccount {
            account,
            primary,
            agent,
        }
    }

    /// A session as the store holds it, ended or not.
    pub async fn stored_session(&self, session_id: &str) -> Session {
        self.store
            .session(&self.account.id, session_id)
            .await
            .unwrap_or_else(|e| panic!("read session {session_id}: {e}"))
    }

    /// A person as the store holds them.
    pub async fn stored_member(&self, member_id: &str) -> Member {
        self.store
            .member(&self.account.id, member_id)
            .await
            .unwrap_or_else(|e| panic!("read member {member_id}: {e}"))
    }

    /// Runs the idle-session sweep now, as the background task would; returns how many ended.
    pub async fn sweep(&self) -> usize {
        self.svc.expire_sessions().await.expect("sweep")
    }

    /// Moves the injected clock forward.
    pub fn advance(&self, by: Millis) {
        self.clock.advance(by);
    }
}

/// A second account of the same deployment; its people sign in with [`PASSWORD`].
pub struct OtherAccount {
    pub account: Account,
    pub primary: Member,
    pub agent: Member,
}

/// An HTTP answer, read whole so tests can look at it as often as they like.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Response {
    async fn read(res: reqwest::Response) -> Response {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("read response body");
        Response {
            status,
            headers,
            text,
        }
    }

    /// The body as JSON; panics (showing the body) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?} {}", self.status, self.text))
    }

    /// Panics with the body unless the status is `expected`; returns self for chaining.
    #[track_caller]
    pub fn expect_status(self, expected: StatusCode) -> Response {
        assert_eq!(
            self.status, expected,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an API error answer: this status and `{"error": {"code": code, "message"}}`.
    /// Returns the message.
    #[track_caller]
    pub fn expect_error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        let v = self.json();
        assert_eq!(
            v["error"]["code"], code,
            "unexpected error code; body: {}",
            self.text
        );
        let message = v["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("error without message: {}", self.text));
        assert!(!message.is_empty(), "empty error message");
        message.to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` value of the answer.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// The session token a `Set-Cookie` of this answer carries, if any (an empty value, as
    /// when the cookie is cleared, counts as none).
    pub fn session_token(&self) -> Option<String> {
        self.set_cookies().iter().find_map(|c| {
            let first = c.split(';').next()?.trim();
            let (name, value) = first.split_once('=')?;
            (name.ends_with(COOKIE) && !value.is_empty()).then(|| value.to_string())
        })
    }
}

/// A browser stand-in: keeps cookies, remembers the CSRF token from the last login or `/me`
/// answer and sends it on every state-changing request.
pub struct Client {
    /// The underlying client (cookies on, redirects off) for requests built by hand.
    pub raw: reqwest::Client,
    pub base: String,
    jar: Arc<Jar>,
    csrf: Mutex<Option<String>>,
    token: Mutex<Option<String>>,
}

impl Client {
    fn new(base: &str, user_agent: Option<&str>) -> Client {
        Self::with_headers(base, user_agent, HeaderMap::new())
    }

    fn with_headers(base: &str, user_agent: Option<&str>, headers: HeaderMap) -> Client {
        let jar = Arc::new(Jar::default());
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30));
        if let Some(ua) = user_agent {
            builder = builder.user_agent(ua);
        }
        Client {
            raw: builder.build().expect("build HTTP client"),
            base: base.to_string(),
            jar,
            csrf: Mutex::new(None),
            token: Mutex::new(None),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `POST /api/v1/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.login_body(&serde_json::json!({"email": email, "password": password}))
            .await
    }

    /// `POST /api/v1/auth/login` with `"as": kind`.
    pub async fn login_as(&self, email: &str, password: &str, kind: &str) -> Response {
        self.login_body(&serde_json::json!({"email": email, "password": password, "as": kind}))
            .await
    }

    /// `POST /api/v1/auth/login` with any JSON body.
    pub async fn login_body(&self, body: &Value) -> Response {
        let res = self.post_json("/api/v1/auth/login", body).await;
        if let Some(t) = res.session_token() {
            *self.token.lock().unwrap() = Some(t);
        }
        res
    }

    /// `POST /api/v1/auth/logout`.
    pub async fn logout(&self) -> Response {
        self.send(self.request(Method::POST, "/api/v1/auth/logout"))
            .await
    }

    pub async fn me(&self) -> Response {
        self.get("/api/v1/me").await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// Posts a page form as the browser would, with the session's CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.csrf().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
        all.extend_from_slice(fields);
        self.send(self.raw.post(self.url(path)).form(&all)).await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.send(self.request(Method::PATCH, path).json(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// A request with the cookie jar and, on state-changing methods, the remembered CSRF
    /// token; add headers or a body, then [`Client::send`] it.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        let mut rb = self.raw.request(method, self.url(path));
        if unsafe_method && let Some(csrf) = self.csrf() {
            rb = rb.header("x-csrf-token", csrf);
        }
        rb
    }

    /// Sends a request and reads the whole answer; remembers a CSRF token it carries.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Response {
        let res = Response::read(rb.send().await.expect("send request")).await;
        if res.status.is_success()
            && let Ok(v) = serde_json::from_str::<Value>(&res.text)
            && let Some(csrf) = v.get("csrf_token").and_then(Value::as_str)
        {
            *self.csrf.lock().unwrap() = Some(csrf.to_string());
        }
        res
    }

    /// A cookie's value as the jar would send it now.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let url: Url = self.base.parse().expect("base URL");
        let header: HeaderValue = self.jar.cookies(&url)?;
        header.to_str().ok()?.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
    }

    /// Puts any cookie into the jar.
    pub fn plant(&self, name: &str, value: &str) {
        let url: Url = self.base.parse().expect("base URL");
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/"), &url);
    }

    /// The CSRF token this client will send.
    pub fn csrf(&self) -> Option<String> {
        self.csrf.lock().unwrap().clone()
    }

    pub fn set_csrf(&self, csrf: Option<&str>) {
        *self.csrf.lock().unwrap() = csrf.map(str::to_string);
    }

    /// The session token from the `Set-Cookie` of this client's last successful sign-in.
    pub fn session_token(&self) -> Option<String> {
        self.token.lock().unwrap().clone()
    }

    /// The session token the cookie jar would send now (gone after sign-out clears it).
    pub fn cookie_token(&self) -> Option<String> {
        let url: Url = self.base.parse().expect("base URL");
        let header: HeaderValue = self.jar.cookies(&url)?;
        header.to_str().ok()?.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_string())
        })
    }

    /// Puts a session cookie into the jar, as if the server had set it (or an attacker had).
    pub fn plant_cookie(&self, token: &str) {
        let url: Url = self.base.parse().expect("base URL");
        self.jar
            .add_cookie_str(&format!("{COOKIE}={token}; Path=/"), &url);
    }
}

/// A client whose every request says, through a trusted proxy (the server must trust
/// 127.0.0.1), that it comes from `ip`, with this User-Agent.
/// Creates the account every `TestApp` and browser test serves: "Acme Support" (slug `acme`),
/// primary administrator [`PRIMARY_EMAIL`] / [`PRIMARY_PASSWORD`].
pub async fn create_acme_support(svc: &Service) -> (Account, Member) {
    svc.create_account(
        NewAccountRequest {
            name: "Acme Support".to_string(),
            slug: Some("acme".to_string()),
            admin_name: PRIMARY_NAME.to_string(),
            admin_email: PRIMARY_EMAIL.to_string(),
            admin_password: PRIMARY_PASSWORD.to_string(),
        },
        true,
    )
    .await
    .expect("create the test account")
}

/// An account's primary administrator as the service's rules see them, acting from loopback
/// outside any session.
pub fn primary_actor(account: &Account, primary: &Member) -> Actor {
    Actor {
        account_id: account.id.clone(),
        member_id: primary.id.clone(),
        kind: MemberKind::Admin,
        primary: true,
        permissions: Permissions::all(),
        ip: client_ip("127.0.0.1"),
        session_id: None,
    }
}

/// A person to add, as fixtures write them.
pub fn new_person(
    kind: MemberKind,
    name: &str,
    email: &str,
    password: &str,
    permissions: &[&str],
) -> NewPerson {
    NewPerson {
        kind,
        name: name.to_string(),
        email: email.to_string(),
        password: Some(password.to_string()),
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
    }
}

/// Adds a person through the service as `actor`; panics with what went wrong.
pub async fn add_person(svc: &Service, actor: &Actor, person: NewPerson) -> Member {
    let (kind, email) = (person.kind, person.email.clone());
    svc.add_person(actor, person)
        .await
        .unwrap_or_else(|e| panic!("add {kind} {email}: {e}"))
        .member
}

/// Signs in through the service (no HTTP); panics unless a session started.
pub async fn fixture_sign_in(svc: &Service, req: LoginRequest) -> deskward::service::SignedIn {
    let email = req.email.clone();
    svc.login(req)
        .await
        .unwrap_or_else(|e| panic!("fixture sign-in of {email}: {e}"))
        .started_session()
        .unwrap_or_else(|| panic!("fixture sign-in of {email}: no session started"))
}

/// Starts `deskward serve` on a port-0 listener with `args` and `envs` (and without
/// `DESKWARD_SECRET_KEY_FILE`) and waits for it to refuse them; panics if it starts serving
/// instead. Returns its exit code and what it wrote on stderr.
/// A loopback port held for as long as the returned socket lives: bound but never listening,
/// so a connection to it is refused, and no other test can be given the port meanwhile (a port
/// found free and then released could be).
pub fn held_closed_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind a loopback port");
    let port = socket.local_addr().expect("address").port();
    (socket, port)
}

/// Where the servers and binaries the tests start write their `.eml` files (sign-in alerts
/// go to administrators by default), so that none lands in the checkout's `deskward-mail`.
pub fn scratch_mail_dir() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a scratch mail folder"))
        .path()
}

/// The configuration every in-process test server starts from: the defaults, with messages
/// written into [`scratch_mail_dir`] instead of the working directory's `deskward-mail`.
pub fn server_config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.mail.transport =
        deskward::service::mailer::Transport::Files(scratch_mail_dir().to_path_buf());
    config
}

pub async fn refused_serve(
    url: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> (Option<i32>, String) {
    // Spawned rather than run to the end: a server that accepted the values would serve on.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_deskward"))
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", url])
        .args(args)
        .env("DESKWARD_MAIL_DIR", scratch_mail_dir())
        .envs(envs.iter().copied())
        .env_remove("DESKWARD_SECRET_KEY_FILE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start deskward");
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{args:?} {envs:?} was accepted: the server started");
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits for a child started with a piped stdout to print the port it listens on, which
/// `port` picks out of a line. Its stdout is read on a thread of its own to the end, so the
/// child never blocks on a full pipe. If it exits first or says nothing `within`, it is
/// killed and the test fails naming `what`.
pub async fn announced_port(
    child: &mut std::process::Child,
    what: &str,
    within: Duration,
    port: fn(&str) -> Option<u16>,
) -> u16 {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = port(&line)
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(port);
            }
        }
    });
    match tokio::time::timeout(within, rx).await {
        Ok(Ok(port)) => port,
        _ => {
            let exited = child.try_wait();
            let _ = child.kill();
            match exited {
                Ok(Some(status)) => panic!("{what} exited before listening: {status}"),
                _ => panic!("{what} did not say where it listens within {within:?}"),
            }
        }
    }
}

/// Kills a child that leads a process group of its own, and the whole group with it (nginx's
/// workers, the browsers chromedriver launched), then reaps it: what a test's `Drop` does.
pub fn kill_group(child: &mut std::process::Child) {
    let _ = std::process::Command::new("/bin/kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

/// A client's address as the service takes it, from an address the test writes.
pub fn client_ip(text: &str) -> ClientIp {
    ClientIp(Some(
        text.parse().unwrap_or_else(|e| panic!("{text:?}: {e}")),
    ))
}

pub fn forwarded_client(base: &str, ip: &str, user_agent: &str) -> Client {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_str(ip).expect("an address"),
    );
    Client::with_headers(base, Some(user_agent), headers)
}

/// The same session as `c` (cookie and CSRF token) from another address or device.
pub fn moved_client(c: &Client, ip: &str, user_agent: &str) -> Client {
    let moved = forwarded_client(&c.base, ip, user_agent);
    moved.plant_cookie(&c.session_token().expect("a signed-in client"));
    moved.set_csrf(c.csrf().as_deref());
    moved
}

/// A new client carrying exactly this session token (for replaying an old cookie).
pub fn client_with_token(app: &TestApp, token: &str) -> Client {
    let c = app.client();
    c.plant_cookie(token);
    c
}

/// RFC 3339 of an instant, as the API writes timestamps.
pub fn rfc3339(ms: Millis) -> String {
    deskward::domain::time::rfc3339(ms)
}

/// Asserts that a JSON value has the Member shape of docs/api.md for its kind.
#[track_caller]
pub fn assert_member_shape(v: &Value) {
    for key in [
        "id",
        "kind",
        "name",
        "email",
        "disabled",
        "invited",
        "linked",
        "session_active",
        "sessions",
    ] {
        assert!(v.get(key).is_some(), "Member without {key}: {v}");
    }
    assert!(v["invited"].is_boolean(), "invited: {v}");
    assert!(v["id"].as_str().is_some_and(|s| !s.is_empty()), "id: {v}");
    assert!(
        v["disabled"].is_boolean() && v["session_active"].is_boolean(),
        "{v}"
    );
    let sessions = v["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("sessions: {v}"));
    assert_eq!(
        v["session_active"].as_bool(),
        Some(!sessions.is_empty()),
        "{v}"
    );
    for s in sessions {
        assert_session_shape(s);
    }
    match v["kind"].as_str() {
        Some("admin") => {
            assert!(v["primary"].is_boolean(), "admin without primary: {v}");
            assert!(
                v["permissions"].is_array(),
                "admin without permissions: {v}"
            );
            assert!(v.get("status").is_none(), "admins have no status: {v}");
        }
        Some("agent") => {
            assert!(
                matches!(v["status"].as_str(), Some("online" | "offline")),
                "agent status: {v}"
            );
            assert!(
                v.get("primary").is_none() && v.get("permissions").is_none(),
                "{v}"
            );
        }
        other => panic!("kind {other:?}: {v}"),
    }
    if !v["linked"].is_null() {
        assert!(
            v["linked"]["kind"].is_string()
                && (v["linked"]["id"].is_string() || v["linked"]["id"].is_null()),
            "{v}"
        );
    }
}

/// Asserts the Session shape of docs/api.md (a live session: no end fields).
#[track_caller]
pub fn assert_session_shape(s: &Value) {
    for key in [
        "id",
        "started_at",
        "last_seen_at",
        "ip",
        "user_agent",
        "device",
    ] {
        assert!(s[key].is_string(), "Session without {key}: {s}");
    }
    for t in ["started_at", "last_seen_at"] {
        let text = s[t].as_str().unwrap();
        assert!(
            deskward::domain::time::parse_rfc3339(text).is_some() && text.ends_with('Z'),
            "{t} is not RFC 3339 UTC: {text}"
        );
    }
}

/// The ids of a list answer's items, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {list}"))
        .iter()
        .map(|m| m["id"].as_str().expect("item id").to_string())
        .collect()
}

/// The names of a list answer's items, in order.
pub fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {list}"))
        .iter()
        .map(|m| m["name"].as_str().expect("item name").to_string())
        .collect()
}

/// A fresh client for any server address (another instance of a multi-instance test).
pub fn client_for_base(base: &str) -> Client {
    Client::new(base, None)
}

/// Another instance of the service on a test's database, with the same clock: what a second
/// process behind the same load balancer would be.
pub struct OtherInstance {
    pub base: String,
    _server: Serving,
}

impl OtherInstance {
    pub fn client(&self) -> Client {
        client_for_base(&self.base)
    }
}

pub async fn second_instance(app: &TestApp) -> OtherInstance {
    let store = deskward::store::connect(app.database_url())
        .await
        .expect("connect the second instance");
    let config = ServerConfig {
        sweep_interval: Duration::from_secs(3600),
        ..server_config()
    };
    let svc = deskward::server::build(
        store,
        Arc::new(app.clock.clone()),
        deskward::events::EventBus::new(),
        &config,
    );
    let server = serve(svc, config).await;
    OtherInstance {
        base: server.base.clone(),
        _server: server,
    }
}

/// An instance as a separate process would be, on the database at `url`: its own pool, its
/// events relayed through PostgreSQL, the system clock and a presence grace of `grace_ms`,
/// serving `listener`.
pub async fn relayed_instance(
    url: &str,
    grace_ms: i64,
    listener: tokio::net::TcpListener,
) -> (Arc<Service>, Serving) {
    let store = deskward::store::connect(url).await.expect("connect");
    let events = deskward::relay::events_for(url).await;
    let config = ServerConfig {
        service: ServiceConfig {
            presence_grace_ms: grace_ms,
        },
        ..server_config()
    };
    let svc = deskward::server::build(
        store,
        Arc::new(deskward::clock::SystemClock),
        events,
        &config,
    );
    let serving = serve_listener(svc.clone(), config, listener);
    (svc, serving)
}

/// Signs the primary administrator of [`create_acme`] in at `base` and adds the agent Ann
/// (`ann@acme.test`, [`PASSWORD`]) through the API; returns the administrator's client and
/// Ann's id.
pub async fn pat_adds_ann(base: &str) -> (Client, String) {
    let admin = client_for_base(base);
    admin
        .login("pat@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let agent = admin
        .post_json(
            "/api/v1/agents",
            &serde_json::json!({"name": "Ann", "email": "ann@acme.test", "password": PASSWORD}),
        )
        .await
        .expect_status(StatusCode::CREATED)
        .json();
    let id = agent["id"].as_str().expect("Ann's id").to_string();
    (admin, id)
}

/// A server running in this process on a port-0 listener of loopback; it shuts down
/// gracefully when this is dropped.
pub struct Serving {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:port`
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
}

/// Serves `svc` with `config` on a fresh port-0 listener: the one way every test starts the
/// server in-process.
pub async fn serve(svc: Arc<Service>, config: ServerConfig) -> Serving {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    serve_listener(svc, config, listener)
}

/// As [`serve`], on a listener the test bound itself (an address of a test network namespace's
/// link, say).
pub fn serve_listener(
    svc: Arc<Service>,
    config: ServerConfig,
    listener: tokio::net::TcpListener,
) -> Serving {
    let addr = listener.local_addr().expect("local address");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(deskward::server::serve(svc, config, listener, async move {
        let _ = rx.await;
    }));
    Serving {
        addr,
        base: format!("http://{addr}"),
        stop: Some(tx),
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs `deskward` with these arguments to the end (a one-shot command, or a `serve` that is
/// expected to refuse its configuration) and returns what it printed and its exit status.
pub fn run_binary<I, S>(args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    std::process::Command::new(env!("CARGO_BIN_EXE_deskward"))
        .args(args)
        .env("DESKWARD_MAIL_DIR", scratch_mail_dir())
        .output()
        .expect("run deskward")
}

/// The `deskward` binary serving as a child process: `Binary::serve(url).arg(..).start()`.
/// It is killed when dropped.
pub struct Binary {
    child: std::process::Child,
    pub port: u16,
    /// `http://127.0.0.1:port`
    pub base: String,
}

/// How to start a [`Binary`]: the database, the address and any further arguments.
pub struct BinaryBuilder {
    database_url: String,
    port: Option<u16>,
    args: Vec<String>,
}

impl Binary {
    pub fn serve(database_url: &str) -> BinaryBuilder {
        BinaryBuilder {
            database_url: database_url.to_string(),
            port: None,
            args: Vec::new(),
        }
    }

    /// `kill -9`: no shutdown, no chance to finish anything.
    /// The server's process id, to read what `/proc` says about it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill9(mut self) {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status();
        let _ = self.child.wait();
    }
}

impl BinaryBuilder {
    /// Listens on this port of 127.0.0.1 (by default a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Starts it and waits until `/healthz` answers 200 (at most 20 s). Without a port it
    /// listens on port 0 and the port is read from the line the binary prints once it listens,
    /// so no port is picked, released and raced for.
    pub async fn start(self) -> Binary {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_deskward"))
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{}", self.port.unwrap_or(0)),
            ])
            .args(["--database-url", &self.database_url])
            .args(&self.args)
            .env("DESKWARD_MAIL_DIR", scratch_mail_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start deskward");
        // "Deskward is running at http://127.0.0.1:PORT/…" or "First run: open http://…".
        let port = announced_port(&mut child, "deskward", Duration::from_secs(20), |line| {
            line.split("http://127.0.0.1:")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|p| p.parse::<u16>().ok())
        })
        .await;
        let mut binary = Binary {
            child,
            port,
            base: format!("http://127.0.0.1:{port}"),
        };
        let health = format!("{}/healthz", binary.base);
        let http = reqwest::Client::new();
        let until = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(&health).send().await
                && r.status() == StatusCode::OK
            {
                return binary;
            }
            if let Ok(Some(status)) = binary.child.try_wait() {
                panic!("deskward exited before answering: {status}");
            }
            assert!(
                std::time::Instant::now() < until,
                "deskward did not answer {health} within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The TCP addresses process `pid` listens on: its socket descriptors (`/proc/PID/fd`, links
/// named `socket:[INODE]`) matched with the LISTEN rows (state `0A`) of `/proc/net/tcp` and
/// `tcp6`. How a test learns the port an outside program took when told to listen on port 0
/// and not saying which (PgBouncer logs `127.0.0.1:0`).
pub fn listening_addrs(pid: u32) -> Vec<SocketAddr> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_string())
        })
        .collect();
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for row in text.lines().skip(1) {
            let f: Vec<&str> = row.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
            if f.len() < 10 || f[3] != "0A" || !inodes.contains(f[9]) {
                continue;
            }
            if let Some(addr) = proc_net_address(f[1]) {
                found.push(addr);
            }
        }
    }
    found
}

/// `HEX_IP:HEX_PORT` as `/proc/net/tcp{,6}` write it: the address as 32-bit words in the
/// host's byte order, the port as a number.
fn proc_net_address(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for i in (0..ip.len()).step_by(8) {
        let word = u32::from_str_radix(ip.get(i..i + 8)?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip: std::net::IpAddr = match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok()?.into(),
        16 => <[u8; 16]>::try_from(bytes).ok()?.into(),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Waits (at most 20 s) until `child`, told to listen on port 0, listens, and returns the one
/// port it listens on; an error (with why) when it exits first, never listens, or listens on
/// more than one port.
pub async fn port_of(child: &mut std::process::Child, what: &str) -> Result<u16, String> {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mut ports: Vec<u16> = listening_addrs(child.id())
            .iter()
            .map(SocketAddr::port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        match ports[..] {
            [port] => return Ok(port),
            [] => {}
            _ => return Err(format!("{what} listens on several ports: {ports:?}")),
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited ({status}) before listening"));
        }
        if std::time::Instant::now() > until {
            return Err(format!("{what} did not listen within 20 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates the "Acme" account (slug `acme`) whose primary administrator is
/// `pat@acme.test` / [`PASSWORD`], as the multi-instance, proxy and pool tests share it.
pub async fn create_acme(svc: &deskward::service::Service) {
    svc.create_account(
        deskward::service::NewAccountRequest {
            name: "Acme".into(),
            slug: Some("acme".into()),
            admin_name: "Pat".into(),
            admin_email: "pat@acme.test".into(),
            admin_password: PASSWORD.into(),
        },
        true,
    )
    .await
    .expect("create the Acme account");
}

/// The test virtual environment's Python, when it can import `module` (a checker the tests
/// run for real): `$DESKWARD_TEST_PYTHON`, else `target/test-venv`. Missing fails under CI and
/// skips elsewhere.
pub fn test_python(module: &str) -> Option<std::path::PathBuf> {
    let candidate = std::env::var_os("DESKWARD_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python")
        });
    let works = std::process::Command::new(&candidate)
        .args(["-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if works {
        return Some(candidate);
    }
    let msg = format!(
        "{} cannot import {module}: run `python3 -m venv target/test-venv && \
         target/test-venv/bin/pip install -r scripts/test-requirements.txt` or set \
         DESKWARD_TEST_PYTHON",
        candidate.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// A certificate authority and a certificate for `localhost` and 127.0.0.1 it issued, made with
/// openssl in a directory of their own (mail over STARTTLS, nginx over HTTPS).
pub struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    pub fn make() -> Certs {
        let dir = tempfile::tempdir().expect("a directory for the certificates");
        // nginx's workers drop root privileges; they read the key at start, as the master.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod the certificates' directory");
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            std::process::Command::new("openssl")
                .args(["req", "-x509"])
                .args(ec)
                .args(["-days", "2", "-subj", "/CN=Deskward test CA"])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .arg("-keyout")
                .arg(d.join("ca.key"))
                .arg("-out")
                .arg(d.join("ca.pem")),
        );
        openssl(
            std::process::Command::new("openssl")
                .arg("req")
                .args(ec)
                .args(["-subj", "/CN=localhost"])
                .arg("-keyout")
                .arg(d.join("server.key"))
                .arg("-out")
                .arg(d.join("server.csr")),
        );
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n\
             basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n",
        )
        .expect("write the certificate's extensions");
        openssl(
            std::process::Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-set_serial", "2"])
                .arg("-in")
                .arg(d.join("server.csr"))
                .arg("-CA")
                .arg(d.join("ca.pem"))
                .arg("-CAkey")
                .arg(d.join("ca.key"))
                .arg("-extfile")
                .arg(d.join("server.ext"))
                .arg("-out")
                .arg(d.join("server.pem")),
        );
        Certs { dir }
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

pub fn openssl(cmd: &mut std::process::Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("this test needs openssl ({e}); scripts/test.sh installs it"));
    assert!(
        out.status.success(),
        "openssl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
