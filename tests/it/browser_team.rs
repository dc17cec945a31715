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
