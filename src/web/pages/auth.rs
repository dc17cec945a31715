//! Sign-in, first-run setup, sign-out and the agents' home page.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::domain::member::{AgentStatus, MemberKind};
use crate::service::auth::NewAccountRequest;
use crate::service::{LoginRequest, ServiceError};
use crate::web::AppState;
use crate::web::api::auth::signed_out_response;
use crate::web::request::{
    Client, PageTenant, PageUser, clear_cookie, session_cookie, session_token,
};

use super::{FormData, Nav, capitalize, error_page, error_page_for, render, see_other};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    title: String,
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    email: String,
    password: String,
    choose: bool,
}

impl LoginPage {
    fn new(email: String) -> Self {
        Self {
            title: "Sign in".into(),
            nav: None,
            notice: None,
            error: None,
            email,
            password: String::new(),
            choose: false,
        }
    }
}

/// `/`: setup first, then the person's landing page by role.
pub async fn home(
    State(state): State<AppState>,
    tenant: Result<PageTenant, Response>,
    headers: axum::http::HeaderMap,
) -> Response {
    let PageTenant(account_id) = match tenant {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(token) = session_token(&headers) else {
        return see_other("/login");
    };
    match state.svc.authenticate(&account_id, token).await {
        Ok(p) => see_other(landing(&p)),
        Err(ServiceError::Unauthenticated(_)) => see_other("/login"),
        Err(e) => error_page(e),
    }
}

fn landing(p: &crate::service::Principal) -> &'static str {
    let a = &p.actor;
    match a.kind {
        MemberKind::Agent => "/agent",
        MemberKind::Admin if a.can_view(MemberKind::Agent) => "/team/agents",
        MemberKind::Admin if a.can_view(MemberKind::Admin) => "/team/admins",
        MemberKind::Admin if a.can_change_security() => "/security",
        MemberKind::Admin => "/me/sessions",
    }
}

/// The sign-in form. A browser whose session was ended is told why, once.
pub async fn login_page(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    client: Client,
    headers: axum::http::HeaderMap,
) -> Response {
    let mut page = LoginPage::new(String::new());
    if let Some(token) = session_token(&headers) {
        match state.svc.authenticate(&account_id, token).await {
            Ok(p) => return see_other(landing(&p)),
            Err(ServiceError::Unauthenticated(reason)) => {
                let reason = match reason {
                    Some(r) => Some(r),
                    None => state.svc.end_reason_of(&account_id, token).await,
                };
                page.notice = reason.map(|r| r.message().to_string());
                let mut res = render(StatusCode::OK, &page);
                if let Ok(v) = HeaderValue::from_str(&clear_cookie(client.https)) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
                return res;
            }
            Err(e) => return error_page(e),
        }
    }
    render(StatusCode::OK, &page)
}

pub async fn login_submit(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    client: Client,
    form: FormData,
) -> Response {
    let email = form.text("email");
    let password = form.text("password");
    let as_kind = form.get("as").and_then(|k| k.parse::<MemberKind>().ok());
    let result = state
        .svc
        .login(LoginRequest {
            account_id,
            email: email.clone(),
            password: password.clone(),
            as_kind,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
        })
        .await;
    let mut page = LoginPage::new(email);
    let status = match result {
        Ok(out) => {
            let mut res = see_other(if out.member.kind == MemberKind::Agent {
                "/agent"
            } else {
                "/"
            });
            if let Ok(v) = HeaderValue::from_str(&session_cookie(&out.token, client.https)) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            return res;
        }
        Err(ServiceError::ChooseAccount) => {
            page.choose = true;
            page.password = password;
            StatusCode::OK
        }
        Err(ServiceError::InvalidCredentials) => {
            page.error = Some("E-mail or password is incorrect.".into());
            StatusCode::UNAUTHORIZED
        }
        Err(ServiceError::AccountDisabled) => {
            page.error = Some("This account has been disabled by an administrator.".into());
            StatusCode::FORBIDDEN
        }
        Err(ServiceError::Invalid { message, .. }) => {
            page.error = Some(capitalize(&message));
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(ServiceError::RateLimited { retry_after_secs }) => {
            page.error = Some(format!(
                "Too many failed attempts. Try again in {retry_after_secs} seconds."
            ));
            let mut res = render(StatusCode::TOO_MANY_REQUESTS, &page);
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
        Err(e) => return error_page(e),
    };
    render(status, &page)
}

pub async fn logout(
    State(state): State<AppState>,
    client: Client,
    user: Result<PageUser, Response>,
    form: FormData,
) -> Response {
    // Signing out of an already-ended session still clears the cookie.
    if let Ok(PageUser(p)) = user {
        if let Err(r) = form.check_csrf(&p) {
            return r;
        }
        if let Err(e) = state.svc.logout(&p, &client.ip).await {
            return error_page_for(Some(&p), e);
        }
    }
    signed_out_response(see_other("/login"), client.https)
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    title: String,
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    name: String,
    admin_name: String,
    admin_email: String,
}

pub async fn setup_page(State(state): State<AppState>) -> Response {
    match state.svc.needs_setup().await {
        Ok(true) => render(
            StatusCode::OK,
            &SetupPage {
                title: "Set up Deskward".into(),
                nav: None,
                notice: None,
                error: None,
                name: String::new(),
                admin_name: String::new(),
                admin_email: String::new(),
            },
        ),
        Ok(false) => see_other("/login"),
        Err(e) => error_page(e),
    }
}

pub async fn setup_submit(
    State(state): State<AppState>,
    client: Client,
    form: FormData,
) -> Response {
    let req = NewAccountRequest {
        name: form.text("name"),
        slug: None,
        admin_name: form.text("admin_name"),
        admin_email: form.text("admin_email"),
        admin_password: form.text("password"),
    };
    let (name, admin_name, admin_email) = (
        req.name.clone(),
        req.admin_name.clone(),
        req.admin_email.clone(),
    );
    let password = req.admin_password.clone();
    match state.svc.create_account(req, true).await {
        Ok((account, admin)) => {
            let _ = state.single_account.set(account.id.clone());
            match state
                .svc
                .login(LoginRequest {
                    account_id: account.id,
                    email: admin.email,
                    password,
                    as_kind: Some(MemberKind::Admin),
                    ip: client.ip,
                    user_agent: client.user_agent,
                })
                .await
            {
                Ok(out) => {
                    let mut res = see_other("/team/agents");
                    if let Ok(v) = HeaderValue::from_str(&session_cookie(&out.token, client.https))
                    {
                        res.headers_mut().insert(header::SET_COOKIE, v);
                    }
                    res
                }
                Err(_) => see_other("/login"),
            }
        }
        Err(ServiceError::Forbidden(_)) => see_other("/login"),
        Err(ServiceError::Invalid { message, .. }) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetupPage {
                title: "Set up Deskward".into(),
                nav: None,
                notice: None,
                error: Some(capitalize(&message)),
                name,
                admin_name,
                admin_email,
            },
        ),
        Err(e) => error_page(e),
    }
}

#[derive(Template)]
#[template(path = "agent_home.html")]
struct AgentHome {
    title: String,
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    name: String,
    status: &'static str,
    status_label: &'static str,
    csrf: String,
}

pub async fn agent_home(State(state): State<AppState>, PageUser(p): PageUser) -> Response {
    if p.actor.kind != MemberKind::Agent {
        return see_other(landing(&p));
    }
    match state.svc.me(&p).await {
        Ok(v) => render(
            StatusCode::OK,
            &AgentHome {
                title: "Home".into(),
                nav: Some(Nav::new(&p, "home")),
                notice: None,
                error: None,
                name: v.member.name.clone(),
                status: v.member.status.as_str(),
                status_label: v.member.status.label(),
                csrf: p.csrf_token.clone(),
            },
        ),
        Err(e) => error_page_for(Some(&p), e),
    }
}

pub async fn set_status(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    form: FormData,
) -> Response {
    if let Err(r) = form.check_csrf(&p) {
        return r;
    }
    let Ok(status) = form.text("status").parse::<AgentStatus>() else {
        return error_page_for(
            Some(&p),
            ServiceError::invalid("status", "status must be online or offline"),
        );
    };
    match state.svc.set_own_status(&p.actor, status).await {
        Ok(_) => see_other("/agent"),
        Err(e) => error_page_for(Some(&p), e),
    }
}
