//! Store conformance, e-mail: a reset request writes its links and its message in one
//! transaction (or nothing), the per-address limit holds under concurrent requests, claims
//! (leases, concurrent claimers), attempt results, single-use links, and retention.

use deskward::domain::time::{DAY, HOUR, MINUTE};
use deskward::store::{Mail, MailResult, NewMail, PasswordLink, ResetRequest, Retained};

use crate::conformance::{Db, T0, add, admin, agent, claimed_once_by_racers, make_account, open};
use crate::db::Backend;

backend_tests!(
    a_request_writes_links_and_message_together_or_nothing,
    the_address_limit_holds_under_concurrent_requests,
    concurrent_claims_take_each_message_once,
    leases_retries_and_failed_messages,
    a_link_is_used_once_and_only_in_time,
    retention_deletes_old_messages_and_spent_links,
);

fn mail(account: &str, id: &str, to: &str) -> NewMail {
    NewMail {
        id: id.to_string(),
        account_id: account.to_string(),
        kind: "password_reset".to_string(),
        recipient_norm: to.to_lowercase(),
        recipient: to.to_string(),
        recipient_name: "Ann Agent".to_string(),
        subject: "Reset your password".to_string(),
        text_body: format!("text of {id}"),
        html_body: format!("<p>html of {id}</p>"),
    }
}

fn request(account: &str, id: &str, to: &str, links: &[(&str, &str)], now: i64) -> ResetRequest {
    ResetRequest {
        links: links
            .iter()
            .map(|(m, t)| (m.to_string(), t.to_string()))
            .collect(),
        expires_at: now + HOUR,
        mail: mail(account, id, to),
        now,
        max_per_window: 3,
        window_start: now - HOUR,
    }
}

async fn messages(store: &Db, account: &str, to: &str) -> Vec<Mail> {
    store.mail_to(account, &to.to_lowercase()).await.unwrap()
}

async fn a_request_writes_links_and_message_together_or_nothing(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    add(&store, agent("ac1", "ag-ann", "Ann", "ann@acme.example")).await;
    add(&store, admin("ac1", "ad-ann", "Ann", "ann@acme.example")).await;
    let r = request(
        "ac1",
        "mail-1",
        "ann@acme.example",
        &[("ag-ann", "hash-1"), ("ad-ann", "hash-2")],
        T0,
    );
    assert!(store.request_password_reset(&r).await.unwrap());
    let m = messages(&store, "ac1", "ann@acme.example").await;
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].id, "mail-1");
    assert_eq!(m[0].status, "pending");
    assert_eq!(m[0].attempts, 0);
    assert_eq!(m[0].next_attempt_at, T0);
    assert_eq!(m[0].text_body, "text of mail-1");
    assert!(
        store
            .password_link_holder(PasswordLink::Reset, "ac1", "hash-1", T0)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .password_link_holder(PasswordLink::Reset, "ac1", "hash-2", T0)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .password_link_holder(PasswordLink::Reset, "ac2", "hash-1", T0)
            .await
            .unwrap()
            .is_none()
    );

    // The second link's hash is taken: the whole request fails, and neither its first link
    // nor its message is left behind.
    let clash = request(
        "ac1",
        "mail-2",
        "ann@acme.example",
        &[("ag-ann", "hash-3"), ("ad-ann", "hash-2")],
        T0 + MINUTE,
    );
    assert!(store.request_password_reset(&clash).await.is_err());
    assert_eq!(messages(&store, "ac1", "ann@acme.example").await.len(), 1);
    assert!(
        store
            .password_link_holder(PasswordLink::Reset, "ac1", "hash-3", T0)
            .await
            .unwrap()
            .is_none()
    );
}

async fn the_address_limit_holds_under_concurrent_requests(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    add(&store, agent("ac1", "ag-bo", "Bo", "bo@acme.example")).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let r = request(
                "ac1",
                &format!("mail-{i}"),
                "Bo@acme.example",
                &[("ag-bo", &format!("hash-{i}"))],
                T0,
            );
            store.request_password_reset(&r).await.unwrap()
        }));
    }
    let mut written = 0;
    for t in tasks {
        written += usize::from(t.await.unwrap());
    }
    assert_eq!(
        written, 3,
        "three messages an hour, however many ask at once"
    );
    assert_eq!(messages(&store, "ac1", "bo@acme.example").await.len(), 3);
    // An hour on, the window has room again.
    let later = request(
        "ac1",
        "mail-late",
        "bo@acme.example",
        &[("ag-bo", "hash-late")],
        T0 + HOUR + 1,
    );
    assert!(store.request_password_reset(&later).await.unwrap());
}

async fn concurrent_claims_take_each_message_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    for i in 0..40 {
        let to = format!("p{i}@acme.example");
        add(&store, agent("ac1", &format!("ag-{i}"), "P", &to)).await;
        let r = request(
            "ac1",
            &format!("mail-{i:02}"),
            &to,
            &[(&format!("ag-{i}"), &format!("h-{i}"))],
            T0,
        );
        assert!(store.request_password_reset(&r).await.unwrap());
    }
    assert_eq!(store.mail_backlog().await.unwrap(), 40);
    claimed_once_by_racers(&store, 40, |store| async move {
        let batch = store.claim_mail(T0, T0 + MINUTE, 3).await.unwrap();
        batch.into_iter().map(|m| m.id).collect()
    })
    .await;
}

async fn leases_retries_and_failed_messages(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    add(&store, agent("ac1", "ag-cy", "Cy", "cy@acme.example")).await;
    add(&store, agent("ac1", "ag-di", "Di", "di@acme.example")).await;
    let r = request(
        "ac1",
        "mail-cy",
        "cy@acme.example",
        &[("ag-cy", "h-cy")],
        T0,
    );
    assert!(store.request_password_reset(&r).await.unwrap());
    let r = request(
        "ac1",
        "mail-di",
        "di@acme.example",
        &[("ag-di", "h-di")],
        T0,
    );
    assert!(store.request_password_reset(&r).await.unwrap());

    // Not due before its time.
    assert!(
        store
            .claim_mail(T0 - 1, T0 + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store.claim_mail(T0, T0 + MINUTE, 10).await.unwrap();
    assert_eq!(
        claimed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["mail-cy", "mail-di"]
    );
    // Held while the lease lasts, free again once it ran out (the claimer died).
    assert!(
        store
            .claim_mail(T0 + MINUTE - 1, T0 + 2 * MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store
        .claim_mail(T0 + MINUTE, T0 + 2 * MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 2);

    // Cy's attempt failed: back in the queue for its next time, with the body kept.
    let retry = MailResult {
        status: "pending".into(),
        attempts: 1,
        next_attempt_at: T0 + MINUTE + 5_000,
        last_error: Some("SMTP 451: try later".into()),
        sent_at: None,
    };
    store.finish_mail("mail-cy", &retry).await.unwrap();
    // Di's was sent: done, and its body (it held a link) is gone.
    let sent = MailResult {
        status: "sent".into(),
        attempts: 1,
        next_attempt_at: T0 + MINUTE,
        last_error: None,
        sent_at: Some(T0 + MINUTE),
    };
    store.finish_mail("mail-di", &sent).await.unwrap();
    let di = store.mail("mail-di").await.unwrap();
    assert_eq!(
        (di.status.as_str(), di.attempts, di.sent_at),
        ("sent", 1, Some(T0 + MINUTE))
    );
    assert_eq!((di.text_body.as_str(), di.html_body.as_str()), ("", ""));
    assert_eq!(store.mail_backlog().await.unwrap(), 1);

    assert!(
        store
            .claim_mail(T0 + MINUTE + 4_999, T0 + 3 * MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store
        .claim_mail(T0 + MINUTE + 5_000, T0 + 3 * MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id.as_str(), due[0].attempts), ("mail-cy", 1));
    assert_eq!(due[0].last_error.as_deref(), Some("SMTP 451: try later"));
    assert_eq!(due[0].text_body, "text of mail-cy");

    let failed = MailResult {
        status: "failed".into(),
        attempts: 2,
        next_attempt_at: T0 + 2 * MINUTE,
        last_error: Some("SMTP 550: no such user".into()),
        sent_at: None,
    };
    store.finish_mail("mail-cy", &failed).await.unwrap();
    let cy = store.mail("mail-cy").await.unwrap();
    assert_eq!((cy.status.as_str(), cy.attempts), ("failed", 2));
    assert_eq!(cy.text_body, "");
    assert_eq!(store.mail_backlog().await.unwrap(), 0);
    // A failed message is never claimed again.
    assert!(
        store
            .claim_mail(T0 + DAY, T0 + DAY + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.finish_mail("mail-unknown", &failed).await.is_err());
}

async fn a_link_is_used_once_and_only_in_time(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    make_account(&store, "ac2", "beta").await;
    add(&store, agent("ac1", "ag-ed", "Ed", "ed@acme.example")).await;
    let r = request("ac1", "mail-1", "ed@acme.example", &[("ag-ed", "h-1")], T0);
    assert!(store.request_password_reset(&r).await.unwrap());
    let r = request(
        "ac1",
        "mail-2",
        "ed@acme.example",
        &[("ag-ed", "h-2")],
        T0 + MINUTE,
    );
    assert!(store.request_password_reset(&r).await.unwrap());

    // Another account's request names no link of this one.
    assert_eq!(
        store
            .set_password_with_link(PasswordLink::Reset, "ac2", "h-1", "new", T0)
            .await
            .unwrap(),
        None
    );
    // Two confirmations at once: exactly one gets the person.
    let (a, b) = tokio::join!(
        store.set_password_with_link(
            PasswordLink::Reset,
            "ac1",
            "h-1",
            "new-hash-a",
            T0 + 2 * MINUTE
        ),
        store.set_password_with_link(
            PasswordLink::Reset,
            "ac1",
            "h-1",
            "new-hash-b",
            T0 + 2 * MINUTE
        ),
    );
    let winners: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "one confirmation wins");
    assert_eq!(winners[0].member_id, "ag-ed");
    assert_eq!(winners[0].account_id, "ac1");
    let hash = store.password_hash("ac1", "ag-ed").await.unwrap();
    assert!(hash == "new-hash-a" || hash == "new-hash-b", "{hash}");
    // Used: the link, and the person's other link too, do nothing now.
    assert_eq!(
        store
            .set_password_with_link(PasswordLink::Reset, "ac1", "h-1", "x", T0 + 3 * MINUTE)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .password_link_holder(PasswordLink::Reset, "ac1", "h-2", T0 + 3 * MINUTE)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .set_password_with_link(PasswordLink::Reset, "ac1", "h-2", "x", T0 + 3 * MINUTE)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.password_hash("ac1", "ag-ed").await.unwrap(), hash);

    // A fresh link works until its hour is up, not after.
    let r = request(
        "ac1",
        "mail-3",
        "ed@acme.example",
        &[("ag-ed", "h-3")],
        T0 + 2 * HOUR,
    );
    assert!(store.request_password_reset(&r).await.unwrap());
    assert!(
        store
            .password_link_holder(PasswordLink::Reset, "ac1", "h-3", T0 + 3 * HOUR - 1)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .set_password_with_link(PasswordLink::Reset, "ac1", "h-3", "late", T0 + 3 * HOUR)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.password_hash("ac1", "ag-ed").await.unwrap(), hash);
}

async fn retention_deletes_old_messages_and_spent_links(backend: Backend) {
    let (_db, store) = open(backend).await;
    make_account(&store, "ac1", "acme").await;
    add(&store, agent("ac1", "ag-fa", "Fa", "fa@acme.example")).await;
    for (i, at) in [T0, T0 + DAY, T0 + 2 * DAY].into_iter().enumerate() {
        let r = request(
            "ac1",
            &format!("mail-{i}"),
            "fa@acme.example",
            &[("ag-fa", &format!("h-{i}"))],
            at,
        );
        assert!(store.request_password_reset(&r).await.unwrap());
    }
    assert_eq!(
        store
            .delete_older(Retained::Mail, T0 + DAY, 10)
            .await
            .unwrap(),
        1
    );
    let left: Vec<String> = messages(&store, "ac1", "fa@acme.example")
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, ["mail-2", "mail-1"]);
    // Links whose hour ended before the cut-off go; the others stay.
    assert_eq!(
        store
            .delete_older(Retained::ResetLinks, T0 + DAY + HOUR + 1, 10)
            .await
            .unwrap(),
        2
    );
    assert!(
        store
            .password_link_holder(PasswordLink::Reset, "ac1", "h-2", T0 + 2 * DAY)
            .await
            .unwrap()
            .is_some()
    );
}
