//! The confirmation page: what a destructive action asks before it runs when JavaScript is off
//! (with JavaScript the same question is an in-page dialog). It posts the same form again
//! with `confirm=yes`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use crate::service::{MemberView, Principal};

use super::{Layout, SessionRow, render, viewer_zone};

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    layout: Layout,
    heading: String,
    message: String,
    warning: Option<String>,
    sessions: Vec<SessionRow>,
    people: Vec<String>,
    more_people: usize,
    action: String,
    back: String,
    ids: Vec<String>,
    fields: Vec<(String, String)>,
    button: String,
}

/// What a confirmation page asks.
#[derive(Default)]
pub struct Confirm {
    /// The navigation entry the page belongs to ("team", "me").
    pub nav: &'static str,
    pub heading: &'static str,
    pub message: String,
    /// A second, stronger line (such as "this browser is included").
    pub warning: Option<String>,
    pub sessions: Vec<SessionRow>,
    /// Names of the people concerned, the first ten; `more_people` counts the rest.
    pub people: Vec<String>,
    pub more_people: usize,
    pub action: String,
    pub back: String,
    pub ids: Vec<String>,
    /// Other fields the confirmed form posts again (such as `disabled=true`).
    pub fields: Vec<(String, String)>,
    pub button: &'static str,
}

/// How many names a confirmation lists before "and N more".
pub const NAMES_LISTED: usize = 10;

/// The warning when the sessions to end include the viewer's own.
pub const THIS_BROWSER: &str =
    "This includes the session in this browser: you will be signed out here too.";

/// The confirmation page about one person, `c` with their live sessions listed (times in the
/// viewer's zone).
pub fn confirm_about(p: &Principal, v: &MemberView, c: Confirm) -> Response {
    let zone = viewer_zone(p);
    let sessions = v
        .sessions
        .iter()
        .map(|s| SessionRow::new(s, &zone))
        .collect();
    confirm(p, Confirm { sessions, ..c })
}

pub fn confirm(p: &Principal, c: Confirm) -> Response {
    let nav = if c.nav.is_empty() { "team" } else { c.nav };
    render(
        StatusCode::OK,
        &ConfirmPage {
            layout: Layout::signed_in(p, nav, c.heading),
            heading: c.heading.to_string(),
            message: c.message,
            warning: c.warning,
            sessions: c.sessions,
            people: c.people,
            more_people: c.more_people,
            action: c.action,
            back: c.back,
            ids: c.ids,
            fields: c.fields,
            button: c.button.to_string(),
        },
    )
}
