//! Invitations in the browser: `/invite/{token}` (choose a password, then, where the account
//! requires one, the second factor's set-up, then in), or in words why the link no longer
//! works; and the Team section's "Resend invitation".

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::service::SignInStep;
use crate::store::PasswordLink;
use crate::web::AppState;
use crate::web::request::Client;
use crate::web::return_to::{ENROL_PAGE, after_new_sign_in};
use crate::web::section::Section;

use super::auth::into_app;
use super::link::{Submitted, submit_password};
use super::{
    FieldErrors, FormData, InPage, Layout, PageResult, PageTenant, SignedForm, render, safe_back,
    see_other, with_notice,
};

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    layout: Layout,
    /// False: the link is unknown, used or expired.
    usable: bool,
    token: String,
    errors: FieldErrors,
}

impl InvitePage {
    fn new(usable: bool, token: String) -> Self {
        InvitePage {
            layout: Layout::public(if usable {
                "Accept your invitation"
            } else {
                "Invitation link expired"
            }),
            usable,
            token,
            errors: FieldErrors::new(),
        }
    }

    fn expired() -> Response {
        render(StatusCode::GONE, &InvitePage::new(false, String::new()))
    }
}

/// `GET /invite/{token}`: the password's form, or why the link no longer works.
pub async fn link_page(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    Path(token): Path<String>,
) -> PageResult {
    let usable = state
        .svc
        .password_link_usable(PasswordLink::Invitation, &account_id, &token)
        .await?;
    if !usable {
        return Ok(InvitePage::expired());
    }
    Ok(render(StatusCode::OK, &InvitePage::new(true, token)))
}

/// `POST /invite/{token}`: sets the password and signs in; where the account requires a
/// second factor, the session may only set one up, and that page comes next.
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
            .accept_invitation(&account_id, &token, new, client.ip, &client.user_agent)
    };
    let errors = match submit_password(&form, set).await? {
        Submitted::Set(step) => return Ok(signed_in(&state, step, client.https)),
        Submitted::Expired => return Ok(InvitePage::expired()),
        Submitted::Refused(errors) => errors,
    };
    let mut page = InvitePage::new(true, token);
    page.layout = page.layout.with_error(errors.summary());
    page.errors = errors;
    Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// Into the app with the new session's cookie: the landing page, or the second factor's
/// set-up when the account requires one.
fn signed_in(state: &AppState, step: SignInStep, https: bool) -> Response {
    let (out, to) = match step {
        SignInStep::SignedIn(out) => {
            let to = after_new_sign_in(state, out.member.kind, None);
            (out, to)
        }
        SignInStep::Enrol(out) => (out, crate::web::prefix::url(ENROL_PAGE)),
        // The password is set; a second step, if ever asked, is the sign-in page's.
        SignInStep::SecondFactor { .. } | SignInStep::ChooseAccount { .. } => {
            return see_other("/login");
        }
    };
    into_app(state, &out, &to, https)
}

/// `POST /team/{kind}/{id}/invitation`: a new link for someone who has not accepted yet.
pub async fn resend<S: Section>(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let back = safe_back(form.get("back"), &format!("/team/{}", S::KIND.plural()));
    state
        .svc
        .resend_invitation(&p.actor, S::KIND, &id)
        .await
        .in_page(&p)?;
    Ok(see_other(&with_notice(&back, "invitation_sent", None)))
}
