//! `deskward serve --access-rules FILE` as a process: a bad file stops it (exit 2, the line
//! of the rule and what is wrong), and `SIGHUP` reads the file again, keeping the rules in
//! force when the new text is bad and logging why.

use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::support::refused_serve;

const GOOD: &str = r#"# Deskward's access rules
[[rule]]
path = "/export"
require = "deny"
"#;

/// The third rule is wrong (line 9).
const BAD: &str = r#"[[rule]]
path = "/help"
require = "public"

[[rule]]
path = "/admin"
require = "admin"

[[rule]]
path = "/reports"
require = "admins"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rules_file_stops_serve_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/deskward.db", dir.path().display());
    let path = dir.path().join("access.toml");
    std::fs::write(&path, BAD).unwrap();
    let shown = path.display().to_string();
    // The flag and the environment variable alike.
    for (args, envs) in [
        (vec!["--access-rules", shown.as_str()], vec![]),
        (vec![], vec![("DESKWARD_ACCESS_RULES", shown.as_str())]),
    ] {
        let (code, stderr) = refused_serve(&url, &args, &envs).await;
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "access rules {shown}, line 9: require: unknown value \"admins\""
            )),
            "{stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    // A syntax error names its own line; a missing file says so.
    std::fs::write(&path, "[[rule]]\npath = \"/a\nrequire = \"admin\"\n").unwrap();
    let (code, stderr) = refused_serve(&url, &["--access-rules", &shown], &[]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("line 2: "), "{stderr}");
    let missing = dir.path().join("nope.toml").display().to_string();
    let (code, stderr) = refused_serve(&url, &["--access-rules", &missing], &[]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot read the file"), "{stderr}");
}

/// The server as a child whose log (stderr) goes to a file the test reads.
struct Server {
    child: std::process::Child,
    log: std::path::PathBuf,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Sends SIGHUP and waits for the log to say `what` one more time than before.
    async fn hang_up(&self, what: &str) {
        let before = self.log().matches(what).count();
        let status = std::process::Command::new("/bin/kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let until = Instant::now() + Duration::from_secs(20);
        while self.log().matches(what).count() == before {
            assert!(
                Instant::now() < until,
                "no {what:?} in the log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// nginx's question about `GET http://desk.test{path}`, without a session.
    async fn verify(&self, path: &str) -> StatusCode {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{}/api/v1/verify/auth-request", self.base))
            .header("x-original-url", format!("http://desk.test{path}"))
            .header("x-original-method", "GET")
            .send()
            .await
            .unwrap()
            .status()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_rules_and_a_bad_reload_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.toml");
    std::fs::write(&path, GOOD).unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_deskward"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--trusted-proxy",
            "127.0.0.1/32",
        ])
        .arg("--database-url")
        .arg(format!("sqlite://{}/deskward.db", dir.path().display()))
        .arg("--access-rules")
        .arg(&path)
        .env("DESKWARD_MAIL_DIR", crate::support::scratch_mail_dir())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start deskward");
    let port =
        crate::support::announced_port(&mut child, "deskward", Duration::from_secs(20), |line| {
            line.split("http://127.0.0.1:")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|p| p.parse::<u16>().ok())
        })
        .await;
    let server = Server {
        child,
        log,
        base: format!("http://127.0.0.1:{port}"),
    };
    assert!(
        server.log().contains("access rules in force"),
        "{}",
        server.log()
    );
    assert_eq!(server.verify("/export").await, StatusCode::FORBIDDEN);
    assert_eq!(server.verify("/help").await, StatusCode::UNAUTHORIZED);

    // A bad file: the reload is refused, the log says why, the rules in force stay.
    std::fs::write(&path, BAD).unwrap();
    server.hang_up("access rules not reloaded").await;
    let logged = server.log();
    assert!(
        logged.contains("line 9: require: unknown value"),
        "{logged}"
    );
    assert_eq!(server.verify("/export").await, StatusCode::FORBIDDEN);
    assert_eq!(server.verify("/help").await, StatusCode::UNAUTHORIZED);

    // A good file applies at once, and the process is still the same one.
    std::fs::write(&path, BAD.replace("\"admins\"", "\"audit\"")).unwrap();
    server.hang_up("access rules reloaded").await;
    assert_eq!(server.verify("/help").await, StatusCode::OK);
    assert_eq!(server.verify("/export").await, StatusCode::UNAUTHORIZED);
}
