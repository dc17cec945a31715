//! OpenID Connect Back-Channel Logout against the real provider: its logout token ends the
//! sessions opened through it (reason `idp_logout`, pushed to the tab), by `sid` when the
//! provider sends one; forged, unsigned, misaddressed and replayed tokens end nothing; on two
//! instances behind one PostgreSQL either may receive it.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::net::TcpListener;

use crate::api_events::EventStream;
use crate::db::{Backend, TestDb};
use crate::sso::{
    ANN_EMAIL, ANN_SUB, follow, save_sso, settings, setup, signed_in_with_sso, start,
};
use crate::support::oidc::{LogoutToken, Provider, Registration, User};
use crate::support::{Client, PASSWORD, Serving};

backend_tests!(
    a_good_logout_token_ends_the_session_live,
    the_providers_own_sign_out_ends_that_session_only,
    bad_logout_tokens_end_nothing,
    a_replayed_logout_token_ends_nothing,
);

/// Posts a logout token to `base`'s back-channel endpoint as the provider would (no cookie,
/// no CSRF token): the status.
pub(crate) async fn post_logout_token(base: &str, token: &str) -> (StatusCode, String) {
    let res = reqwest::Client::new()
        .post(format!("{base}/sso/backchannel-logout"))
        .form(&[("logout_token", token)])
        .send()
        .await
        .expect("POST the logout token");
    let status = res.status();
    (status, res.text().await.unwrap_or_default())
}

async fn session_id(c: &Client) -> String {
    c.me().await.expect_status(StatusCode::OK).json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn a_good_logout_token_ends_the_session_live(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    let ann = signed_in_with_sso(&app, &provider, ANN_EMAIL).await;
    let id = session_id(&ann).await;
    let mut tab = EventStream::open(&ann).await;
    // Someone else's session stays.
    let other = app.primary_client().await;

    // IT switches Ann off at the provider: it sends the token to the registered URI.
    assert_eq!(provider.backchannel_logout(ANN_SUB).await, 200);
    let ended = tab
        .until("session_ended", Duration::from_secs(5))
        .await
        .expect("the tab hears its session end");
    assert_eq!(ended["reason"], "idp_logout");
    ann.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    let stored = app.stored_session(&id).await;
    assert_eq!(stored.end_reason.map(|r| r.as_str()), Some("idp_logout"));
    other.me().await.expect_status(StatusCode::OK);
    let audit = other
        .get("/api/v1/audit?per_page=200")
        .await
        .expect_status(StatusCode::OK)
        .text;
    assert!(audit.contains("idp_logout"), "{audit}");
}

async fn the_providers_own_sign_out_ends_that_session_only(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    // Ann signed in twice, through two provider sessions (two browsers).
    let laptop_at_provider = provider.browser();
    let phone_at_provider = provider.browser();
    let laptop = app.client();
    let auth = start(&laptop, "/").await;
    let back = laptop_at_provider.sign_in(&auth, ANN_EMAIL).await;
    assert!(follow(&laptop, &back).await.status.is_redirection());
    let phone = app.client();
    let auth = start(&phone, "/").await;
    let back = phone_at_provider.sign_in(&auth, ANN_EMAIL).await;
    assert!(follow(&phone, &back).await.status.is_redirection());
    laptop.me().await.expect_status(StatusCode::OK);
    phone.me().await.expect_status(StatusCode::OK);
    // And once with her password.
    let by_password = app.signed_in(ANN_EMAIL, PASSWORD).await;
    let mut laptop_tab = EventStream::open(&laptop).await;

    // Ann signs out at the provider on the laptop: its logout token names that sid.
    laptop_at_provider.sign_out().await;
    let log = provider.backchannel_log().await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["ok"], true, "Deskward did not answer 200: {log:?}");
    assert!(log[0]["sid"].is_string(), "{log:?}");
    let ended = laptop_tab
        .until("session_ended", Duration::from_secs(5))
        .await
        .expect("the laptop's tab hears its session end");
    assert_eq!(ended["reason"], "idp_logout");
    laptop
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    phone.me().await.expect_status(StatusCode::OK);
    by_password.me().await.expect_status(StatusCode::OK);

    // Back at the provider, already signed in there, the laptop signs in again at once.
    let again = app.client();
    let auth = start(&again, "/").await;
    let back = phone_at_provider
        .sign_in(&auth, "nobody-asked@acme.test")
        .await;
    assert!(follow(&again, &back).await.status.is_redirection());
    again.me().await.expect_status(StatusCode::OK);
}

async fn bad_logout_tokens_end_nothing(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    let ann = signed_in_with_sso(&app, &provider, ANN_EMAIL).await;
    for kind in [
        LogoutToken::Forged,
        LogoutToken::AlgNone,
        LogoutToken::WrongAud,
        LogoutToken::WrongIss,
        LogoutToken::NoEvents,
        LogoutToken::WithNonce,
        LogoutToken::OldIat,
    ] {
        let token = provider.logout_token(ANN_SUB, None, kind).await;
        let (status, body) = post_logout_token(&app.base, &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{kind:?}: {body}");
        ann.me().await.expect_status(StatusCode::OK);
    }
    // Not a JWT at all, and no token.
    for token in ["", "not.a.jwt", "x"] {
        let (status, body) = post_logout_token(&app.base, token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{token:?}: {body}");
    }
    let res = reqwest::Client::new()
        .post(app.url("/sso/backchannel-logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    ann.me().await.expect_status(StatusCode::OK);
    // The good one still works afterwards.
    let token = provider
        .logout_token(ANN_SUB, None, LogoutToken::Good)
        .await;
    let (status, body) = post_logout_token(&app.base, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ann.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

async fn a_replayed_logout_token_ends_nothing(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    let first = signed_in_with_sso(&app, &provider, ANN_EMAIL).await;
    let token = provider
        .logout_token(ANN_SUB, None, LogoutToken::Good)
        .await;
    let (status, body) = post_logout_token(&app.base, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    first
        .me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
    // Ann signs in again; the same token (same jti) a second time ends nothing.
    let second = signed_in_with_sso(&app, &provider, ANN_EMAIL).await;
    let (status, body) = post_logout_token(&app.base, &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "replayed: {body}");
    second.me().await.expect_status(StatusCode::OK);
}

/// An instance of its own on `url`, allowed to use the loopback provider, events relayed
/// through PostgreSQL, on the system clock.
async fn instance(url: &str) -> (std::sync::Arc<deskward::service::Service>, Serving) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let store = deskward::store::connect(url).await.expect("connect");
    let events = deskward::relay::events_for(url).await;
    let config = deskward::server::ServerConfig {
        service: deskward::service::ServiceConfig {
            presence_grace_ms: 300,
        },
        ..Default::default()
    };
    let svc = deskward::server::build(
        store,
        std::sync::Arc::new(deskward::clock::SystemClock),
        events,
        &config,
    );
    crate::support::oidc::allow_private_issuer(&svc);
    let serving = crate::support::serve_listener(svc.clone(), config, listener);
    (svc, serving)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn either_instance_receives_the_logout() {
    let db = TestDb::new(Backend::Postgres).await;
    let (svc_a, a) = instance(&db.url).await;
    let (_svc_b, b) = instance(&db.url).await;
    crate::support::create_acme(&svc_a).await;
    let (admin, _) = crate::support::pat_adds_ann(&a.base).await;
    let provider = Provider::start(
        &Registration::for_deskward(&a.base),
        &[User::verified(ANN_SUB, ANN_EMAIL, "Ann")],
    )
    .await;
    let res = save_sso(&admin, settings(&provider)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);

    // Signed in through A (the registered redirect URI); the tab on one instance, the
    // provider's token received by the other, and the other way round.
    for (tab_on, told) in [(&a, &b), (&b, &a)] {
        let c = crate::support::client_for_base(&a.base);
        let auth = start(&c, "/").await;
        let back = provider.browser().sign_in(&auth, ANN_EMAIL).await;
        let res = follow(&c, &back).await;
        assert!(res.status.is_redirection(), "{}: {}", res.status, res.text);
        let in_tab = crate::support::client_for_base(&tab_on.base);
        in_tab.plant_cookie(&c.cookie_token().expect("signed in"));
        let mut tab = EventStream::open(&in_tab).await;
        let token = provider
            .logout_token(ANN_SUB, None, LogoutToken::Good)
            .await;
        let (status, body) = post_logout_token(&told.base, &token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ended = tab
            .until("session_ended", Duration::from_secs(5))
            .await
            .expect("the tab on the other instance hears its session end");
        assert_eq!(ended["reason"], "idp_logout");
        in_tab
            .me()
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
        // The same token at the other instance is a replay there too.
        let (status, _) = post_logout_token(&tab_on.base, &token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
