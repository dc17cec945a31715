//! Browser tests, people across accounts and roles: linked accounts open each other and end
//! the linked session; a sub-administrator cannot end the primary administrator's session.

use deskward::domain::member::MemberKind;
use deskward::service::PersonPatch;

use crate::browser::{
    App, CHROME_WINDOWS_UA, ChromeDriver, FIREFOX_LINUX_UA, PASSWORD, PRIMARY_EMAIL,
    PRIMARY_PASSWORD, WAIT, card, eventually,
};

/// Linked agent and sub-administrator (same e-mail): the chain icon's tooltip and link, the
/// comparison on the profile, and ending the linked account's sessions from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_accounts_open_each_other_and_end_the_linked_session() {
    let app = App::spawn().await;
    let lee_agent = app
        .add(
            MemberKind::Agent,
            "Lee Agent",
            "lee@acme.test",
            "agent password 123",
            &[],
        )
        .await;
    let lee_admin = app
        .add(
            MemberKind::Admin,
            "Lee Admin",
            "LEE@acme.test",
            "admin password 123",
            &["team.agents"],
        )
        .await;
    let other = app.agent("Mo Other", "mo@acme.test").await;
    app.login(
        "lee@acme.test",
        "admin password 123",
        MemberKind::Admin,
        "198.51.100.4",
        CHROME_WINDOWS_UA,
    )
    .await;
    app.login(
        "lee@acme.test",
        "agent password 123",
        MemberKind::Agent,
        "198.51.100.4",
        FIREFOX_LINUX_UA,
    )
    .await;

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    b.sign_in(&app, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;

    let chain = format!("{} a.chain", card(&lee_agent));
    let tip = format!("tip-l-{}", lee_agent.id);
    assert!(
        !b.exists(&format!("{} .chain", card(&other))).await,
        "unlinked agent has a chain"
    );
    assert!(!b.tip_visible(&tip).await);
    b.hover(&chain).await;
    eventually("the chain tooltip on hover", WAIT, async || {
        Ok(b.tip_visible(&tip).await.then_some(()))
    })
    .await;
    let text = b.text(&format!("#{tip}")).await;
    assert!(
        text.contains("Linked account") && text.contains("administrator Lee Admin"),
        "chain tooltip: {text}"
    );
    b.mouse_away().await;

    b.click(&chain).await;
    let profile = format!("/team/admins/{}", lee_admin.id);
    b.wait_path("the linked administrator's profile", |p| p == profile)
        .await;
    assert_eq!(b.text("main h1").await, "Lee Admin");
    let compare = b.find("#compare-h").await;
    assert!(compare.is_displayed().await.unwrap());
    assert_eq!(
        compare.text().await.unwrap(),
        "Compare with the linked account"
    );
    let section = b.text("section.compare").await;
    for expected in [
        "Lee Agent (agent, linked)",
        "IP 198.51.100.4 (same)",
        "Firefox 133 on Linux (different)",
        "Chrome 131 on Windows 10 (different)",
    ] {
        assert!(
            section.contains(expected),
            "comparison lacks {expected:?}: {section}"
        );
    }

    b.click("#end-linked").await;
    b.wait_js(
        "the dialog for the linked account",
        "return document.getElementById('confirm-dialog').open;",
        vec![],
    )
    .await;
    assert_eq!(
        b.text("#confirm-title").await,
        "End the linked account's sessions?"
    );
    assert!(b.text("#confirm-text").await.contains("Lee Agent"));
    b.click("#confirm-ok").await;
    b.wait_path("the profile after ending", |p| {
        p.starts_with(&profile) && p.contains("done=ended")
    })
    .await;
    assert_eq!(
        b.text("main .notice").await,
        "1 session of 1 person ended. They have been signed out."
    );
    assert!(
        !b.exists("#end-linked").await,
        "the button stays with nothing left to end"
    );
    let section = b.text("section.compare").await;
    assert!(section.contains("No active session"), "{section}");
    assert!(
        section.contains("The linked account has no active session: there is nothing to compare."),
        "{section}"
    );
    assert!(
        !section.contains("(different)") && !section.contains("(same)"),
        "nothing is compared with no session: {section}"
    );
    assert!(
        app.sessions(&lee_agent).await.is_empty(),
        "the linked agent is still signed in"
    );
    assert_eq!(
        app.sessions(&lee_admin).await.len(),
        1,
        "the administrator was signed out too"
    );

    // And the other way round: on Administrators the chain opens the agent's profile.
    b.goto(&app.url("/team/admins")).await;
    let back = b.find(&format!("{} a.chain", card(&lee_admin))).await;
    assert_eq!(
        back.attr("href").await.unwrap().as_deref(),
        Some(format!("/team/agents/{}", lee_agent.id).as_str())
    );
    back.click().await.unwrap();
    b.wait_path("the linked agent's profile", |p| {
        p == format!("/team/agents/{}", lee_agent.id)
    })
    .await;
    assert!(b.exists("#compare-h").await);

    b.close().await;
}

/// A sub-administrator without team.admins gets 403 on Administrators; with it, the primary
/// administrator's green icon is not a link and the server refuses to end that session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_administrator_cannot_end_the_primary_administrators_session() {
    let app = App::spawn().await;
    let sue = app
        .add(
            MemberKind::Admin,
            "Sue Sub",
            "sue@acme.test",
            PASSWORD,
            &["team.agents"],
        )
        .await;
    let max = app
        .add(
            MemberKind::Admin,
            "Max Sub",
            "max@acme.test",
            PASSWORD,
            &["team.agents"],
        )
        .await;
    app.login(
        PRIMARY_EMAIL,
        PRIMARY_PASSWORD,
        MemberKind::Admin,
        "192.0.2.10",
        CHROME_WINDOWS_UA,
    )
    .await;
    app.login(
        &max.email,
        PASSWORD,
        MemberKind::Admin,
        "192.0.2.11",
        FIREFOX_LINUX_UA,
    )
    .await;

    let driver = ChromeDriver::start().await;
    let b = driver.browser().await;
    assert_eq!(b.sign_in(&app, &sue.email, PASSWORD).await, "/team/agents");
    assert_eq!(b.texts("nav.tabs a").await, ["Agents"]);

    b.goto(&app.url("/team/admins")).await;
    assert_eq!(b.status().await, 403);
    assert_eq!(b.text("main h1").await, "Not allowed");
    let why = b.text("main .panel p").await;
    assert!(
        why.contains("“Team → Administrators” permission"),
        "403 message: {why}"
    );
    assert!(!b.exists(&card(&app.primary)).await);

    // With team.admins as well.
    app.svc
        .update_person(
            &app.primary_actor(),
            MemberKind::Admin,
            &sue.id,
            PersonPatch {
                permissions: Some(vec!["team.agents".into(), "team.admins".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("grant team.admins");
    b.goto(&app.url("/team/admins")).await;
    assert_eq!(b.status().await, 200);
    assert_eq!(b.texts("nav.tabs a").await, ["Agents", "Administrators"]);
    let primary_icon = b
        .find(&format!("{} .icons .sess.active", card(&app.primary)))
        .await;
    assert_eq!(
        primary_icon.tag_name().await.unwrap(),
        "span",
        "the primary's icon is a link"
    );
    assert_eq!(primary_icon.attr("href").await.unwrap(), None);
    assert_eq!(primary_icon.attr("data-confirm").await.unwrap(), None);
    assert!(!b.exists(&format!("{} a.sess", card(&app.primary))).await);
    assert!(
        b.text(&format!("#tip-s-{}", app.primary.id))
            .await
            .contains("Only the primary administrator can end this session.")
    );
    // Another sub-administrator's green icon is a link, for contrast.
    assert_eq!(
        b.find(&format!("{} .icons .sess.active", card(&max)))
            .await
            .tag_name()
            .await
            .unwrap(),
        "a"
    );
    // Clicking the primary's icon does nothing.
    b.click_does_nothing(
        &format!("{} .icons .sess.active", card(&app.primary)),
        &format!("{} .icons a.sess.active", card(&max)),
        &max.name,
    )
    .await;
    assert_eq!(b.path().await, "/team/admins");

    // The server refuses too, even when asked directly.
    b.goto(&app.url(&format!("/team/admins/{}/end-sessions", app.primary.id)))
        .await;
    assert_eq!(b.status().await, 403);
    assert_eq!(b.text("main h1").await, "Not allowed");
    assert_eq!(app.sessions(&app.primary).await.len(), 1);

    b.close().await;
}
