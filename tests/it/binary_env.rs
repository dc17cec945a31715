//! The built binary configured only through the environment variables README.md documents
//! (no flags): each group's variable takes effect, not only the in-process server's settings.

use std::io::BufRead;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::AsyncReadExt;

/// The binary, killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_its_documented_environment() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secret.key");
    std::fs::write(&key, "k".repeat(48)).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_deskward"))
        .arg("serve")
        // Where and on what (the server group).
        .env("DESKWARD_BIND", "127.0.0.1:0")
        .env(
            "DESKWARD_DATABASE_URL",
            format!("sqlite://{}/deskward.db", dir.path().display()),
        )
        // In front of another app (the forward-auth group).
        .env("DESKWARD_PATH_PREFIX", "/deskward")
        .env("DESKWARD_TRUSTED_PROXIES", "192.0.2.10/32")
        // Connections.
        .env("DESKWARD_MAX_CONNECTIONS", "50")
        .env("DESKWARD_MAX_CONNECTIONS_PER_CLIENT", "2")
        // The key outside the database.
        .env("DESKWARD_SECRET_KEY_FILE", &key)
        // E-mail without a mail server: .eml files (the mail group).
        .env("DESKWARD_MAIL_DIR", dir.path().join("outbox"))
        .env(
            "DESKWARD_MAIL_FROM",
            "Acme Helpdesk <helpdesk@acme.example>",
        )
        .env("DESKWARD_PUBLIC_URL", "https://help.acme.example/deskward")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start deskward");
    let stdout = child.stdout.take().unwrap();
    let child = Child(child);
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = tx.take() {
                let _ = tx.send(line);
            }
        }
    });
    let line = tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .expect("the binary says where it listens")
        .unwrap();
    // DESKWARD_BIND with port 0: the line names the real port; the prefix is in the setup URL.
    let rest = line
        .strip_prefix("First run: open http://127.0.0.1:")
        .unwrap_or_else(|| panic!("first line: {line}"));
    let (port, rest) = rest.split_once('/').unwrap();
    let port: u16 = port.parse().unwrap();
    assert_ne!(port, 0);
    assert_eq!(rest, "deskward/setup to create your account.");
    let base = format!("http://127.0.0.1:{port}");
    // One client whose answers are read to the end, so every request reuses one keep-alive
    // connection: with DESKWARD_MAX_CONNECTIONS_PER_CLIENT=2, a second client's connection
    // beside it and one dropped unread (that the server has not yet seen closed) made a
    // third, answered 503 before its request was written.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = async |path: &str| {
        let res = http.get(format!("{base}{path}")).send().await.unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    };
    // DESKWARD_PATH_PREFIX: the pages live under it (only `/healthz` answers at the root too).
    assert_eq!(get("/deskward/healthz").await.0, StatusCode::OK);
    let (status, setup) = get("/deskward/setup").await;
    assert_eq!(status, StatusCode::OK);
    assert!(setup.contains("action=\"/deskward/setup\""));
    assert_eq!(get("/setup").await.0, StatusCode::NOT_FOUND);
    // The database named by DESKWARD_DATABASE_URL is the one in use.
    assert!(dir.path().join("deskward.db").exists());

    // The mail group: a password reset is written into DESKWARD_MAIL_DIR, from
    // DESKWARD_MAIL_FROM, its link under DESKWARD_PUBLIC_URL (never the request's host).
    let made = http
        .post(format!("{base}/deskward/setup"))
        .form(&[
            ("name", "Acme Support"),
            ("admin_name", "Fay Owner"),
            ("admin_email", "fay@acme.test"),
            ("password", "correct horse battery staple"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    made.bytes().await.unwrap();
    let asked = http
        .post(format!("{base}/deskward/api/v1/auth/password-reset"))
        .json(&serde_json::json!({"email": "fay@acme.test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    asked.bytes().await.unwrap();
    let outbox = dir.path().join("outbox");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let file = loop {
        if let Some(f) = crate::mail_support::eml_files(&outbox).into_iter().next() {
            break f;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message in {}",
            outbox.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let raw = std::fs::read_to_string(&file).unwrap().replace("=\r\n", "");
    assert!(
        raw.lines()
            .any(|l| l.starts_with("From: ") && l.contains("<helpdesk@acme.example>")),
        "{raw}"
    );
    let link =
        regex::Regex::new("https://help\\.acme\\.example/deskward/reset/[0-9a-f]{64}").unwrap();
    assert!(link.is_match(&raw), "{raw}");

    // DESKWARD_MAX_CONNECTIONS_PER_CLIENT=2, and 127.0.0.1 is not a trusted proxy: a third
    // idle connection is answered 503 and closed.
    let addr = format!("127.0.0.1:{port}");
    let _a = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut answer))
        .await
        .expect("the third connection is answered and closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    drop(child);
}
