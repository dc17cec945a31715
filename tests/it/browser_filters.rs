//! Browser tests, the Team list's filters: they narrow the list, live in the URL and survive
//! paging.

use serde_json::json;

use deskward::domain::member::{AgentStatus, MemberKind};

use crate::browser::{
    App, Browser, CHROME_WINDOWS_UA, ChromeDriver, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD,
    card_names,
};

/// Eight agents: name, signed in, Online.
const FILTER_PEOPLE: [(&str, bool, bool); 8] = [
    ("Amy Night", true, true),
    ("Ben Day", true, false),
    ("Cat Night", true, false),
    ("Dan Day", true, true),
    ("Eve Night", true, true),
    ("Fin Night", false, false),
    ("Gil Day", false, false),
    ("Hal Day", false, false),
];

async fn filter_fixtures(app: &App) {
    for (name, signed_in, online) in FILTER_PEOPLE {
        let first = name.split(' ').next().unwrap_or(name).to_lowercase();
        let m = app.agent(name, &format!("{first}@acme.test")).await;
        if signed_in {
            app.login(
                &m.email,
                PASSWORD,
                MemberKind::Agent,
                "192.0.2.30",
                CHROME_WINDOWS_UA,
            )
            .await;
        }
        let status = if online {
            AgentStatus::Online
        } else {
            AgentStatus::Offline
        };
        app.svc
            .set_own_status(&app.agent_actor(&m), status)
            .await
            .expect("set the agent's status");
    }
}

/// Fills the filter form (search, session and status by their visible labels) and applies it.
async fn apply_filters(b: &Browser, session: &str, status: &str, q: &str) {
    let search = b.find("form.filters input[name=q]").await;
    search.clear().await.expect("clear the search");
    if !q.is_empty() {
        search.send_keys(q).await.expect("type the search");
    }
    b.find("form.filters select[name=session]")
        .await
        .select_by_label(session)
        .await
        .expect("pick the session filter");
    b.find("form.filters select[name=status]")
        .await
        .select_by_label(status)
        .await
        .expect("pick the status filter");
    let before = b.path().await;
    b.click("form.filters button[type=submit]").await;
    b.wait_path("the filtered list", |p| p != before).await;
}

/// Session, status and search filters narrow the list, combine, and live in the URL: the
/// same URL opened elsewhere shows the same list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_narrow_the_list_and_live_in_the_url() {
    let app = App::spawn().await;
    filter_fixtures(&app).await;

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    assert_eq!(card_names(&b).await.len(), 8);
    assert_eq!(b.text("#team-list .count").await, "8 agents");

    apply_filters(&b, "Active session", "All", "").await;
    let url = b.path().await;
    assert!(url.contains("session=active"), "{url}");
    assert_eq!(
        card_names(&b).await,
        ["Amy Night", "Ben Day", "Cat Night", "Dan Day", "Eve Night"]
    );
    assert_eq!(b.texts("#team-list li.card .sess.active").await.len(), 5);
    assert_eq!(b.texts("#team-list li.card .sess.none").await.len(), 0);
    assert_eq!(
        b.text("#team-list .count").await,
        "5 agents match the filters"
    );

    apply_filters(&b, "No active session", "All", "").await;
    let url = b.path().await;
    assert!(url.contains("session=none"), "{url}");
    assert_eq!(card_names(&b).await, ["Fin Night", "Gil Day", "Hal Day"]);
    assert_eq!(b.texts("#team-list li.card .sess.none").await.len(), 3);
    assert_eq!(b.texts("#team-list li.card .sess.active").await.len(), 0);

    apply_filters(&b, "All", "Online", "").await;
    assert!(b.path().await.contains("status=online"));
    assert_eq!(card_names(&b).await, ["Amy Night", "Dan Day", "Eve Night"]);
    assert_eq!(
        b.texts("#team-list li.card .badge.status").await,
        ["Online"; 3]
    );

    apply_filters(&b, "All", "Offline", "night").await;
    assert_eq!(card_names(&b).await, ["Cat Night", "Fin Night"]);

    apply_filters(&b, "Active session", "Online", "night").await;
    let url = b.path().await;
    for part in ["q=night", "session=active", "status=online"] {
        assert!(url.contains(part), "{url} lacks {part}");
    }
    assert_eq!(card_names(&b).await, ["Amy Night", "Eve Night"]);
    assert_eq!(
        b.text("#team-list .count").await,
        "2 agents match the filters"
    );
    // The form shows the filters the page came from.
    let shown = b
        .js(
            "const f = document.querySelector('form.filters');
             return [f.q.value, f.session.value, f.status.value];",
            vec![],
        )
        .await;
    assert_eq!(shown, json!(["night", "active", "online"]));

    // The URL alone reproduces the list: open it in another browser.
    let other = driver.browser().await;
    other.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    other.goto(&app.url(&url)).await;
    assert_eq!(card_names(&other).await, ["Amy Night", "Eve Night"]);
    let shown = other
        .js(
            "const f = document.querySelector('form.filters');
             return [f.q.value, f.session.value, f.status.value];",
            vec![],
        )
        .await;
    assert_eq!(shown, json!(["night", "active", "online"]));

    // Clearing the filters shows everyone again.
    other.click("form.filters a[href='/team/agents']").await;
    other
        .wait_path("the unfiltered list", |p| p == "/team/agents")
        .await;
    assert_eq!(card_names(&other).await.len(), 8);

    other.close().await;
    b.close().await;
}

/// Filters survive paging: the pager's links keep them (two per page here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_survive_paging() {
    let app = App::spawn().await;
    filter_fixtures(&app).await;

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;

    b.goto(&app.url("/team/agents?session=active&per_page=2"))
        .await;
    assert_eq!(card_names(&b).await, ["Amy Night", "Ben Day"]);
    assert_eq!(b.text("nav.pager span").await, "Page 1 of 3");
    assert!(!b.exists("nav.pager a[rel=prev]").await);
    b.click("nav.pager a[rel=next]").await;
    let p2 = b.wait_path("page 2", |p| p.contains("page=2")).await;
    assert!(
        p2.contains("session=active") && p2.contains("per_page=2"),
        "{p2}"
    );
    assert_eq!(card_names(&b).await, ["Cat Night", "Dan Day"]);
    assert_eq!(b.text("nav.pager span").await, "Page 2 of 3");
    assert_eq!(
        b.js(
            "return document.querySelector('form.filters').session.value;",
            vec![]
        )
        .await,
        json!("active")
    );
    b.click("nav.pager a[rel=next]").await;
    let p3 = b.wait_path("page 3", |p| p.contains("page=3")).await;
    assert!(
        p3.contains("session=active") && p3.contains("per_page=2"),
        "{p3}"
    );
    assert_eq!(card_names(&b).await, ["Eve Night"]);
    assert!(!b.exists("nav.pager a[rel=next]").await);
    let prev = b
        .find("nav.pager a[rel=prev]")
        .await
        .attr("href")
        .await
        .unwrap();
    let prev = prev.unwrap_or_default();
    assert!(
        prev.contains("session=active") && prev.contains("per_page=2") && prev.contains("page=2"),
        "{prev}"
    );

    // Several filters at once, including the search.
    b.goto(&app.url("/team/agents?q=night&session=active&status=online&per_page=1"))
        .await;
    assert_eq!(card_names(&b).await, ["Amy Night"]);
    assert_eq!(b.text("nav.pager span").await, "Page 1 of 2");
    b.click("nav.pager a[rel=next]").await;
    let p = b
        .wait_path("page 2 of the combined filters", |p| p.contains("page=2"))
        .await;
    for part in ["q=night", "session=active", "status=online", "per_page=1"] {
        assert!(p.contains(part), "{p} lacks {part}");
    }
    assert_eq!(card_names(&b).await, ["Eve Night"]);
    assert_eq!(b.texts("#team-list li.card .sess.active").await.len(), 1);

    b.close().await;
}
