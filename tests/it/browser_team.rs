//! Browser tests of the Team pages with real data: tooltips that can be dismissed (WCAG
//! 1.4.13), that stay inside the window, and that a click does not leave stuck open.

use serde_json::json;

use deskward::domain::member::MemberKind;

use crate::browser::{
    App, CHROME_WINDOWS_UA, ChromeDriver, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, WAIT,
    eventually, truthy,
};

/// WebDriver's code for the Escape key.
const ESCAPE: &str = "\u{e00c}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tooltips_dismiss_with_escape_stay_in_the_window_and_never_stick() {
    let app = App::spawn().await;
    let mut agents = Vec::new();
    for i in 0..16 {
        let a = app
            .agent(&format!("Agent {i:02}"), &format!("a{i:02}@acme.test"))
            .await;
        agents.push(a);
    }
    let last = agents.last().unwrap().clone();
    app.login(
        &last.email,
        PASSWORD,
        MemberKind::Agent,
        "203.0.113.9",
        CHROME_WINDOWS_UA,
    )
    .await;
    let quiet = agents[0].clone();

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url("/team/agents")).await;

    // Escape hides the tooltip under the mouse; it shows again on the next hover.
    let green = format!("#member-{} .icons .sess.active", last.id);
    let green_tip = format!("tip-s-{}", last.id);
    b.hover(&green).await;
    eventually("the green tooltip on hover", WAIT, async || {
        Ok(b.tip_visible(&green_tip).await.then_some(()))
    })
    .await;
    b.c.active_element()
        .await
        .unwrap()
        .send_keys(ESCAPE)
        .await
        .unwrap();
    eventually("Escape to hide the tooltip", WAIT, async || {
        Ok((!b.tip_visible(&green_tip).await).then_some(()))
    })
    .await;
    b.mouse_away().await;
    b.hover(&green).await;
    eventually("the tooltip back on the next hover", WAIT, async || {
        Ok(b.tip_visible(&green_tip).await.then_some(()))
    })
    .await;
    b.mouse_away().await;

    // Near the bottom of the window the tooltip opens upward and stays inside.
    let inside = b
        .js(
            "const el = document.querySelector(arguments[0]);
             window.scrollTo(0, 0);
             const r0 = el.getBoundingClientRect();
             window.scrollBy(0, r0.bottom - window.innerHeight + 4);
             el.focus({preventScroll: true});
             const tip = document.getElementById(arguments[1]);
             const r = tip.getBoundingClientRect();
             return {top: r.top, bottom: r.bottom, height: window.innerHeight,
                     up: el.closest('.tip-wrap').classList.contains('tip-up')};",
            vec![json!(green), json!(green_tip)],
        )
        .await;
    assert!(truthy(&inside["up"]), "opens upward: {inside}");
    assert!(
        inside["top"].as_f64().unwrap() >= 0.0
            && inside["bottom"].as_f64().unwrap() <= inside["height"].as_f64().unwrap(),
        "the tooltip leaves the window: {inside}"
    );
    b.js("document.activeElement.blur();", vec![]).await;

    // A click on a red icon does nothing, and its tooltip goes when the mouse does.
    let red = format!("#member-{} .icons .sess.none", quiet.id);
    let red_tip = format!("tip-s-{}", quiet.id);
    b.hover(&red).await;
    b.click(&red).await;
    b.mouse_away().await;
    eventually("the red tooltip to go with the mouse", WAIT, async || {
        Ok((!b.tip_visible(&red_tip).await).then_some(()))
    })
    .await;
    b.close().await;
}

/// The dialogs say what they will end: the sessions behind a green icon (and that this browser
/// is among them on one's own card), the people of a bulk ending (or that none has a
/// session); disabling and ending one's own session ask first too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialogs_name_what_they_end_and_destructive_forms_ask_first() {
    let app = App::spawn().await;
    let ada = app.agent("Ada Active", "ada@acme.test").await;
    for ip in ["203.0.113.7", "198.51.100.23", "192.0.2.10", "192.0.2.11"] {
        app.login(
            &ada.email,
            PASSWORD,
            MemberKind::Agent,
            ip,
            CHROME_WINDOWS_UA,
        )
        .await;
    }
    let mut quiet = Vec::new();
    for i in 0..11 {
        quiet.push(
            app.agent(&format!("Quiet {i:02}"), &format!("q{i:02}@acme.test"))
                .await,
        );
    }

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.goto(&app.url("/team/agents")).await;

    // The green icon's dialog lists the sessions its tooltip shows (three), each fact on a
    // line of its own and the device in words (the raw user agent stays in the tooltip and on
    // the profile), then a link to the profile for the rest.
    b.click(&format!("#member-{} .icons .sess.active", ada.id))
        .await;
    assert!(b.dialog_open().await);
    let items = b.texts("#confirm-list li").await;
    assert_eq!(items.len(), 4, "{items:?}");
    let ips: Vec<&str> = ["203.0.113.7", "198.51.100.23", "192.0.2.10", "192.0.2.11"]
        .into_iter()
        .filter(|ip| {
            items[..3]
                .iter()
                .any(|i| i.contains(&format!("IP address: {ip}")))
        })
        .collect();
    assert_eq!(ips.len(), 3, "{items:?}");
    let lines = b
        .js(
            "return Array.from(document.querySelectorAll('#confirm-list li'))
               .slice(0, 3).map(li => Array.from(li.querySelectorAll('.line'))
               .map(d => d.textContent));",
            vec![],
        )
        .await;
    for session in lines.as_array().unwrap() {
        let session: Vec<&str> = session
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert!(session[0].starts_with("Session start: "), "{session:?}");
        assert_eq!(
            session[1], "User agent: Chrome 131 on Windows 10",
            "{session:?}"
        );
        assert!(session[2].starts_with("IP address: "), "{session:?}");
        assert_eq!(*session.last().unwrap(), "Signed in with: password");
    }
    assert!(
        !b.text("#confirm-list").await.contains("Mozilla/5.0"),
        "the raw user agent in the dialog"
    );
    assert_eq!(items[3], "and 1 more — open the profile");
    let more = b
        .find("#confirm-list li:last-child a")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        more.ends_with(&format!("/team/agents/{}", ada.id)),
        "{more}"
    );
    assert!(!b.exists("#confirm-warning:not([hidden])").await);
    b.click("#confirm-cancel").await;

    // Bulk with nobody signed in: nothing to end, nothing to confirm.
    b.click(&format!("#member-{} input.pick", quiet[0].id))
        .await;
    b.click("#bulk-end").await;
    assert!(b.dialog_open().await);
    assert_eq!(b.text("#confirm-title").await, "Nothing to end");
    assert!(
        b.exists("#confirm-ok[hidden]").await,
        "no button to confirm"
    );
    b.click("#confirm-cancel").await;

    // Bulk with everyone: ten names, then "and 2 more".
    b.click("#select-all").await;
    b.click("#bulk-end").await;
    assert!(b.dialog_open().await);
    let names = b.texts("#confirm-list li").await;
    assert_eq!(names.len(), 11, "{names:?}");
    assert_eq!(names[0], "Ada Active");
    assert_eq!(names[10], "and 2 more");
    assert!(
        b.text("#confirm-text")
            .await
            .contains("(1 agent with a session now)")
    );
    b.click("#confirm-cancel").await;

    // One's own card: the dialog warns that this browser is included.
    b.goto(&app.url("/team/admins")).await;
    b.click(&format!("#member-{} .icons .sess.active", app.primary.id))
        .await;
    assert!(b.dialog_open().await);
    assert_eq!(
        b.text("#confirm-warning").await,
        "This includes the session in this browser: you will be signed out here too."
    );
    b.click("#confirm-cancel").await;

    // Disabling asks first, then disables.
    b.goto(&app.url(&format!("/team/agents/{}", quiet[1].id)))
        .await;
    b.click("form[action$='/disabled'] button[type=submit]")
        .await;
    assert!(b.dialog_open().await, "disabling asks first");
    assert_eq!(b.text("#confirm-title").await, "Disable account?");
    assert!(!app.member(&quiet[1].id).await.disabled);
    b.click("#confirm-ok").await;
    b.wait_path("the profile after disabling", |p| {
        p.contains("done=disabled")
    })
    .await;
    assert!(app.member(&quiet[1].id).await.disabled);

    // My sessions: "End this session" asks, then ends that one.
    let other = app
        .login(
            PRIMARY_EMAIL,
            PRIMARY_PASSWORD,
            MemberKind::Admin,
            "192.0.2.50",
            CHROME_WINDOWS_UA,
        )
        .await;
    b.goto(&app.url("/me/sessions")).await;
    b.click(&format!(
        "form[action$='/me/sessions/{}/end'] button",
        other.id
    ))
    .await;
    assert!(b.dialog_open().await);
    assert_eq!(b.text("#confirm-title").await, "End this session?");
    assert!(b.text("#confirm-text").await.contains("192.0.2.50"));
    b.click("#confirm-ok").await;
    eventually("the other session to end", WAIT, async || {
        Ok(app
            .sessions(&app.primary)
            .await
            .iter()
            .all(|s| s.id != other.id)
            .then_some(()))
    })
    .await;
    b.close().await;
}

/// Names and e-mails as long as allowed (100 characters, no spaces) wrap or truncate: no page
/// scrolls sideways at 1280 px nor on a 390 px phone screen, and the full text is there on
/// hover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_names_never_make_a_page_scroll_sideways() {
    let app = App::spawn().await;
    let name = "N".repeat(100);
    let email = format!("{}@{}.test", "e".repeat(64), "d".repeat(30));
    let long = app.agent(&name, &email).await;
    app.login(
        &email,
        PASSWORD,
        MemberKind::Agent,
        "203.0.113.9",
        CHROME_WINDOWS_UA,
    )
    .await;
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let mut wide = Vec::new();
    for (w, h) in [(1280u32, 900u32), (390, 844)] {
        b.c.set_window_size(w, h).await.expect("resize the window");
        for path in [
            "/team/agents".to_string(),
            format!("/team/agents/{}", long.id),
            format!("/team/agents/{}/end-sessions", long.id),
            "/security/audit".to_string(),
            "/me/sessions".to_string(),
            "/security".to_string(),
        ] {
            b.goto(&app.url(&path)).await;
            // How much too wide, and the innermost elements that stick out (to say what).
            let probe = b
                .js(
                    "const d = document.documentElement;
                     const out = [...document.querySelectorAll('main *, header *')]
                       .filter(e => e.getBoundingClientRect().right > d.clientWidth + 0.5)
                       .filter(e => ![...e.children].some(c =>
                           c.getBoundingClientRect().right > d.clientWidth + 0.5))
                       .slice(0, 3)
                       .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                           + (e.className ? '.' + String(e.className).split(' ').join('.') : ''));
                     return [d.scrollWidth - d.clientWidth, out];",
                    vec![],
                )
                .await;
            let over = probe[0].as_i64().unwrap_or(0);
            if over > 0 {
                wide.push(format!(
                    "{path} at {w} px: {over} px too wide ({})",
                    probe[1]
                ));
            }
        }
    }
    b.c.set_window_size(1280, 900).await.unwrap();
    b.goto(&app.url("/team/agents")).await;
    let title = b
        .js(
            "const e = document.querySelector(arguments[0]);
             return [e.getAttribute('title'), e.textContent.trim()];",
            vec![json!(format!("#member-{} .email", long.id))],
        )
        .await;
    assert_eq!(title[0], json!(email), "the full e-mail on hover");
    assert!(
        wide.is_empty(),
        "pages scroll sideways:\n{}",
        wide.join("\n")
    );
    b.close().await;
}

/// A tooltip with three sessions fits in the window wherever its icon is: in a short window
/// with the icon mid-screen it fits on neither side, so it takes the roomier one and scrolls
/// there (it was cut off at the top or the bottom).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tall_tooltip_stays_inside_the_window() {
    let app = App::spawn().await;
    let mut agents = Vec::new();
    for i in 0..6 {
        agents.push(
            app.agent(&format!("Agent {i}"), &format!("a{i}@acme.test"))
                .await,
        );
    }
    let busy = &agents[3];
    for ip in ["203.0.113.7", "198.51.100.23", "192.0.2.10"] {
        app.login(
            &busy.email,
            PASSWORD,
            MemberKind::Agent,
            ip,
            CHROME_WINDOWS_UA,
        )
        .await;
    }
    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    b.c.set_window_size(1280, 420)
        .await
        .expect("resize the window");
    b.goto(&app.url("/team/agents")).await;
    let icon = format!("#member-{} .icons .sess.active", busy.id);
    b.hover(&icon).await;
    let tip = format!("tip-s-{}", busy.id);
    eventually("the tooltip to show", WAIT, async || {
        Ok(b.tip_visible(&tip).await.then_some(()))
    })
    .await;
    let (top, bottom, height, scroll, window) = {
        let v = b
            .js(
                "const t = document.getElementById(arguments[0]).getBoundingClientRect();
                 const e = document.getElementById(arguments[0]);
                 return [t.top, t.bottom, t.height, e.scrollHeight, window.innerHeight];",
                vec![json!(tip)],
            )
            .await;
        let n = |i: usize| v[i].as_f64().unwrap();
        (n(0), n(1), n(2), n(3), n(4))
    };
    assert!(
        top >= 0.0 && bottom <= window,
        "the tooltip runs from {top} to {bottom} in a window {window} px high"
    );
    // Everything is still there, to scroll to.
    assert!(scroll >= height, "{scroll} {height}");
    assert_eq!(
        b.js(
            "return document.getElementById(arguments[0]).querySelectorAll('.tip-session').length;",
            vec![json!(tip)]
        )
        .await,
        json!(3)
    );
    b.close().await;
}
