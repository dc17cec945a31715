//! What every page shares: the layout around it (title, navigation, notice, error), rendering,
//! and the one error type whose response is the error page.

use std::sync::Arc;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::domain::member::{MemberKind, Permission};
use crate::domain::time::{Millis, human, rfc3339};
use crate::domain::zone::Zone;
use crate::service::{Principal, ServiceError, ServiceResult};
use crate::store::Session;
use crate::web::prefix;

/// The layout's fields, one per page (`layout` in every template).
pub struct Layout {
    /// `--path-prefix`, written before every link of the page.
    pub prefix: Arc<str>,
    pub title: String,
    /// The signed-in person's navigation; `None` on sign-in, setup and public error pages.
    pub nav: Option<Nav>,
    /// Success: something the person did worked.
    pub notice: Option<String>,
    /// Information that is neither success nor error (why a session ended).
    pub info: Option<String>,
    pub error: Option<String>,
}

impl Layout {
    /// A page for the signed-in person, with `section` marked in the navigation.
    pub fn signed_in(p: &Principal, section: &'static str, title: impl Into<String>) -> Self {
        Self {
            prefix: prefix::current(),
            title: title.into(),
            nav: Some(Nav::new(p, section)),
            notice: None,
            info: None,
            error: None,
        }
    }

    /// A page for someone not signed in.
    pub fn public(title: impl Into<String>) -> Self {
        Self {
            prefix: prefix::current(),
            title: title.into(),
            nav: None,
            notice: None,
            info: None,
            error: None,
        }
    }

    pub fn with_notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }

    pub fn with_error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }

    /// The session's CSRF token for the page's forms (empty when not signed in).
    pub fn csrf(&self) -> &str {
        self.nav.as_ref().map_or("", |n| n.csrf.as_str())
    }

    /// 422 when the page shows an input error, else 200.
    pub fn status(&self) -> StatusCode {
        if self.error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }
}

/// What the layout shows of the signed-in person.
pub struct Nav {
    pub name: String,
    /// The account's name: which team's Deskward this is.
    pub account: String,
    pub kind: &'static str,
    pub csrf: String,
    pub agents: bool,
    pub admins: bool,
    pub security: bool,
    pub audit: bool,
    pub section: &'static str,
    /// The person's own time zone, empty when unset: the page's script shows times in it,
    /// or in the browser's zone when it is empty.
    pub zone: String,
}

impl Nav {
    pub fn new(p: &Principal, section: &'static str) -> Self {
        let a = &p.actor;
        Nav {
            name: p.name.clone(),
            account: p.account_name.clone(),
            kind: a.kind.as_str(),
            csrf: p.csrf_token.clone(),
            agents: a.can_view(MemberKind::Agent),
            admins: a.can_view(MemberKind::Admin),
            security: a.has(Permission::Security),
            audit: a.has(Permission::Audit),
            section,
            zone: p.time_zone.clone().unwrap_or_default(),
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

/// 303 to a Deskward path (`/login`; the prefix is added) or to an absolute URL (kept).
pub fn see_other(to: &str) -> Response {
    if to.starts_with('/') && !to.starts_with("//") {
        Redirect::to(&prefix::url(to)).into_response()
    } else {
        Redirect::to(to).into_response()
    }
}

/// What a page handler answers: the page, or the error page for what went wrong.
pub type PageResult = Result<Response, PageError>;

/// A service error on its way to becoming the error page; with the navigation of the person
/// who hit it, when they are signed in.
pub struct PageError {
    // Boxed: the error travels through every handler's `Result`.
    nav: Option<Box<Nav>>,
    error: ServiceError,
}

impl From<ServiceError> for PageError {
    fn from(error: ServiceError) -> Self {
        Self { nav: None, error }
    }
}

/// Turns a service result into a page result whose error page keeps the person's navigation.
pub trait InPage<T> {
    fn in_page(self, p: &Principal) -> Result<T, PageError>;
}

impl<T> InPage<T> for ServiceResult<T> {
    fn in_page(self, p: &Principal) -> Result<T, PageError> {
        self.map_err(|error| PageError::of(p, error))
    }
}

impl PageError {
    pub fn of(p: &Principal, error: ServiceError) -> Self {
        Self {
            nav: Some(Box::new(Nav::new(p, ""))),
            error,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let retry_after = match &self.error {
            ServiceError::TooManyInvitations {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let (status, heading, message) = match self.error {
            ServiceError::Unauthenticated(_) => return see_other("/login"),
            ServiceError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it belongs to another account.".to_string(),
            ),
            ServiceError::Forbidden(msg) => {
                (StatusCode::FORBIDDEN, "Not allowed", capitalize(&msg))
            }
            ServiceError::Invalid { message, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Check your input",
                capitalize(&message),
            ),
            ServiceError::WebhookEndpointOff => (
                StatusCode::CONFLICT,
                "Endpoint turned off",
                capitalize(&ServiceError::WebhookEndpointOff.to_string()),
            ),
            ServiceError::NotInvited => (
                StatusCode::CONFLICT,
                "Not invited",
                capitalize(&ServiceError::NotInvited.to_string()),
            ),
            ServiceError::SsoRequired(msg) => (
                StatusCode::UNAUTHORIZED,
                "Sign in with single sign-on",
                capitalize(&msg),
            ),
            ServiceError::LinkExpired => (
                StatusCode::GONE,
                "Link expired",
                capitalize(&ServiceError::LinkExpired.to_string()),
            ),
            ServiceError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The database cannot be reached right now. Please try again in a moment."
                    .to_string(),
            ),
            ServiceError::TooManyInvitations { message, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many invitations",
                capitalize(&message),
            ),
            ServiceError::RateLimited { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!(
                    "Please wait {} and try again.",
                    super::counted_noun(retry_after_secs as usize, "second", "seconds")
                ),
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
        let layout = Layout {
            prefix: prefix::current(),
            title: heading.to_string(),
            nav: self.nav.map(|n| *n),
            notice: None,
            info: None,
            error: None,
        };
        let mut res = render(
            status,
            &ErrorPage {
                layout,
                heading: heading.to_string(),
                message,
            },
        );
        if let Some(secs) = retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        res
    }
}

/// A sentence for a page: first letter upper-case, full stop at the end.
pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => {
            f.to_uppercase().chain(c).collect::<String>() + if s.ends_with('.') { "" } else { "." }
        }
        None => String::new(),
    }
}

/// The zone a signed-in person's pages show times in: their own, or UTC when they set none
/// (what a page without JavaScript shows; the script moves unset ones to the browser's zone).
pub fn viewer_zone(p: &Principal) -> Zone {
    Zone::or_utc(p.time_zone.as_deref())
}

/// A time as pages show it (`templates/time.html`): in the viewer's zone with the zone
/// named, the instant for the script, and UTC on hover.
#[derive(Debug, Clone)]
pub struct ShownTime {
    /// RFC 3339 in UTC, the `datetime` attribute.
    pub iso: String,
    /// "Dec 6, 2026, 9:48 PM PST".
    pub text: String,
    /// "2026-12-07 05:48 UTC", the title.
    pub utc: String,
    /// The zone `text` is in, by its IANA name: the script keeps the text when it would show
    /// the same zone, so the zone's name reads the same with and without it.
    pub zone: String,
}

impl ShownTime {
    pub fn at(ms: Millis, zone: &Zone) -> Self {
        Self {
            iso: rfc3339(ms),
            text: zone.show(ms),
            utc: human(ms),
            zone: zone.name().to_string(),
        }
    }
}

/// A change during a session ("IP changed at …: a → b").
pub struct Moved {
    pub at: ShownTime,
    pub from: String,
    pub to: String,
}

/// A session as pages show it.
pub struct SessionRow {
    pub id: String,
    pub started: ShownTime,
    pub last_seen: ShownTime,
    pub ip: String,
    pub device: String,
    pub user_agent: String,
    pub current: bool,
    pub ip_match: bool,
    pub ua_match: bool,
    /// "IP changed at 14:02: 203.0.113.24 → 198.51.100.7", when it did.
    pub ip_changed: Option<Moved>,
    /// "Device changed at 14:02: Chrome on Windows → Firefox on Linux", when it did.
    pub device_changed: Option<Moved>,
    /// Outside every office network (under a flag or enforce policy): the address to name.
    pub outside: Option<String>,
    /// How the session was opened: "password + authenticator app".
    pub how: String,
}

impl SessionRow {
    /// The session with its times in `zone` (the viewer's: [`viewer_zone`]).
    pub fn new(s: &Session, zone: &Zone) -> Self {
        Self {
            id: s.id.clone(),
            started: ShownTime::at(s.started_at, zone),
            last_seen: ShownTime::at(s.last_seen_at, zone),
            ip: s.ip.to_string(),
            device: s.device.clone(),
            user_agent: s.user_agent.clone(),
            current: false,
            ip_match: false,
            ua_match: false,
            ip_changed: s
                .ip_changed_at
                .filter(|_| s.last_ip != s.ip)
                .map(|at| Moved {
                    at: ShownTime::at(at, zone),
                    from: s.ip.to_string(),
                    to: s.last_ip.to_string(),
                }),
            device_changed: s
                .device_changed_at
                .filter(|_| s.last_user_agent != s.user_agent)
                .map(|at| Moved {
                    at: ShownTime::at(at, zone),
                    from: s.device.clone(),
                    to: crate::domain::device::describe(&s.last_user_agent),
                }),
            outside: s.outside_office.then(|| s.last_ip.to_string()),
            how: s.auth_methods.label(),
        }
    }
}
