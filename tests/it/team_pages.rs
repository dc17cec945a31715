//! The Team pages with real lists: paging past the end after people drop out of a filter, and
//! notices that count sessions and people apart.

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::support::{PASSWORD, TestApp};

/// Ending the sessions of the only person on the last page of "active sessions" shrinks the
/// list by one page: the redirect back must land on the new last page with the notice, not on
/// an error page.
async fn ending_on_the_last_filtered_page_lands_on_the_new_last_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut agents = Vec::new();
    for (name, email) in [
        ("Ann Active", "ann@acme.test"),
        ("Bob Active", "bob@acme.test"),
        ("Cid Active", "cid@acme.test"),
    ] {
        let a = app.add_agent(name, email).await;
        app.start_session(email, PASSWORD).await;
        agents.push(a);
    }
    let owner = app.primary_client().await;
    let last = "/team/agents?session=active&per_page=1&page=3";
    let page = owner.get(last).await.expect_status(StatusCode::OK);
    assert!(page.text.contains("Cid Active"), "page 3 shows the third");

    let res = owner
        .post_form(
            &format!("/team/agents/{}/end-sessions", agents[2].id),
            &[("back", last)],
        )
        .await
        .expect_status(StatusCode::SEE_OTHER);
    let back = res.header("location").unwrap().to_string();
    assert!(
        back.starts_with(last) && back.contains("done=ended"),
        "{back}"
    );

    let res = owner.get(&back).await.expect_status(StatusCode::SEE_OTHER);
    let landed = res.header("location").unwrap().to_string();
    assert_eq!(
        landed,
        "/team/agents?session=active&per_page=1&page=2&done=ended&n=1&people=1"
    );
    let page = owner.get(&landed).await.expect_status(StatusCode::OK);
    assert!(page.text.contains("Bob Active"), "the new last page");
    assert!(
        page.text
            .contains("1 session of 1 person ended. They have been signed out."),
        "the notice survives the move: {}",
        page.text
    );

    // The API answers a page past the end with no items and the true total.
    let v = owner
        .get("/api/v1/agents?session=active&per_page=1&page=3")
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["items"], json!([]));
    assert_eq!(v["total"], 2);
    assert_eq!(v["page"], 3);

    // With nobody left in the filter the page shows the empty list, not a redirect loop.
    owner
        .get("/team/agents?session=none&status=online&page=1")
        .await
        .expect_status(StatusCode::OK);
    let res = owner
        .get("/team/agents?q=nobody-at-all&page=2")
        .await
        .expect_status(StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), Some("/team/agents?q=nobody-at-all"));
}

/// Bulk ending counts sessions and the people they belonged to apart, in the API and in the
/// notice.
async fn bulk_notice_counts_sessions_and_people(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.add_agent("Ann Two", "ann@acme.test").await;
    let bob = app.add_agent("Bob One", "bob@acme.test").await;
    let cid = app.add_agent("Cid None", "cid@acme.test").await;
    app.start_session("ann@acme.test", PASSWORD).await;
    app.start_session("ann@acme.test", PASSWORD).await;
    app.start_session("bob@acme.test", PASSWORD).await;
    let owner = app.primary_client().await;
    let res = owner
        .post_form(
            "/team/agents/bulk-end",
            &[
                ("ids", ann.id.as_str()),
                ("ids", bob.id.as_str()),
                ("ids", cid.id.as_str()),
                ("confirm", "yes"),
                ("back", "/team/agents"),
            ],
        )
        .await
        .expect_status(StatusCode::SEE_OTHER);
    let to = res.header("location").unwrap().to_string();
    assert_eq!(to, "/team/agents?done=ended&n=3&people=2");
    let page = owner.get(&to).await.expect_status(StatusCode::OK);
    assert!(
        page.text
            .contains("3 sessions of 2 people ended. Those people have been signed out."),
        "{}",
        page.text
    );

    app.start_session("ann@acme.test", PASSWORD).await;
    app.start_session("ann@acme.test", PASSWORD).await;
    let v = owner
        .post_json(
            "/api/v1/agents/sessions/end",
            &json!({"ids": [ann.id, bob.id]}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v, json!({"ended": 2, "people": 1}));
}

backend_tests!(
    ending_on_the_last_filtered_page_lands_on_the_new_last_page,
    bulk_notice_counts_sessions_and_people,
);
