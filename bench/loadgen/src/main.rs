//! Deskward measurements that wrk cannot make. Talks only to the `--base` URL, which must be a
//! loopback address; every phase is bounded in count and time.
//!
//!   loadgen startup  --port P --runs N [--db-dir DIR] -- CMD ARGS...   ({db} and {port} in ARGS are filled in)
//!   loadgen login    --base URL --count N [--first-agent F] --out FILE   (admin + N agents' cookies)
//!   loadgen streams  --base URL --pid PID [--n 10000] [--sessions 1000] [--latency-iterations 0] [--sessions-file FILE]
//!   loadgen latency  --base URL [--iterations 1000] [--admin-base URL]   (endings sent to another instance)
//!   loadgen team     --base URL [--requests 200] [--only FILTER,...] [--pages no] [--name PREFIX]
//!   loadgen bulk     --base URL [--rounds 3] [--size 1000]
//!   loadgen signin   --base URL [--concurrency 50] [--bursts 4] [--rps 500]
//!
//! Agents are the ones `deskward seed-large` creates: agent00000@bench.example … with the
//! password demo-password-2026, the administrator admin@bench.example.
//! Each figure is printed on a line `RESULT <name> <value> <unit>` for bench/run.sh to collect.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

type Res<T> = Result<T, String>;

const PASSWORD: &str = "demo-password-2026";
const ADMIN: &str = "admin@bench.example";

fn agent_email(i: usize) -> String {
    format!("agent{i:05}@bench.example")
}

// ---------------------------------------------------------------- arguments

struct Opts {
    map: HashMap<String, String>,
    rest: Vec<String>,
}

impl Opts {
    fn parse(args: Vec<String>) -> Opts {
        let mut map = HashMap::new();
        let mut rest = Vec::new();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            if a == "--" {
                rest.extend(it.by_ref());
                break;
            }
            let Some(key) = a.strip_prefix("--") else {
                panic!("unexpected argument {a}");
            };
            let value = it.next().unwrap_or_else(|| panic!("--{key} needs a value"));
            map.insert(key.to_string(), value);
        }
        Opts { map, rest }
    }
    fn str(&self, key: &str, default: &str) -> String {
        self.map
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }
    fn num(&self, key: &str, default: usize) -> usize {
        self.map
            .get(key)
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("--{key}: not a number: {v}"))
            })
            .unwrap_or(default)
    }
    fn base(&self) -> String {
        let base = self.str("base", "http://127.0.0.1:18080");
        let host = base
            .strip_prefix("http://")
            .expect("--base must be http://127.x.x.x:PORT")
            .split(':')
            .next()
            .unwrap_or("");
        assert!(
            host.starts_with("127.") || host == "localhost",
            "--base must be a loopback address, got {base}"
        );
        base.trim_end_matches('/').to_string()
    }
}

// ---------------------------------------------------------------- statistics

fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Summary {
    n: usize,
    p50: f64,
    p99: f64,
    max: f64,
}

fn summarize(mut v: Vec<Duration>) -> Summary {
    v.sort();
    Summary {
        n: v.len(),
        p50: ms(pct(&v, 0.50)),
        p99: ms(pct(&v, 0.99)),
        max: ms(v.last().copied().unwrap_or_default()),
    }
}

fn result(name: &str, value: f64, unit: &str) {
    println!("RESULT {name} {value:.3} {unit}");
}

fn rss_kib(pid: u32) -> Res<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

// ---------------------------------------------------------------- HTTP helpers

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

#[derive(Clone)]
struct Login {
    cookie: String,
    csrf: String,
    session_id: String,
}

async fn login(c: &Client, base: &str, email: &str, as_kind: &str) -> Res<Login> {
    let fut = c
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD, "as": as_kind}))
        .send();
    let resp = tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .map_err(|_| format!("sign-in of {email}: timed out"))?
        .map_err(|e| format!("sign-in of {email}: {e}"))?;
    let status = resp.status();
    let cookie = resp
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    let body: Value = resp
        .json()
        .await
        .map_err(|e| format!("sign-in of {email}: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!("sign-in of {email}: {status} {body}"));
    }
    let cookie = cookie.ok_or_else(|| format!("sign-in of {email}: no cookie"))?;
    Ok(Login {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap_or_default().to_string(),
        session_id: body["user"]["sessions"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

/// Signs in `emails` with at most `parallel` sign-ins at a time; returns them in order.
async fn login_many(
    c: &Client,
    base: &str,
    emails: Vec<String>,
    parallel: usize,
) -> Res<Vec<Login>> {
    let sem = Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = Vec::with_capacity(emails.len());
    for email in emails {
        let (c, base, sem) = (c.clone(), base.to_string(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            login(&c, &base, &email, "agent").await
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.map_err(|e| e.to_string())??);
    }
    Ok(out)
}

/// An open `GET /api/v1/events` stream, read as text.
struct Sse {
    resp: reqwest::Response,
    buf: String,
    /// The stream's own session, from its `ready` event.
    session_id: String,
}

impl Sse {
    async fn open(c: &Client, base: &str, cookie: &str) -> Res<Sse> {
        let fut = c
            .get(format!("{base}/api/v1/events"))
            .header(COOKIE, cookie)
            .send();
        let resp = tokio::time::timeout(Duration::from_secs(30), fut)
            .await
            .map_err(|_| "opening the event stream timed out".to_string())?
            .map_err(|e| format!("opening the event stream: {e}"))?;
        if resp.status() != StatusCode::OK {
            return Err(format!("event stream answered {}", resp.status()));
        }
        let mut sse = Sse {
            resp,
            buf: String::new(),
            session_id: String::new(),
        };
        let ready = sse.wait_for("ready", Duration::from_secs(30)).await?;
        let v: Value = serde_json::from_str(&ready).unwrap_or(Value::Null);
        sse.session_id = v["session_id"].as_str().unwrap_or_default().to_string();
        Ok(sse)
    }

    /// Reads until an event named `name` arrives; returns its data line.
    async fn wait_for(&mut self, name: &str, limit: Duration) -> Res<String> {
        let needle = format!("event: {name}\n");
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(at) = self.buf.find(&needle) {
                // Wait for the end of the event (a blank line) to read its data.
                if let Some(end) = self.buf[at..].find("\n\n") {
                    let event = self.buf[at..at + end].to_string();
                    self.buf.drain(..at + end + 2);
                    let data = event
                        .lines()
                        .find_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
                        .unwrap_or("")
                        .to_string();
                    return Ok(data);
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .map_err(|_| format!("no `{name}` event within {limit:?}"))?
                .map_err(|e| format!("event stream: {e}"))?;
            match chunk {
                Some(b) => self.buf.push_str(&String::from_utf8_lossy(&b)),
                None => return Err(format!("event stream closed before `{name}`")),
            }
        }
    }

    /// True when the server closes the stream within `limit`.
    async fn closes_within(mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
            }
        }
    }
}

// ---------------------------------------------------------------- sign-ins saved to a file

/// Signs in the administrator and `count` agents and writes their cookies to `--out`, so that
/// another server process on the same database can be measured without the sign-ins' own
/// memory (argon2) in its figures.
async fn login_cmd(o: &Opts) -> Res<()> {
    let base = o.base();
    let count = o.num("count", 1_000);
    let first = o.num("first-agent", 0);
    let parallel = o.num("login-parallel", 4);
    let out = o.str("out", "sessions.txt");
    let c = client();
    let t = Instant::now();
    let admin = login(&c, &base, ADMIN, "admin").await?;
    let emails = (0..count).map(|i| agent_email(first + i)).collect();
    let agents = login_many(&c, &base, emails, parallel).await?;
    let mut text = String::new();
    for l in std::iter::once(&admin).chain(agents.iter()) {
        text.push_str(&format!("{}\t{}\t{}\n", l.cookie, l.csrf, l.session_id));
    }
    std::fs::write(&out, text).map_err(|e| format!("{out}: {e}"))?;
    println!(
        "login: the administrator and {count} agents signed in ({parallel} at a time) in {:.1} s, saved to {out}",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn read_sessions(path: &str) -> Res<Vec<Login>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(Login {
                cookie: f.next()?.to_string(),
                csrf: f.next()?.to_string(),
                session_id: f.next()?.to_string(),
            })
        })
        .collect())
}

// ---------------------------------------------------------------- startup

async fn healthz_once(port: u16) -> bool {
    let Ok(Ok(mut s)) = tokio::time::timeout(
        Duration::from_millis(200),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return false;
    };
    let req = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if s.write_all(req).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].starts_with(b"HTTP/1.1 200"),
        _ => false,
    }
}

async fn startup(o: &Opts) -> Res<()> {
    let port: u16 = o.num("port", 18090) as u16;
    let runs = o.num("runs", 5);
    let idle_secs = o.num("idle-secs", 2);
    let label = o.str("label", "startup");
    let db_dir = o.map.get("db-dir").cloned();
    if o.rest.is_empty() {
        return Err("startup: give the command after --".into());
    }
    let mut times = Vec::new();
    let mut rss = Vec::new();
    for i in 0..runs {
        let db = db_dir
            .as_ref()
            .map(|d| format!("{d}/startup-{i}.db"))
            .unwrap_or_default();
        let args: Vec<String> = o
            .rest
            .iter()
            .map(|a| a.replace("{db}", &db).replace("{port}", &port.to_string()))
            .collect();
        let t0 = Instant::now();
        let mut child = tokio::process::Command::new(&args[0])
            .args(&args[1..])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", args[0]))?;
        let pid = child.id().unwrap_or(0);
        let mut up = None;
        while t0.elapsed() < Duration::from_secs(20) {
            if healthz_once(port).await {
                up = Some(t0.elapsed());
                break;
            }
            if let Ok(Some(st)) = child.try_wait() {
                return Err(format!("the server exited during start-up: {st}"));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let up = up.ok_or("the server did not answer /healthz within 20 s")?;
        tokio::time::sleep(Duration::from_secs(idle_secs as u64)).await;
        let (r, _) = rss_kib(pid)?;
        println!(
            "  run {}: /healthz answered after {:.1} ms; idle RSS {:.1} MiB",
            i + 1,
            ms(up),
            r as f64 / 1024.0
        );
        times.push(up);
        rss.push(r);
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    let s = summarize(times);
    println!(
        "{label}: median {:.1} ms, max {:.1} ms over {} runs",
        s.p50, s.max, s.n
    );
    result(&format!("{label}_ms_median"), s.p50, "ms");
    result(&format!("{label}_ms_max"), s.max, "ms");
    rss.sort();
    let med = rss[rss.len() / 2] as f64 / 1024.0;
    let max = *rss.last().unwrap() as f64 / 1024.0;
    println!("{label}: idle RSS median {med:.1} MiB, max {max:.1} MiB");
    result(&format!("{label}_idle_rss_mib_median"), med, "MiB");
    result(&format!("{label}_idle_rss_mib_max"), max, "MiB");
    Ok(())
}

// ---------------------------------------------------------------- streams

async fn streams(o: &Opts) -> Res<()> {
    let base = o.base();
    let pid: u32 = o.num("pid", 0) as u32;
    let n = o.num("n", 10_000);
    let sessions = o.num("sessions", 1_000).clamp(1, n);
    let first = o.num("first-agent", 0);
    let parallel = o.num("login-parallel", 4);
    let open_parallel = o.num("open-parallel", 200);
    let hold = o.num("hold-secs", 5);
    let lat_iters = o.num("latency-iterations", 0);
    let settle_ms = o.num("settle-ms", 100) as u64;
    let c = client();

    let (rss0, _) = rss_kib(pid)?;
    // Either sessions signed in beforehand (by `loadgen login`, possibly against another server
    // process on the same database: the admin first, then the agents), or sign in here.
    let (admin, logins, victims) = match o.map.get("sessions-file") {
        Some(path) => {
            let mut all = read_sessions(path)?;
            if all.len() < 1 + sessions + lat_iters {
                return Err(format!(
                    "{path}: {} sessions, need {}",
                    all.len(),
                    1 + sessions + lat_iters
                ));
            }
            let admin = all.remove(0);
            let victims = all.split_off(sessions);
            all.truncate(sessions);
            println!("streams: {sessions} sessions signed in beforehand (read from {path})");
            (Some(admin), all, victims)
        }
        None => {
            println!(
                "streams: server RSS before sign-ins: {:.1} MiB",
                rss0 as f64 / 1024.0
            );
            let t = Instant::now();
            let emails = (0..sessions).map(|i| agent_email(first + i)).collect();
            let logins = login_many(&c, &base, emails, parallel).await?;
            println!(
                "streams: {sessions} sign-ins ({parallel} at a time) in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            (None, logins, Vec::new())
        }
    };
    let logins = Arc::new(logins);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss1, _) = rss_kib(pid)?;
    println!(
        "streams: server RSS before opening any stream: {:.1} MiB",
        rss1 as f64 / 1024.0
    );

    // Open the streams; each is read by its own task until the end of the phase.
    let open = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let sem = Arc::new(Semaphore::new(open_parallel));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let t = Instant::now();
    let mut readers = Vec::with_capacity(n);
    for i in 0..n {
        let (c, base, logins, sem) = (c.clone(), base.clone(), logins.clone(), sem.clone());
        let (open, failed, mut stop) = (open.clone(), failed.clone(), stop_rx.clone());
        readers.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await.unwrap();
            let cookie = &logins[i % logins.len()].cookie;
            let mut sse = match Sse::open(&c, &base, cookie).await {
                Ok(s) => s,
                Err(e) => {
                    if failed.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("stream {i}: {e}");
                    }
                    return;
                }
            };
            drop(permit);
            open.fetch_add(1, Ordering::Relaxed);
            loop {
                tokio::select! {
                    chunk = sse.resp.chunk() => match chunk {
                        Ok(Some(_)) => continue,
                        _ => break,
                    },
                    _ = stop.changed() => break,
                }
            }
            open.fetch_sub(1, Ordering::Relaxed);
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while open.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < n
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let opened = open.load(Ordering::Relaxed);
    println!(
        "streams: {opened} of {n} streams open after {:.1} s ({} failed)",
        t.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed)
    );
    tokio::time::sleep(Duration::from_secs(hold as u64)).await;
    let (rss2, hwm) = rss_kib(pid)?;
    let still = open.load(Ordering::Relaxed);
    println!(
        "streams: server RSS with {still} streams open: {:.1} MiB (peak so far {:.1} MiB); {:.1} KiB per stream over the signed-in baseline",
        rss2 as f64 / 1024.0,
        hwm as f64 / 1024.0,
        (rss2.saturating_sub(rss1)) as f64 / still.max(1) as f64
    );
    result("streams_open", still as f64, "streams");
    result("streams_rss_at_start_mib", rss0 as f64 / 1024.0, "MiB");
    result("streams_rss_before_mib", rss1 as f64 / 1024.0, "MiB");
    result("streams_rss_open_mib", rss2 as f64 / 1024.0, "MiB");
    result("streams_rss_peak_mib", hwm as f64 / 1024.0, "MiB");

    // An authenticated request while all streams are open.
    let mut me = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let r = c
            .get(format!("{base}/api/v1/me"))
            .header(COOKIE, &logins[0].cookie)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let ok = r.status() == StatusCode::OK;
        let _ = r.bytes().await;
        if !ok {
            return Err("GET /api/v1/me failed with streams open".into());
        }
        me.push(t.elapsed());
    }
    let s = summarize(me);
    println!(
        "streams: GET /api/v1/me with the streams open: median {:.2} ms, p99 {:.2} ms",
        s.p50, s.p99
    );

    if lat_iters > 0 {
        println!("streams: ending {lat_iters} other sessions while the {still} streams stay open");
        let (admin, victims) = match admin {
            Some(a) => (a, victims),
            None => {
                let admin = login(&c, &base, ADMIN, "admin").await?;
                let emails = (0..lat_iters)
                    .map(|i| agent_email(first + sessions + i))
                    .collect();
                (admin, login_many(&c, &base, emails, parallel).await?)
            }
        };
        let (lat, closed) = end_latency(
            &c,
            &base,
            &base,
            &admin,
            &victims,
            Duration::from_millis(settle_ms),
        )
        .await?;
        let s = summarize(lat);
        println!(
            "streams: end-session → session_ended with {still} other streams open: median {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={}, {closed} closed after the event)",
            s.p50, s.p99, s.max, s.n
        );
        result("latency_loaded_ms_median", s.p50, "ms");
        result("latency_loaded_ms_p99", s.p99, "ms");
        let (rss3, hwm) = rss_kib(pid)?;
        println!(
            "streams: server RSS after that: {:.1} MiB (peak {:.1} MiB), {} streams still open",
            rss3 as f64 / 1024.0,
            hwm as f64 / 1024.0,
            open.load(Ordering::Relaxed)
        );
    }

    let _ = stop_tx.send(true);
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_secs(10), r).await;
    }
    Ok(())
}

// ---------------------------------------------------------------- end-session latency

/// For each victim: open its stream, then the admin ends the session; the time from sending
/// the DELETE to the stream reading `event: session_ended`. Also counts streams that the server
/// closed right after the event.
async fn end_latency(
    c: &Client,
    base: &str,
    admin_base: &str,
    admin: &Login,
    victims: &[Login],
    settle: Duration,
) -> Res<(Vec<Duration>, usize)> {
    let admin_client = client();
    let mut lat = Vec::with_capacity(victims.len());
    let mut resp_times = Vec::with_capacity(victims.len());
    let mut closed = 0;
    for (i, v) in victims.iter().enumerate() {
        let mut sse = Sse::open(c, base, &v.cookie).await?;
        let session_id = if sse.session_id.is_empty() {
            v.session_id.clone()
        } else {
            sse.session_id.clone()
        };
        // A tab's stream has normally been open for a while when its session is ended.
        tokio::time::sleep(settle).await;
        let reader = tokio::spawn(async move {
            let data = sse.wait_for("session_ended", Duration::from_secs(10)).await;
            let at = Instant::now();
            let closes = match data {
                Ok(_) => sse.closes_within(Duration::from_secs(2)).await,
                Err(_) => false,
            };
            (data, at, closes)
        });
        let t0 = Instant::now();
        let resp = admin_client
            .delete(format!("{admin_base}/api/v1/sessions/{session_id}"))
            .header(COOKIE, &admin.cookie)
            .header("X-CSRF-Token", &admin.csrf)
            .send()
            .await
            .map_err(|e| format!("DELETE session: {e}"))?;
        let status = resp.status();
        let _ = resp.bytes().await;
        resp_times.push(t0.elapsed());
        if status != StatusCode::NO_CONTENT {
            reader.abort();
            return Err(format!("DELETE /api/v1/sessions/{session_id}: {status}"));
        }
        let (data, at, closes) = reader.await.map_err(|e| e.to_string())?;
        let data = data.map_err(|e| format!("iteration {i}: {e}"))?;
        if !data.contains("ended_by_admin") {
            return Err(format!(
                "iteration {i}: unexpected session_ended data {data}"
            ));
        }
        lat.push(at.saturating_duration_since(t0));
        closed += closes as usize;
    }
    let r = summarize(resp_times);
    println!(
        "  (the DELETE itself answered 204 after: median {:.2} ms, p99 {:.2} ms)",
        r.p50, r.p99
    );
    Ok((lat, closed))
}

async fn latency(o: &Opts) -> Res<()> {
    let base = o.base();
    // The ending may go to another instance than the one holding the stream (PostgreSQL:
    // the event crosses by LISTEN/NOTIFY).
    let admin_base = if o.map.contains_key("admin-base") {
        Opts {
            map: HashMap::from([("base".to_string(), o.str("admin-base", ""))]),
            rest: Vec::new(),
        }
        .base()
    } else {
        base.clone()
    };
    let iters = o.num("iterations", 1_000);
    let immediate = o.num("immediate-iterations", 200);
    let settle_ms = o.num("settle-ms", 100) as u64;
    let first = o.num("first-agent", 9_000);
    let parallel = o.num("login-parallel", 4);
    let c = client();
    let admin = login(&c, &base, ADMIN, "admin").await?;
    let t = Instant::now();
    let emails = (0..iters + immediate)
        .map(|i| agent_email(first + i))
        .collect();
    let mut victims = login_many(&c, &base, emails, parallel).await?;
    let rushed = victims.split_off(iters);
    println!(
        "latency: {} sessions signed in ({parallel} at a time) in {:.1} s",
        iters + immediate,
        t.elapsed().as_secs_f64()
    );
    for (label, set, settle) in [("", &victims, settle_ms), ("immediate_", &rushed, 0)] {
        if set.is_empty() {
            continue;
        }
        let t = Instant::now();
        let (lat, closed) = end_latency(
            &c,
            &base,
            &admin_base,
            &admin,
            set,
            Duration::from_millis(settle),
        )
        .await?;
        let s = summarize(lat);
        println!(
            "latency: DELETE /api/v1/sessions/{{id}} {settle} ms after the stream opened → `event: session_ended` on it, {} endings in {:.1} s: median {:.2} ms, p99 {:.2} ms, max {:.2} ms; {closed} streams closed by the server after the event",
            s.n,
            t.elapsed().as_secs_f64(),
            s.p50,
            s.p99,
            s.max
        );
        result(&format!("latency_{label}ms_median"), s.p50, "ms");
        result(&format!("latency_{label}ms_p99"), s.p99, "ms");
        result(&format!("latency_{label}ms_max"), s.max, "ms");
        result(
            &format!("latency_{label}closed_after_event"),
            closed as f64,
            "streams",
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- team pages

async fn team(o: &Opts) -> Res<()> {
    let base = o.base();
    let requests = o.num("requests", 200);
    // `--only none,router` keeps those filters; `--pages no` asks the API only; `--name`
    // prefixes the result names (the sweep phase measures the same list again beside it).
    let only = o.str("only", "");
    let pages = o.str("pages", "yes") != "no";
    let name = o.str("name", "team");
    let c = client();
    let admin = login(&c, &base, ADMIN, "admin").await?;
    let filters = [
        ("none", ""),
        ("session=active", "session=active"),
        ("session=none", "session=none"),
        ("status=online", "status=online"),
        ("q=search", "q=rossi"),
        ("q=no-match", "q=zzzz"),
        ("router", "status=online&session=active"),
        ("network=outside", "network=outside"),
    ];
    println!(
        "team: {requests} sequential requests per row (after 5 warm-up), first page (50 per page), client-side time on loopback"
    );
    println!(
        "  {:<26} {:<16} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "endpoint", "filter", "total", "median", "p99", "max", "bytes"
    );
    let endpoints = [("/api/v1/agents", "api"), ("/team/agents", "page")];
    for (path, label) in endpoints.into_iter().filter(|(_, l)| pages || *l == "api") {
        for (fname, query) in filters
            .into_iter()
            .filter(|(f, _)| only.is_empty() || only.split(',').any(|o| o == *f))
        {
            let url = if query.is_empty() {
                format!("{base}{path}")
            } else {
                format!("{base}{path}?{query}")
            };
            let mut times = Vec::with_capacity(requests);
            let mut total = String::from("-");
            let mut bytes = 0;
            for i in 0..requests + 5 {
                let t = Instant::now();
                let r = c
                    .get(&url)
                    .header(COOKIE, &admin.cookie)
                    .send()
                    .await
                    .map_err(|e| format!("{url}: {e}"))?;
                let status = r.status();
                let body = r.bytes().await.map_err(|e| e.to_string())?;
                let d = t.elapsed();
                if status != StatusCode::OK {
                    return Err(format!("{url}: {status}"));
                }
                if i == 0 {
                    bytes = body.len();
                    if label == "api" {
                        let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                        total = v["total"].to_string();
                    }
                }
                if i >= 5 {
                    times.push(d);
                }
            }
            let s = summarize(times);
            println!(
                "  GET {:<22} {:<16} {:>8} {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>9}",
                path, fname, total, s.p50, s.p99, s.max, bytes
            );
            result(&format!("{name}_{label}_{fname}_ms_median"), s.p50, "ms");
            result(&format!("{name}_{label}_{fname}_ms_p99"), s.p99, "ms");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- bulk end

async fn bulk(o: &Opts) -> Res<()> {
    let base = o.base();
    let rounds = o.num("rounds", 3);
    let size = o.num("size", 1_000);
    let c = client();
    let admin = login(&c, &base, ADMIN, "admin").await?;
    let mut times = Vec::new();
    for round in 0..rounds {
        let mut ids: Vec<String> = Vec::with_capacity(size);
        let mut page = 1;
        while ids.len() < size {
            let r = c
                .get(format!(
                    "{base}/api/v1/agents?session=active&per_page=200&page={page}"
                ))
                .header(COOKIE, &admin.cookie)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let v: Value = r.json().await.map_err(|e| e.to_string())?;
            let items = v["items"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                break;
            }
            for it in items {
                if it["session_active"] == json!(true) && ids.len() < size {
                    ids.push(it["id"].as_str().unwrap_or_default().to_string());
                }
            }
            page += 1;
        }
        if ids.len() < size {
            return Err(format!(
                "only {} agents with an active session left",
                ids.len()
            ));
        }
        let t = Instant::now();
        let r = c
            .post(format!("{base}/api/v1/agents/sessions/end"))
            .header(COOKIE, &admin.cookie)
            .header("X-CSRF-Token", &admin.csrf)
            .header(CONTENT_TYPE, "application/json")
            .body(json!({ "ids": ids }).to_string())
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        let d = t.elapsed();
        if status != StatusCode::OK {
            return Err(format!("bulk end: {status} {v}"));
        }
        println!(
            "bulk: round {}: POST /api/v1/agents/sessions/end with {} agent ids → ended {} sessions in {:.1} ms",
            round + 1,
            ids.len(),
            v["ended"],
            ms(d)
        );
        times.push(d);
    }
    let s = summarize(times);
    println!(
        "bulk: median {:.1} ms, max {:.1} ms over {} rounds",
        s.p50, s.max, s.n
    );
    result("bulk_ms_median", s.p50, "ms");
    result("bulk_ms_max", s.max, "ms");
    Ok(())
}

// ---------------------------------------------------------------- sign-in under load

/// Paced authenticated GET /api/v1/me requests from `workers` tasks at `rps` in total until
/// `stop` turns true; returns the latencies (from the actual send).
async fn paced_me(
    base: String,
    logins: Arc<Vec<Login>>,
    rps: usize,
    workers: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Res<(Vec<Duration>, usize)> {
    let interval = Duration::from_secs_f64(workers as f64 / rps as f64);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (base, logins, stop) = (base.clone(), logins.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let cookie = logins[w % logins.len()].cookie.clone();
            let mut out = Vec::new();
            let mut errors = 0;
            let start = tokio::time::Instant::now() + interval.mul_f64(w as f64 / workers as f64);
            let mut k = 0u32;
            while !*stop.borrow() && out.len() < 1_000_000 {
                tokio::time::sleep_until(start + interval * k).await;
                k += 1;
                let t = Instant::now();
                match c
                    .get(format!("{base}/api/v1/me"))
                    .header(COOKIE, &cookie)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == StatusCode::OK => {
                        let _ = r.bytes().await;
                        out.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (out, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (v, e) = t.await.map_err(|e| e.to_string())?;
        all.extend(v);
        errors += e;
    }
    Ok((all, errors))
}

async fn signin(o: &Opts) -> Res<()> {
    let base = o.base();
    let conc = o.num("concurrency", 50);
    let bursts = o.num("bursts", 4);
    let rps = o.num("rps", 500);
    let workers = o.num("workers", 16);
    let baseline_secs = o.num("baseline-secs", 5);
    let first = o.num("first-agent", 5_000);
    let c = client();
    let readers: Vec<String> = (0..8).map(|i| agent_email(first + i)).collect();
    let logins = Arc::new(login_many(&c, &base, readers, 4).await?);

    // Baseline: the same paced load, no sign-ins.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(paced_me(base.clone(), logins.clone(), rps, workers, rx));
    tokio::time::sleep(Duration::from_secs(baseline_secs as u64)).await;
    let _ = tx.send(true);
    let (base_lat, base_err) = load.await.map_err(|e| e.to_string())??;
    let b = summarize(base_lat);
    println!(
        "signin: baseline GET /api/v1/me at {rps} req/s ({workers} connections), no sign-ins: median {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={}, errors {base_err})",
        b.p50, b.p99, b.max, b.n
    );

    // The same load while bursts of `conc` concurrent sign-ins run back to back.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(paced_me(base.clone(), logins.clone(), rps, workers, rx));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut signin_lat = Vec::new();
    let t_all = Instant::now();
    for b in 0..bursts {
        let t = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..conc {
            let (c, base) = (c.clone(), base.clone());
            let email = agent_email(first + 10 + b * conc + i);
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                login(&c, &base, &email, "agent").await.map(|_| t.elapsed())
            }));
        }
        for t in tasks {
            signin_lat.push(t.await.map_err(|e| e.to_string())??);
        }
        println!(
            "signin: burst {}: {conc} concurrent sign-ins done in {:.0} ms",
            b + 1,
            ms(t.elapsed())
        );
    }
    let wall = t_all.elapsed();
    let _ = tx.send(true);
    let (lat, err) = load.await.map_err(|e| e.to_string())??;
    let s = summarize(lat);
    let si = summarize(signin_lat);
    println!(
        "signin: {} sign-ins in {:.1} s ({:.0}/s); each: median {:.0} ms, p99 {:.0} ms",
        si.n,
        wall.as_secs_f64(),
        si.n as f64 / wall.as_secs_f64(),
        si.p50,
        si.p99
    );
    println!(
        "signin: GET /api/v1/me during the sign-ins: median {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={}, errors {err})",
        s.p50, s.p99, s.max, s.n
    );
    result("signin_me_baseline_ms_p99", b.p99, "ms");
    result("signin_me_ms_median", s.p50, "ms");
    result("signin_me_ms_p99", s.p99, "ms");
    result("signin_me_ms_max", s.max, "ms");
    result("signin_each_ms_median", si.p50, "ms");
    result("signin_per_sec", si.n as f64 / wall.as_secs_f64(), "1/s");
    Ok(())
}

// ---------------------------------------------------------------- main

#[tokio::main]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!(
            "usage: loadgen startup|login|streams|latency|team|bulk|signin [--option value]..."
        );
        std::process::exit(2);
    }
    let cmd = args.remove(0);
    let o = Opts::parse(args);
    // Every phase is bounded: a hard stop for the whole command.
    let limit = Duration::from_secs(o.num("time-limit-secs", 900) as u64);
    let work = async {
        match cmd.as_str() {
            "startup" => startup(&o).await,
            "login" => login_cmd(&o).await,
            "streams" => streams(&o).await,
            "latency" => latency(&o).await,
            "team" => team(&o).await,
            "bulk" => bulk(&o).await,
            "signin" => signin(&o).await,
            other => Err(format!("unknown command {other}")),
        }
    };
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("loadgen {cmd}: error: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("loadgen {cmd}: gave up after {limit:?}");
            std::process::exit(1);
        }
    }
}
