//! The password-reset pages: `/reset` asks for the address and then says to check the inbox
//! (the same words for known and unknown addresses); `/reset/{token}` sets the new password,
//! or says in words that the link is spent, with a way to ask again.

use askama::Template;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::domain::email::Email;
use crate::store::PasswordLink;
use crate::web::AppState;
use crate::web::request::Client;

use super::link::{Submitted, submit_password};
use super::{FieldErrors, FormData, Layout, PageResult, PageTenant, render, see_other};

/// Which of the pages it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The e-mail field.
    Ask,
    /// "Check your e-mail".
    Sent,
    /// The new password (and its confirmation).
    NewPassword,
    /// The link is unknown, used or expired.
    Expired,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    layout: Layout,
    step: Step,
    email: String,
    token: String,
    errors: FieldErrors,
}

impl ResetPage {
    fn new(step: Step) -> Self {
        let title = match step {
            Step::Ask | Step::Sent => "Reset your password",
            Step::NewPassword => "Set a new password",
            Step::Expired => "Link expired",
        };
        ResetPage {
            layout: Layout::public(title),
            step,
            email: String::new(),
            token: String::new(),
            errors: FieldErrors::new(),
        }
    }

    fn expired() -> Response {
        render(StatusCode::GONE, &ResetPage::new(Step::Expired))
    }
}

/// `GET /reset`: the e-mail field.
pub async fn ask_page() -> Response {
    render(StatusCode::OK, &ResetPage::new(Step::Ask))
}

/// `POST /reset`: queues the message (or not) and says the same either way.
pub async fn ask_submit(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    client: Client,
    form: FormData,
) -> PageResult {
    let email = form.text("email");
    let mut errors = FieldErrors::new();
    errors.check("email", Email::parse(&email));
    if errors.is_empty() {
        match state
            .svc
            .request_password_reset(&account_id, &email, client.ip)
            .await
        {
            Ok(()) => {
                let mut page = ResetPage::new(Step::Sent);
                page.email = email.trim().to_string();
                return Ok(render(StatusCode::OK, &page));
            }
            Err(e) => errors.absorb(e, |f| f)?,
        }
    }
    let mut page = ResetPage::new(Step::Ask);
    page.layout = page.layout.with_error(errors.summary());
    page.email = email;
    page.errors = errors;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// `GET /reset/{token}`: the new password's form, or why the link no longer works. Coming
/// from a sign-in alert's "This wasn't me" (`from=alert`), it says that session has ended.
pub async fn link_page(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let usable = state
        .svc
        .password_link_usable(PasswordLink::Reset, &account_id, &token)
        .await?;
    if !usable {
        return Ok(ResetPage::expired());
    }
    let mut page = ResetPage::new(Step::NewPassword);
    if q.get("from").map(String::as_str) == Some("alert") {
        page.layout = page.layout.with_notice(Some(
            "That session has ended: the browser is signed out. Now set a new password, so \
             whoever it was cannot sign in again. This link works once, for one hour."
                .to_string(),
        ));
    }
    page.token = token;
    Ok(render(StatusCode::OK, &page))
}

/// `POST /reset/{token}`: sets the password, then the sign-in page says so.
pub async fn link_submit(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    client: Client,
    Path(token): Path<String>,
    form: FormData,
) -> PageResult {
    let set = |new| {
        state
            .svc
            .confirm_password_reset(&account_id, &token, new, client.ip)
    };
    let errors = match submit_password(&form, set).await? {
        Submitted::Set(()) => return Ok(see_other("/login?reason=password_reset")),
        Submitted::Expired => return Ok(ResetPage::expired()),
        Submitted::Refused(errors) => errors,
    };
    let mut page = ResetPage::new(Step::NewPassword);
    page.layout = page.layout.with_error(errors.summary());
    page.token = token;
    page.errors = errors;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
