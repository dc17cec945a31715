//! HTTPS end to end in a browser: nginx terminating TLS with a certificate the test issues, on
//! the guide's configuration with its HTTPS lines, in front of `deskward serve --https` (the
//! binary, with the flags of docs/reverse-proxy.md section 1) and the sample inbox. Chromium
//! trusts the test's certificate authority; it signs in, reaches the app through verify, holds
//! the event stream, and is signed out when an administrator ends the session.
//!
//! openssl and certutil (Debian's `openssl` and `libnss3-tools`) are required, as are nginx,
//! Chromium and chromedriver (scripts/test.sh installs them all): a missing one fails the test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::json;

use deskward::clock::SystemClock;
use deskward::domain::member::MemberKind;
use deskward::guarded::{self, Addresses};
use deskward::service::NewPerson;
use deskward::store::Member;

use crate::browser::{ChromeDriver, ENDED_BY_ADMIN, WAIT, card, eventually};
use crate::db::{Backend, TestDb};
use crate::forward_auth::PREFIX;
use crate::proxies::{Inbox, Kind, Proxy, encode, guide};
use crate::support::{Binary, Certs, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD};

/// A certificate authority and a server certificate for `localhost` and 127.0.0.1 it issued,
/// made with openssl for this test, and a home directory whose NSS database (what Chromium on
/// Linux reads as the user's trust store) trusts that authority. A real trust, not
/// `--ignore-certificate-errors`: the browser checks the chain and the name as it would for a
/// public site, and the page is a secure context only because the certificate is valid.
struct Tls {
    certs: Certs,
}

impl Tls {
    fn make() -> Tls {
        let certs = Certs::make();
        let d = certs.path("");
        let nssdb = d.join("home/.pki/nssdb");
        std::fs::create_dir_all(&nssdb).expect("create the NSS database's directory");
        let db = format!("sql:{}", nssdb.display());
        run(
            "certutil",
            Command::new("certutil").args(["-N", "--empty-password", "-d", &db]),
        );
        run(
            "certutil",
            Command::new("certutil")
                .args(["-A", "-t", "C,,", "-n", "Deskward test CA", "-d", &db])
                .arg("-i")
                .arg(d.join("ca.pem")),
        );
        Tls { certs }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.certs.path(name)
    }

    /// The home directory to give chromedriver (and so Chromium).
    fn home(&self) -> PathBuf {
        self.path("home")
    }

    fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.path("ca.pem")).expect("read the CA certificate")
    }
}

/// Runs a tool of the test's TLS setup; a missing tool or a failure fails the test.
fn run(tool: &str, cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "this test needs {tool} ({e}); scripts/test.sh installs it \
             (apt-get install -y openssl libnss3-tools)"
        )
    });
    assert!(
        out.status.success(),
        "{tool} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The account, its primary administrator and the agent Ann, made in the database before the
/// binary starts (the binary's first run would otherwise ask for its setup page).
async fn acme_with_ann(url: &str) -> Member {
    let store = deskward::store::connect(url)
        .await
        .expect("connect to the test database");
    let svc = deskward::server::build(
        store,
        Arc::new(SystemClock),
        deskward::events::EventBus::new(),
        &crate::support::server_config(),
    );
    let (account, primary) = crate::support::create_acme_support(&svc).await;
    let ann = NewPerson {
        kind: MemberKind::Agent,
        name: "Ann Agent".to_string(),
        email: "ann@acme.test".to_string(),
        password: Some(PASSWORD.to_string()),
        permissions: Vec::new(),
    };
    crate::support::add_person(
        &svc,
        &crate::support::primary_actor(&account, &primary),
        ann,
    )
    .await
}

/// The guide's nginx configuration for `at`, served over HTTPS as the guide's own comments in
/// the server block say (`# With HTTPS also: listen 443 ssl default_server; …` and `# For
/// HTTPS (and deskward serve --https): listen 443 ssl; ssl_certificate …`), with the test's
/// certificate; returns the path for `nginx -c`.
fn write_https_nginx(dir: &Path, at: &Addresses, tls: &Tls) -> PathBuf {
    let guide = guide();
    let conf = guarded::write_nginx(&guide, at, dir)
        .unwrap_or_else(|e| panic!("nginx configuration from the guide: {e}"));
    let server = guarded::block(&guide, "nginx-server").expect("the guide's server block");
    let hint = |marker: &str| -> String {
        server
            .lines()
            .find_map(|l| l.trim().strip_prefix(marker))
            .unwrap_or_else(|| panic!("the guide's server block lost its `{marker}` line"))
            .trim()
            .to_string()
    };
    let listen = format!("listen {} ", at.proxy);
    let default_server = hint("# With HTTPS also:");
    assert_eq!(
        default_server, "listen 443 ssl default_server; ssl_reject_handshake on;",
        "the guide's HTTPS line for the default server changed: update this test"
    );
    let default_server = default_server.replacen("listen 443 ", &listen, 1);
    let site = hint("# For HTTPS (and `deskward serve --https`):");
    assert_eq!(
        site, "listen 443 ssl; ssl_certificate ...; ssl_certificate_key ...;",
        "the guide's HTTPS line for the site changed: update this test"
    );
    let site = site
        .replacen("listen 443 ", &listen, 1)
        .replacen(
            "ssl_certificate ...;",
            &format!("ssl_certificate {};", tls.path("server.pem").display()),
            1,
        )
        .replacen(
            "ssl_certificate_key ...;",
            &format!("ssl_certificate_key {};", tls.path("server.key").display()),
            1,
        );
    let mut text = std::fs::read_to_string(&conf).expect("read nginx.conf");
    for (plain, https) in [
        (
            format!("listen {} default_server;", at.proxy),
            default_server,
        ),
        (format!("listen {};", at.proxy), site),
    ] {
        assert_eq!(text.matches(&plain).count(), 1, "`{plain}` in:\n{text}");
        text = text.replace(&plain, &https);
    }
    std::fs::write(&conf, text).expect("write nginx.conf");
    conf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_through_nginx_signs_in_verifies_and_signs_the_tab_out() {
    let tls = Tls::make();
    let db = TestDb::new(Backend::Sqlite).await;
    let ann = acme_with_ann(&db.url).await;
    // As docs/reverse-proxy.md section 1 runs it, on a loopback port of its own choosing.
    let desk = Binary::serve(&db.url)
        .arg("--path-prefix")
        .arg(PREFIX)
        .arg("--trusted-proxy")
        .arg("127.0.0.1/32")
        .arg("--https")
        .start()
        .await;
    let inbox = Inbox::start(Kind::Nginx).await;
    let deskward = SocketAddr::from(([127, 0, 0, 1], desk.port));
    let proxy = Proxy::nginx_https_with(
        |dir, proxy| {
            let at = Addresses {
                proxy,
                deskward,
                app: inbox.addr,
            };
            write_https_nginx(dir, &at, &tls)
        },
        &format!("{PREFIX}/healthz"),
        &tls.ca_pem(),
    )
    .await;
    assert!(
        proxy.base.starts_with("https://localhost:"),
        "{}",
        proxy.base
    );

    let driver = ChromeDriver::start_with_home(&tls.home()).await;
    let agent = driver.browser().await;

    // The app's page sends a newcomer to sign-in, over HTTPS, with the page as rd.
    let wanted = proxy.url("/inbox/7?tab=open");
    let sign_in = format!("{PREFIX}/login?rd={}", encode(&wanted));
    agent.goto(&wanted).await;
    agent
        .wait_path("the sign-in page with rd", |p| p == sign_in)
        .await;
    assert_eq!(
        agent
            .js("return [location.origin, window.isSecureContext];", vec![])
            .await,
        json!([proxy.base, true]),
        "the sign-in page, over HTTPS the browser trusts"
    );
    agent.fill_in_sign_in("ann@acme.test", PASSWORD).await;

    // Back on the page asked for: the proxy asked Deskward (verify) and the app was told who.
    agent
        .wait_path("the page asked for", |p| p == "/inbox/7?tab=open")
        .await;
    assert_eq!(agent.text("#who").await, "Ann Agent", "{}", proxy.log());
    assert_eq!(agent.text("#email").await, "ann@acme.test");

    // The session cookie is the HTTPS one: `__Host-` (so no Domain, Path=/), Secure, HttpOnly.
    let cookies = agent
        .c
        .get_all_cookies()
        .await
        .expect("the browser's cookies");
    let names: Vec<String> = cookies.iter().map(|c| c.name().to_string()).collect();
    let session = cookies
        .iter()
        .find(|c| c.name() == "__Host-deskward_session")
        .unwrap_or_else(|| panic!("no __Host-deskward_session cookie among {names:?}"));
    assert_eq!(session.secure(), Some(true), "{session}");
    assert_eq!(session.http_only(), Some(true), "{session}");
    assert_eq!(session.path(), Some("/"), "{session}");
    assert!(
        !names.iter().any(|n| n == "deskward_session"),
        "a plain-HTTP session cookie too: {names:?}"
    );

    // Deskward's answers through the proxy carry HSTS (`--https`).
    let port: u16 = proxy
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the proxy's port");
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&tls.ca_pem()).expect("the CA")])
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], port)))
        .build()
        .expect("an HTTPS client trusting the test's CA");
    let r = http
        .get(proxy.url(&format!("{PREFIX}/login")))
        .send()
        .await
        .expect("the sign-in page over HTTPS");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert!(
        r.headers()
            .get("strict-transport-security")
            .is_some_and(|v| v.to_str().unwrap_or("").contains("max-age=")),
        "no HSTS: {:?}",
        r.headers()
    );

    // An administrator signs in through the same proxy in another browser and sees Ann
    // Online: guard.js (injected by nginx) holds her tab's event stream, over TLS.
    let admin = driver.browser().await;
    admin.goto(&proxy.url(&format!("{PREFIX}/login"))).await;
    admin.fill_in_sign_in(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    admin
        .wait_path("the administrator to leave the sign-in page", |p| {
            !p.starts_with(&format!("{PREFIX}/login"))
        })
        .await;
    admin
        .goto(&proxy.url(&format!("{PREFIX}/team/agents")))
        .await;
    let badge = format!("{} .badge.status", card(&ann));
    eventually("Ann Online on the Agents page", WAIT, async || {
        let status = admin
            .c
            .execute(
                "const b = document.querySelector(arguments[0]);
                 return b ? b.textContent.trim() : null;",
                vec![json!(badge)],
            )
            .await?;
        Ok((status == json!("Online")).then_some(()))
    })
    .await;

    // The administrator ends her session: her tab of the app goes to sign-in, told why.
    let green = format!("{} a.sess.active", card(&ann));
    admin.click(&green).await;
    admin
        .wait_js(
            "the confirmation dialog",
            "return document.getElementById('confirm-dialog').open;",
            vec![],
        )
        .await;
    admin.click("#confirm-ok").await;
    admin
        .wait_path("the list after ending the session", |p| {
            p.contains("done=ended")
        })
        .await;
    let expected = format!(
        "{PREFIX}/login?reason=ended_by_admin&rd={}",
        encode(&wanted)
    );
    agent
        .wait_path("Ann's tab on the sign-in page with the reason", |p| {
            p == expected
        })
        .await;
    assert_eq!(agent.text("p.info").await, ENDED_BY_ADMIN);

    // The next request to the app is refused by the proxy: back to sign-in.
    agent.goto(&wanted).await;
    agent
        .wait_path("the next app request to be redirected", |p| p == sign_in)
        .await;
    agent.close().await;
    admin.close().await;
}
