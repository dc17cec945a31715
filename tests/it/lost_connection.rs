//! A tab whose connection goes silent (a closed laptop lid, a dead Wi-Fi: packets stop, nothing
//! resets the connection) must not keep its agent Online. The client runs in a network
//! namespace this test makes, joined to the server by a veth pair; the test then takes the
//! namespace's end of the link down, so the server's packets are dropped without a word, and
//! waits for the agent to go Offline.
//!
//! Needs root and `ip` (iproute2). Under `CI=true` their absence fails the test; elsewhere the
//! test says so and passes without running.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deskward::server::ServerConfig;
use deskward::store::Store;
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::db::{Backend, TestDb};
use crate::support::{COOKIE, PASSWORD, TestApp, relayed_instance, serve_listener};

/// How long the test waits for Offline once the link is down: well past the bound the server
/// promises (docs/operations.md), and far short of the kernel's own ~15 minutes.
const OFFLINE_WITHIN: Duration = Duration::from_secs(120);

/// The host's and the namespace's addresses on the link: IPv6 link-local, which is scoped to
/// its interface, so tests running at once each use the same pair on their own link without
/// clashing, and the traffic never leaves the pair.
const HOST_ADDR: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const NS_ADDR: &str = "fe80::2/64";

/// Whether this process may make network namespaces. `false` (and a message) only outside CI.
fn can_make_namespaces() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false);
    let ip = std::process::Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    let curl = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if root && ip && curl {
        return true;
    }
    let why = format!("needs root (is: {root}), `ip` (found: {ip}) and `curl` (found: {curl})");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the lost-connection test {why}");
    }
    eprintln!("skipped: the lost-connection test {why}");
    false
}

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace joined to this one by a veth pair, both ends up, named after this
/// process and a counter so tests running at once never share one. Dropping it deletes the
/// namespace, which deletes the pair.
struct Link {
    ns: String,
    host_if: String,
    ns_if: String,
}

impl Link {
    fn new() -> Link {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let link = Link {
            ns: format!("deskward-lost-{tag}"),
            // Interface names hold at most 15 bytes.
            host_if: format!("dwh{tag}"),
            ns_if: format!("dwn{tag}"),
        };
        ip(&["netns", "add", &link.ns]);
        ip(&[
            "link",
            "add",
            &link.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &link.ns_if,
            "netns",
            &link.ns,
        ]);
        // `nodad`: usable at once, with no duplicate-address wait.
        ip(&[
            "addr",
            "add",
            &format!("{HOST_ADDR}/64"),
            "dev",
            &link.host_if,
            "nodad",
        ]);
        ip(&["link", "set", &link.host_if, "up"]);
        link.in_ns(&["addr", "add", NS_ADDR, "dev", &link.ns_if, "nodad"]);
        link.in_ns(&["link", "set", &link.ns_if, "up"]);
        link
    }

    fn in_ns(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.ns, "ip"];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// A listener on the host's end of the link.
    async fn listen(&self) -> tokio::net::TcpListener {
        let index: u32 =
            std::fs::read_to_string(format!("/sys/class/net/{}/ifindex", self.host_if))
                .expect("interface index")
                .trim()
                .parse()
                .expect("interface index is a number");
        tokio::net::TcpListener::bind(SocketAddr::V6(SocketAddrV6::new(HOST_ADDR, 0, 0, index)))
            .await
            .expect("bind the host's end of the link")
    }

    /// Packets stop: the namespace's end goes down, so whatever the server sends is dropped
    /// and nothing answers, with no reset.
    fn cut(&self) {
        self.in_ns(&["link", "set", &self.ns_if, "down"]);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .output();
        // Gone with the namespace already, unless that failed half-way.
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
    }
}

/// An event stream held by `curl` inside the namespace, with the given session token; returns
/// once the stream said `ready`. The process is killed when this is dropped.
async fn open_stream_in(link: &Link, port: u16, token: &str) -> tokio::process::Child {
    let url = format!("http://[{HOST_ADDR}%25{}]:{port}/api/v1/events", link.ns_if);
    let mut child = tokio::process::Command::new("ip")
        .args(["netns", "exec", &link.ns, "curl", "-sSNg"])
        .args(["-H", &format!("Cookie: {COOKIE}={token}"), &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start curl in the namespace");
    let mut lines = BufReader::new(child.stdout.take().expect("curl's output")).lines();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await.expect("read curl's output") {
            if line.trim() == "event: ready" {
                return;
            }
        }
        panic!("the stream closed before `ready`");
    })
    .await
    .expect("the stream through the link says `ready`");
    // The rest is read and thrown away, so curl never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// Polls `status` until it is `want`, for at most `within`; the time it took.
async fn until_status<F, Fut>(want: &str, within: Duration, status: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let started = Instant::now();
    loop {
        let now = status().await;
        if now == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "the agent is still {now} {} s later",
            within.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One instance: the agent's tab reaches the server over the link, the link goes silent, and
/// the agent goes Offline.
async fn a_silently_lost_connection_makes_the_agent_offline(backend: Backend) {
    if !can_make_namespaces() {
        return;
    }
    let app = TestApp::spawn(backend).await;
    let agent = app.add_agent("Ann Agent", "ann@acme.test").await;
    let ann = app.signed_in("ann@acme.test", PASSWORD).await;
    let token = ann.session_token().expect("signed in");

    let link = Link::new();
    let listener = link.listen().await;
    let port = listener.local_addr().unwrap().port();
    // The same service, reachable through the link as well as on loopback.
    let _on_link = serve_listener(
        app.svc.clone(),
        ServerConfig {
            sweep_interval: Duration::from_secs(3600),
            ..crate::support::server_config()
        },
        listener,
    );
    let _tab = open_stream_in(&link, port, &token).await;
    let status = || async {
        app.stored_member(&agent.id)
            .await
            .status
            .as_str()
            .to_string()
    };
    until_status("online", Duration::from_secs(10), status).await;

    link.cut();
    let took = until_status("offline", OFFLINE_WITHIN, status).await;
    println!(
        "lost connection ({backend:?}): Offline {:.1} s after the link went silent",
        took.as_secs_f64()
    );
}

backend_tests!(a_silently_lost_connection_makes_the_agent_offline);

/// Two instances on one PostgreSQL database: the tab is held by B through the link, A is asked
/// about the agent, and A sees her go Offline once B's connection went silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silently_lost_connection_on_another_instance_makes_the_agent_offline() {
    if !can_make_namespaces() {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let loopback = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (a_svc, a) = relayed_instance(&db.url, 300, loopback).await;
    let link = Link::new();
    let listener = link.listen().await;
    let port = listener.local_addr().unwrap().port();
    let (_b_svc, _b) = relayed_instance(&db.url, 300, listener).await;
    crate::support::create_acme(&a_svc).await;
    let (admin, agent_id) = crate::support::pat_adds_ann(&a.base).await;
    // Signed in on A; the tab's stream goes to B through the link.
    let ann = crate::support::client_for_base(&a.base);
    ann.login("ann@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let token = ann.session_token().expect("signed in");
    let _tab = open_stream_in(&link, port, &token).await;
    let status = || async {
        admin
            .get(&format!("/api/v1/agents/{agent_id}"))
            .await
            .json()["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    until_status("online", Duration::from_secs(10), status).await;

    link.cut();
    let took = until_status("offline", OFFLINE_WITHIN, status).await;
    println!(
        "lost connection (two instances): A reports Offline {:.1} s after the link to B went \
         silent",
        took.as_secs_f64()
    );
    let store: Arc<dyn Store> = deskward::store::connect(&db.url).await.unwrap();
    let account_id = store.first_account().await.unwrap().id;
    let m = store.member(&account_id, &agent_id).await.unwrap();
    assert_eq!(m.status.as_str(), "offline", "stored status");
}
