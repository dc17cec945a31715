//! Deskward guarding an app, ready to run: a sample helpdesk "inbox" that trusts the identity
//! headers its proxy adds, and the proxy configurations of `docs/reverse-proxy.md` filled in
//! for loopback addresses. `deskward demo` runs them behind nginx when it is installed; the
//! tests run them behind nginx and Caddy, reading the guide itself, so it cannot drift from
//! what works.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};

use crate::server::{self, ServerConfig};
use crate::service::{Service, random_hex};
use crate::web::WebConfig;

/// The guide, as built into this binary.
pub const GUIDE: &str = include_str!("../docs/reverse-proxy.md");

/// The addresses the guide's examples use, replaced by real ones when a configuration runs.
const GUIDE_DESKWARD: &str = "127.0.0.1:8080";
const GUIDE_APP: &str = "127.0.0.1:3000";

/// Where each part listens when a configuration runs on loopback.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    /// The proxy (what the browser opens).
    pub proxy: SocketAddr,
    pub deskward: SocketAddr,
    pub app: SocketAddr,
}

/// The configuration block named `name` in the guide: the fenced code block right after the
/// line `<!-- deskward-config: NAME -->`.
pub fn block(guide: &str, name: &str) -> Result<String, String> {
    let marker = format!("<!-- deskward-config: {name} -->");
    let after = guide
        .split_once(&marker)
        .ok_or_else(|| format!("the guide has no block marked {marker}"))?
        .1;
    let mut lines = after.lines().skip_while(|l| l.trim().is_empty());
    let fence = lines.next().unwrap_or("");
    if !fence.starts_with("```") {
        return Err(format!("{marker} is not followed by a fenced code block"));
    }
    let mut body = String::new();
    for line in lines {
        if line.starts_with("```") {
            return Ok(body);
        }
        body.push_str(line);
        body.push('\n');
    }
    Err(format!("the code block after {marker} is not closed"))
}

/// `text` with every `from` replaced; an error when there is none, so a guide that changed
/// its examples fails loudly instead of running something else.
fn substitute(text: &str, name: &str, from: &str, to: &str) -> Result<String, String> {
    if text.contains(from) {
        Ok(text.replace(from, to))
    } else {
        Err(format!(
            "the guide's {name} block no longer contains `{from}` (the loopback runs replace it)"
        ))
    }
}

/// Writes a complete nginx configuration running the guide's nginx blocks on `at` into `dir`
/// (with its snippet, pid file, logs and temporary files there); returns the path to pass to
/// `nginx -c`. nginx runs in the foreground (`daemon off`).
pub fn write_nginx(guide: &str, at: &Addresses, dir: &Path) -> Result<PathBuf, String> {
    let http = block(guide, "nginx-http")?;
    let http = substitute(
        &http,
        "nginx-http",
        &format!("server {GUIDE_DESKWARD};"),
        &format!("server {};", at.deskward),
    )?;
    let http = substitute(
        &http,
        "nginx-http",
        &format!("server {GUIDE_APP};"),
        &format!("server {};", at.app),
    )?;
    let snippet_path = dir.join("deskward-guard.conf");
    let server = block(guide, "nginx-server")?;
    let server = substitute(
        &server,
        "nginx-server",
        "listen 80;",
        &format!("listen {};", at.proxy),
    )?;
    let server = substitute(
        &server,
        "nginx-server",
        "listen 80 default_server;",
        &format!("listen {} default_server;", at.proxy),
    )?;
    // The guide's host name becomes the ones a browser uses for the loopback address, and
    // `status.localhost` stands for the access rules' public status host.
    let server = substitute(
        &server,
        "nginx-server",
        "server_name desk.example.com;",
        &format!("server_name {} localhost status.localhost;", at.proxy.ip()),
    )?;
    let server = substitute(
        &server,
        "nginx-server",
        "include /etc/nginx/snippets/deskward-guard.conf;",
        &format!("include {};", snippet_path.display()),
    )?;
    std::fs::write(&snippet_path, block(guide, "nginx-guard")?)
        .map_err(|e| format!("cannot write {}: {e}", snippet_path.display()))?;
    write_nginx_http(&format!("{http}\n{server}"), dir)
}

/// Writes a complete nginx configuration whose `http` context holds `http` into `dir` (with its
/// pid file, logs and temporary files there); returns the path to pass to `nginx -c`.
pub fn write_nginx_http(http: &str, dir: &Path) -> Result<PathBuf, String> {
    let d = dir.display();
    let conf = format!(
        "daemon off;\nworker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         access_log off;\n\
         client_body_temp_path {d}/client_body;\nproxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
         {http}}}\n"
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf)
        .map_err(|e| format!("cannot write {}: {e}", conf_path.display()))?;
    Ok(conf_path)
}

/// The guide's Caddyfile serving plain HTTP on `at`, without Caddy's admin endpoint (several
/// test runs side by side would fight over its port).
pub fn caddyfile(guide: &str, at: &Addresses) -> Result<String, String> {
    let site = block(guide, "caddy")?;
    let site = substitute(
        &site,
        "caddy",
        "desk.example.com {",
        &format!("http://{} {{", at.proxy),
    )?;
    let site = substitute(&site, "caddy", GUIDE_DESKWARD, &at.deskward.to_string())?;
    let site = substitute(&site, "caddy", GUIDE_APP, &at.app.to_string())?;
    Ok(format!("{{\n\tadmin off\n}}\n\n{site}"))
}

/// The sample helpdesk. Pages show the inbox and what the proxy said about the person; paths
/// with an `api` segment (`/api/…`, `/admin/api/…`) answer JSON with everything the request carried (method, URI, every header),
/// for tests. `guard` is the URL of guard.js when the app includes it itself (with Caddy or
/// Traefik), `None` when the proxy injects it (nginx).
pub fn inbox(deskward: &str, guard: Option<&str>) -> Router {
    let deskward = deskward.to_string();
    let guard = guard.map(str::to_string);
    Router::new().fallback(move |req: Request| {
        let deskward = deskward.clone();
        let guard = guard.clone();
        async move {
            if req.uri().path().split('/').any(|segment| segment == "api") {
                echo(&req)
            } else {
                Html(inbox_page(req.headers(), &deskward, guard.as_deref())).into_response()
            }
        }
    })
}

fn echo(req: &Request) -> Response {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in req.headers() {
        headers
            .entry(k.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    let body = serde_json::json!({
        "method": req.method().as_str(),
        "uri": req.uri().to_string(),
        "headers": headers,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn inbox_page(h: &HeaderMap, deskward: &str, guard: Option<&str>) -> String {
    let get = |name: &str| {
        h.get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    let name = percent_encoding::percent_decode_str(&get("remote-name"))
        .decode_utf8_lossy()
        .into_owned();
    let rows: String = [
        "Remote-User",
        "Remote-Email",
        "Remote-Name",
        "Remote-Id",
        "Remote-Groups",
    ]
    .iter()
    .map(|k| {
        format!(
            "<tr><th scope=\"row\">{k}</th><td><code>{}</code></td></tr>",
            escape(&get(k))
        )
    })
    .collect();
    let script = guard
        .map(|src| format!("<script src=\"{}\" defer></script>\n", escape(src)))
        .unwrap_or_default();
    let cases = [
        ("#1042", "Refund for a double charge", "Open"),
        ("#1039", "Cannot reset my password", "Waiting on customer"),
        ("#1031", "Invoice address is wrong", "Open"),
    ]
    .iter()
    .map(|(id, subject, status)| {
        format!("<tr><td>{id}</td><td>{subject}</td><td>{status}</td></tr>")
    })
    .collect::<String>();
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Inbox · Sample helpdesk</title>\n\
         <style>body{{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:50rem;padding:0 1rem}}\
         table{{border-collapse:collapse;width:100%;margin-bottom:2rem}}\
         th,td{{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #ddd}}</style>\n\
         {script}</head>\n<body>\n\
         <header><p>Sample helpdesk, guarded by Deskward. Signed in as <b id=\"who\">{}</b> \
         (<span id=\"email\">{}</span>) · <a href=\"{}/\">Deskward</a></p></header>\n\
         <main>\n<h1>Inbox</h1>\n\
         <table id=\"cases\"><thead><tr><th>Case</th><th>Subject</th><th>Status</th></tr></thead>\
         <tbody>{cases}</tbody></table>\n\
         <h2>What the proxy told this app</h2>\n<table id=\"identity\">{rows}</table>\n\
         <p>End this session in Deskward (Team → Agents, the green icon) and watch this tab.</p>\n\
         </main>\n</body>\n</html>\n",
        escape(&name),
        escape(&get("remote-user")),
        escape(deskward),
    )
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The guide's access rules (its `access-rules` block), checked.
pub fn guide_rules() -> Result<crate::domain::access::AccessRules, String> {
    let text = block(GUIDE, "access-rules")?;
    crate::domain::access::AccessRules::parse(&text)
        .map_err(|e| format!("the guide's access rules, {e}"))
}

/// The web settings of a Deskward behind the guide's proxy on loopback: under `/deskward`,
/// the proxy trusted, agents landing in the app, the guide's access rules in force.
pub fn web_config() -> WebConfig {
    let rules = guide_rules().expect("the guide's access rules are checked by the tests");
    WebConfig {
        access_rules: Some(crate::access_rules::RulesFile::with_rules(
            Path::new("docs/reverse-proxy.md"),
            rules,
        )),
        path_prefix: "/deskward".to_string(),
        trusted_proxies: vec![
            "127.0.0.1/32".parse().expect("a CIDR"),
            "::1/128".parse().expect("a CIDR"),
        ],
        agent_home: Some("/".to_string()),
        ..WebConfig::default()
    }
}

/// `deskward demo` with nginx: nginx on `bind` running the guide's configuration, in front of
/// the sample inbox and of Deskward (each on a free loopback port), until Ctrl-C. `config.web`
/// should be [`web_config`]; `admin` is the e-mail of the seeded primary administrator, which
/// the start-up message names.
pub async fn serve_demo(
    svc: Arc<Service>,
    config: ServerConfig,
    bind: SocketAddr,
    nginx: &Path,
    admin: &str,
) -> Result<(), String> {
    let listen = |what: &'static str| async move {
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on loopback for {what}: {e}"))
    };
    let desk_listener = listen("Deskward").await?;
    let app_listener = listen("the sample inbox").await?;
    let at = Addresses {
        proxy: bind,
        deskward: desk_listener.local_addr().map_err(|e| e.to_string())?,
        app: app_listener.local_addr().map_err(|e| e.to_string())?,
    };
    let dir = std::env::temp_dir().join(format!("deskward-demo-nginx-{}", random_hex(6)));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // nginx's workers drop root privileges and must still reach their temporary files.
    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
    let proxy = DemoProxy {
        dir: &dir,
        nginx,
        admin,
    };
    let result = run_demo(svc, config, desk_listener, app_listener, &at, proxy).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The demo's nginx: where its configuration goes, its binary, and the seeded primary
/// administrator its start-up message names.
#[derive(Clone, Copy)]
struct DemoProxy<'a> {
    dir: &'a Path,
    nginx: &'a Path,
    admin: &'a str,
}

async fn run_demo(
    svc: Arc<Service>,
    config: ServerConfig,
    desk_listener: tokio::net::TcpListener,
    app_listener: tokio::net::TcpListener,
    at: &Addresses,
    proxy: DemoProxy<'_>,
) -> Result<(), String> {
    let DemoProxy { dir, nginx, admin } = proxy;
    let conf = write_nginx(GUIDE, at, dir)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let app = inbox("/deskward", None);
    let app_task = tokio::spawn(
        axum::serve(app_listener, app)
            .with_graceful_shutdown(until_stopped(stopped.clone()))
            .into_future(),
    );
    let desk_task = tokio::spawn(server::serve(
        svc,
        config,
        desk_listener,
        until_stopped(stopped.clone()),
    ));
    // nginx in a process group of its own, so that every way out stops the master and its
    // workers together (killing only the master left the workers holding the port).
    let mut proxy = tokio::process::Command::new(nginx)
        .arg("-e")
        .arg("stderr")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", nginx.display()))?;
    let group = ProcessGroup::of(&proxy);
    let outcome = tokio::select! {
        ready = answers(at.proxy, "/deskward/healthz") => match ready {
            Ok(()) => {
                println!();
                println!("The sample helpdesk, guarded by Deskward behind nginx (docs/reverse-proxy.md):");
                println!("  open http://{}/ and sign in as an agent, e.g. aaliyah.brooks@northwind.example", at.proxy);
                println!("  Deskward itself is at http://{}/deskward/ ({admin});", at.proxy);
                println!("  end the agent's session there and watch the inbox tab go to the sign-in page.");
                println!("Ctrl-C stops everything.");
                tokio::select! {
                    _ = demo_stop_signal() => Ok(()),
                    status = proxy.wait() => Err(format!("nginx stopped ({})", status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()))),
                }
            }
            Err(e) => Err(e),
        },
        status = proxy.wait() => Err(format!(
            "nginx could not start on {} ({}); is the port free?",
            at.proxy,
            status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())
        )),
    };
    group.stop(&mut proxy).await;
    let _ = stop.send(true);
    let _ = app_task.await;
    let _ = desk_task.await;
    outcome
}

/// What ends the demo: Ctrl-C, `kill` (SIGTERM) and a closed terminal (SIGHUP), which would
/// otherwise end the process without stopping nginx.
async fn demo_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let hangup = async {
        match signal(SignalKind::hangup()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = server::shutdown_signal() => {},
        _ = hangup => tracing::info!("the terminal went away; shutting down"),
    }
}

/// The proxy's process group (the master made it, its workers are in it), signalled as one.
/// Dropped without [`ProcessGroup::stop`] (an error or a panic on the way out), it kills the
/// whole group at once.
struct ProcessGroup(Option<rustix::process::Pid>);

impl ProcessGroup {
    fn of(child: &tokio::process::Child) -> ProcessGroup {
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw);
        ProcessGroup(pid)
    }

    /// SIGTERM to the group (nginx's fast shutdown: the master stops its workers, then
    /// itself), up to 5 s for the master to exit, then SIGKILL to whatever is left.
    async fn stop(mut self, child: &mut tokio::process::Child) {
        if let Some(pid) = self.0 {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), child.wait()).await;
        }
        self.kill();
        let _ = child.kill().await;
    }

    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits (up to 10 s) until `addr` answers `GET path` with 200.
async fn answers(addr: SocketAddr, path: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for _ in 0..200 {
        if let Ok(mut tcp) = tokio::net::TcpStream::connect(addr).await {
            let ask = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            let mut head = [0u8; 12];
            if tcp.write_all(ask.as_bytes()).await.is_ok()
                && tcp.read_exact(&mut head).await.is_ok()
                && head.ends_with(b" 200")
            {
                return Ok(());
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(format!(
        "nothing answered on http://{addr}{path} within 10 s"
    ))
}

/// Where an executable is: on `PATH`, or in the sbin directories a non-root `PATH` often lacks.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Addresses {
        Addresses {
            proxy: "127.0.0.1:18000".parse().unwrap(),
            deskward: "127.0.0.1:18001".parse().unwrap(),
            app: "127.0.0.1:18002".parse().unwrap(),
        }
    }

    #[test]
    fn the_guides_access_rules_are_valid() {
        let rules = guide_rules().unwrap();
        assert!(rules.len() >= 5, "{rules:?}");
    }

    #[test]
    fn blocks_are_found_by_their_marker() {
        let guide = "intro\n<!-- deskward-config: a -->\n\n```nginx\nline 1\nline 2\n```\nafter\n";
        assert_eq!(block(guide, "a").unwrap(), "line 1\nline 2\n");
        assert!(block(guide, "b").unwrap_err().contains("no block"));
        assert!(block("<!-- deskward-config: a -->\ntext\n", "a").is_err());
        assert!(block("<!-- deskward-config: a -->\n```\nopen\n", "a").is_err());
    }

    #[test]
    fn the_guides_configurations_fill_in() {
        let dir = tempfile_dir();
        let conf = write_nginx(GUIDE, &at(), &dir).unwrap();
        let text = std::fs::read_to_string(&conf).unwrap();
        assert!(text.contains("listen 127.0.0.1:18000;"), "{text}");
        assert!(text.contains("listen 127.0.0.1:18000 default_server;"));
        assert!(text.contains("server_name 127.0.0.1 localhost status.localhost;"));
        assert!(text.contains("server 127.0.0.1:18001;"));
        assert!(text.contains("server 127.0.0.1:18002;"));
        assert!(!text.contains("/etc/nginx"));
        assert!(dir.join("deskward-guard.conf").is_file());
        let caddy = caddyfile(GUIDE, &at()).unwrap();
        assert!(caddy.contains("http://127.0.0.1:18000 {"));
        assert!(caddy.contains("forward_auth 127.0.0.1:18001 {"));
        assert!(caddy.contains("reverse_proxy 127.0.0.1:18002"));
        assert!(!caddy.contains("127.0.0.1:8080") && !caddy.contains("127.0.0.1:3000"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_changed_guide_fails_loudly() {
        let guide = GUIDE.replace("listen 80;", "listen 8081;");
        let dir = tempfile_dir();
        let e = write_nginx(&guide, &at(), &dir).unwrap_err();
        assert!(e.contains("listen 80;"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_inbox_shows_what_the_proxy_said() {
        let mut h = HeaderMap::new();
        h.insert("remote-user", "zoe@acme.test".parse().unwrap());
        h.insert("remote-name", "Zo%C3%AB%20%3Cb%3E".parse().unwrap());
        let page = inbox_page(&h, "/deskward", Some("/deskward/guard.js"));
        assert!(page.contains("<b id=\"who\">Zoë &lt;b&gt;</b>"), "{page}");
        assert!(page.contains("<script src=\"/deskward/guard.js\" defer></script>\n</head>"));
        assert!(!inbox_page(&h, "/deskward", None).contains("<script"));
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "deskward-guarded-{}-{}",
            std::process::id(),
            crate::service::random_hex(4)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
