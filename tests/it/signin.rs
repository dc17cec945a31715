//! Sign-in as an attacker and a crowd meet it: many attempts at once, the known-device pass,
//! floods of unknown e-mails, linked accounts, and a person signing in again and again.

use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use deskward::domain::member::MemberKind;
use deskward::service::passwords::checks_begun;

use crate::api_events::EventStream;
use crate::db::Backend;
use crate::support::{Client, DAY, PASSWORD, TestApp};

/// An attempt is counted before its password is checked: a hundred wrong passwords at once,
/// for one person from one new address, get no more password checks than the limit lets
/// through, and the rest are refused at once.
async fn simultaneous_wrong_passwords_get_only_the_limit_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let before = checks_begun();
    let clients: Vec<Client> = (0..100).map(|_| app.client()).collect();
    let answers = join_all(
        clients
            .iter()
            .map(|c| c.login("ann@acme.test", "a wrong guess at it")),
    )
    .await;
    let wrong = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    let limited = answers
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(wrong + limited, 100, "only 401 and 429 answers");
    // Five failures are free; the sixth must wait a second after the fifth.
    assert_eq!(wrong, 5, "password checks that got through");
    for r in answers
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
    {
        assert!(r.header("retry-after").is_some());
    }
    // Each attempt checks as many hashes as there could be accounts (two, unlinked or not).
    assert_eq!(checks_begun() - before, 10);
}

/// The known-device pass is signed, bound to the e-mail and expires: a forged one, another
/// person's, or an old one lets nobody past a flood.
async fn the_known_device_pass_cannot_be_forged_or_reused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    app.add_agent("Bob", "bob@acme.test").await;
    let annes_browser = app.signed_in("ann@acme.test", PASSWORD).await;
    let bobs_browser = app.signed_in("bob@acme.test", PASSWORD).await;
    let pass = annes_browser
        .cookie("deskward_device")
        .expect("a known-device pass");
    let flood = || async {
        for _ in 0..6 {
            app.client()
                .login("ann@acme.test", "flooding her e-mail")
                .await;
        }
    };
    flood().await;
    let fresh = app.client();
    fresh
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // A forged pass.
    let (expiry, _) = pass.split_once('.').unwrap();
    let forged = app.client();
    forged.plant("deskward_device", &format!("{expiry}.{}", "0".repeat(64)));
    forged
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Bob's pass is for Bob.
    bobs_browser
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Her own pass works...
    annes_browser
        .login("ann@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    // ...until it expires (90 days after the sign-in that issued it).
    let pass = annes_browser.cookie("deskward_device").unwrap();
    app.advance(91 * DAY);
    flood().await;
    let old = app.client();
    old.plant("deskward_device", &pass);
    old.login("ann@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
}

/// Someone trying e-mail addresses the account does not know fills no audit log: one entry
/// per address and hour counts them.
async fn unknown_emails_are_counted_not_logged_one_by_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    for i in 0..12 {
        app.client()
            .login(&format!("nobody{i}@acme.test"), "whatever it is")
            .await;
    }
    app.client()
        .login("ann@acme.test", "not her password")
        .await;
    let admin = app.primary_client().await;
    let v = admin
        .get("/api/v1/audit?kind=signin.failed&per_page=200")
        .await
        .expect_status(StatusCode::OK)
        .json();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{v}");
    let counted = items
        .iter()
        .find(|e| e["count"] == 12)
        .unwrap_or_else(|| panic!("no entry counting 12: {v}"));
    assert!(
        counted["detail"]
            .as_str()
            .unwrap()
            .contains("does not know")
    );
    let single = items.iter().find(|e| e["count"] == 1).unwrap();
    assert!(single["detail"].as_str().unwrap().contains("ann@acme.test"));
    // The next hour starts a new count.
    app.advance(61 * crate::support::MINUTE);
    app.client()
        .login("nobody@acme.test", "whatever it is")
        .await;
    let v = admin.get("/api/v1/audit?kind=signin.failed").await.json();
    assert_eq!(v["total"], 3, "{v}");
}

/// When one password opens a linked pair, the page asks which account without ever putting
/// the password into it: a short-lived, single-use server-side challenge carries the choice.
async fn choosing_a_linked_account_never_puts_the_password_in_the_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let shared = "one password for both";
    app.add_person(
        MemberKind::Agent,
        "Tara Agent",
        "tara@acme.test",
        shared,
        &[],
    )
    .await;
    let admin = app
        .add_person(
            MemberKind::Admin,
            "Tara Boss",
            "tara@acme.test",
            shared,
            &["team.agents"],
        )
        .await;
    let c = app.client();
    let form = |fields: &[(&str, &str)]| c.raw.post(app.url("/login")).form(&fields.to_vec());
    let page = c
        .send(form(&[("email", "tara@acme.test"), ("password", shared)]))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains(shared), "the password is in the page");
    assert!(page.text.contains("Sign in as administrator (Tara Boss)"));
    // The choice names both accounts and offers a way back.
    assert!(
        page.text
            .contains("<b>Tara Agent</b> (agent) and <b>Tara Boss</b> (administrator)"),
        "{}",
        page.text
    );
    assert!(page.text.contains("Back — sign in with another account"));
    let challenge = page
        .text
        .split("name=\"challenge\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a challenge in the page")
        .to_string();
    let chosen = c
        .send(form(&[("challenge", &challenge), ("as", "admin")]))
        .await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER, "{}", chosen.text);
    let me = c.me().await.expect_status(StatusCode::OK).json();
    assert_eq!(me["user"]["id"], admin.id.as_str());
    // Single use.
    let again = app
        .client()
        .send(
            app.client()
                .raw
                .post(app.url("/login"))
                .form(&[("challenge", challenge.as_str()), ("as", "agent")]),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    // The API keeps its contract: 409 choose_account, then "as".
    app.client()
        .login("tara@acme.test", shared)
        .await
        .expect_error(StatusCode::CONFLICT, "choose_account");
}

/// Sign-in takes the same work whether an e-mail names nobody, one account or a linked pair.
async fn every_sign_in_checks_the_same_number_of_passwords(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann", "ann@acme.test").await;
    app.add_agent("Tara", "tara@acme.test").await;
    app.add_admin("Tara", "tara@acme.test", &[]).await;
    let checks = |email: &'static str, kind: Option<&'static str>| {
        let c = app.client();
        async move {
            let before = checks_begun();
            match kind {
                Some(k) => c.login_as(email, "not the password", k).await,
                None => c.login(email, "not the password").await,
            }
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
            checks_begun() - before
        }
    };
    let unknown = checks("nobody@acme.test", None).await;
    let single = checks("ann@acme.test", None).await;
    let linked = checks("tara@acme.test", None).await;
    assert_eq!((unknown, single, linked), (2, 2, 2));
    let as_admin = checks("tara@acme.test", Some("admin")).await;
    let as_agent_unknown = checks("nobody@acme.test", Some("agent")).await;
    assert_eq!((as_admin, as_agent_unknown), (1, 1));
}

/// Nobody holds more than 100 live sessions: the 101st sign-in ends the oldest, with reason
/// `replaced`, pushed to its open tab.
async fn a_hundred_and_first_sign_in_replaces_the_oldest(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let ann = app.add_agent("Ann", "ann@acme.test").await;
    let first = app.signed_in("ann@acme.test", PASSWORD).await;
    let first_sid = first.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // One sign-in a second (the clock is the test's): the first is the oldest.
    for _ in 0..99 {
        app.advance(crate::support::SECOND);
        app.start_session("ann@acme.test", PASSWORD).await;
    }
    first.me().await.expect_status(StatusCode::OK);
    // The oldest session's tab is open when the 101st sign-in comes.
    let mut tab = EventStream::open(&first).await;
    app.advance(crate::support::SECOND);
    app.start_session("ann@acme.test", PASSWORD).await;
    let heard = loop {
        let (name, data) = tab
            .next(std::time::Duration::from_secs(10))
            .await
            .expect("the oldest tab is told");
        if name == "session_ended" {
            break data.to_string();
        }
    };
    assert!(heard.contains("\"reason\":\"replaced\""), "{heard}");
    first
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let stored = app.stored_session(&first_sid).await;
    assert_eq!(stored.end_reason.map(|r| r.as_str()), Some("replaced"));
    let live = app
        .store
        .active_sessions(&app.account.id, std::slice::from_ref(&ann.id), 0)
        .await
        .unwrap();
    assert_eq!(live.len(), 100);
    let page = first.get("/login").await;
    assert!(page.text.contains("signed in elsewhere"), "{}", page.text);
}

/// A second instance on the same PostgreSQL database counts the same attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_holds_across_instances_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.add_agent("Ann", "ann@acme.test").await;
    let second = crate::support::second_instance(&app).await;
    let a: Vec<Client> = (0..20).map(|_| app.client()).collect();
    let b: Vec<Client> = (0..20).map(|_| second.client()).collect();
    let attempts = a.iter().chain(b.iter()).map(|c| {
        c.send(
            c.request(Method::POST, "/api/v1/auth/login")
                .json(&json!({"email": "ann@acme.test", "password": "guessing again"})),
        )
    });
    let answers = join_all(attempts).await;
    let checked = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked, 5, "the two instances let the limit through once");
}

backend_tests!(
    simultaneous_wrong_passwords_get_only_the_limit_checked,
    the_known_device_pass_cannot_be_forged_or_reused,
    unknown_emails_are_counted_not_logged_one_by_one,
    choosing_a_linked_account_never_puts_the_password_in_the_page,
    every_sign_in_checks_the_same_number_of_passwords,
    a_hundred_and_first_sign_in_replaces_the_oldest,
);
