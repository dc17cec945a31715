//! The browser tests' harness: the real server on port 0 with a fresh database (`App`; SQLite,
//! or PostgreSQL for the flows run on both), driven through headless Chromium by chromedriver
//! (`ChromeDriver`, `Browser`, fantoccini). The tests are in `browser_*.rs`. Chromium and chromedriver are required: when
//! either is missing the test fails with a message saying so; it never skips.
//!
//! Run: `cargo test --test it browser -- --test-threads=1`.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use deskward::clock::SystemClock;
use deskward::domain::member::{MemberKind, Permissions};
use deskward::domain::policy::Actor;
use deskward::server::ServerConfig;
use deskward::service::{LoginRequest, Service, ServiceConfig};
use deskward::store::{Account, Member, Session};

use crate::db::{Backend, TestDb};
use crate::support::{Serving, serve};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";

pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where the browser tests save their screenshots: `target/screenshots`, never a tracked file,
/// so a test run leaves `git status` clean. `scripts/update-screenshots.sh` runs those tests
/// with `DESKWARD_UPDATE_SCREENSHOTS=1`, which writes them to `docs/screenshots` instead.
pub(crate) fn save_screenshot(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is not a PNG");
    assert!(
        png.len() > 10_000,
        "{name} is suspiciously small ({} bytes)",
        png.len()
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = if std::env::var("DESKWARD_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        root.join("docs/screenshots")
    } else {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    std::fs::write(dir.join(name), png).unwrap_or_else(|e| panic!("write {name}: {e}"));
}

/// How long any single wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The presence grace period the server runs with here.
pub(crate) const GRACE_MS: i64 = 1500;

/// The account's primary administrator and the fixture password, as `support` makes them.
pub(crate) use crate::support::{PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD};

pub(crate) const CHROME_WINDOWS_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
     (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

pub(crate) const FIREFOX_LINUX_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

pub(crate) const NO_SESSION_TIP: &str = "No active session in the web version of the service";

pub(crate) const ENDED_BY_ADMIN: &str =
    "Your session was ended by an administrator. Please sign in again.";

// ---------------------------------------------------------------------------------------------
// Polling

/// Polls `probe` every 100 ms until it yields a value; fails the test after `within`.
pub(crate) async fn eventually<T>(
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Result<Option<T>, CmdError>,
) -> T {
    let start = Instant::now();
    loop {
        let last = match probe().await {
            Ok(Some(v)) => return v,
            Ok(None) => String::from("condition not met yet"),
            Err(e) => format!("webdriver: {e}"),
        };
        if start.elapsed() >= within {
            panic!("timed out after {within:?} waiting for {what} ({last})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// JavaScript's idea of truth, for values returned by scripts.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

// ---------------------------------------------------------------------------------------------
// chromedriver and browsers

/// chromedriver as a child process on a port of its choosing, in its own process group so that
/// it and every browser it started are killed together when the test ends (even by a panic).
pub(crate) struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    pub(crate) async fn start() -> ChromeDriver {
        Self::start_in(None, None).await
    }

    /// As [`ChromeDriver::start`], with the browsers it starts in the time zone `tz` (an IANA
    /// name): Chromium takes its zone from `TZ`, which chromedriver passes on.
    pub(crate) async fn start_in_zone(tz: &str) -> ChromeDriver {
        Self::start_in(None, Some(tz)).await
    }

    /// As [`ChromeDriver::start`], with `HOME` set to `home` for chromedriver and the browsers
    /// it starts: Chromium on Linux trusts the certificate authorities of the NSS database in
    /// `$HOME/.pki/nssdb`, so a test can make it trust a certificate of its own.
    pub(crate) async fn start_with_home(home: &Path) -> ChromeDriver {
        Self::start_in(Some(home), None).await
    }

    async fn start_in(home: Option<&Path>, tz: Option<&str>) -> ChromeDriver {
        for (what, path) in [("Chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)] {
            assert!(
                Path::new(path).exists(),
                "browser tests need {what} at {path}, and it is missing \
                 (on Debian: apt-get install chromium chromium-driver)"
            );
        }
        // Port 0: chromedriver listens where the kernel says and prints the port ("ChromeDriver
        // was started successfully on port 41234."), so no port is picked, released and raced
        // for.
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg("--port=0");
        if let Some(home) = home {
            cmd.env("HOME", home);
        }
        if let Some(tz) = tz {
            cmd.env("TZ", tz);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {CHROMEDRIVER}: {e}"));
        // Its first lines name no port yet ("Starting ChromeDriver … on port 0").
        let port = crate::support::announced_port(&mut child, "chromedriver", WAIT, |line| {
            line.split("started successfully on port ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
        })
        .await;
        let mut driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == json!(true)
            {
                return driver;
            }
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited before answering: {status}");
            }
            assert!(
                start.elapsed() < WAIT,
                "chromedriver did not answer on {} within {WAIT:?}",
                driver.url
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new headless Chromium with a fresh profile.
    pub(crate) async fn browser(&self) -> Browser {
        let profile = tempfile::tempdir().expect("temporary browser profile");
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--window-size=1280,900".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("could not start headless Chromium via chromedriver: {e}"));
        Browser {
            c: client,
            _profile: profile,
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the browsers it launched.
        crate::support::kill_group(&mut self.child);
    }
}

pub(crate) struct Browser {
    pub(crate) c: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(crate) async fn goto(&self, url: &str) {
        self.c
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The current path with its query string.
    pub(crate) async fn path(&self) -> String {
        let u = self.c.current_url().await.expect("current URL");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    pub(crate) async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.c
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns something truthy, and returns it.
    pub(crate) async fn wait_js(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        eventually(what, WAIT, async || {
            let v = self.c.execute(script, args.clone()).await?;
            Ok(truthy(&v).then_some(v))
        })
        .await
    }

    /// Waits until the current path (with query) satisfies `ok`.
    pub(crate) async fn wait_path(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        eventually(what, WAIT, async || {
            let u = self.c.current_url().await?;
            let p = match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_string(),
            };
            Ok(ok(&p).then_some(p))
        })
        .await
    }

    pub(crate) async fn find(&self, css: &str) -> Element {
        eventually(&format!("element {css}"), WAIT, async || {
            match self.c.find(Locator::Css(css)).await {
                Ok(e) => Ok(Some(e)),
                Err(e) if e.is_no_such_element() => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    pub(crate) async fn exists(&self, css: &str) -> bool {
        truthy(
            &self
                .js(
                    "return !!document.querySelector(arguments[0]);",
                    vec![json!(css)],
                )
                .await,
        )
    }

    /// Clicks the element `css` names, retrying while it is missing, replaced or covered.
    pub(crate) async fn click(&self, css: &str) {
        eventually(&format!("a click on {css}"), WAIT, async || {
            let el = match self.c.find(Locator::Css(css)).await {
                Ok(e) => e,
                Err(e) if e.is_no_such_element() => return Ok(None),
                Err(e) => return Err(e),
            };
            el.click().await?;
            Ok(Some(()))
        })
        .await
    }

    /// Clicks `css` and waits until the browser shows a new document, so that what is read next
    /// comes from the answer and not from the page the click left (a marker set on the old
    /// page's `window` is gone once the new one has loaded).
    pub(crate) async fn click_and_load(&self, css: &str) {
        self.js("window.__deskwardOldPage = true;", vec![]).await;
        self.click(css).await;
        self.wait_js(
            &format!("a new page after clicking {css}"),
            "return !window.__deskwardOldPage && document.readyState === 'complete';",
            vec![],
        )
        .await;
    }

    /// The element's text content, whitespace collapsed; waits for the element.
    pub(crate) async fn text(&self, css: &str) -> String {
        let v = self
            .wait_js(
                &format!("text of {css}"),
                "const e = document.querySelector(arguments[0]);
                 return e ? [e.textContent.replace(/\\s+/g, ' ').trim()] : null;",
                vec![json!(css)],
            )
            .await;
        v[0].as_str().unwrap_or_default().to_string()
    }

    /// Texts of every element `css` matches, in document order.
    pub(crate) async fn texts(&self, css: &str) -> Vec<String> {
        let v = self
            .js(
                "return Array.from(document.querySelectorAll(arguments[0]))
                     .map(e => e.textContent.replace(/\\s+/g, ' ').trim());",
                vec![json!(css)],
            )
            .await;
        serde_json::from_value(v).expect("a list of strings")
    }

    /// The HTTP status of the document now shown.
    pub(crate) async fn status(&self) -> i64 {
        self.js(
            "const n = performance.getEntriesByType('navigation')[0];
             return n ? n.responseStatus : 0;",
            vec![],
        )
        .await
        .as_i64()
        .unwrap_or(0)
    }

    /// Whether the tooltip with this id is rendered and visible.
    pub(crate) async fn tip_visible(&self, tip_id: &str) -> bool {
        truthy(
            &self
                .js(
                    "const t = document.getElementById(arguments[0]);
                     if (!t) return false;
                     const s = getComputedStyle(t);
                     const r = t.getBoundingClientRect();
                     return s.display !== 'none' && s.visibility !== 'hidden'
                         && s.opacity !== '0' && r.width > 0 && r.height > 0;",
                    vec![json!(tip_id)],
                )
                .await,
        )
    }

    /// Moves the real (WebDriver) mouse over the element `css` names.
    pub(crate) async fn hover(&self, css: &str) {
        let el = self.find(css).await;
        self.js(
            "arguments[0].scrollIntoView({block: 'center'});",
            vec![serde_json::to_value(&el).expect("element reference")],
        )
        .await;
        let mouse = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
            element: el,
            duration: Some(Duration::from_millis(50)),
            x: 0.0,
            y: 0.0,
        });
        self.c.perform_actions(mouse).await.expect("move the mouse");
    }

    /// Moves the mouse to the top left corner, away from every tooltip.
    pub(crate) async fn mouse_away(&self) {
        let mouse = MouseActions::new("mouse".into()).then(PointerAction::MoveTo {
            duration: None,
            x: 1.0,
            y: 1.0,
        });
        self.c
            .perform_actions(mouse)
            .await
            .expect("move the mouse away");
    }

    pub(crate) async fn dialog_open(&self) -> bool {
        truthy(
            &self
                .js(
                    "const d = document.getElementById('confirm-dialog'); return !!(d && d.open);",
                    vec![],
                )
                .await,
        )
    }

    /// Clicks `inert`, which must do nothing, then `live`, a session icon that asks to confirm,
    /// and waits for that dialog: the page handles clicks in order, so a dialog or a page
    /// opened by the first click would be there by now (and would have stopped the second).
    /// Checks the dialog is `live`'s, naming `live_name`, and that the page did not change;
    /// closes the dialog.
    pub(crate) async fn click_does_nothing(&self, inert: &str, live: &str, live_name: &str) {
        let path = self.path().await;
        self.click(inert).await;
        self.click(live).await;
        self.wait_js(
            "the dialog of the icon clicked second",
            "return document.getElementById('confirm-dialog').open;",
            vec![],
        )
        .await;
        let question = self.text("#confirm-text").await;
        assert!(
            question.contains(live_name),
            "the open dialog is not {live}'s: {question}"
        );
        assert_eq!(self.path().await, path, "a click navigated");
        self.click("#confirm-cancel").await;
        self.wait_js(
            "the dialog to close",
            "return !document.getElementById('confirm-dialog').open;",
            vec![],
        )
        .await;
    }

    /// Signs in through the sign-in form; returns the path landed on.
    pub(crate) async fn sign_in(&self, app: &App, email: &str, password: &str) -> String {
        self.goto(&app.url("/login")).await;
        self.fill_in_sign_in(email, password).await;
        self.wait_path(&format!("{email} to leave the sign-in page"), |p| {
            !p.starts_with("/login")
        })
        .await
    }

    /// Fills in and sends the sign-in form of the page shown.
    pub(crate) async fn fill_in_sign_in(&self, email: &str, password: &str) {
        self.find("input[name=email]")
            .await
            .send_keys(email)
            .await
            .expect("type the e-mail");
        self.find("input[name=password]")
            .await
            .send_keys(password)
            .await
            .expect("type the password");
        self.click("main form button[type=submit]").await;
    }

    pub(crate) async fn close(self) {
        let _ = self.c.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// The server

/// The real service on port 0 with a fresh database (SQLite unless a test asks for
/// PostgreSQL) and one account.
pub(crate) struct App {
    pub(crate) base: String,
    pub(crate) svc: Arc<Service>,
    /// The same database, read directly to check what was stored.
    pub(crate) store: Arc<dyn deskward::store::Store>,
    pub(crate) account: Account,
    pub(crate) primary: Member,
    /// Where the server writes e-mail as `.eml` files.
    pub(crate) mail_dir: tempfile::TempDir,
    // Stops the server when the app is dropped.
    _server: Serving,
    // Dropped last: the server stops before its database goes.
    _db: TestDb,
}

impl App {
    /// On SQLite: most browser tests check pages, which do not depend on the database.
    pub(crate) async fn spawn() -> App {
        Self::spawn_on(Backend::Sqlite).await
    }

    /// On `backend`: the flows that matter most run on both (`backend_tests!`).
    pub(crate) async fn spawn_on(backend: Backend) -> App {
        let db = TestDb::new(backend).await;
        let store = deskward::store::connect(&db.url)
            .await
            .expect("open the test database");
        let mail_dir = tempfile::tempdir().expect("a directory for e-mail");
        let mut config = ServerConfig {
            service: ServiceConfig {
                presence_grace_ms: GRACE_MS,
            },
            ..crate::support::server_config()
        };
        config.mail.transport =
            deskward::service::mailer::Transport::Files(mail_dir.path().to_path_buf());
        let svc = deskward::server::build(
            store.clone(),
            Arc::new(SystemClock),
            deskward::events::EventBus::new(),
            &config,
        );
        let (account, primary) = crate::support::create_acme_support(&svc).await;
        let server = serve(svc.clone(), config).await;
        App {
            base: server.base.clone(),
            svc,
            store,
            account,
            primary,
            mail_dir,
            _server: server,
            _db: db,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn primary_actor(&self) -> Actor {
        crate::support::primary_actor(&self.account, &self.primary)
    }

    pub(crate) fn agent_actor(&self, agent: &Member) -> Actor {
        Actor {
            account_id: self.account.id.clone(),
            member_id: agent.id.clone(),
            kind: MemberKind::Agent,
            primary: false,
            permissions: Permissions::default(),
            ip: crate::support::client_ip("127.0.0.1"),
            session_id: None,
        }
    }

    pub(crate) async fn add(
        &self,
        kind: MemberKind,
        name: &str,
        email: &str,
        password: &str,
        permissions: &[&str],
    ) -> Member {
        let person = crate::support::new_person(kind, name, email, password, permissions);
        crate::support::add_person(&self.svc, &self.primary_actor(), person).await
    }

    pub(crate) async fn agent(&self, name: &str, email: &str) -> Member {
        self.add(MemberKind::Agent, name, email, PASSWORD, &[])
            .await
    }

    /// Starts a session through the service, as if from `ip` with `user_agent`.
    pub(crate) async fn login(
        &self,
        email: &str,
        password: &str,
        as_kind: MemberKind,
        ip: &str,
        user_agent: &str,
    ) -> Session {
        let req = LoginRequest {
            account_id: self.account.id.clone(),
            email: email.to_string(),
            password: password.to_string(),
            as_kind: Some(as_kind),
            ip: crate::support::client_ip(ip),
            user_agent: user_agent.to_string(),
            device_pass: None,
        };
        crate::support::fixture_sign_in(&self.svc, req)
            .await
            .session
    }

    pub(crate) async fn sessions(&self, m: &Member) -> Vec<Session> {
        self.svc
            .sessions_of(&self.account.id, &m.id, m.kind)
            .await
            .expect("read sessions")
    }

    pub(crate) async fn member(&self, id: &str) -> Member {
        self.store
            .member(&self.account.id, id)
            .await
            .expect("read member")
    }

    /// Waits until the agent has an open event stream (a tab connected).
    pub(crate) async fn wait_tab_connected(&self, m: &Member) {
        eventually(
            &format!("a connected tab of {}", m.name),
            WAIT,
            async || Ok((self.svc.connections().count(&self.account.id, &m.id) > 0).then_some(())),
        )
        .await
    }
}

/// Names of the cards on a Team list, in page order.
pub(crate) async fn card_names(b: &Browser) -> Vec<String> {
    b.texts("#team-list li.card a.name").await
}

pub(crate) fn card(m: &Member) -> String {
    format!("#member-{}", m.id)
}

// ---------------------------------------------------------------------------------------------
// Scenarios
