//! Page forms over HTTP: every invalid field reported at once, each message next to its field
//! (`aria-invalid`, `aria-describedby`), what was typed kept (never a password), nothing
//! stored; the Security form speaks the unit the person typed.

use reqwest::StatusCode;
use serde_json::Value;

use crate::browser_a11y::empty_server;
use crate::db::Backend;
use crate::support::{Client, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, TestApp, client_for_base};

/// A password on the common-passwords list, long enough for the browser's `minlength`.
const COMMON_PASSWORD: &str = "1qaz2wsx3edc";

/// Asserts that the page marks `field` invalid and shows `message` in the element its input
/// points to.
fn assert_field_error(page: &str, field: &str, message: &str) {
    let id = format!("{}-error", field.replace('_', "-"));
    assert!(
        page.contains(&format!(r#"aria-invalid="true" aria-describedby="{id}""#))
            || page.contains(&format!(r#"aria-describedby="{id}""#)),
        "{field} is not marked invalid:\n{page}"
    );
    let element = format!(r#"<p class="field-error" id="{id}">{message}</p>"#);
    assert!(page.contains(&element), "no {element} in the page:\n{page}");
}

/// The number of field messages on a page.
fn field_errors(page: &str) -> usize {
    page.matches(r#"<p class="field-error""#).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_names_every_invalid_field_at_once_and_keeps_what_was_typed() {
    let (server, _db) = empty_server().await;
    let base = server.base.clone();
    let c = client_for_base(&base);
    let res = c
        .post_form(
            "/setup",
            &[
                ("name", "   "),
                ("admin_name", "Pat <Primary>"),
                ("admin_email", "owner@localhost"),
                ("password", COMMON_PASSWORD),
            ],
        )
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    let page = &res.text;
    assert_field_error(page, "name", "The company or team name is required.");
    assert_field_error(
        page,
        "admin_email",
        "E-mail must look like name@example.com.",
    );
    assert_field_error(
        page,
        "password",
        "Password is one of the most commonly used passwords; choose another.",
    );
    assert_eq!(field_errors(page), 3, "only the bad fields: {page}");
    assert!(page.contains("Please correct the 3 fields marked below."));
    assert!(
        page.contains(r#"value="Pat &#60;Primary&#62;""#)
            || page.contains(r#"value="Pat &lt;Primary&gt;""#)
    );
    assert!(page.contains(r#"value="owner@localhost""#));
    assert!(
        !page.contains(COMMON_PASSWORD),
        "a password is never sent back"
    );
    // Nothing was created: setup is still open.
    c.get("/setup").await.expect_status(StatusCode::OK);

    // Every field empty: four messages, one each.
    let res = c
        .post_form(
            "/setup",
            &[
                ("name", ""),
                ("admin_name", ""),
                ("admin_email", ""),
                ("password", ""),
            ],
        )
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&res.text, "admin_name", "Your name is required.");
    assert_eq!(field_errors(&res.text), 4);
    c.get("/setup").await.expect_status(StatusCode::OK);
    drop(server);
}

async fn settings(c: &Client) -> Value {
    c.get("/api/v1/settings/security")
        .await
        .expect_status(StatusCode::OK)
        .json()
}

/// The Security form: errors in the unit typed, the typed value and unit kept, the browser's
/// limits matching that unit, and every bad field named at once with nothing saved.
async fn security_form_speaks_the_unit_typed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.primary_client().await;
    let before = settings(&c).await;

    let res = c
        .post_form(
            "/security",
            &[
                ("amount", "3000"),
                ("unit", "hours"),
                ("lifetime_minutes", "abc"),
                ("max_sessions", "11"),
                (
                    "office_networks",
                    "203.0.113.0/24 Riga\n10.0.0.0/33 Bad\nnowhere",
                ),
                ("agents_network_policy", "off"),
                ("admins_network_policy", "off"),
            ],
        )
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    let page = &res.text;
    assert_field_error(
        page,
        "amount",
        "The timeout must be at most 2160 hours (90 days).",
    );
    assert_field_error(
        page,
        "lifetime_minutes",
        "The absolute lifetime must be a whole number of minutes from 5 to 518400 (360 days), or empty.",
    );
    assert_field_error(
        page,
        "max_sessions",
        "The number of sessions per person must be a whole number from 1 to 10, or empty for no limit.",
    );
    let networks = page
        .split(r#"id="office-networks-error">"#)
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or_else(|| panic!("no office networks message:\n{page}"));
    assert!(
        networks.starts_with("Line 2: ") && networks.contains("; line 3: "),
        "each bad line named: {networks}"
    );
    assert_eq!(field_errors(page), 4, "{page}");
    assert!(page.contains("Please correct the 4 fields marked below."));
    // What was typed, in its unit, with the browser's limits for hours.
    assert!(
        page.contains(r#"value="3000" min="1" max="2160""#),
        "{page}"
    );
    assert!(page.contains(r#"<option value="hours" data-min="1" data-max="2160" selected>"#));
    assert!(page.contains(r#"value="abc""#) && page.contains(r#"value="11""#));
    assert!(page.contains("10.0.0.0/33 Bad\nnowhere</textarea>"));
    assert_eq!(settings(&c).await, before, "nothing was saved");

    // Too little, in minutes and in hours: said in the unit typed.
    let minimal = |amount: &'static str, unit: &'static str| {
        [
            ("amount", amount),
            ("unit", unit),
            ("lifetime_minutes", ""),
            ("max_sessions", ""),
        ]
    };
    let res = c
        .post_form("/security", &minimal("2", "minutes"))
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(
        &res.text,
        "amount",
        "The timeout must be at least 5 minutes.",
    );
    assert!(res.text.contains(r#"value="2" min="5" max="129600""#));
    assert!(
        res.text
            .contains(r#"<option value="minutes" data-min="5" data-max="129600" selected>"#)
    );
    let res = c
        .post_form("/security", &minimal("0", "hours"))
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&res.text, "amount", "The timeout must be at least 1 hour.");
    let res = c
        .post_form("/security", &minimal("1.5", "hours"))
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(
        &res.text,
        "amount",
        "The timeout must be a whole number of hours, got &#34;1.5&#34;.",
    );
    assert_eq!(settings(&c).await, before, "nothing was saved");

    // A good value saves, and shows in the unit it fits.
    let res = c
        .post_form("/security", &minimal("90", "minutes"))
        .await
        .expect_status(StatusCode::OK);
    assert!(res.text.contains("Security settings saved."));
    assert_eq!(settings(&c).await["agent_idle_timeout_minutes"], 90);
}

/// Adding and editing a person: every bad field at once, typed values kept (never the
/// password), nothing stored.
async fn person_forms_name_every_invalid_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let c = app.primary_client().await;

    let res = c
        .post_form(
            "/team/agents",
            &[
                ("name", " "),
                ("email", "nobody@localhost"),
                ("password", "short"),
            ],
        )
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    let page = &res.text;
    assert_field_error(page, "name", "Name is required.");
    assert_field_error(page, "email", "E-mail must look like name@example.com.");
    assert_field_error(page, "password", "Password must be at least 12 characters.");
    assert!(page.contains(r#"value="nobody@localhost""#));
    assert!(!page.contains(r#"value="short""#));
    let list = c.get("/api/v1/agents").await.json();
    assert_eq!(list["total"], 1, "nobody was added: {list}");

    // A taken e-mail (the service's own check) lands on its field too.
    let res = c
        .post_form(
            "/team/agents",
            &[
                ("name", "Ann Again"),
                ("email", "ann@acme.test"),
                ("password", PASSWORD),
            ],
        )
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(
        &res.text,
        "email",
        "This e-mail address is already used by another person of the same kind.",
    );
    assert!(res.text.contains(r#"value="Ann Again""#));

    // Editing someone else: name, e-mail and password at once; the typed values stay.
    let res = c
        .post_form(
            &format!("/team/agents/{}", ann.id),
            &[
                ("name", ""),
                ("email", "ann@@acme.test"),
                ("password", "short"),
            ],
        )
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    let page = &res.text;
    assert_field_error(page, "name", "Name is required.");
    assert_field_error(page, "email", "E-mail must look like name@example.com.");
    assert_field_error(page, "password", "Password must be at least 12 characters.");
    assert!(page.contains(r#"value="ann@@acme.test""#));
    let stored = app.stored_member(&ann.id).await;
    assert_eq!(
        (stored.name.as_str(), stored.email.as_str()),
        ("Ann Agent", "ann@acme.test")
    );

    // One's own profile: a new e-mail needs the current password; said with the bad name.
    let res = c
        .post_form(
            &format!("/team/admins/{}", app.primary.id),
            &[("name", &"x".repeat(101)), ("email", "pat@acme.test")],
        )
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&res.text, "name", "Name must be at most 100 characters.");
    assert_field_error(
        &res.text,
        "current_password",
        "Enter your current password to change your own e-mail or password.",
    );
    assert_eq!(
        app.stored_member(&app.primary.id).await.email,
        PRIMARY_EMAIL
    );
}

/// Changing one's password, adding a webhook, signing in: every bad field at once.
async fn other_forms_name_every_invalid_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.primary_client().await;

    let res = c
        .post_form(
            "/me/password",
            &[("current_password", ""), ("new_password", "short")],
        )
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(
        &res.text,
        "current_password",
        "Enter your current password.",
    );
    assert_field_error(
        &res.text,
        "new_password",
        "Password must be at least 12 characters.",
    );
    // A wrong current password is the service's refusal, next to its field.
    let res = c
        .post_form(
            "/me/password",
            &[
                ("current_password", "not my password at all"),
                ("new_password", "a brand new passphrase"),
            ],
        )
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(
        &res.text,
        "current_password",
        "Current password is incorrect.",
    );
    // The password is unchanged: it still signs in.
    app.signed_in(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;

    let res = c
        .post_form(
            "/security/webhooks",
            &[
                ("url", "ftp://hooks.example.com/x"),
                ("events", "session.ended"),
                ("events", "no.such.event"),
            ],
        )
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(
        &res.text,
        "url",
        "The URL must start with https:// or http://.",
    );
    assert!(
        res.text
            .contains(r#"id="events-error">Unknown event type &#34;no.such.event&#34;"#),
        "{}",
        res.text
    );
    assert!(res.text.contains(r#"value="ftp://hooks.example.com/x""#));
    assert!(
        res.text.contains(r#"value="session.ended" checked"#),
        "the ticked box stays ticked"
    );
    let hooks = c.get("/api/v1/webhooks").await.json();
    assert_eq!(
        hooks["items"].as_array().map(Vec::len),
        Some(0),
        "nothing added: {hooks}"
    );

    let visitor = app.client();
    let res = visitor
        .post_form("/login", &[("email", " "), ("password", "")])
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&res.text, "email", "E-mail is required.");
    assert_field_error(&res.text, "password", "Password is required.");

    // Two-factor: a wrong password shows next to its field.
    let res = c
        .post_form("/me/security/totp", &[("password", "wrong password here")])
        .await
        .expect_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_field_error(&res.text, "password", "Current password is incorrect.");
}

/// The `name` and `value` of the page's `<input>` whose id starts with `id_prefix`.
fn input_named(page: &str, id_prefix: &str) -> (String, String) {
    let at = page
        .find(&format!(r#"id="{id_prefix}"#))
        .unwrap_or_else(|| panic!("no {id_prefix}* input in the page:\n{page}"));
    let start = page[..at].rfind("<input").expect("an input");
    let tag = &page[start..start + page[start..].find('>').expect("a closed tag")];
    let attr = |a: &str| {
        tag.split(&format!(r#" {a}=""#))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no {a} in {tag}"))
            .to_string()
    };
    (attr("name"), attr("value"))
}

/// The number of audit entries about the absolute lifetime.
async fn lifetime_audits(c: &Client) -> usize {
    c.get("/api/v1/audit?kind=settings.changed&per_page=200")
        .await
        .expect_status(StatusCode::OK)
        .json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| {
            e["detail"]
                .as_str()
                .is_some_and(|d| d.contains("absolute session lifetime"))
        })
        .count()
}

/// The absolute lifetime is shown in the unit it is stored in (minutes), so saving
/// the Security form as shown, with another field changed, writes it back unchanged and
/// audits nothing about it; 5 minutes shows and saves as 5.
async fn security_form_keeps_the_lifetime_it_shows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let c = app.primary_client().await;
    for (minutes, max_sessions) in [(90, "3"), (5, "4")] {
        c.put_json(
            "/api/v1/settings/security",
            &serde_json::json!({"max_session_lifetime_minutes": minutes}),
        )
        .await
        .expect_status(StatusCode::OK);
        let audits = lifetime_audits(&c).await;

        // Submit the form as the page shows it, touching only "sessions per person".
        let page = c.get("/security").await.expect_status(StatusCode::OK).text;
        let (name, shown) = input_named(&page, "lifetime-");
        assert_eq!(shown, minutes.to_string(), "the lifetime as stored, {name}");
        assert!(
            page.contains("this many minutes after sign-in"),
            "the unit is said: {page}"
        );
        let (_, amount) = input_named(&page, "amount");
        let res = c
            .post_form(
                "/security",
                &[
                    ("amount", amount.as_str()),
                    // The default timeout, 72 hours, is shown in hours.
                    ("unit", "hours"),
                    (name.as_str(), shown.as_str()),
                    ("max_sessions", max_sessions),
                    ("office_networks", ""),
                    ("agents_network_policy", "off"),
                    ("admins_network_policy", "off"),
                ],
            )
            .await
            .expect_status(StatusCode::OK);
        assert!(
            res.text.contains("Security settings saved."),
            "{}",
            res.text
        );
        let s = settings(&c).await;
        assert_eq!(s["max_session_lifetime_minutes"], minutes, "untouched: {s}");
        assert_eq!(
            s["max_sessions_per_person"],
            max_sessions.parse::<i64>().unwrap()
        );
        assert_eq!(
            lifetime_audits(&c).await,
            audits,
            "no audit entry about a lifetime nobody changed"
        );
        let (_, shown_again) = input_named(&res.text, "lifetime-");
        assert_eq!(shown_again, minutes.to_string());
    }
}

backend_tests!(
    security_form_speaks_the_unit_typed,
    security_form_keeps_the_lifetime_it_shows,
    person_forms_name_every_invalid_field,
    other_forms_name_every_invalid_field,
);
