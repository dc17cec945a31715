//! Browser tests, the Agents page: session icons and their tooltips, ending one session (the
//! agent's tab signs out live), bulk ending, and the screenshots of the page.

use std::time::Instant;

use serde_json::json;

use deskward::domain::device;
use deskward::domain::member::{AgentStatus, MemberKind};
use deskward::domain::time::{human, rfc3339};

use crate::browser::{
    App, CHROME_WINDOWS_UA, ChromeDriver, ENDED_BY_ADMIN, FIREFOX_LINUX_UA, NO_SESSION_TIP,
    PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, WAIT, card, card_names, eventually, save_screenshot,
};
use crate::db::Backend;

// The flows that matter most run on PostgreSQL too (issue 32): the same body, both databases.
backend_tests!(
    ending_a_session_signs_the_agent_out_live,
    bulk_ending_sessions_of_selected_agents
);

/// Red icon: exact tooltip, not clickable. Green icon: start time, device and raw user agent,
/// IP address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_page_shows_session_icons_with_tooltips() {
    let app = App::spawn().await;
    let ada = app.agent("Ada Active", "ada@acme.test").await;
    let nina = app.agent("Nina Nosession", "nina@acme.test").await;
    let s = app
        .login(
            &ada.email,
            PASSWORD,
            MemberKind::Agent,
            "203.0.113.7",
            CHROME_WINDOWS_UA,
        )
        .await;

    let driver = ChromeDriver::start().await;
    let admin = driver.browser().await;
    assert_eq!(
        admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await,
        "/team/agents"
    );
    assert_eq!(card_names(&admin).await, ["Ada Active", "Nina Nosession"]);

    // Red: a span (not a link), its tooltip hidden until the icon has focus, then exact.
    let red = format!("{} .icons .sess.none", card(&nina));
    let red_tip = format!("tip-s-{}", nina.id);
    assert_eq!(admin.find(&red).await.tag_name().await.unwrap(), "span");
    assert!(
        !admin
            .exists(&format!("{} .icons a.sess", card(&nina)))
            .await
    );
    assert_eq!(
        admin
            .find(&red)
            .await
            .attr("aria-describedby")
            .await
            .unwrap()
            .as_deref(),
        Some(red_tip.as_str())
    );
    assert!(
        !admin.tip_visible(&red_tip).await,
        "the red tooltip shows before hover/focus"
    );
    admin
        .js(
            "document.querySelector(arguments[0]).focus();",
            vec![json!(red)],
        )
        .await;
    eventually(
        "the red icon's tooltip to show on focus",
        WAIT,
        async || Ok(admin.tip_visible(&red_tip).await.then_some(())),
    )
    .await;
    assert_eq!(admin.text(&format!("#{red_tip}")).await, NO_SESSION_TIP);
    assert_eq!(
        admin
            .find(&format!("#{red_tip}"))
            .await
            .text()
            .await
            .unwrap()
            .trim(),
        NO_SESSION_TIP,
        "the visible text of the red tooltip"
    );
    // Not clickable: a click neither opens the dialog nor navigates.
    admin
        .click_does_nothing(
            &red,
            &format!("{} .icons a.sess.active", card(&ada)),
            "Ada Active",
        )
        .await;
    assert_eq!(admin.path().await, "/team/agents");
    admin.js("document.activeElement.blur();", vec![]).await;

    // Green: a link; hovering it with the mouse shows the session's details.
    let green = format!("{} .icons a.sess.active", card(&ada));
    let green_tip = format!("tip-s-{}", ada.id);
    assert!(
        !admin.tip_visible(&green_tip).await,
        "the green tooltip shows before hover"
    );
    admin.hover(&green).await;
    eventually(
        "the green icon's tooltip to show on hover",
        WAIT,
        async || Ok(admin.tip_visible(&green_tip).await.then_some(())),
    )
    .await;
    let shown = admin
        .find(&format!("#{green_tip}"))
        .await
        .text()
        .await
        .expect("tooltip text");
    let device_name = device::describe(CHROME_WINDOWS_UA);
    assert_eq!(device_name, "Chrome 131 on Windows 10");
    // With JavaScript the start is in the viewer's time zone with a relative hint; UTC (what
    // the page says without JavaScript) stays on hover.
    let time = admin.find(&format!("#{green_tip} time")).await;
    assert_eq!(
        time.attr("title").await.unwrap().as_deref(),
        Some(human(s.started_at).as_str())
    );
    let local = time.text().await.unwrap();
    assert!(
        local.ends_with("(just now)") || local.ends_with(" min ago)"),
        "local time with a relative hint: {local}"
    );
    for expected in [
        format!("Session start: {local}"),
        format!("User agent: {device_name}"),
        CHROME_WINDOWS_UA.to_string(),
        "IP address: 203.0.113.7".to_string(),
    ] {
        assert!(
            shown.contains(&expected),
            "green tooltip lacks {expected:?}:\n{shown}"
        );
    }
    let datetime = admin
        .find(&format!("#{green_tip} time"))
        .await
        .attr("datetime")
        .await
        .unwrap();
    assert_eq!(datetime.as_deref(), Some(rfc3339(s.started_at).as_str()));
    // The red tooltip is not shown meanwhile.
    assert!(!admin.tip_visible(&red_tip).await);

    admin.close().await;
}

/// The admin ends an agent's session through the confirmation dialog; the agent's open tab
/// lands on the sign-in page by itself, told why.
async fn ending_a_session_signs_the_agent_out_live(backend: Backend) {
    let app = App::spawn_on(backend).await;
    let sam = app.agent("Sam Signedin", "sam@acme.test").await;

    let driver = ChromeDriver::start().await;
    let agent = driver.browser().await;
    assert_eq!(agent.sign_in(&app, &sam.email, PASSWORD).await, "/agent");
    app.wait_tab_connected(&sam).await;
    assert_eq!(app.sessions(&sam).await.len(), 1);

    let admin = driver.browser().await;
    admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let green = format!("{} a.sess.active", card(&sam));
    admin.find(&green).await;
    assert!(!admin.dialog_open().await);
    admin.click(&green).await;
    admin
        .wait_js(
            "the confirmation dialog to open",
            "return document.getElementById('confirm-dialog').open;",
            vec![],
        )
        .await;
    assert_eq!(admin.text("#confirm-title").await, "End session?");
    let question = admin.text("#confirm-text").await;
    assert!(question.contains("Sam Signedin"), "dialog text: {question}");
    assert_eq!(
        admin.path().await,
        "/team/agents",
        "the icon navigated instead of asking"
    );
    assert!(agent.path().await.starts_with("/agent"));

    admin.click("#confirm-ok").await;
    let clicked = Instant::now();
    admin
        .wait_path("the list after ending the session", |p| {
            p.starts_with("/team/agents?") && p.contains("done=ended")
        })
        .await;
    assert_eq!(
        admin.text("main .notice").await,
        "1 session of 1 person ended. They have been signed out."
    );
    admin.find(&format!("{} .sess.none", card(&sam))).await;
    assert!(!admin.exists(&green).await, "the card is still green");

    // The agent's tab, untouched, is sent to the sign-in page and told why.
    eventually(
        "the agent's tab to reach the sign-in page",
        WAIT,
        async || {
            let u = agent.c.current_url().await?;
            Ok((u.path() == "/login").then_some(()))
        },
    )
    .await;
    // Pushed, not polled (the wait above is bounded by WAIT); how long it took is a figure for
    // BENCHMARKS.md, not a test's business.
    eprintln!(
        "the agent was signed out {:?} after the click",
        clicked.elapsed()
    );
    // Information, not success; and the e-mail is filled in, the password focused.
    assert_eq!(agent.text("main .info").await, ENDED_BY_ADMIN);
    assert!(!agent.exists("main .notice").await);
    assert!(agent.exists("input[name=email]").await, "no sign-in form");
    assert_eq!(
        agent
            .js(
                "return document.querySelector('input[name=email]').value;",
                vec![]
            )
            .await,
        json!(sam.email)
    );
    assert_eq!(
        agent
            .js("return document.activeElement.name;", vec![])
            .await,
        json!("password")
    );
    assert!(app.sessions(&sam).await.is_empty());

    // Navigating again stays on the sign-in page.
    agent.goto(&app.url("/agent")).await;
    assert_eq!(agent.path().await, "/login");
    agent.goto(&app.url("/team/agents")).await;
    assert_eq!(agent.path().await, "/login");
    assert!(agent.exists("input[name=password]").await);

    agent.close().await;
    admin.close().await;
}

/// Ticking agents shows "End session"; confirming ends every selected agent's sessions.
async fn bulk_ending_sessions_of_selected_agents(backend: Backend) {
    let app = App::spawn_on(backend).await;
    let mut agents = Vec::new();
    for (name, email) in [
        ("Bea Bulk", "bea@acme.test"),
        ("Cal Bulk", "cal@acme.test"),
        ("Dot Bulk", "dot@acme.test"),
        ("Eli Bulk", "eli@acme.test"),
        ("Fay Bulk", "fay@acme.test"),
    ] {
        agents.push(app.agent(name, email).await);
    }
    // Four signed in, Fay not; Bea, Cal and Dot get selected, Eli stays signed in.
    for a in &agents[..4] {
        app.login(
            &a.email,
            PASSWORD,
            MemberKind::Agent,
            "192.0.2.20",
            FIREFOX_LINUX_UA,
        )
        .await;
    }
    let selected = &agents[..3];
    let eli = &agents[3];
    let fay = &agents[4];

    let driver = ChromeDriver::start().await;
    let admin = driver.browser().await;
    admin.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    admin.find("#team-list").await;
    for a in &agents[..4] {
        assert!(
            admin.exists(&format!("{} a.sess.active", card(a))).await,
            "{} not green",
            a.name
        );
    }
    assert!(admin.exists(&format!("{} .sess.none", card(fay))).await);
    let bulk = admin.find("#bulk-end").await;
    assert!(
        !bulk.is_displayed().await.unwrap(),
        "End session shows with nothing selected"
    );

    for a in selected {
        admin.click(&format!("{} input.pick", card(a))).await;
    }
    admin
        .wait_js(
            "three boxes ticked",
            "return document.querySelectorAll('input.pick:checked').length === 3;",
            vec![],
        )
        .await;
    eventually("the End session link to appear", WAIT, async || {
        Ok(admin
            .find("#bulk-end")
            .await
            .is_displayed()
            .await?
            .then_some(()))
    })
    .await;
    assert_eq!(admin.text("#bulk-end").await, "End session");
    assert_eq!(admin.text("#selected-count").await, "3 selected");

    admin.click("#bulk-end").await;
    admin
        .wait_js(
            "the bulk confirmation dialog",
            "return document.getElementById('confirm-dialog').open;",
            vec![],
        )
        .await;
    assert_eq!(
        admin.text("#confirm-title").await,
        "End sessions of the selected agents?"
    );
    assert!(
        admin
            .text("#confirm-text")
            .await
            .contains("3 selected agents")
    );
    admin.click("#confirm-ok").await;
    admin
        .wait_path("the list after the bulk end", |p| p.contains("done=ended"))
        .await;
    let notice = admin.text("main .notice").await;
    assert_eq!(
        notice,
        "3 sessions of 3 people ended. Those people have been signed out."
    );

    for a in selected {
        admin.find(&format!("{} .icons .sess.none", card(a))).await;
        assert!(
            !admin.exists(&format!("{} .sess.active", card(a))).await,
            "{} still green",
            a.name
        );
        assert!(
            app.sessions(a).await.is_empty(),
            "{} still has a session",
            a.name
        );
    }
    assert!(
        admin.exists(&format!("{} a.sess.active", card(eli))).await,
        "Eli was not selected"
    );
    assert_eq!(app.sessions(eli).await.len(), 1);
    assert!(admin.exists(&format!("{} .sess.none", card(fay))).await);

    admin.close().await;
}

/// Screenshots of the Agents page for the README: both icon colours, then a tooltip open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_of_the_agents_page() {
    let app = App::spawn().await;
    let mut shown = None;
    for (name, email, signed_in, online, ua, ip) in [
        (
            "Alex Morgan",
            "alex@acme.test",
            true,
            true,
            CHROME_WINDOWS_UA,
            "203.0.113.24",
        ),
        ("Blair Chen", "blair@acme.test", false, false, "", ""),
        (
            "Casey Ortiz",
            "casey@acme.test",
            true,
            false,
            FIREFOX_LINUX_UA,
            "198.51.100.17",
        ),
        ("Devon Patel", "devon@acme.test", false, false, "", ""),
        (
            "Emery Novak",
            "emery@acme.test",
            true,
            true,
            CHROME_WINDOWS_UA,
            "192.0.2.45",
        ),
        ("Frankie Silva", "frankie@acme.test", false, false, "", ""),
    ] {
        let m = app.agent(name, email).await;
        if signed_in {
            app.login(email, PASSWORD, MemberKind::Agent, ip, ua).await;
        }
        let status = if online {
            AgentStatus::Online
        } else {
            AgentStatus::Offline
        };
        app.svc
            .set_own_status(&app.agent_actor(&m), status)
            .await
            .expect("set status");
        if shown.is_none() {
            shown = Some(m);
        }
    }
    // A linked pair, so the chain icon is in the picture too.
    app.add(
        MemberKind::Admin,
        "Devon Patel",
        "devon@acme.test",
        "admin password 123",
        &["team.agents"],
    )
    .await;
    let alex = shown.expect("an agent to hover");

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.find("#team-list li.card").await;
    assert!(b.exists("#team-list .sess.none").await && b.exists("#team-list a.sess.active").await);
    b.mouse_away().await;

    save_screenshot("agents.png", &b.c.screenshot().await.expect("screenshot"));

    b.hover(&format!("{} a.sess.active", card(&alex))).await;
    let tip = format!("tip-s-{}", alex.id);
    eventually("the tooltip before the screenshot", WAIT, async || {
        Ok(b.tip_visible(&tip).await.then_some(()))
    })
    .await;
    save_screenshot(
        "agents-tooltip.png",
        &b.c.screenshot().await.expect("screenshot"),
    );

    b.close().await;
}
