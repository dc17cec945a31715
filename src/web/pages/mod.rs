//! Browser pages: askama templates and plain forms that work without JavaScript; the small
//! script in `static/app.js` adds dialogs and live updates on top.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::AppState;
use super::section::{Admins, Agents, Section};
use crate::service::EndedCount;

mod alerts;
mod audit;
mod auth;
mod confirm;
mod extract;
mod fields;
mod invite;
mod layout;
mod link;
mod mfa;
mod reset;
mod settings;
mod sso;
mod team;
mod webhooks;

pub use extract::{FormData, PageTenant, PageUser, SignedForm, Visitor};
pub use fields::FieldErrors;
pub use layout::{
    InPage, Layout, Nav, PageError, PageResult, SessionRow, ShownTime, capitalize, render,
    see_other, viewer_zone,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(auth::home))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route("/logout", get(auth::logout_page).post(auth::logout))
        .route("/setup", get(auth::setup_page).post(auth::setup_submit))
        .route("/reset", get(reset::ask_page).post(reset::ask_submit))
        .route(
            "/reset/{token}",
            get(reset::link_page).post(reset::link_submit),
        )
        .route(
            "/signin-alert/{token}",
            get(alerts::alert_page).post(alerts::alert_submit),
        )
        .route(
            "/invite/{token}",
            get(invite::link_page).post(invite::link_submit),
        )
        .route("/agent", get(auth::agent_home))
        .route("/me/status", post(auth::set_status))
        .route("/me/sessions", get(settings::my_sessions))
        .route("/me/sessions/end-others", post(settings::end_others))
        .route("/me/sessions/{id}/end", post(settings::end_mine))
        .route(
            "/security",
            get(settings::security_page).post(settings::security_submit),
        )
        .route("/security/audit", get(audit::audit_page))
        .route(
            "/security/sso",
            get(sso::settings_page).post(sso::settings_submit),
        )
        .route("/security/sso/test", post(sso::test_connection))
        .route("/sso/start", get(sso::start))
        .route("/sso/callback", get(sso::callback))
        .route("/sso/backchannel-logout", post(sso::backchannel_logout))
        .route(
            "/security/webhooks",
            get(webhooks::webhooks_page).post(webhooks::add),
        )
        .route("/security/webhooks/{id}", get(webhooks::log_page))
        .route("/security/webhooks/{id}/delete", post(webhooks::delete))
        .route(
            "/security/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(webhooks::send_again),
        )
        .route("/security/audit.csv", get(audit::audit_csv))
        .route("/me/password", post(settings::change_password))
        .route("/me/time-zone", post(settings::set_time_zone))
        // --- two-factor sign-in
        .route("/me/security", get(mfa::security_page))
        .route("/me/security/totp", post(mfa::start_totp))
        .route("/me/security/totp/confirm", post(mfa::confirm_totp))
        .route("/me/security/totp/remove", post(mfa::remove_totp))
        .route(
            "/me/security/passkeys/{id}/remove",
            post(mfa::remove_passkey),
        )
        .route("/team", get(team::team_root))
        .route("/team/agents/bulk-end", post(team::bulk_end))
        .merge(team_routes::<Agents>())
        .merge(team_routes::<Admins>())
        .route(
            "/sessions/{id}/end",
            get(team::confirm_end_one).post(team::end_one),
        )
        .route("/static/app.css", get(css))
        .route("/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
        .route("/static/app.js", get(js))
        .route("/static/passkeys.js", get(passkeys_js))
        .route("/guard.js", get(guard_js))
}

/// The routes of one Team section, each handler written once for both.
fn team_routes<S: Section>() -> Router<AppState> {
    let base = format!("/team/{}", S::KIND.plural());
    Router::new()
        .route(&base, get(team::list::<S>).post(team::create::<S>))
        .route(&format!("{base}/new"), get(team::new_person::<S>))
        .route(
            &format!("{base}/{{id}}"),
            get(team::profile::<S>).post(team::update::<S>),
        )
        .route(
            &format!("{base}/{{id}}/disabled"),
            post(team::set_disabled::<S>),
        )
        .route(
            &format!("{base}/{{id}}/end-sessions"),
            get(team::confirm_end_person::<S>).post(team::end_person::<S>),
        )
        .route(&format!("{base}/{{id}}/mfa/reset"), post(mfa::reset::<S>))
        .route(
            &format!("{base}/{{id}}/invitation"),
            post(invite::resend::<S>),
        )
}

async fn css() -> Response {
    static_asset(
        "text/css; charset=utf-8",
        include_str!("../../../static/app.css"),
    )
}

/// The site's icon; also at `/favicon.ico`, where browsers look without being told.
async fn favicon() -> Response {
    static_asset("image/svg+xml", include_str!("../../../static/favicon.svg"))
}

async fn js() -> Response {
    static_asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../static/app.js"),
    )
}

/// The passkey ceremonies of the Sign-in methods page and the sign-in's second step.
async fn passkeys_js() -> Response {
    static_asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../static/passkeys.js"),
    )
}

/// The script a guarded app includes (see `static/guard.js`).
async fn guard_js() -> Response {
    static_asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../static/guard.js"),
    )
}

fn static_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// A local path to return to after an action; anything else falls back to `default`.
///
/// Only printable ASCII is kept (what browsers send for a page's own path and query): a TAB,
/// CR or LF is dropped by a browser's URL parser, so `/\t/evil.test` would reach the browser
/// as `//evil.test`, another site; other control characters would not even fit in a
/// `Location` header. A backslash counts as a slash to browsers, so `/\evil.test` is refused
/// like `//evil.test`.
pub fn safe_back(back: Option<&str>, default: &str) -> String {
    match back {
        Some(b)
            if b.starts_with('/')
                && !b.starts_with("//")
                && b.len() < 2000
                && b.bytes().all(|c| c.is_ascii_graphic() && c != b'\\') =>
        {
            b.to_string()
        }
        _ => default.to_string(),
    }
}

/// `back` with `done` (and the counts `n` sessions of `people`) set, replacing any earlier
/// notice.
pub fn with_notice(back: &str, done: &str, counts: Option<EndedCount>) -> String {
    let (path, query) = back.split_once('?').unwrap_or((back, ""));
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "done" && k != "n" && k != "people")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.push(("done".into(), done.into()));
    if let Some(c) = counts {
        pairs.push(("n".into(), c.sessions.to_string()));
        pairs.push(("people".into(), c.people.to_string()));
    }
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{q}")
}

/// "1 session", "2 people": a count with its noun in correct English.
pub fn counted_noun(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The message a `done` parameter stands for; `n` counts sessions and `people` the people
/// they belonged to.
pub fn notice(done: Option<&str>, n: Option<&str>, people: Option<&str>) -> Option<String> {
    let n: usize = n.and_then(|n| n.parse().ok()).unwrap_or(0);
    let people: Option<usize> = people.and_then(|p| p.parse().ok());
    Some(match done? {
        "ended" => match (n, people) {
            (0, _) => "There was no active session to end.".to_string(),
            (n, Some(p)) if p > 0 => format!(
                "{} of {} ended. {} been signed out.",
                counted_noun(n, "session", "sessions"),
                counted_noun(p, "person", "people"),
                if p == 1 {
                    "They have"
                } else {
                    "Those people have"
                }
            ),
            (n, _) => format!("{} ended.", counted_noun(n, "session", "sessions")),
        },
        "added" => "Added. They can sign in now.".to_string(),
        "invited" => "Invited. They get an e-mail with a link to choose their password and \
                      sign in; the link works for 7 days."
            .to_string(),
        "invitation_sent" => {
            "A new invitation is on its way. Earlier links no longer work.".to_string()
        }
        "saved" => "Changes saved.".to_string(),
        "disabled" => "Account disabled. Its sessions have ended.".to_string(),
        "enabled" => "Account enabled. They can sign in again.".to_string(),
        "mfa_reset" => "Two-factor sign-in reset. Their sessions have ended.".to_string(),
        _ => return None,
    })
}

/// Any other address: the 404 page, with the navigation when someone is signed in.
pub async fn not_found(user: Result<PageUser, Response>) -> PageError {
    let missing = crate::service::ServiceError::NotFound;
    match user {
        Ok(PageUser(p)) => PageError::of(&p, missing),
        Err(_) => PageError::from(missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_count_sessions_and_people_in_english() {
        let ended = |n, p| notice(Some("ended"), Some(n), p).unwrap();
        assert_eq!(
            ended("1", Some("1")),
            "1 session of 1 person ended. They have been signed out."
        );
        assert_eq!(
            ended("2", Some("1")),
            "2 sessions of 1 person ended. They have been signed out."
        );
        assert_eq!(
            ended("5", Some("3")),
            "5 sessions of 3 people ended. Those people have been signed out."
        );
        assert_eq!(ended("0", Some("0")), "There was no active session to end.");
        // An older link without the people count still reads correctly.
        assert_eq!(ended("1", None), "1 session ended.");
        assert_eq!(notice(Some("unknown"), None, None), None);
        assert_eq!(counted_noun(1, "second", "seconds"), "1 second");
        assert_eq!(counted_noun(2, "second", "seconds"), "2 seconds");
    }

    #[test]
    fn a_notice_replaces_the_earlier_one_and_keeps_filters() {
        let counts = EndedCount {
            sessions: 2,
            people: 1,
        };
        assert_eq!(
            with_notice(
                "/team/agents?session=active&done=ended&n=9&people=9",
                "ended",
                Some(counts)
            ),
            "/team/agents?session=active&done=ended&n=2&people=1"
        );
    }
}
