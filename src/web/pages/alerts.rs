//! The "This wasn't me" page of a sign-in alert: `GET /signin-alert/{token}` shows the session
//! the message was about and asks to end it (a mail scanner that opens the link changes
//! nothing); `POST` ends it and goes on to setting a new password. A link that is unknown, used
//! or expired says so in words.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::domain::mail::human_utc;
use crate::service::ServiceError;
use crate::web::AppState;
use crate::web::request::Client;

use super::{Layout, PageResult, PageTenant, render, see_other};

/// Which of the page's states it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The session, and the button that ends it.
    Confirm,
    /// Ended, but the person may not set a password here (disabled).
    Ended,
    /// The link is unknown, used or expired.
    Expired,
}

#[derive(Template)]
#[template(path = "signin_alert.html")]
struct AlertPage {
    layout: Layout,
    step: Step,
    token: String,
    at: String,
    device: String,
    ip: String,
    /// The session had already ended when the page was drawn.
    already_ended: bool,
}

impl AlertPage {
    fn new(step: Step) -> Self {
        let title = match step {
            Step::Confirm => "Was this you?",
            Step::Ended => "Session ended",
            Step::Expired => "Link expired",
        };
        AlertPage {
            layout: Layout::public(title),
            step,
            token: String::new(),
            at: String::new(),
            device: String::new(),
            ip: String::new(),
            already_ended: false,
        }
    }

    fn expired() -> Response {
        render(StatusCode::GONE, &AlertPage::new(Step::Expired))
    }
}

/// `GET /signin-alert/{token}`: the session, and a button to end it.
pub async fn alert_page(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    Path(token): Path<String>,
) -> PageResult {
    let Some(link) = state.svc.signin_alert_link(&account_id, &token).await? else {
        return Ok(AlertPage::expired());
    };
    let mut page = AlertPage::new(Step::Confirm);
    page.token = token;
    page.at = human_utc(link.started_at);
    page.device = link.device;
    page.ip = link.ip.to_string();
    page.already_ended = link.session_ended;
    Ok(render(StatusCode::OK, &page))
}

/// `POST /signin-alert/{token}`: ends the session, then on to the new password.
pub async fn alert_submit(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    client: Client,
    Path(token): Path<String>,
) -> PageResult {
    match state
        .svc
        .use_signin_alert(&account_id, &token, client.ip)
        .await
    {
        Ok(used) => Ok(match used.reset_token {
            Some(reset) => see_other(&format!("/reset/{reset}?from=alert")),
            None => render(StatusCode::OK, &AlertPage::new(Step::Ended)),
        }),
        Err(ServiceError::LinkExpired) => Ok(AlertPage::expired()),
        Err(e) => Err(e.into()),
    }
}
