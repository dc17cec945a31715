//! `deskward demo` behind nginx stops everything it started, whichever way it is told to stop:
//! no nginx master or worker left running and the port free for the next demo.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use deskward::guarded::find_program;

/// The processes whose parent is `pid` (from `/proc/*/stat`), with their own children, as
/// long as they are alive (a zombie is gone: it holds no port and runs nothing).
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Some((ppid, state)) = parent_and_state(child) else {
                continue;
            };
            if ppid == parent && state != 'Z' {
                found.push(child);
                parents.push(child);
            }
        }
    }
    found
}

/// A process's parent and state, or `None` once it is gone.
fn parent_and_state(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name in parentheses may hold spaces: the fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

fn alive(pid: u32) -> bool {
    parent_and_state(pid).is_some_and(|(_, state)| state != 'Z')
}

/// The demo started on `bind`, once it says it is ready; `None` when nginx could not take
/// the port (another program took it in the meantime: the caller tries another).
fn start_demo(dir: &std::path::Path, bind: SocketAddr) -> Option<Child> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_deskward"))
        .args(["demo", "--agents", "2", "--bind", &bind.to_string()])
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.join("demo.db").display()))
        .env_remove("DESKWARD_BIND")
        // The demo writes its messages into `deskward-mail` where it runs.
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start deskward demo");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut said = String::new();
    for line in stdout.lines() {
        let line = line.expect("demo output");
        said.push_str(&line);
        said.push('\n');
        if line.contains("Ctrl-C stops everything.") {
            return Some(child);
        }
    }
    let out = child.wait_with_output().expect("demo exit");
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("is the port free?") {
        return None;
    }
    panic!("the demo did not get ready ({}):\n{said}{err}", out.status);
}

/// Starts the demo behind nginx, stops it with `signal`, and checks that the demo and every
/// process it started are gone and its port can be bound again.
fn stops_everything_on(signal: rustix::process::Signal) {
    let Some(_) = find_program("nginx") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nginx is missing; CI=true needs it"
        );
        eprintln!("skipped: nginx is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // nginx cannot report a port the kernel picked, so the demo gets a free one; should
    // something take it before nginx does, the demo says so and another is tried.
    let (mut demo, bind) = (0..5)
        .find_map(|_| {
            let bind = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap();
            start_demo(dir.path(), bind).map(|demo| (demo, bind))
        })
        .expect("the demo started on one of five free ports");
    let started = descendants(demo.id());
    assert!(
        !started.is_empty(),
        "the demo runs nginx, a master and its workers"
    );

    let pid = rustix::process::Pid::from_raw(demo.id() as i32).unwrap();
    rustix::process::kill_process(pid, signal).expect("signal the demo");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = demo.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo did not stop in 30 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the demo exited with {status}");
    let left: Vec<u32> = started.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running after the demo: {left:?}");
    TcpListener::bind(bind).expect("the demo's port is free again");
}

#[test]
fn sigterm_stops_the_demo_and_its_nginx() {
    stops_everything_on(rustix::process::Signal::TERM);
}

#[test]
fn a_closed_terminal_stops_the_demo_and_its_nginx() {
    stops_everything_on(rustix::process::Signal::HUP);
}

#[test]
fn ctrl_c_stops_the_demo_and_its_nginx() {
    stops_everything_on(rustix::process::Signal::INT);
}
