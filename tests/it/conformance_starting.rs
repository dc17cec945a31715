//! Store conformance, `start_session`: a sign-in's session, its audit row, the sessions the
//! per-person cap replaces (ended exactly as `end_sessions` ends them) and the webhook outbox
//! rows, and a sign-in alert's link and message, in one transaction — all of it or nothing.

use std::sync::Arc;

use deskward::clock::ManualClock;
use deskward::domain::audit::AuditKind;
use deskward::domain::mail::SigninAlerts;
use deskward::domain::member::AgentStatus;
use deskward::domain::session::EndReason;
use deskward::domain::signin::{AuthMethod, AuthMethods};
use deskward::domain::time::{DAY, HOUR, Millis};
use deskward::domain::webhook::EventFilter;
use deskward::store::{
    AuditEntry, EndSessions, Member, NewMail, NewSigninAlert, PasswordLink, StartSession,
    StoreError, WebhookEndpoint, Which,
};

use crate::conformance::{
    Db, T0, add, agent, audit_query, make_account, new_session, open, open_session,
};
use crate::db::Backend;

backend_tests!(
    a_start_writes_its_session_audit_cap_and_outbox_together,
    a_signin_alert_is_written_with_its_session_and_used_once,
    a_start_that_fails_writes_nothing,
);

const NOW: Millis = T0 + 100 * HOUR;
const IP: &str = "198.51.100.4";

/// The start of session `id` for `m` at [`NOW`], keeping `keep` of their live sessions.
fn start(m: &Member, id: &str, audit_id: &str, keep: usize) -> StartSession {
    StartSession {
        session: deskward::store::NewSession {
            auth_methods: AuthMethods::password().with(AuthMethod::Totp),
            ..new_session(m, id, NOW)
        },
        outside_office: true,
        audit: AuditEntry {
            id: audit_id.to_string(),
            account_id: m.account_id.clone(),
            at: NOW,
            kind: AuditKind::SignIn.as_str().to_string(),
            actor: Some(m.id.clone()),
            target: Some(m.id.clone()),
            ip: Some(crate::support::client_ip(IP)),
            detail: format!("signed in ({id})"),
            count: 1,
        },
        cap: EndSessions {
            account_id: Some(m.account_id.clone()),
            which: Which::AllButNewest {
                member_id: m.id.clone(),
                keep,
            },
            reason: EndReason::Replaced,
            by: Some(m.id.clone()),
            ip: Some(crate::support::client_ip(IP)),
            at: NOW,
        },
        alert: None,
    }
}

/// An agent Online with three live sessions (oldest first) and an endpoint hearing everything
/// from then on.
async fn ann_with_sessions(store: &Db) -> Member {
    let clock = ManualClock::new(NOW);
    store.use_clock(Arc::new(clock));
    make_account(store, "ac1", "acme").await;
    let ann = add(store, agent("ac1", "ag1", "Ann", "ann@example.com")).await;
    store
        .set_status("ac1", "ag1", AgentStatus::Online, Some(AgentStatus::Online))
        .await
        .unwrap();
    for (i, id) in ["s1", "s2", "s3"].into_iter().enumerate() {
        open_session(store, &ann, id, NOW - (3 - i as i64) * HOUR, NOW).await;
    }
    store
        .insert_webhook(&WebhookEndpoint {
            id: "we-all".to_string(),
            account_id: "ac1".to_string(),
            url: "https://hooks.example.com/all".to_string(),
            events: EventFilter::parse(&["*".to_string()]).unwrap().to_db(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_string(),
            disabled_reason: None,
            created_at: T0,
            created_by: None,
        })
        .await
        .unwrap();
    ann
}

async fn outbox_types(store: &Db) -> Vec<String> {
    let mut d = store
        .webhook_deliveries("ac1", "we-all", 100)
        .await
        .unwrap();
    d.reverse();
    d.into_iter().map(|d| d.event_type).collect()
}

async fn audit_rows(store: &Db) -> Vec<AuditEntry> {
    store.list_audit("ac1", &audit_query()).await.unwrap().0
}

async fn live(store: &Db, ids: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        if store.session("ac1", id).await.unwrap().ended_at.is_none() {
            out.push(id.to_string());
        }
    }
    out
}

async fn a_start_writes_its_session_audit_cap_and_outbox_together(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ann = ann_with_sessions(&store).await;

    let started = store
        .start_session(&start(&ann, "s4", "au-signin-s4", 2))
        .await
        .unwrap();

    // The session, read back as stored: its methods typed, its office-network mark set.
    let s = &started.session;
    assert_eq!(*s, store.session("ac1", "s4").await.unwrap());
    assert_eq!(
        (s.id.as_str(), s.started_at, s.last_seen_at, s.ended_at),
        ("s4", NOW, NOW, None)
    );
    assert_eq!(
        s.auth_methods,
        AuthMethods::password().with(AuthMethod::Totp)
    );
    assert!(s.outside_office);
    assert_eq!(
        store
            .auth_record("token-hash-s4")
            .await
            .unwrap()
            .map(|r| r.session.id),
        Some("s4".to_string())
    );

    // The cap kept the two newest: the oldest ended as replaced, by Ann, and Ann went Offline.
    let mut ended: Vec<(String, &str)> = started
        .ended
        .sessions
        .iter()
        .map(|e| (e.id.clone(), e.reason.as_str()))
        .collect();
    ended.sort();
    assert_eq!(
        ended,
        [
            ("s1".to_string(), "replaced"),
            ("s2".to_string(), "replaced")
        ]
    );
    assert_eq!(
        started.ended.offline,
        [("ac1".to_string(), "ag1".to_string())]
    );
    assert_eq!(live(&store, &["s1", "s2", "s3", "s4"]).await, ["s3", "s4"]);
    let s1 = store.session("ac1", "s1").await.unwrap();
    assert_eq!(
        (s1.ended_at, s1.ended_by.as_deref()),
        (Some(NOW), Some("ag1"))
    );
    assert_eq!(
        store.member("ac1", "ag1").await.unwrap().status,
        AgentStatus::Offline
    );

    // Audit: the sign-in's own row, and one row per ended session in the ending's one shape.
    let rows = audit_rows(&store).await;
    let signin: Vec<_> = rows.iter().filter(|r| r.id == "au-signin-s4").collect();
    assert_eq!(signin.len(), 1);
    assert_eq!(
        (
            signin[0].kind.as_str(),
            signin[0].ip.map(|ip| ip.to_string())
        ),
        ("signin", Some(IP.to_string()))
    );
    let mut endings: Vec<(String, Option<String>, Option<String>, String)> = rows
        .iter()
        .filter(|r| r.id != "au-signin-s4")
        .map(|r| {
            let shape = deskward::domain::audit::session_end_entry(
                if r.detail.contains("s1") { "s1" } else { "s2" },
                "ag1",
                EndReason::Replaced,
                Some("ag1"),
                Some(crate::support::client_ip(IP)),
            );
            assert_eq!(
                (r.kind.as_str(), r.actor.as_deref(), r.target.as_deref()),
                (
                    shape.kind.as_str(),
                    shape.actor.as_deref(),
                    Some(shape.target.as_str())
                )
            );
            (
                r.kind.clone(),
                r.ip.map(|ip| ip.to_string()),
                r.target.clone(),
                r.detail.clone(),
            )
        })
        .collect();
    endings.sort();
    assert_eq!(endings.len(), 2, "{rows:?}");
    assert_eq!(
        endings.iter().map(|e| e.3.as_str()).collect::<Vec<_>>(),
        ["session s1 ended (replaced)", "session s2 ended (replaced)"]
    );

    // The outbox: the start first, then the endings it caused, then the change of presence.
    assert_eq!(
        outbox_types(&store).await,
        [
            "session.started",
            "session.ended",
            "session.ended",
            "presence.changed"
        ]
    );
}

async fn a_start_that_fails_writes_nothing(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ann = ann_with_sessions(&store).await;
    // An audit id already taken fails the start's second write, after its session's insert.
    store
        .insert_audit(&AuditEntry {
            id: "au-taken".to_string(),
            account_id: "ac1".to_string(),
            at: NOW,
            kind: "signin".to_string(),
            actor: None,
            target: None,
            ip: None,
            detail: "an earlier entry".to_string(),
            count: 1,
        })
        .await
        .unwrap();
    let audits_before = audit_rows(&store).await;

    let r = store.start_session(&start(&ann, "s4", "au-taken", 1)).await;
    assert!(
        matches!(r, Err(StoreError::Conflict { field: "id" })),
        "{r:?}"
    );

    assert!(matches!(
        store.session("ac1", "s4").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.auth_record("token-hash-s4").await.unwrap(), None);
    assert_eq!(live(&store, &["s1", "s2", "s3"]).await, ["s1", "s2", "s3"]);
    assert_eq!(
        store.member("ac1", "ag1").await.unwrap().status,
        AgentStatus::Online
    );
    assert_eq!(audit_rows(&store).await, audits_before);
    assert!(outbox_types(&store).await.is_empty());

    // The same start with a free audit id goes through.
    let started = store
        .start_session(&start(&ann, "s4", "au-free", 1))
        .await
        .unwrap();
    assert_eq!(started.ended.sessions.len(), 3);
    assert_eq!(live(&store, &["s1", "s2", "s3", "s4"]).await, ["s4"]);
}

async fn a_signin_alert_is_written_with_its_session_and_used_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    let ann = ann_with_sessions(&store).await;
    // No setting stored: administrators are told, agents not.
    assert_eq!(
        store.signin_alerts("ac1").await.unwrap(),
        SigninAlerts::default()
    );
    let on = SigninAlerts {
        agents: true,
        admins: false,
    };
    store.set_signin_alerts("ac1", on).await.unwrap();
    assert_eq!(store.signin_alerts("ac1").await.unwrap(), on);

    let mut req = start(&ann, "s4", "au-signin-s4", 10);
    req.alert = Some(NewSigninAlert {
        token_hash: "alert-hash".to_string(),
        expires_at: NOW + 7 * DAY,
        mail: NewMail {
            id: "mail-alert".to_string(),
            account_id: "ac1".to_string(),
            kind: "signin_alert".to_string(),
            recipient_norm: "ann@example.com".to_string(),
            recipient: "ann@example.com".to_string(),
            recipient_name: "Ann".to_string(),
            subject: "New sign-in to Acme".to_string(),
            text_body: "text".to_string(),
            html_body: "<p>html</p>".to_string(),
        },
    });
    store.start_session(&req).await.unwrap();
    let mail = store.mail_to("ac1", "ann@example.com").await.unwrap();
    assert_eq!(mail.len(), 1);
    assert_eq!(
        (mail[0].id.as_str(), mail[0].kind.as_str()),
        ("mail-alert", "signin_alert")
    );
    let link = store
        .signin_alert_link("ac1", "alert-hash", NOW)
        .await
        .unwrap()
        .expect("the link works");
    assert_eq!(
        (link.member_id.as_str(), link.session_id.as_str()),
        ("ag1", "s4")
    );
    assert!(!link.session_ended);
    // Another account's, or past its time: nothing.
    assert!(
        store
            .signin_alert_link("ac2", "alert-hash", NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .signin_alert_link("ac1", "alert-hash", NOW + 7 * DAY)
            .await
            .unwrap()
            .is_none()
    );
    // Used once: the reset link is written with it; a second use gets nothing.
    let used = store
        .use_signin_alert("ac1", "alert-hash", "reset-hash", NOW + HOUR, NOW)
        .await
        .unwrap()
        .expect("used");
    assert_eq!(
        (
            used.member_id.as_str(),
            used.session_id.as_str(),
            used.reset_link
        ),
        ("ag1", "s4", true)
    );
    assert!(
        store
            .password_link_holder(PasswordLink::Reset, "ac1", "reset-hash", NOW)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .use_signin_alert("ac1", "alert-hash", "reset-hash-2", NOW + HOUR, NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .signin_alert_link("ac1", "alert-hash", NOW)
            .await
            .unwrap()
            .is_none()
    );

    // A start that fails (a session id taken) writes no alert either.
    let mut again = start(&ann, "s4", "au-signin-again", 10);
    again.alert = Some(NewSigninAlert {
        token_hash: "alert-hash-2".to_string(),
        expires_at: NOW + 7 * DAY,
        mail: NewMail {
            id: "mail-alert-2".to_string(),
            ..req.alert.clone().unwrap().mail
        },
    });
    assert!(store.start_session(&again).await.is_err());
    assert_eq!(
        store.mail_to("ac1", "ann@example.com").await.unwrap().len(),
        1
    );
    assert!(
        store
            .signin_alert_link("ac1", "alert-hash-2", NOW)
            .await
            .unwrap()
            .is_none()
    );
}
