//! "Send again" on a delivery of an endpoint its receiver turned off with 410 Gone is refused
//! (409 `endpoint_off`, naming the 410) and leaves the delivery as it was, rather than answering
//! 202 and leaving it pending for ever; the store queues nothing for such an
//! endpoint either. On SQLite and PostgreSQL, with a receiver that answers 410 to everything.

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::support::{Client, TestApp};

backend_tests!(send_again_is_refused_for_an_endpoint_turned_off_by_410);

/// A receiver on loopback that answers every request `410 Gone`.
fn gone_receiver() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            let _ =
                s.write_all(b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    url
}

async fn deliveries(admin: &Client, id: &str) -> Vec<Value> {
    admin
        .get(&format!("/api/v1/webhooks/{id}/deliveries"))
        .await
        .expect_status(StatusCode::OK)
        .json()["items"]
        .as_array()
        .expect("items")
        .clone()
}

async fn send_again_is_refused_for_an_endpoint_turned_off_by_410(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.webhooks.allow_private = true).await;
    let admin = app.primary_client().await;
    let id = admin
        .post_json(
            "/api/v1/webhooks",
            &json!({"url": gone_receiver(), "events": ["member.created"]}),
        )
        .await
        .expect_status(StatusCode::CREATED)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log = deliveries(&admin, &id).await;
        if log.first().is_some_and(|d| d["status"] == "failed") {
            break log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never sent: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(log[0]["last_status_code"], 410);
    let list = admin.get("/api/v1/webhooks").await.json();
    assert_eq!(list["items"][0]["enabled"], false, "{list}");
    let msg = log[0]["id"].as_str().unwrap().to_string();

    // The API: 409, saying why and what to do.
    let said = admin
        .post_json(
            &format!("/api/v1/webhooks/{id}/deliveries/{msg}/retry"),
            &json!({}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "endpoint_off");
    assert!(
        said.contains("410") && said.contains("turned off") && said.contains("add it again"),
        "{said}"
    );
    // The page: the same refusal, and the log offers no "Send again".
    let page = admin
        .post_form(
            &format!("/security/webhooks/{id}/deliveries/{msg}/retry"),
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.text);
    assert!(page.text.contains("410 Gone"), "{}", page.text);
    let log_page = admin
        .get(&format!("/security/webhooks/{id}"))
        .await
        .expect_status(StatusCode::OK);
    assert!(!log_page.text.contains("Send again"), "{}", log_page.text);
    assert!(log_page.text.contains("turned off"), "{}", log_page.text);
    // The store: nothing queued for an endpoint that is off, whoever asks.
    let stored = app
        .store
        .retry_delivery(&app.account.id, &id, &msg, app.svc.now())
        .await;
    assert!(stored.is_err(), "{stored:?}");

    // The delivery is as it was: failed, not pending for ever.
    let after = deliveries(&admin, &id).await;
    assert_eq!(after, log);
    // Any delivery id of that endpoint gets the same answer: the endpoint decides.
    admin
        .post_json(
            &format!("/api/v1/webhooks/{id}/deliveries/msg_nope/retry"),
            &json!({}),
        )
        .await
        .expect_error(StatusCode::CONFLICT, "endpoint_off");
}
