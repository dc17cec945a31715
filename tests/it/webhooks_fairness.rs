//! Webhook delivery slots shared between accounts: one account whose receivers
//! hang holds at most its share of the slots, and another account's delivery goes out while
//! every one of the first account's is still hanging.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use deskward::domain::member::MemberKind;
use deskward::service::team::NewPerson;
use deskward::store::WebhookEndpoint;

use crate::db::Backend;
use crate::support::{PASSWORD, TestApp};

backend_tests!(a_hanging_account_leaves_slots_for_another);

/// Accepts connections, reads what comes and never answers; counts the connections.
async fn hanging_receiver() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    (port, accepted)
}

/// Answers every request 204 once its headers and body are in; counts the answers.
async fn quick_receiver() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if got.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = socket
                    .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                    .await;
                count.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (port, answered)
}

fn endpoint(id: &str, account_id: &str, url: String, at: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: id.into(),
        account_id: account_id.into(),
        url,
        events: "[\"*\"]".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        disabled_reason: None,
        created_at: at,
        created_by: None,
    }
}

/// Waits (at most a minute, far beyond what it takes) until `done`; false if it never was.
async fn eventually(done: impl Fn() -> bool) -> bool {
    for _ in 0..1200 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

async fn a_hanging_account_leaves_slots_for_another(backend: Backend) {
    const SLOTS: usize = 4;
    const PER_ACCOUNT: usize = 2;
    let app = TestApp::spawn_with(backend, |c| {
        c.webhooks.allow_private = true;
        c.webhooks.concurrency = SLOTS;
        c.webhooks.per_account = PER_ACCOUNT;
        // Longer than the test: a hanging delivery never gives its slot back here.
        c.webhooks.timeout = Duration::from_secs(600);
    })
    .await;
    let globex = app.other_account().await;
    let (hang_port, hanging) = hanging_receiver().await;
    let (quick_port, answered) = quick_receiver().await;
    let now = app.svc.now();
    // Acme: four endpoints, each on a receiver that never answers.
    for i in 0..4 {
        let url = format!("http://127.0.0.1:{hang_port}/acme{i}");
        app.store
            .insert_webhook(&endpoint(&format!("wh_acme{i}"), &app.account.id, url, now))
            .await
            .unwrap();
    }
    let url = format!("http://127.0.0.1:{quick_port}/globex");
    app.store
        .insert_webhook(&endpoint("wh_globex", &globex.account.id, url, now))
        .await
        .unwrap();

    // Acme's changes first: eight deliveries, every one to a hanging receiver.
    app.add_agent("Ann", "ann@acme.test").await;
    app.add_agent("Bob", "bob@acme.test").await;
    assert!(
        eventually(|| hanging.load(Ordering::SeqCst) >= PER_ACCOUNT).await,
        "Acme's deliveries never started"
    );

    // Then Globex's: it goes out while Acme's are all still hanging.
    let actor = app
        .svc
        .actor_of(
            &globex.account.id,
            &globex.primary.id,
            crate::support::client_ip("127.0.0.1"),
        )
        .await
        .unwrap();
    app.svc
        .add_person(
            &actor,
            NewPerson {
                kind: MemberKind::Agent,
                name: "Gwen Globex".into(),
                email: "gwen@globex.test".into(),
                password: Some(PASSWORD.into()),
                permissions: Vec::new(),
            },
        )
        .await
        .unwrap();
    assert!(
        eventually(|| answered.load(Ordering::SeqCst) >= 1).await,
        "Globex's delivery waited behind Acme's hanging receivers ({} of {SLOTS} slots held)",
        hanging.load(Ordering::SeqCst)
    );
    assert_eq!(
        hanging.load(Ordering::SeqCst),
        PER_ACCOUNT,
        "Acme holds its share of the slots, no more"
    );
    let acme = app
        .store
        .webhook_deliveries(&app.account.id, "wh_acme0", 100)
        .await
        .unwrap();
    assert!(
        acme.iter()
            .all(|d| d.status == "pending" && d.attempts == 0),
        "{acme:?}"
    );
}
