//! Resending an invitation is limited: at most three new invitations a person within an hour,
//! through the API (429 `too_many_invitations` with `Retry-After`) and from the Team pages
//! (429, the limit and the wait said in words); a refused resend sends nothing and leaves the
//! person's link working; an hour after the first resend another may go.

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::invitations::{invite, token};
use crate::mail_support::outbox;
use crate::support::{MINUTE, PASSWORD, TestApp};

backend_tests!(
    three_resends_an_hour_through_the_api,
    three_resends_an_hour_from_the_pages
);

async fn three_resends_an_hour_through_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    let ann = invite(
        &owner,
        "agents",
        json!({"name": "Ann Agent", "email": "ann@acme.test"}),
    )
    .await;
    let resend = format!("/api/v1/agents/{}/invitation", ann["id"].as_str().unwrap());
    for _ in 0..3 {
        app.advance(MINUTE);
        owner
            .post_json(&resend, &json!({}))
            .await
            .expect_status(StatusCode::ACCEPTED);
    }
    assert_eq!(outbox(&app, "ann@acme.test").await.len(), 4);
    let newest = token(&app, "ann@acme.test").await;
    app.advance(MINUTE);
    let refused = owner.post_json(&resend, &json!({})).await;
    let message = refused.expect_error(StatusCode::TOO_MANY_REQUESTS, "too_many_invitations");
    assert!(
        message.contains("Ann Agent was sent 3 new invitations within the last hour")
            && message.contains("nothing was sent")
            && message.contains("in 57 minutes"),
        "{message}"
    );
    // The first resend was three minutes ago: it ages out in 57.
    assert_eq!(refused.header("retry-after"), Some("3420"));
    // Nothing was sent, and the newest link still works.
    assert_eq!(outbox(&app, "ann@acme.test").await.len(), 4);
    let page = app.client().get(&format!("/invite/{newest}")).await;
    assert_eq!(page.status, StatusCode::OK);
    // Another administrator is held to the same count: it is the person's.
    app.add_admin("Sue Sub", "sue@acme.test", &["team.agents"])
        .await;
    app.signed_in("sue@acme.test", PASSWORD)
        .await
        .post_json(&resend, &json!({}))
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "too_many_invitations");
    // An hour after the first resend, one more may go.
    app.advance(57 * MINUTE);
    owner
        .post_json(&resend, &json!({}))
        .await
        .expect_status(StatusCode::ACCEPTED);
    assert_eq!(outbox(&app, "ann@acme.test").await.len(), 5);
    owner
        .post_json(&resend, &json!({}))
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "too_many_invitations");
    // Other people's invitations are not held back by Ann's.
    let bo = invite(
        &owner,
        "agents",
        json!({"name": "Bo Agent", "email": "bo@acme.test"}),
    )
    .await;
    owner
        .post_json(
            &format!("/api/v1/agents/{}/invitation", bo["id"].as_str().unwrap()),
            &json!({}),
        )
        .await
        .expect_status(StatusCode::ACCEPTED);
}

async fn three_resends_an_hour_from_the_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    let cy = invite(
        &owner,
        "agents",
        json!({"name": "Cy Agent", "email": "cy@acme.test"}),
    )
    .await;
    let resend = format!("/team/agents/{}/invitation", cy["id"].as_str().unwrap());
    for _ in 0..3 {
        owner
            .post_form(&resend, &[("back", "/team/agents")])
            .await
            .expect_status(StatusCode::SEE_OTHER);
    }
    let refused = owner.post_form(&resend, &[("back", "/team/agents")]).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.text
    );
    assert_eq!(refused.header("retry-after"), Some("3600"));
    assert!(
        refused.text.contains("Too many invitations"),
        "{}",
        refused.text
    );
    assert!(
        refused
            .text
            .contains("Cy Agent was sent 3 new invitations within the last hour"),
        "{}",
        refused.text
    );
    assert!(refused.text.contains("in 60 minutes"), "{}", refused.text);
    assert_eq!(outbox(&app, "cy@acme.test").await.len(), 4);
}
