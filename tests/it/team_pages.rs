//! The Team pages with real lists: paging past the end after people drop out of a filter, and
//! notices that count sessions and people apart.

use reqwest::StatusCode;
use serde_json::json;

use crate::db::Backend;
use crate::support::{PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, TestApp};

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

/// The demo's case: every administrator signed in, the primary several times. Paging the
/// "active session" list one by one shows each person exactly once, in the API and on the
/// pages, and the totals agree with the items.
async fn people_with_several_sessions_appear_on_exactly_one_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut expected = vec!["Pat Primary".to_string()];
    for (name, email) in [
        ("Sam Sub", "sam@acme.test"),
        ("Sid Sub", "sid@acme.test"),
        ("Tara Sub", "tara@acme.test"),
    ] {
        app.add_admin(name, email, &["audit"]).await;
        app.start_session(email, PASSWORD).await;
        expected.push(name.to_string());
    }
    for _ in 0..3 {
        app.start_session(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    }
    for (name, email) in [("Ann A", "ann@acme.test"), ("Bob B", "bob@acme.test")] {
        app.add_agent(name, email).await;
        for _ in 0..3 {
            app.start_session(email, PASSWORD).await;
        }
    }
    app.add_agent("Cid C", "cid@acme.test").await;
    app.start_session("cid@acme.test", PASSWORD).await;
    let owner = app.primary_client().await;
    expected.sort();

    let mut seen = Vec::new();
    for page in 1..=5 {
        let v = owner
            .get(&format!(
                "/api/v1/admins?session=active&per_page=1&page={page}"
            ))
            .await
            .expect_status(StatusCode::OK)
            .json();
        assert_eq!(v["total"], 4, "page {page}");
        for item in v["items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen, expected, "each administrator once, in order");

    let mut agents = Vec::new();
    for page in 1..=3 {
        let v = owner
            .get(&format!(
                "/api/v1/agents?session=active&per_page=2&page={page}"
            ))
            .await
            .expect_status(StatusCode::OK)
            .json();
        assert_eq!(v["total"], 3);
        for item in v["items"].as_array().unwrap() {
            agents.push(item["name"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        agents,
        ["Ann A", "Bob B", "Cid C"],
        "pages 2 and 3 do not overlap"
    );

    // The pages: one card per page, each administrator once, in the same order.
    let api_ids: Vec<String> = owner.get("/api/v1/admins?session=active").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    let mut page_ids = Vec::new();
    for page in 1..=4 {
        let html = owner
            .get(&format!(
                "/team/admins?session=active&per_page=1&page={page}"
            ))
            .await
            .expect_status(StatusCode::OK)
            .text;
        let cards: Vec<&str> = html.split("<li class=\"card").skip(1).collect();
        assert_eq!(cards.len(), 1, "page {page} shows one card");
        let id = cards[0].split("data-id=\"").nth(1).unwrap();
        page_ids.push(id[..id.find('"').unwrap()].to_string());
    }
    assert_eq!(page_ids, api_ids);
}

/// Without JavaScript, disabling an account and ending one's own sessions ask on a page
/// first; nothing changes until the confirmed form comes back.
async fn destructive_forms_ask_first_without_javascript(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    app.start_session("ann@acme.test", PASSWORD).await;
    let owner = app.primary_client().await;
    let page = format!("/team/agents/{}", ann.id);

    let ask = owner
        .post_form(&format!("{page}/disabled"), &[("disabled", "true")])
        .await
        .expect_status(StatusCode::OK);
    assert!(ask.text.contains("Disable account?"), "{}", ask.text);
    assert!(ask.text.contains("name=\"disabled\" value=\"true\""));
    assert!(ask.text.contains("name=\"confirm\" value=\"yes\""));
    assert!(
        !app.stored_member(&ann.id).await.disabled,
        "asked, not done"
    );
    owner
        .post_form(
            &format!("{page}/disabled"),
            &[("disabled", "true"), ("confirm", "yes")],
        )
        .await
        .expect_status(StatusCode::SEE_OTHER);
    assert!(app.stored_member(&ann.id).await.disabled);
    // Enabling again needs no confirmation.
    owner
        .post_form(&format!("{page}/disabled"), &[("disabled", "false")])
        .await
        .expect_status(StatusCode::SEE_OTHER);
    assert!(!app.stored_member(&ann.id).await.disabled);

    // My sessions: "End this session" and "End all other sessions".
    let other = app.signed_in(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let other_id = other.me().await.json()["session"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ask = owner
        .post_form(&format!("/me/sessions/{other_id}/end"), &[])
        .await
        .expect_status(StatusCode::OK);
    assert!(ask.text.contains("End this session?"), "{}", ask.text);
    other.me().await.expect_status(StatusCode::OK);
    let ended = owner
        .post_form(
            &format!("/me/sessions/{other_id}/end"),
            &[("confirm", "yes")],
        )
        .await
        .expect_status(StatusCode::SEE_OTHER);
    other.me().await.expect_status(StatusCode::UNAUTHORIZED);
    // And the page says it is done.
    let to = ended.header("location").expect("a redirect").to_string();
    assert_eq!(to, "/me/sessions?done=ended");
    let page = owner.get(&to).await.expect_status(StatusCode::OK);
    assert!(
        page.text
            .contains("<p class=\"notice\" role=\"status\">Session ended. That browser has been signed out.</p>"),
        "{}",
        page.text
    );
    owner
        .post_form("/me/sessions/no-such-session/end", &[])
        .await
        .expect_status(StatusCode::NOT_FOUND);

    let third = app.signed_in(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let ask = owner
        .post_form("/me/sessions/end-others", &[])
        .await
        .expect_status(StatusCode::OK);
    assert!(
        ask.text.contains("End 1 other session of yours?"),
        "{}",
        ask.text
    );
    third.me().await.expect_status(StatusCode::OK);
    let ended = owner
        .post_form("/me/sessions/end-others", &[("confirm", "yes")])
        .await
        .expect_status(StatusCode::SEE_OTHER);
    third.me().await.expect_status(StatusCode::UNAUTHORIZED);
    let to = ended.header("location").expect("a redirect").to_string();
    assert_eq!(to, "/me/sessions?done=others&n=1");
    let page = owner.get(&to).await.expect_status(StatusCode::OK);
    assert!(
        page.text
            .contains("1 other session ended. That browser has been signed out."),
        "{}",
        page.text
    );
    owner.me().await.expect_status(StatusCode::OK);

    // Ending one's own sessions from the Team pages warns that this browser is included.
    let ask = owner
        .get(&format!("/team/admins/{}/end-sessions", app.primary.id))
        .await
        .expect_status(StatusCode::OK);
    assert!(
        ask.text.contains(
            "This includes the session in this browser: you will be signed out here too."
        ),
        "{}",
        ask.text
    );
}

/// The bulk confirmation names the people (the first ten, then "and N more") and says so when
/// none of them has a session.
async fn bulk_confirmation_names_people(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let a = app
            .add_agent(&format!("Agent {i:02}"), &format!("a{i:02}@acme.test"))
            .await;
        ids.push(a.id);
    }
    let owner = app.primary_client().await;
    let form = |ids: &[String]| {
        ids.iter()
            .map(|id| ("ids".to_string(), id.clone()))
            .collect::<Vec<_>>()
    };
    let fields = form(&ids);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let ask = owner
        .post_form("/team/agents/bulk-end", &refs)
        .await
        .expect_status(StatusCode::OK);
    assert!(ask.text.contains("Nothing to end"), "{}", ask.text);
    assert!(
        ask.text
            .contains("None of the 12 selected agents has an active session")
    );
    assert!(ask.text.contains("<li>Agent 09</li>") && !ask.text.contains("<li>Agent 10</li>"));
    assert!(ask.text.contains("and 2 more"));
    assert!(!ask.text.contains("name=\"confirm\""), "nothing to confirm");

    app.start_session("a03@acme.test", PASSWORD).await;
    let ask = owner
        .post_form("/team/agents/bulk-end", &refs)
        .await
        .expect_status(StatusCode::OK);
    assert!(
        ask.text.contains("End sessions of the selected agents?"),
        "{}",
        ask.text
    );
    assert!(
        ask.text.contains("(1 agent with a session now)"),
        "{}",
        ask.text
    );
    let v = owner.get("/api/v1/agents?session=active").await.json();
    assert_eq!(v["total"], 1, "asked, not done");
}

/// Signing out says so; a browser whose session an administrator ended is told why, as
/// information (not success), with its e-mail filled in.
async fn sign_in_page_tells_why_as_information(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let c = app.signed_in("ann@acme.test", PASSWORD).await;
    let r = c
        .post_form("/logout", &[])
        .await
        .expect_status(StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/login?reason=logout"));
    let page = c
        .get("/login?reason=logout")
        .await
        .expect_status(StatusCode::OK);
    assert!(
        page.text
            .contains("<p class=\"info\" role=\"status\">You have signed out.</p>"),
        "{}",
        page.text
    );

    let c = app.signed_in("ann@acme.test", PASSWORD).await;
    let owner = app.primary_client().await;
    owner
        .delete(&format!("/api/v1/agents/{}/sessions", ann.id))
        .await
        .expect_status(StatusCode::OK);
    let page = c.get("/login").await.expect_status(StatusCode::OK);
    assert!(
        page.text.contains(
            "<p class=\"info\" role=\"status\">Your session was ended by an administrator. Please sign in again.</p>"
        ),
        "{}",
        page.text
    );
    assert!(!page.text.contains("class=\"notice\""));
    assert!(
        page.text.contains("value=\"ann@acme.test\""),
        "{}",
        page.text
    );
}

/// The audit page shows readable kinds (the code stays in the title, the API and the CSV).
async fn the_audit_page_reads_as_words(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.primary_client().await;
    let page = owner
        .get("/security/audit")
        .await
        .expect_status(StatusCode::OK)
        .text;
    assert!(
        page.contains("<td title=\"signin\">Signed in</td>"),
        "{page}"
    );
    assert!(
        page.contains("<option value=\"webhook.created\" >Webhook added</option>"),
        "{page}"
    );
    let v = owner
        .get("/api/v1/audit?kind=signin")
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v["items"][0]["kind"], "signin");
}

/// A refusal names the permission as the pages do ("Team → Administrators"), not by its code;
/// the JSON API keeps its `forbidden` code.
async fn a_refusal_names_the_permission_in_words(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_admin("Sue", "sue@acme.test", &["team.agents"])
        .await;
    let sue = app.signed_in("sue@acme.test", PASSWORD).await;
    for (path, words, code) in [
        ("/team/admins", "Team → Administrators", "team.admins"),
        ("/security", "Security settings", "security"),
        ("/security/audit", "Audit log", "audit"),
    ] {
        let page = sue
            .get(path)
            .await
            .expect_status(StatusCode::FORBIDDEN)
            .text;
        assert!(
            page.contains(&format!("You need the “{words}” permission")),
            "{path}: {page}"
        );
        assert!(
            !page.contains(&format!("the {code} permission")),
            "{path} shows the code: {page}"
        );
    }
    let msg = sue
        .get("/api/v1/admins")
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert!(msg.contains("Team → Administrators"), "{msg}");
}

backend_tests!(
    a_refusal_names_the_permission_in_words,
    the_audit_page_reads_as_words,
    sign_in_page_tells_why_as_information,
    destructive_forms_ask_first_without_javascript,
    bulk_confirmation_names_people,
    people_with_several_sessions_appear_on_exactly_one_page,
    ending_on_the_last_filtered_page_lands_on_the_new_last_page,
    bulk_notice_counts_sessions_and_people,
);
