//! Times in the viewer's zone: a person sets their own time zone (API and My sessions, checked,
//! nothing changed on a refusal), pages without JavaScript show times in it (in UTC, saying
//! so, when it is unset), the audit log's date filter and CSV in a zone, and the event
//! stream's warning before a session ends for inactivity.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::api_events::EventStream;
use crate::db::Backend;
use crate::support::{HOUR, MINUTE, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, SECOND, TestApp};

/// 2026-12-06T07:30:00Z: Dec 5, 11:30 PM in Los Angeles.
const DEC6_UTC_MORNING: i64 = 1_796_542_200_000;
/// 2026-12-07T05:55:00Z: Dec 6, 9:55 PM in Los Angeles.
const DEC6_LA_EVENING: i64 = 1_796_622_900_000;
/// 2026-12-07T09:00:00Z: Dec 7, 1:00 AM in Los Angeles.
const DEC7_LA_NIGHT: i64 = 1_796_634_000_000;

async fn the_api_sets_ones_own_time_zone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pat = app.primary_client().await;
    assert_eq!(pat.me().await.json()["time_zone"], Value::Null);

    // Refused, by name, and nothing stored.
    for (body, says) in [
        (json!({"time_zone": "Mars/Olympus"}), "Mars/Olympus"),
        (json!({"time_zone": ""}), "time_zone"),
        (json!({"time_zone": "PST8PDT,M3.2.0,M11.1.0"}), "IANA"),
        (json!({"time_zone": "A/".repeat(40)}), "64"),
        (json!({"time_zone": 5}), "time_zone"),
        (json!({}), "time_zone"),
    ] {
        let r = pat.put_json("/api/v1/me/time_zone", &body).await;
        let message = r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(message.contains(says), "{body}: {message}");
        assert_eq!(app.stored_member(&app.primary.id).await.time_zone, None);
    }

    // Any case; stored and answered as the database spells it.
    let v = pat
        .put_json(
            "/api/v1/me/time_zone",
            &json!({"time_zone": "america/los_angeles"}),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v, json!({"time_zone": "America/Los_Angeles"}));
    assert_eq!(pat.me().await.json()["time_zone"], "America/Los_Angeles");

    // A refusal later leaves it as it was; so does a request without the CSRF token.
    pat.put_json("/api/v1/me/time_zone", &json!({"time_zone": "Nowhere"}))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    let csrf = pat.csrf();
    pat.set_csrf(None);
    pat.put_json("/api/v1/me/time_zone", &json!({"time_zone": "UTC"}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "csrf");
    pat.set_csrf(csrf.as_deref());
    assert_eq!(
        app.stored_member(&app.primary.id)
            .await
            .time_zone
            .as_deref(),
        Some("America/Los_Angeles")
    );

    // null unsets it.
    let v = pat
        .put_json("/api/v1/me/time_zone", &json!({"time_zone": null}))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(v, json!({"time_zone": null}));
    assert_eq!(pat.me().await.json()["time_zone"], Value::Null);
}

async fn pages_without_javascript_show_times_in_the_persons_zone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.add_agent("Ann Agent", "ann@acme.test").await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    // The clock starts at 2026-09-21T14:13:20Z: 7:13 AM in Los Angeles (daylight time).
    let page = tab.get("/me/sessions").await.expect_status(StatusCode::OK);
    assert!(
        page.text.contains(
            "data-zone=\"UTC\" title=\"2026-09-21 14:13 UTC\">Sep 21, 2026, 2:13 PM UTC</time> · last activity"
        ),
        "unset: in UTC, named: {}",
        page.text
    );
    assert!(
        page.text
            .contains("Not set: pages show times in your browser")
    );
    assert!(page.text.contains("or in UTC where JavaScript is off"));

    // A name the database does not know: the field says why, nothing is stored.
    let r = tab
        .post_form("/me/time-zone", &[("time_zone", "Mars/Olympus")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("aria-invalid=\"true\""), "{}", r.text);
    assert!(
        r.text
            .contains("must be an IANA time zone name such as &#34;Europe/Berlin&#34;")
            || r.text
                .contains("must be an IANA time zone name such as &quot;Europe/Berlin&quot;"),
        "{}",
        r.text
    );
    assert_eq!(app.stored_member(&ann.id).await.time_zone, None);

    let r = tab
        .post_form("/me/time-zone", &[("time_zone", "America/Los_Angeles")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header(LOCATION.as_str()),
        Some("/me/sessions?done=time_zone#time-zone")
    );
    let page = tab.get("/me/sessions?done=time_zone").await;
    assert!(page.text.contains("Time zone saved."));
    assert!(
        page.text.contains(
            "title=\"2026-09-21 14:13 UTC\">Sep 21, 2026, 7:13 AM PDT</time> · last activity \
             <time datetime=\"2026-09-21T14:13:20Z\" data-zone=\"America/Los_Angeles\" \
             title=\"2026-09-21 14:13 UTC\">Sep 21, \
             2026, 7:13 AM PDT</time>"
        ),
        "both times of the line in the person's zone: {}",
        page.text
    );
    assert!(
        page.text
            .contains("<option value=\"America/Los_Angeles\" selected>")
    );
    assert!(page.text.contains("data-zone=\"America/Los_Angeles\""));

    // The administrator's pages follow the administrator's own zone, not the agent's.
    let pat = app.primary_client().await;
    let team = pat.get("/team/agents").await.text;
    assert!(team.contains(">Sep 21, 2026, 2:13 PM UTC</time>"), "{team}");
    pat.put_json(
        "/api/v1/me/time_zone",
        &json!({"time_zone": "Europe/Berlin"}),
    )
    .await
    .expect_status(StatusCode::OK);
    let team = pat.get("/team/agents").await.text;
    assert!(
        team.contains(">Sep 21, 2026, 4:13 PM CEST</time>"),
        "{team}"
    );
    let profile = pat.get(&format!("/team/agents/{}", ann.id)).await.text;
    assert!(
        profile.contains(">Sep 21, 2026, 4:13 PM CEST</time>"),
        "{profile}"
    );

    // Clearing it with the form's first choice.
    let r = tab.post_form("/me/time-zone", &[("time_zone", "")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(app.stored_member(&ann.id).await.time_zone, None);
}

/// Three entries around midnight UTC: one on Dec 6 in UTC only, one on Dec 6 in Los Angeles
/// only, one on Dec 7 in both.
async fn three_entries(app: &TestApp) {
    for (at, name, email) in [
        (DEC6_UTC_MORNING, "Early Bird", "early@acme.test"),
        (DEC6_LA_EVENING, "Evening Owl", "evening@acme.test"),
        (DEC7_LA_NIGHT, "Night Jar", "night@acme.test"),
    ] {
        app.clock.set(at);
        app.add_agent(name, email).await;
    }
    app.advance(MINUTE);
}

fn targets(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn the_audit_filter_reads_dates_in_a_zone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    three_entries(&app).await;
    let pat = app.signed_in(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let created = "/api/v1/audit?kind=member.created&from=2026-12-06&to=2026-12-06";

    // The API: UTC days unless it names a zone.
    let utc = pat.get(created).await.expect_status(StatusCode::OK).json();
    assert_eq!(utc["total"], 1, "{utc}");
    assert!(targets(&utc)[0].contains("early@acme.test"), "{utc}");
    let la = pat
        .get(&format!("{created}&tz=America/Los_Angeles"))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(la["total"], 1, "{la}");
    assert!(targets(&la)[0].contains("evening@acme.test"), "{la}");
    let message = pat
        .get(&format!("{created}&tz=Pacific/Nowhere"))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(
        message.contains("tz") && message.contains("Pacific/Nowhere"),
        "{message}"
    );

    // The page: without a zone of the person's, UTC days, and it says so.
    let page_path = "/security/audit?kind=member.created&from=2026-12-06&to=2026-12-06";
    let page = pat.get(page_path).await.expect_status(StatusCode::OK).text;
    assert!(
        page.contains("Dates are days in UTC (no time zone is set"),
        "{page}"
    );
    assert!(page.contains(">Dec 6, 2026, 7:30 AM UTC</time>"), "{page}");
    assert!(page.contains("1 entry"), "{page}");

    // With the person's zone: Los Angeles days; the row reads Dec 6 there.
    pat.put_json(
        "/api/v1/me/time_zone",
        &json!({"time_zone": "America/Los_Angeles"}),
    )
    .await
    .expect_status(StatusCode::OK);
    let page = pat.get(page_path).await.expect_status(StatusCode::OK).text;
    assert!(
        page.contains("Dates are days in America/Los_Angeles;"),
        "{page}"
    );
    assert!(
        page.contains("<input type=\"hidden\" name=\"tz\" value=\"America/Los_Angeles\""),
        "the form carries the zone: {page}"
    );
    assert!(
        page.contains(
            "<time datetime=\"2026-12-07T05:55:00Z\" data-zone=\"America/Los_Angeles\" \
             title=\"2026-12-07 05:55 UTC\">Dec 6, 2026, \
             9:55 PM PST</time>"
        ),
        "{page}"
    );
    assert!(page.contains("1 entry"), "{page}");
    assert!(!page.contains("early@acme.test"), "{page}");

    // A zone the query names wins over the person's own.
    let page = pat
        .get(&format!("{page_path}&tz=UTC"))
        .await
        .expect_status(StatusCode::OK)
        .text;
    assert!(page.contains(">Dec 6, 2026, 7:30 AM UTC</time>"), "{page}");
}

async fn the_csv_says_which_zone_its_times_are_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    three_entries(&app).await;
    let pat = app.signed_in(PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    let q = "kind=member.created&from=2026-12-06&to=2026-12-06";

    let csv = pat.get(&format!("/api/v1/audit?{q}&format=csv")).await.text;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,at (UTC),kind,actor,target,ip,detail,count");
    assert!(
        lines[1].contains(",2026-12-06T07:30:00Z,member.created,"),
        "{csv}"
    );

    let csv = pat
        .get(&format!(
            "/api/v1/audit?{q}&tz=America/Los_Angeles&format=csv"
        ))
        .await
        .text;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,at (UTC),at (America/Los_Angeles),kind,actor,target,ip,detail,count"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].contains(",2026-12-07T05:55:00Z,2026-12-06T21:55:00-08:00,member.created,"),
        "{csv}"
    );

    // The page's export is in the person's zone, as the page is.
    let page_csv = pat.get(&format!("/security/audit.csv?{q}")).await.text;
    assert!(page_csv.starts_with("id,at (UTC),kind,"), "{page_csv}");
    pat.put_json(
        "/api/v1/me/time_zone",
        &json!({"time_zone": "America/Los_Angeles"}),
    )
    .await
    .expect_status(StatusCode::OK);
    let page_csv = pat.get(&format!("/security/audit.csv?{q}")).await.text;
    assert_eq!(page_csv, csv);
}

/// The event stream warns a minute before the idle timeout; a request (activity) moves the
/// deadline and the stream says so; without one the session ends as expired.
async fn the_stream_warns_before_the_idle_timeout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_agent("Ann Agent", "ann@acme.test").await;
    let tab = app.signed_in("ann@acme.test", PASSWORD).await;
    let mut s = EventStream::open(&tab).await;
    let wait = Duration::from_secs(20);

    // 72 hours of idleness, less 30 seconds: inside the last minute.
    app.advance(72 * HOUR - 30 * SECOND);
    let v = s.until("session_expiring", wait).await.expect("a warning");
    assert_eq!(v["seconds_left"], 30, "{v}");
    assert_eq!(v["extendable"], true, "{v}");
    assert_eq!(
        v["expires_at"],
        crate::support::rfc3339(crate::support::START + 72 * HOUR)
    );

    // Staying signed in: one request, which counts as activity.
    tab.me().await.expect_status(StatusCode::OK);
    let v = s.until("session_extended", wait).await.expect("extended");
    assert_eq!(
        v["expires_at"],
        crate::support::rfc3339(crate::support::START + 2 * 72 * HOUR - 30 * SECOND)
    );

    // Warned again, nobody there: the session ends as expired.
    app.advance(72 * HOUR - 20 * SECOND);
    let v = s
        .until("session_expiring", wait)
        .await
        .expect("a second warning");
    assert_eq!(v["seconds_left"], 20, "{v}");
    app.advance(21 * SECOND);
    assert_eq!(app.sweep().await, 1);
    assert_eq!(
        s.until("session_ended", wait).await,
        Some(json!({"reason": "expired"}))
    );
}

backend_tests!(
    the_api_sets_ones_own_time_zone,
    pages_without_javascript_show_times_in_the_persons_zone,
    the_audit_filter_reads_dates_in_a_zone,
    the_csv_says_which_zone_its_times_are_in,
    the_stream_warns_before_the_idle_timeout,
);
