//! What page handlers take from a request: the account, the visitor (signed in or not), the
//! signed-in person, and form bodies, with the CSRF token checked before any handler runs.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::domain::session::EndReason;
use crate::service::{Principal, ServiceError};
use crate::web::AppState;
use crate::web::request::{check_session, constant_time_eq, tenant};

use super::layout::{PageError, see_other};

/// The account of a page; before first-run setup every page leads to `/setup`.
pub struct PageTenant(pub String);

impl FromRequestParts<AppState> for PageTenant {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        tenant(parts, state)
            .await
            .map(PageTenant)
            .map_err(|e| no_account(e, state))
    }
}

/// A page's answer when the account cannot be told: before first-run setup every page leads
/// to `/setup`.
fn no_account(e: ServiceError, state: &AppState) -> Response {
    match e {
        ServiceError::NotFound if state.cfg.base_domain.is_none() => see_other("/setup"),
        e => PageError::from(e).into_response(),
    }
}

/// The signed-in person for a page; without a live session the browser goes to sign-in.
pub struct PageUser(pub Principal);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match Visitor::from_request_parts(parts, state).await? {
            // A session limited to setting up a second factor sees only that page.
            Visitor { user: Some(p), .. }
                if p.session.mfa_enrollment && !enrollment_page(parts.uri.path()) =>
            {
                Err(see_other("/me/security"))
            }
            Visitor { user: Some(p), .. } => Ok(PageUser(p)),
            _ => Err(see_other("/login")),
        }
    }
}

/// The pages a session limited to setting up a second factor may open (with or without the
/// `--path-prefix` in front).
fn enrollment_page(path: &str) -> bool {
    path.ends_with("/me/security") || path.contains("/me/security/") || path.ends_with("/logout")
}

/// Whoever is asking for a page: a signed-in person, or someone whose cookie names a session
/// that has ended (and why, so the sign-in page can say it), or nobody yet.
pub struct Visitor {
    pub account_id: String,
    pub user: Option<Principal>,
    /// The cookie named a session that no longer lets anyone in; the reason, when known.
    pub ended: Option<Option<EndReason>>,
    /// Whose that ended session was, to fill in the sign-in form.
    pub ended_email: Option<String>,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let check = check_session(parts, state)
            .await
            .map_err(|e| no_account(e, state))?;
        let mut visitor = Visitor {
            account_id: check.account_id,
            user: None,
            ended: None,
            ended_email: None,
        };
        let (Some(token), Some(checked)) = (check.token, check.checked) else {
            return Ok(visitor);
        };
        match checked {
            Ok(p) => visitor.user = Some(p),
            Err(ServiceError::Unauthenticated(reason)) => {
                let reason = match reason {
                    Some(r) => Some(r),
                    None => state.svc.end_reason_of(&visitor.account_id, token).await,
                };
                visitor.ended = Some(reason);
                visitor.ended_email = state.svc.email_of_session(&visitor.account_id, token).await;
            }
            Err(e) => return Err(PageError::from(e).into_response()),
        }
        Ok(visitor)
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
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        // Past the limit: the one 413 of the whole app, the API's error shape naming the
        // limit. Any other failed read (the client went away) is what axum says it is, not
        // "too large".
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                crate::web::error::ApiError::body_too_large().into_response()
            } else {
                (e.status(), e.body_text()).into_response()
            }
        })?;
        Ok(FormData(
            form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

/// A form posted by the signed-in person, its CSRF token already checked against the
/// session's: the extractor every state-changing page handler takes.
pub struct SignedForm(pub Principal, pub FormData);

impl FromRequest<AppState> for SignedForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let PageUser(p) = PageUser::from_request_parts(&mut parts, state).await?;
        let form = FormData::from_request(Request::from_parts(parts, body), state).await?;
        check_csrf(&p, &form).map_err(IntoResponse::into_response)?;
        Ok(SignedForm(p, form))
    }
}

/// The CSRF token of a page form must match the session's.
pub fn check_csrf(p: &Principal, form: &FormData) -> Result<(), PageError> {
    if constant_time_eq(form.get("csrf_token").unwrap_or(""), &p.csrf_token) {
        return Ok(());
    }
    let refusal = ServiceError::Forbidden(
        "this form has expired or came from another site; reload the page and try again"
            .to_string(),
    );
    Err(PageError::of(p, refusal))
}
