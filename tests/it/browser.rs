//! Browser tests: the real server on port 0 with a fresh SQLite database, driven through
//! headless Chromium by chromedriver (fantoccini). Chromium and chromedriver are required:
//! when either is missing the test fails with a message saying so; it never skips.
//!
//! Run: `cargo test --test it browser -- --test-threads=1`.

use std::net::TcpListener as StdListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use deskward::clock::SystemClock;
use deskward::domain::device;
use deskward::domain::member::{AgentStatus, MemberKind, Permissions};
use deskward::domain::policy::Actor;
use deskward::domain::time::{human, rfc3339};
use deskward::server::ServerConfig;
use deskward::service::auth::NewAccountRequest;
use deskward::service::{LoginRequest, NewPerson, PersonPatch, Service, ServiceConfig};
use deskward::store::{Account, Member, Session};

use crate::db::{Backend, TestDb};
use crate::support::{Serving, serve};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any single wait may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// The presence grace period the server runs with here.
pub(crate) const GRACE_MS: i64 = 1500;

pub(crate) const PRIMARY_NAME: &str = "Pat Primary";
pub(crate) const PRIMARY_EMAIL: &str = "owner@acme.test";
pub(crate) const PRIMARY_PASSWORD: &str = "owner password 123";
pub(crate) const PASSWORD: &str = "correct horse battery";

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

/// chromedriver as a child process on a free port, in its own process group so that it and
/// every browser it started are killed together when the test ends (even by a panic).
pub(crate) struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    pub(crate) async fn start() -> ChromeDriver {
        for (what, path) in [("Chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)] {
            assert!(
                Path::new(path).exists(),
                "browser tests need {what} at {path}, and it is missing \
                 (on Debian: apt-get install chromium chromium-driver)"
            );
        }
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free port for chromedriver")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {CHROMEDRIVER}: {e}"));
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
        let _ = Command::new("/bin/kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
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

    /// Signs in through the sign-in form; returns the path landed on.
    pub(crate) async fn sign_in(&self, app: &App, email: &str, password: &str) -> String {
        self.goto(&app.url("/login")).await;
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
        self.wait_path(&format!("{email} to leave the sign-in page"), |p| {
            !p.starts_with("/login")
        })
        .await
    }

    pub(crate) async fn close(self) {
        let _ = self.c.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// The server

/// The real service on port 0 with a fresh SQLite database and one account.
pub(crate) struct App {
    pub(crate) base: String,
    pub(crate) svc: Arc<Service>,
    /// The same database, read directly to check what was stored.
    pub(crate) store: Arc<dyn deskward::store::Store>,
    pub(crate) account: Account,
    pub(crate) primary: Member,
    // Stops the server when the app is dropped.
    _server: Serving,
    // Dropped last: the server stops before its database goes.
    _db: TestDb,
}

impl App {
    pub(crate) async fn spawn() -> App {
        let db = TestDb::new(Backend::Sqlite).await;
        let store = deskward::store::connect(&db.url)
            .await
            .expect("open the test database");
        let config = ServerConfig {
            service: ServiceConfig {
                presence_grace_ms: GRACE_MS,
            },
            ..Default::default()
        };
        let svc = deskward::server::build(
            store.clone(),
            Arc::new(SystemClock),
            deskward::events::EventBus::new(),
            &config,
        );
        let (account, primary) = svc
            .create_account(
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
            .expect("create the test account");
        let server = serve(svc.clone(), config).await;
        App {
            base: server.base.clone(),
            svc,
            store,
            account,
            primary,
            _server: server,
            _db: db,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn primary_actor(&self) -> Actor {
        Actor {
            account_id: self.account.id.clone(),
            member_id: self.primary.id.clone(),
            kind: MemberKind::Admin,
            primary: true,
            permissions: Permissions::all(),
            ip: "127.0.0.1".to_string(),
            session_id: None,
        }
    }

    pub(crate) fn agent_actor(&self, agent: &Member) -> Actor {
        Actor {
            account_id: self.account.id.clone(),
            member_id: agent.id.clone(),
            kind: MemberKind::Agent,
            primary: false,
            permissions: Permissions::default(),
            ip: "127.0.0.1".to_string(),
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
        self.svc
            .add_person(
                &self.primary_actor(),
                NewPerson {
                    kind,
                    name: name.to_string(),
                    email: email.to_string(),
                    password: password.to_string(),
                    permissions: permissions.iter().map(|p| p.to_string()).collect(),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("add {kind} {email}: {e}"))
            .member
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
        self.svc
            .login(LoginRequest {
                account_id: self.account.id.clone(),
                email: email.to_string(),
                password: password.to_string(),
                as_kind: Some(as_kind),
                ip: ip.to_string(),
                user_agent: user_agent.to_string(),
                device_pass: None,
            })
            .await
            .unwrap_or_else(|e| panic!("fixture sign-in of {email}: {e}"))
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
async fn card_names(b: &Browser) -> Vec<String> {
    b.texts("#team-list li.card a.name").await
}

fn card(m: &Member) -> String {
    format!("#member-{}", m.id)
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// Red icon: exact tooltip, not clickable. Green icon: start time, device and raw user agent,
/// IP address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_page_shows_session_icons_with_tooltips() {
    let app = App::spawn().await;
    let ada = app.agent("Ada Active", "ada@acme.test").await;
    let nina = app.agent("Nina Nosession", "nina@acme.test").await;
    let s = app
        .login(
            &ada.email,
            PASSWORD,
            MemberKind::Agent,
            "203.0.113.7",
            CHROME_WINDOWS_UA,
        )
        .await;

    let driver = ChromeDriver::start().await;
    let admin = driver.browser().await;
    assert_eq!(
        admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await,
        "/team/agents"
    );
    assert_eq!(card_names(&admin).await, ["Ada Active", "Nina Nosession"]);

    // Red: a span (not a link), its tooltip hidden until the icon has focus, then exact.
    let red = format!("{} .icons .sess.none", card(&nina));
    let red_tip = format!("tip-s-{}", nina.id);
    assert_eq!(admin.find(&red).await.tag_name().await.unwrap(), "span");
    assert!(
        !admin
            .exists(&format!("{} .icons a.sess", card(&nina)))
            .await
    );
    assert_eq!(
        admin
            .find(&red)
            .await
            .attr("aria-describedby")
            .await
            .unwrap()
            .as_deref(),
        Some(red_tip.as_str())
    );
    assert!(
        !admin.tip_visible(&red_tip).await,
        "the red tooltip shows before hover/focus"
    );
    admin
        .js(
            "document.querySelector(arguments[0]).focus();",
            vec![json!(red)],
        )
        .await;
    eventually(
        "the red icon's tooltip to show on focus",
        WAIT,
        async || Ok(admin.tip_visible(&red_tip).await.then_some(())),
    )
    .await;
    assert_eq!(admin.text(&format!("#{red_tip}")).await, NO_SESSION_TIP);
    assert_eq!(
        admin
            .find(&format!("#{red_tip}"))
            .await
            .text()
            .await
            .unwrap()
            .trim(),
        NO_SESSION_TIP,
        "the visible text of the red tooltip"
    );
    // Not clickable: a click neither opens the dialog nor navigates.
    admin.click(&red).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !admin.dialog_open().await,
        "clicking the red icon opened a dialog"
    );
    assert_eq!(admin.path().await, "/team/agents");
    admin.js("document.activeElement.blur();", vec![]).await;

    // Green: a link; hovering it with the mouse shows the session's details.
    let green = format!("{} .icons a.sess.active", card(&ada));
    let green_tip = format!("tip-s-{}", ada.id);
    assert!(
        !admin.tip_visible(&green_tip).await,
        "the green tooltip shows before hover"
    );
    admin.hover(&green).await;
    eventually(
        "the green icon's tooltip to show on hover",
        WAIT,
        async || Ok(admin.tip_visible(&green_tip).await.then_some(())),
    )
    .await;
    let shown = admin
        .find(&format!("#{green_tip}"))
        .await
        .text()
        .await
        .expect("tooltip text");
    let device_name = device::describe(CHROME_WINDOWS_UA);
    assert_eq!(device_name, "Chrome 131 on Windows 10");
    // With JavaScript the start is in the viewer's time zone with a relative hint; UTC (what
    // the page says without JavaScript) stays on hover.
    let time = admin.find(&format!("#{green_tip} time")).await;
    assert_eq!(
        time.attr("title").await.unwrap().as_deref(),
        Some(human(s.started_at).as_str())
    );
    let local = time.text().await.unwrap();
    assert!(
        local.ends_with("(just now)") || local.ends_with(" min ago)"),
        "local time with a relative hint: {local}"
    );
    for expected in [
        format!("Session start: {local}"),
        format!("User agent: {device_name}"),
        CHROME_WINDOWS_UA.to_string(),
        "IP address: 203.0.113.7".to_string(),
    ] {
        assert!(
            shown.contains(&expected),
            "green tooltip lacks {expected:?}:\n{shown}"
        );
    }
    let datetime = admin
        .find(&format!("#{green_tip} time"))
        .await
        .attr("datetime")
        .await
        .unwrap();
    assert_eq!(datetime.as_deref(), Some(rfc3339(s.started_at).as_str()));
    // The red tooltip is not shown meanwhile.
    assert!(!admin.tip_visible(&red_tip).await);

    admin.close().await;
}

/// The admin ends an agent's session through the confirmation dialog; the agent's open tab
/// lands on the sign-in page by itself, told why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_session_signs_the_agent_out_live() {
    let app = App::spawn().await;
    let sam = app.agent("Sam Signedin", "sam@acme.test").await;

    let driver = ChromeDriver::start().await;
    let agent = driver.browser().await;
    assert_eq!(agent.sign_in(&app, &sam.email, PASSWORD).await, "/agent");
    app.wait_tab_connected(&sam).await;
    assert_eq!(app.sessions(&sam).await.len(), 1);

    let admin = driver.browser().await;
    admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let green = format!("{} a.sess.active", card(&sam));
    admin.find(&green).await;
    assert!(!admin.dialog_open().await);
    admin.click(&green).await;
    admin
        .wait_js(
            "the confirmation dialog to open",
            "return document.getElementById('confirm-dialog').open;",
            vec![],
        )
        .await;
    assert_eq!(admin.text("#confirm-title").await, "End session?");
    let question = admin.text("#confirm-text").await;
    assert!(question.contains("Sam Signedin"), "dialog text: {question}");
    assert_eq!(
        admin.path().await,
        "/team/agents",
        "the icon navigated instead of asking"
    );
    assert!(agent.path().await.starts_with("/agent"));

    admin.click("#confirm-ok").await;
    let clicked = Instant::now();
    admin
        .wait_path("the list after ending the session", |p| {
            p.starts_with("/team/agents?") && p.contains("done=ended")
        })
        .await;
    assert_eq!(
        admin.text("main .notice").await,
        "1 session of 1 person ended. They have been signed out."
    );
    admin.find(&format!("{} .sess.none", card(&sam))).await;
    assert!(!admin.exists(&green).await, "the card is still green");

    // The agent's tab, untouched, is sent to the sign-in page and told why.
    eventually(
        "the agent's tab to reach the sign-in page",
        WAIT,
        async || {
            let u = agent.c.current_url().await?;
            Ok((u.path() == "/login").then_some(()))
        },
    )
    .await;
    let took = clicked.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the agent was signed out only after {took:?}"
    );
    // Information, not success; and the e-mail is filled in, the password focused.
    assert_eq!(agent.text("main .info").await, ENDED_BY_ADMIN);
    assert!(!agent.exists("main .notice").await);
    assert!(agent.exists("input[name=email]").await, "no sign-in form");
    assert_eq!(
        agent
            .js(
                "return document.querySelector('input[name=email]').value;",
                vec![]
            )
            .await,
        json!(sam.email)
    );
    assert_eq!(
        agent
            .js("return document.activeElement.name;", vec![])
            .await,
        json!("password")
    );
    assert!(app.sessions(&sam).await.is_empty());

    // Navigating again stays on the sign-in page.
    agent.goto(&app.url("/agent")).await;
    assert_eq!(agent.path().await, "/login");
    agent.goto(&app.url("/team/agents")).await;
    assert_eq!(agent.path().await, "/login");
    assert!(agent.exists("input[name=password]").await);

    agent.close().await;
    admin.close().await;
}

/// Ticking agents shows "End session"; confirming ends every selected agent's sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_ending_sessions_of_selected_agents() {
    let app = App::spawn().await;
    let mut agents = Vec::new();
    for (name, email) in [
        ("Bea Bulk", "bea@acme.test"),
        ("Cal Bulk", "cal@acme.test"),
        ("Dot Bulk", "dot@acme.test"),
        ("Eli Bulk", "eli@acme.test"),
        ("Fay Bulk", "fay@acme.test"),
    ] {
        agents.push(app.agent(name, email).await);
    }
    // Four signed in, Fay not; Bea, Cal and Dot get selected, Eli stays signed in.
    for a in &agents[..4] {
        app.login(
            &a.email,
            PASSWORD,
            MemberKind::Agent,
            "192.0.2.20",
            FIREFOX_LINUX_UA,
        )
        .await;
    }
    let selected = &agents[..3];
    let eli = &agents[3];
    let fay = &agents[4];

    let driver = ChromeDriver::start().await;
    let admin = driver.browser().await;
    admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    admin.find("#team-list").await;
    for a in &agents[..4] {
        assert!(
            admin.exists(&format!("{} a.sess.active", card(a))).await,
            "{} not green",
            a.name
        );
    }
    assert!(admin.exists(&format!("{} .sess.none", card(fay))).await);
    let bulk = admin.find("#bulk-end").await;
    assert!(
        !bulk.is_displayed().await.unwrap(),
        "End session shows with nothing selected"
    );

    for a in selected {
        admin.click(&format!("{} input.pick", card(a))).await;
    }
    admin
        .wait_js(
            "three boxes ticked",
            "return document.querySelectorAll('input.pick:checked').length === 3;",
            vec![],
        )
        .await;
    eventually("the End session link to appear", WAIT, async || {
        Ok(admin
            .find("#bulk-end")
            .await
            .is_displayed()
            .await?
            .then_some(()))
    })
    .await;
    assert_eq!(admin.text("#bulk-end").await, "End session");
    assert_eq!(admin.text("#selected-count").await, "3 selected");

    admin.click("#bulk-end").await;
    admin
        .wait_js(
            "the bulk confirmation dialog",
            "return document.getElementById('confirm-dialog').open;",
            vec![],
        )
        .await;
    assert_eq!(
        admin.text("#confirm-title").await,
        "End sessions of the selected agents?"
    );
    assert!(
        admin
            .text("#confirm-text")
            .await
            .contains("3 selected agents")
    );
    admin.click("#confirm-ok").await;
    admin
        .wait_path("the list after the bulk end", |p| p.contains("done=ended"))
        .await;
    let notice = admin.text("main .notice").await;
    assert_eq!(
        notice,
        "3 sessions of 3 people ended. Those people have been signed out."
    );

    for a in selected {
        admin.find(&format!("{} .icons .sess.none", card(a))).await;
        assert!(
            !admin.exists(&format!("{} .sess.active", card(a))).await,
            "{} still green",
            a.name
        );
        assert!(
            app.sessions(a).await.is_empty(),
            "{} still has a session",
            a.name
        );
    }
    assert!(
        admin.exists(&format!("{} a.sess.active", card(eli))).await,
        "Eli was not selected"
    );
    assert_eq!(app.sessions(eli).await.len(), 1);
    assert!(admin.exists(&format!("{} .sess.none", card(fay))).await);

    admin.close().await;
}

/// Eight agents: name, signed in, Online.
const FILTER_PEOPLE: [(&str, bool, bool); 8] = [
    ("Amy Night", true, true),
    ("Ben Day", true, false),
    ("Cat Night", true, false),
    ("Dan Day", true, true),
    ("Eve Night", true, true),
    ("Fin Night", false, false),
    ("Gil Day", false, false),
    ("Hal Day", false, false),
];

async fn filter_fixtures(app: &App) {
    for (name, signed_in, online) in FILTER_PEOPLE {
        let first = name.split(' ').next().unwrap_or(name).to_lowercase();
        let m = app.agent(name, &format!("{first}@acme.test")).await;
        if signed_in {
            app.login(
                &m.email,
                PASSWORD,
                MemberKind::Agent,
                "192.0.2.30",
                CHROME_WINDOWS_UA,
            )
            .await;
        }
        let status = if online {
            AgentStatus::Online
        } else {
            AgentStatus::Offline
        };
        app.svc
            .set_own_status(&app.agent_actor(&m), status)
            .await
            .expect("set the agent's status");
    }
}

/// Fills the filter form (search, session and status by their visible labels) and applies it.
async fn apply_filters(b: &Browser, session: &str, status: &str, q: &str) {
    let search = b.find("form.filters input[name=q]").await;
    search.clear().await.expect("clear the search");
    if !q.is_empty() {
        search.send_keys(q).await.expect("type the search");
    }
    b.find("form.filters select[name=session]")
        .await
        .select_by_label(session)
        .await
        .expect("pick the session filter");
    b.find("form.filters select[name=status]")
        .await
        .select_by_label(status)
        .await
        .expect("pick the status filter");
    let before = b.path().await;
    b.click("form.filters button[type=submit]").await;
    b.wait_path("the filtered list", |p| p != before).await;
}

/// Session, status and search filters narrow the list, combine, and live in the URL: the
/// same URL opened elsewhere shows the same list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_narrow_the_list_and_live_in_the_url() {
    let app = App::spawn().await;
    filter_fixtures(&app).await;

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    assert_eq!(card_names(&b).await.len(), 8);
    assert_eq!(b.text("#team-list .count").await, "8 agents");

    apply_filters(&b, "Active session", "All", "").await;
    let url = b.path().await;
    assert!(url.contains("session=active"), "{url}");
    assert_eq!(
        card_names(&b).await,
        ["Amy Night", "Ben Day", "Cat Night", "Dan Day", "Eve Night"]
    );
    assert_eq!(b.texts("#team-list li.card .sess.active").await.len(), 5);
    assert_eq!(b.texts("#team-list li.card .sess.none").await.len(), 0);
    assert_eq!(
        b.text("#team-list .count").await,
        "5 agents match the filters"
    );

    apply_filters(&b, "No active session", "All", "").await;
    let url = b.path().await;
    assert!(url.contains("session=none"), "{url}");
    assert_eq!(card_names(&b).await, ["Fin Night", "Gil Day", "Hal Day"]);
    assert_eq!(b.texts("#team-list li.card .sess.none").await.len(), 3);
    assert_eq!(b.texts("#team-list li.card .sess.active").await.len(), 0);

    apply_filters(&b, "All", "Online", "").await;
    assert!(b.path().await.contains("status=online"));
    assert_eq!(card_names(&b).await, ["Amy Night", "Dan Day", "Eve Night"]);
    assert_eq!(
        b.texts("#team-list li.card .badge.status").await,
        ["Online"; 3]
    );

    apply_filters(&b, "All", "Offline", "night").await;
    assert_eq!(card_names(&b).await, ["Cat Night", "Fin Night"]);

    apply_filters(&b, "Active session", "Online", "night").await;
    let url = b.path().await;
    for part in ["q=night", "session=active", "status=online"] {
        assert!(url.contains(part), "{url} lacks {part}");
    }
    assert_eq!(card_names(&b).await, ["Amy Night", "Eve Night"]);
    assert_eq!(
        b.text("#team-list .count").await,
        "2 agents match the filters"
    );
    // The form shows the filters the page came from.
    let shown = b
        .js(
            "const f = document.querySelector('form.filters');
             return [f.q.value, f.session.value, f.status.value];",
            vec![],
        )
        .await;
    assert_eq!(shown, json!(["night", "active", "online"]));

    // The URL alone reproduces the list: open it in another browser.
    let other = driver.browser().await;
    other.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    other.goto(&app.url(&url)).await;
    assert_eq!(card_names(&other).await, ["Amy Night", "Eve Night"]);
    let shown = other
        .js(
            "const f = document.querySelector('form.filters');
             return [f.q.value, f.session.value, f.status.value];",
            vec![],
        )
        .await;
    assert_eq!(shown, json!(["night", "active", "online"]));

    // Clearing the filters shows everyone again.
    other.click("form.filters a[href='/team/agents']").await;
    other
        .wait_path("the unfiltered list", |p| p == "/team/agents")
        .await;
    assert_eq!(card_names(&other).await.len(), 8);

    other.close().await;
    b.close().await;
}

/// Filters survive paging: the pager's links keep them (two per page here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_survive_paging() {
    let app = App::spawn().await;
    filter_fixtures(&app).await;

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;

    b.goto(&app.url("/team/agents?session=active&per_page=2"))
        .await;
    assert_eq!(card_names(&b).await, ["Amy Night", "Ben Day"]);
    assert_eq!(b.text("nav.pager span").await, "Page 1 of 3");
    assert!(!b.exists("nav.pager a[rel=prev]").await);
    b.click("nav.pager a[rel=next]").await;
    let p2 = b.wait_path("page 2", |p| p.contains("page=2")).await;
    assert!(
        p2.contains("session=active") && p2.contains("per_page=2"),
        "{p2}"
    );
    assert_eq!(card_names(&b).await, ["Cat Night", "Dan Day"]);
    assert_eq!(b.text("nav.pager span").await, "Page 2 of 3");
    assert_eq!(
        b.js(
            "return document.querySelector('form.filters').session.value;",
            vec![]
        )
        .await,
        json!("active")
    );
    b.click("nav.pager a[rel=next]").await;
    let p3 = b.wait_path("page 3", |p| p.contains("page=3")).await;
    assert!(
        p3.contains("session=active") && p3.contains("per_page=2"),
        "{p3}"
    );
    assert_eq!(card_names(&b).await, ["Eve Night"]);
    assert!(!b.exists("nav.pager a[rel=next]").await);
    let prev = b
        .find("nav.pager a[rel=prev]")
        .await
        .attr("href")
        .await
        .unwrap();
    let prev = prev.unwrap_or_default();
    assert!(
        prev.contains("session=active") && prev.contains("per_page=2") && prev.contains("page=2"),
        "{prev}"
    );

    // Several filters at once, including the search.
    b.goto(&app.url("/team/agents?q=night&session=active&status=online&per_page=1"))
        .await;
    assert_eq!(card_names(&b).await, ["Amy Night"]);
    assert_eq!(b.text("nav.pager span").await, "Page 1 of 2");
    b.click("nav.pager a[rel=next]").await;
    let p = b
        .wait_path("page 2 of the combined filters", |p| p.contains("page=2"))
        .await;
    for part in ["q=night", "session=active", "status=online", "per_page=1"] {
        assert!(p.contains(part), "{p} lacks {part}");
    }
    assert_eq!(card_names(&b).await, ["Eve Night"]);
    assert_eq!(b.texts("#team-list li.card .sess.active").await.len(), 1);

    b.close().await;
}

/// Presence is not the session: closing the agent's browser makes them Offline on the
/// admin's open Agents page after the grace period, without a reload; the session stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_agents_browser_turns_them_offline_live() {
    let app = App::spawn().await;
    let olly = app.agent("Olly Online", "olly@acme.test").await;

    let driver = ChromeDriver::start().await;
    let agent = driver.browser().await;
    assert_eq!(agent.sign_in(&app, &olly.email, PASSWORD).await, "/agent");
    // The tab's own connection may already have brought back their Online choice (the
    // button then hides itself); otherwise they click it.
    agent
        .js(
            "const b = document.getElementById('go-online'); if (b && !b.hidden) b.click();",
            vec![],
        )
        .await;
    agent
        .wait_js(
            "the Go Offline button after going online",
            "return !!document.querySelector('button[name=status][value=offline]');",
            vec![],
        )
        .await;
    eventually("the agent's own status to read Online", WAIT, async || {
        let t = agent
            .c
            .execute(
                "return document.getElementById('my-status').textContent.trim();",
                vec![],
            )
            .await?;
        Ok((t == json!("Online")).then_some(()))
    })
    .await;
    app.wait_tab_connected(&olly).await;
    assert_eq!(app.member(&olly.id).await.status, AgentStatus::Online);

    let admin = driver.browser().await;
    admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let badge = format!("{} .badge.status", card(&olly));
    assert_eq!(admin.text(&badge).await, "Online");
    admin
        .js("window.__deskwardNoReload = 'still here';", vec![])
        .await;

    // The clock starts before the browser quits: its connections close while `close` runs.
    let closed = Instant::now();
    agent.close().await;
    let limit = Duration::from_millis(GRACE_MS as u64) + Duration::from_secs(5);
    eventually(
        "the admin's page to show the agent Offline",
        limit,
        async || {
            let v = admin
                .c
                .execute(
                    "const b = document.querySelector(arguments[0]);
                 return b && b.classList.contains('offline') ? b.textContent.trim() : null;",
                    vec![json!(badge)],
                )
                .await?;
            Ok(truthy(&v).then_some(()))
        },
    )
    .await;
    let took = closed.elapsed();
    assert_eq!(admin.text(&badge).await, "Offline");
    assert!(
        took >= Duration::from_millis(GRACE_MS as u64 - 200),
        "Offline after {took:?}, before the grace period"
    );
    assert_eq!(
        admin
            .js("return window.__deskwardNoReload || null;", vec![])
            .await,
        json!("still here"),
        "the admin's page was reloaded"
    );
    // The session is untouched: still green.
    assert!(
        admin
            .exists(&format!("{} a.sess.active", card(&olly)))
            .await
    );
    assert_eq!(app.sessions(&olly).await.len(), 1);
    assert_eq!(app.member(&olly.id).await.status, AgentStatus::Offline);

    admin.close().await;
}

/// Linked agent and sub-administrator (same e-mail): the chain icon's tooltip and link, the
/// comparison on the profile, and ending the linked account's sessions from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_accounts_open_each_other_and_end_the_linked_session() {
    let app = App::spawn().await;
    let lee_agent = app
        .add(
            MemberKind::Agent,
            "Lee Agent",
            "lee@acme.test",
            "agent password 123",
            &[],
        )
        .await;
    let lee_admin = app
        .add(
            MemberKind::Admin,
            "Lee Admin",
            "LEE@acme.test",
            "admin password 123",
            &["team.agents"],
        )
        .await;
    let other = app.agent("Mo Other", "mo@acme.test").await;
    app.login(
        "lee@acme.test",
        "admin password 123",
        MemberKind::Admin,
        "198.51.100.4",
        CHROME_WINDOWS_UA,
    )
    .await;
    app.login(
        "lee@acme.test",
        "agent password 123",
        MemberKind::Agent,
        "198.51.100.4",
        FIREFOX_LINUX_UA,
    )
    .await;

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;

    let chain = format!("{} a.chain", card(&lee_agent));
    let tip = format!("tip-l-{}", lee_agent.id);
    assert!(
        !b.exists(&format!("{} .chain", card(&other))).await,
        "unlinked agent has a chain"
    );
    assert!(!b.tip_visible(&tip).await);
    b.hover(&chain).await;
    eventually("the chain tooltip on hover", WAIT, async || {
        Ok(b.tip_visible(&tip).await.then_some(()))
    })
    .await;
    let text = b.text(&format!("#{tip}")).await;
    assert!(
        text.contains("Linked account") && text.contains("administrator Lee Admin"),
        "chain tooltip: {text}"
    );
    b.mouse_away().await;

    b.click(&chain).await;
    let profile = format!("/team/admins/{}", lee_admin.id);
    b.wait_path("the linked administrator's profile", |p| p == profile)
        .await;
    assert_eq!(b.text("main h1").await, "Lee Admin");
    let compare = b.find("#compare-h").await;
    assert!(compare.is_displayed().await.unwrap());
    assert_eq!(
        compare.text().await.unwrap(),
        "Compare with the linked account"
    );
    let section = b.text("section.compare").await;
    for expected in [
        "Lee Agent (agent, linked)",
        "IP 198.51.100.4 (same)",
        "Firefox 133 on Linux (different)",
        "Chrome 131 on Windows 10 (different)",
    ] {
        assert!(
            section.contains(expected),
            "comparison lacks {expected:?}: {section}"
        );
    }

    b.click("#end-linked").await;
    b.wait_js(
        "the dialog for the linked account",
        "return document.getElementById('confirm-dialog').open;",
        vec![],
    )
    .await;
    assert_eq!(
        b.text("#confirm-title").await,
        "End the linked account's sessions?"
    );
    assert!(b.text("#confirm-text").await.contains("Lee Agent"));
    b.click("#confirm-ok").await;
    b.wait_path("the profile after ending", |p| {
        p.starts_with(&profile) && p.contains("done=ended")
    })
    .await;
    assert_eq!(
        b.text("main .notice").await,
        "1 session of 1 person ended. They have been signed out."
    );
    assert!(
        !b.exists("#end-linked").await,
        "the button stays with nothing left to end"
    );
    let section = b.text("section.compare").await;
    assert!(section.contains("No active session"), "{section}");
    assert!(
        section.contains("The linked account has no active session: there is nothing to compare."),
        "{section}"
    );
    assert!(
        !section.contains("(different)") && !section.contains("(same)"),
        "nothing is compared with no session: {section}"
    );
    assert!(
        app.sessions(&lee_agent).await.is_empty(),
        "the linked agent is still signed in"
    );
    assert_eq!(
        app.sessions(&lee_admin).await.len(),
        1,
        "the administrator was signed out too"
    );

    // And the other way round: on Administrators the chain opens the agent's profile.
    b.goto(&app.url("/team/admins")).await;
    let back = b.find(&format!("{} a.chain", card(&lee_admin))).await;
    assert_eq!(
        back.attr("href").await.unwrap().as_deref(),
        Some(format!("/team/agents/{}", lee_agent.id).as_str())
    );
    back.click().await.unwrap();
    b.wait_path("the linked agent's profile", |p| {
        p == format!("/team/agents/{}", lee_agent.id)
    })
    .await;
    assert!(b.exists("#compare-h").await);

    b.close().await;
}

/// A sub-administrator without team.admins gets 403 on Administrators; with it, the primary
/// administrator's green icon is not a link and the server refuses to end that session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_administrator_cannot_end_the_primary_administrators_session() {
    let app = App::spawn().await;
    let sue = app
        .add(
            MemberKind::Admin,
            "Sue Sub",
            "sue@acme.test",
            PASSWORD,
            &["team.agents"],
        )
        .await;
    let max = app
        .add(
            MemberKind::Admin,
            "Max Sub",
            "max@acme.test",
            PASSWORD,
            &["team.agents"],
        )
        .await;
    app.login(
        PRIMARY_EMAIL,
        PRIMARY_PASSWORD,
        MemberKind::Admin,
        "192.0.2.10",
        CHROME_WINDOWS_UA,
    )
    .await;
    app.login(
        &max.email,
        PASSWORD,
        MemberKind::Admin,
        "192.0.2.11",
        FIREFOX_LINUX_UA,
    )
    .await;

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    assert_eq!(b.sign_in(&app, &sue.email, PASSWORD).await, "/team/agents");
    assert_eq!(b.texts("nav.tabs a").await, ["Agents"]);

    b.goto(&app.url("/team/admins")).await;
    assert_eq!(b.status().await, 403);
    assert_eq!(b.text("main h1").await, "Not allowed");
    let why = b.text("main .panel p").await;
    assert!(why.contains("team.admins"), "403 message: {why}");
    assert!(!b.exists(&card(&app.primary)).await);

    // With team.admins as well.
    app.svc
        .update_person(
            &app.primary_actor(),
            MemberKind::Admin,
            &sue.id,
            PersonPatch {
                permissions: Some(vec!["team.agents".into(), "team.admins".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("grant team.admins");
    b.goto(&app.url("/team/admins")).await;
    assert_eq!(b.status().await, 200);
    assert_eq!(b.texts("nav.tabs a").await, ["Agents", "Administrators"]);
    let primary_icon = b
        .find(&format!("{} .icons .sess.active", card(&app.primary)))
        .await;
    assert_eq!(
        primary_icon.tag_name().await.unwrap(),
        "span",
        "the primary's icon is a link"
    );
    assert_eq!(primary_icon.attr("href").await.unwrap(), None);
    assert_eq!(primary_icon.attr("data-confirm").await.unwrap(), None);
    assert!(!b.exists(&format!("{} a.sess", card(&app.primary))).await);
    assert!(
        b.text(&format!("#tip-s-{}", app.primary.id))
            .await
            .contains("Only the primary administrator can end this session.")
    );
    // Another sub-administrator's green icon is a link, for contrast.
    assert_eq!(
        b.find(&format!("{} .icons .sess.active", card(&max)))
            .await
            .tag_name()
            .await
            .unwrap(),
        "a"
    );
    // Clicking the primary's icon does nothing.
    b.click(&format!("{} .icons .sess.active", card(&app.primary)))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !b.dialog_open().await,
        "a dialog opened for the primary's session"
    );
    assert_eq!(b.path().await, "/team/admins");

    // The server refuses too, even when asked directly.
    b.goto(&app.url(&format!("/team/admins/{}/end-sessions", app.primary.id)))
        .await;
    assert_eq!(b.status().await, 403);
    assert_eq!(b.text("main h1").await, "Not allowed");
    assert_eq!(app.sessions(&app.primary).await.len(), 1);

    b.close().await;
}

/// Screenshots of the Agents page for the README: both icon colours, then a tooltip open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_the_agents_page() {
    let app = App::spawn().await;
    let mut shown = None;
    for (name, email, signed_in, online, ua, ip) in [
        (
            "Alex Morgan",
            "alex@acme.test",
            true,
            true,
            CHROME_WINDOWS_UA,
            "203.0.113.24",
        ),
        ("Blair Chen", "blair@acme.test", false, false, "", ""),
        (
            "Casey Ortiz",
            "casey@acme.test",
            true,
            false,
            FIREFOX_LINUX_UA,
            "198.51.100.17",
        ),
        ("Devon Patel", "devon@acme.test", false, false, "", ""),
        (
            "Emery Novak",
            "emery@acme.test",
            true,
            true,
            CHROME_WINDOWS_UA,
            "192.0.2.45",
        ),
        ("Frankie Silva", "frankie@acme.test", false, false, "", ""),
    ] {
        let m = app.agent(name, email).await;
        if signed_in {
            app.login(email, PASSWORD, MemberKind::Agent, ip, ua).await;
        }
        let status = if online {
            AgentStatus::Online
        } else {
            AgentStatus::Offline
        };
        app.svc
            .set_own_status(&app.agent_actor(&m), status)
            .await
            .expect("set status");
        if shown.is_none() {
            shown = Some(m);
        }
    }
    // A linked pair, so the chain icon is in the picture too.
    app.add(
        MemberKind::Admin,
        "Devon Patel",
        "devon@acme.test",
        "admin password 123",
        &["team.agents"],
    )
    .await;
    let alex = shown.expect("an agent to hover");

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.find("#team-list li.card").await;
    assert!(b.exists("#team-list .sess.none").await && b.exists("#team-list a.sess.active").await);
    b.mouse_away().await;

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).expect("create docs/screenshots");
    let save = |name: &str, png: Vec<u8>| {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is not a PNG");
        assert!(
            png.len() > 10_000,
            "{name} is suspiciously small ({} bytes)",
            png.len()
        );
        std::fs::write(dir.join(name), png).unwrap_or_else(|e| panic!("write {name}: {e}"));
    };
    save("agents.png", b.c.screenshot().await.expect("screenshot"));

    b.hover(&format!("{} a.sess.active", card(&alex))).await;
    let tip = format!("tip-s-{}", alex.id);
    eventually("the tooltip before the screenshot", WAIT, async || {
        Ok(b.tip_visible(&tip).await.then_some(()))
    })
    .await;
    save(
        "agents-tooltip.png",
        b.c.screenshot().await.expect("screenshot"),
    );

    b.close().await;
}

/// Leaving a page must close its event stream. Chrome keeps pages in its back/forward cache,
/// and a cached page whose stream is still open holds one of the six connections Chrome allows
/// per host over HTTP/1.1: the seventh page view then stalls for about a minute. A page brought
/// back from that cache must be live again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_page_closes_its_event_stream() {
    let app = App::spawn().await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    for i in 1..=8 {
        let path = if i % 2 == 0 {
            "/team/admins".to_string()
        } else {
            format!("/team/agents?q=a{i}")
        };
        let started = Instant::now();
        let loaded = tokio::time::timeout(Duration::from_secs(5), b.c.goto(&app.url(&path))).await;
        assert!(
            matches!(loaded, Ok(Ok(()))),
            "page view {i} ({path}) did not load within 5 s ({:?}): pages left behind still hold \
             their event streams open (static/app.js must close the EventSource on pagehide)",
            started.elapsed()
        );
    }

    // Back to a page from the cache: it must follow changes again.
    b.goto(&app.url("/team/agents")).await;
    b.find("#team-list").await;
    b.goto(&app.url("/team/admins")).await;
    b.c.back().await.expect("go back");
    b.wait_path("the page before", |p| p == "/team/agents")
        .await;
    b.wait_js(
        "the restored page",
        "return document.readyState === 'complete' && !!document.getElementById('team-list');",
        vec![],
    )
    .await;
    // However the page gets live again (reload or reconnect), give it a moment to do so.
    tokio::time::sleep(Duration::from_secs(1)).await;
    app.agent("Late Arrival", "late@acme.test").await;
    eventually(
        "the restored page to show a newcomer without reload",
        WAIT,
        async || {
            let names =
                b.c.execute(
                    "return Array.from(document.querySelectorAll('#team-list a.name'))
                     .map(a => a.textContent.trim());",
                    vec![],
                )
                .await?;
            Ok(names
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n == "Late Arrival"))
                .then_some(()))
        },
    )
    .await;
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// Deskward guarding an app behind real nginx and Caddy (forward auth), on both databases.

/// The whole flow of issue 14 in a browser: the app's page sends a newcomer to Deskward's
/// sign-in and back; the app sees who it is; guard.js (injected by nginx, included by the app
/// behind Caddy) keeps the agent Online; an administrator ends the session and the open tab is
/// on the sign-in page with the reason, and the next app request is redirected.
async fn the_guarded_app_signs_its_tab_out(backend: Backend, kind: crate::proxies::Kind) {
    use crate::proxies::Stack;
    use deskward::web::return_to::encode;

    let stack = Stack::start(backend, kind).await;
    let app = &stack.app;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;

    let wanted = stack.proxy.url("/inbox/7?tab=open");
    let sign_in = format!("/deskward/login?rd={}", encode(&wanted));
    b.goto(&wanted).await;
    b.wait_path("the sign-in page with rd", |p| p == sign_in)
        .await;
    b.find("input[name=email]")
        .await
        .send_keys("ann@acme.test")
        .await
        .expect("type the e-mail");
    b.find("input[name=password]")
        .await
        .send_keys(PASSWORD)
        .await
        .expect("type the password");
    b.click("main form button[type=submit]").await;
    b.wait_path("the page asked for", |p| p == "/inbox/7?tab=open")
        .await;
    assert_eq!(b.text("#who").await, "Ann Agent");
    assert_eq!(
        b.texts("#identity td").await,
        [
            "ann@acme.test",
            "ann@acme.test",
            "Ann%20Agent",
            ann.id.as_str(),
            "agent"
        ],
        "the Remote-User, -Email, -Name, -Id and -Groups the app received"
    );

    // guard.js holds the event stream: the tab counts for presence.
    eventually("guard.js to connect the tab", WAIT, async || {
        Ok((app.svc.connections().count(&app.account.id, &ann.id) > 0).then_some(()))
    })
    .await;
    eventually("the agent to be Online", WAIT, async || {
        Ok((app.stored_member(&ann.id).await.status == AgentStatus::Online).then_some(()))
    })
    .await;

    // An administrator ends the session in Deskward: the app's tab goes to sign-in at once.
    let ended_at = Instant::now();
    let n = app
        .svc
        .end_person_sessions(&app.primary_actor(), MemberKind::Agent, &ann.id)
        .await
        .expect("end the agent's sessions");
    assert_eq!(n.sessions, 1);
    let expected = format!(
        "/deskward/login?reason=ended_by_admin&rd={}",
        encode(&wanted)
    );
    b.wait_path("the tab on the sign-in page with the reason", |p| {
        p == expected
    })
    .await;
    eprintln!(
        "{kind:?}/{backend:?}: the tab reached the sign-in page {:?} after the ending",
        ended_at.elapsed()
    );
    assert_eq!(b.text("p.info").await, ENDED_BY_ADMIN);
    assert_eq!(
        app.stored_member(&ann.id).await.status,
        AgentStatus::Offline
    );

    // The next request to the app is redirected to sign-in, and signing in comes back.
    b.goto(&wanted).await;
    b.wait_path("the next app request to be redirected", |p| p == sign_in)
        .await;
    b.close().await;
}

async fn nginx_guarded_app_signs_its_tab_out(backend: Backend) {
    the_guarded_app_signs_its_tab_out(backend, crate::proxies::Kind::Nginx).await
}

async fn caddy_guarded_app_signs_its_tab_out(backend: Backend) {
    the_guarded_app_signs_its_tab_out(backend, crate::proxies::Kind::Caddy).await
}

backend_tests!(
    nginx_guarded_app_signs_its_tab_out,
    caddy_guarded_app_signs_its_tab_out,
);
