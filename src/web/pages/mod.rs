//! Browser pages: askama templates and plain forms that work without JavaScript; the small
//! script in `static/app.js` adds dialogs and live updates on top.

use axum::Router;
use axum::body::Bytes;
use axum::extract::FromRequest;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use askama::Template;

use crate::domain::member::{MemberKind, Permission};
use crate::domain::time::{human, rfc3339};
use crate::service::{Principal, ServiceError};
use crate::store::Session;

use super::AppState;

mod audit;
mod auth;
mod settings;
mod team;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(auth::home))
        .route("/login", get(auth::login_page).post(auth::login_submit))
        .route("/logout", post(auth::logout))
        .route("/setup", get(auth::setup_page).post(auth::setup_submit))
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
        .route("/security/audit.csv", get(audit::audit_csv))
        .route("/me/password", post(settings::change_password))
        .route("/team", get(team::team_root))
        .route("/team/agents/bulk-end", post(team::bulk_end))
        .route("/team/{kind}", get(team::list).post(team::create))
        .route("/team/{kind}/new", get(team::new_person))
        .route("/team/{kind}/{id}", get(team::profile).post(team::update))
        .route("/team/{kind}/{id}/disabled", post(team::set_disabled))
        .route(
            "/team/{kind}/{id}/end-sessions",
            get(team::confirm_end_person).post(team::end_person),
        )
        .route(
            "/sessions/{id}/end",
            get(team::confirm_end_one).post(team::end_one),
        )
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
}

async fn css() -> Response {
    static_asset(
        "text/css; charset=utf-8",
        include_str!("../../../static/app.css"),
    )
}

async fn js() -> Response {
    static_asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../static/app.js"),
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

/// What the layout shows of the signed-in person.
pub struct Nav {
    pub name: String,
    pub kind: &'static str,
    pub csrf: String,
    pub agents: bool,
    pub admins: bool,
    pub security: bool,
    pub audit: bool,
    pub section: &'static str,
}

impl Nav {
    pub fn new(p: &Principal, section: &'static str) -> Self {
        let a = &p.actor;
        Nav {
            name: p.name.clone(),
            kind: a.kind.as_str(),
            csrf: p.csrf_token.clone(),
            agents: a.can_view(MemberKind::Agent),
            admins: a.can_view(MemberKind::Admin),
            security: a.has(Permission::Security),
            audit: a.has(Permission::Audit),
            section,
        }
    }
}

pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    heading: String,
    message: String,
}

/// A page for a service error, with the right status.
pub fn error_page(e: ServiceError) -> Response {
    error_page_for(None, e)
}

pub fn error_page_for(p: Option<&Principal>, e: ServiceError) -> Response {
    let (status, heading, message) = match e {
        ServiceError::Unauthenticated(_) => return Redirect::to("/login").into_response(),
        ServiceError::NotFound => (
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing here, or it belongs to another account.".to_string(),
        ),
        ServiceError::Forbidden(msg) => (StatusCode::FORBIDDEN, "Not allowed", capitalize(&msg)),
        ServiceError::Invalid { message, .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Check your input",
            capitalize(&message),
        ),
        ServiceError::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "The database cannot be reached right now. Please try again in a moment.".to_string(),
        ),
        ServiceError::RateLimited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            format!("Please wait {retry_after_secs} seconds and try again."),
        ),
        other => {
            if let ServiceError::Internal(msg) = &other {
                tracing::error!(error = %msg, "internal error on a page");
            }
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on our side. Please try again.".to_string(),
            )
        }
    };
    render(
        status,
        &ErrorPage {
            title: heading.to_string(),
            nav: p.map(|p| Nav::new(p, "")),
            notice: None,
            error: None,
            heading: heading.to_string(),
            message,
        },
    )
}

pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => {
            f.to_uppercase().chain(c).collect::<String>() + if s.ends_with('.') { "" } else { "." }
        }
        None => String::new(),
    }
}

/// A urlencoded form body, read leniently: repeated keys are kept (checkbox lists) and a
/// malformed body is just empty fields, which validation then names.
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").to_string()
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The CSRF token of a page form must match the session's.
    // The error is the page to answer with, as for axum's own extractors' rejections.
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, p: &Principal) -> Result<(), Response> {
        if super::request::constant_time_eq(self.get("csrf_token").unwrap_or(""), &p.csrf_token) {
            Ok(())
        } else {
            Err(error_page_for(
                Some(p),
                ServiceError::Forbidden(
                    "this form has expired or came from another site; reload the page and try again"
                        .to_string(),
                ),
            ))
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response())?;
        Ok(FormData(
            form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
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

/// `back` with `done` (and `n`) set, replacing any earlier notice.
pub fn with_notice(back: &str, done: &str, n: Option<usize>) -> String {
    let (path, query) = back.split_once('?').unwrap_or((back, ""));
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "done" && k != "n")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.push(("done".into(), done.into()));
    if let Some(n) = n {
        pairs.push(("n".into(), n.to_string()));
    }
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{q}")
}

/// The message a `done` parameter stands for.
pub fn notice(done: Option<&str>, n: Option<&str>) -> Option<String> {
    let n: Option<usize> = n.and_then(|n| n.parse().ok());
    Some(match done? {
        "ended" => match n.unwrap_or(0) {
            0 => "There was no active session to end.".to_string(),
            1 => "1 session ended. The person has been signed out.".to_string(),
            k => format!("{k} sessions ended. Those people have been signed out."),
        },
        "added" => "Added. They can sign in now.".to_string(),
        "saved" => "Changes saved.".to_string(),
        "disabled" => "Account disabled. Its sessions have ended.".to_string(),
        "enabled" => "Account enabled. They can sign in again.".to_string(),
        _ => return None,
    })
}

/// A session as pages show it.
pub struct SessionRow {
    pub id: String,
    pub started: String,
    pub started_iso: String,
    pub last_seen: String,
    pub ip: String,
    pub device: String,
    pub user_agent: String,
    pub current: bool,
    pub ip_match: bool,
    pub ua_match: bool,
}

impl SessionRow {
    pub fn new(s: &Session) -> Self {
        Self {
            id: s.id.clone(),
            started: human(s.started_at),
            started_iso: rfc3339(s.started_at),
            last_seen: human(s.last_seen_at),
            ip: s.ip.clone(),
            device: s.device.clone(),
            user_agent: s.user_agent.clone(),
            current: false,
            ip_match: false,
            ua_match: false,
        }
    }
}

pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}
