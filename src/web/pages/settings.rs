//! The Security page and "My sessions".

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::service::ServiceError;
use crate::service::settings::SecurityChange;
use crate::web::AppState;
use crate::web::request::{Client, PageUser};

use super::{FormData, Nav, SessionRow, capitalize, error_page_for, render, see_other};

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    title: String,
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    amount: String,
    unit: &'static str,
    admin_hours: i64,
    lifetime_hours: String,
}

async fn security(
    state: &AppState,
    p: &crate::service::Principal,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    match state.svc.security_settings(&p.actor).await {
        Ok(s) => {
            let m = s.agent_idle_timeout_minutes;
            let (amount, unit) = if m % 60 == 0 {
                (m / 60, "hours")
            } else {
                (m, "minutes")
            };
            render(
                if error.is_some() {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::OK
                },
                &SecurityPage {
                    title: "Security".into(),
                    nav: Some(Nav::new(p, "security")),
                    notice,
                    error,
                    csrf: p.csrf_token.clone(),
                    amount: amount.to_string(),
                    unit,
                    admin_hours: s.admin_idle_timeout_minutes / 60,
                    lifetime_hours: s
                        .max_session_lifetime_minutes
                        .map(|m| (m / 60).to_string())
                        .unwrap_or_default(),
                },
            )
        }
        Err(e) => error_page_for(Some(p), e),
    }
}

pub async fn security_page(State(state): State<AppState>, PageUser(p): PageUser) -> Response {
    security(&state, &p, None, None).await
}

pub async fn security_submit(
    State(state): State<AppState>,
    client: Client,
    PageUser(p): PageUser,
    form: FormData,
) -> Response {
    if let Err(r) = form.check_csrf(&p) {
        return r;
    }
    let amount = form.text("amount");
    let Ok(n) = amount.trim().parse::<i64>() else {
        return security(
            &state,
            &p,
            None,
            Some(format!(
                "The timeout must be a whole number, got \"{amount}\"."
            )),
        )
        .await;
    };
    let minutes = match form.get("unit") {
        Some("hours") => n.checked_mul(60),
        Some("minutes") => Some(n),
        _ => None,
    };
    let Some(minutes) = minutes else {
        return security(&state, &p, None, Some("Choose minutes or hours.".into())).await;
    };
    let lifetime = form.text("lifetime_hours");
    let lifetime = if lifetime.trim().is_empty() {
        None
    } else {
        match lifetime.trim().parse::<i64>() {
            Ok(h) if h > 0 => Some(h * 60),
            _ => {
                return security(
                    &state,
                    &p,
                    None,
                    Some("The absolute lifetime must be a whole number of hours, or empty.".into()),
                )
                .await;
            }
        }
    };
    let change = SecurityChange {
        agent_idle_timeout_minutes: Some(minutes),
        max_session_lifetime_minutes: Some(lifetime),
    };
    match state
        .svc
        .change_security_settings(&p.actor, &client.ip, change)
        .await
    {
        Ok(_) => security(&state, &p, Some("Security settings saved.".into()), None).await,
        Err(ServiceError::Invalid { message, .. }) => {
            let msg = message.replace(
                "agent_idle_timeout_minutes must be",
                "The agents' timeout must be",
            );
            security(&state, &p, None, Some(capitalize(&msg))).await
        }
        Err(e) => error_page_for(Some(&p), e),
    }
}

#[derive(Template)]
#[template(path = "my_sessions.html")]
struct MySessionsPage {
    title: String,
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    sessions: Vec<SessionRow>,
}

async fn my_sessions_page(
    state: &AppState,
    p: &crate::service::Principal,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let v = match state.svc.me(p).await {
        Ok(v) => v,
        Err(e) => return error_page_for(Some(p), e),
    };
    let sessions = v
        .sessions
        .iter()
        .map(|s| {
            let mut row = SessionRow::new(s);
            row.current = s.id == p.session.id;
            row
        })
        .collect();
    render(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &MySessionsPage {
            title: "My sessions".into(),
            nav: Some(Nav::new(p, "me")),
            notice,
            error,
            csrf: p.csrf_token.clone(),
            sessions,
        },
    )
}

pub async fn change_password(
    State(state): State<AppState>,
    client: Client,
    PageUser(p): PageUser,
    form: FormData,
) -> Response {
    if let Err(r) = form.check_csrf(&p) {
        return r;
    }
    let end_others = form.get("end_others") == Some("yes");
    match state
        .svc
        .change_own_password(
            &p,
            &client.ip,
            form.text("current_password"),
            form.text("new_password"),
            end_others,
        )
        .await
    {
        Ok(n) => {
            let msg = if end_others {
                format!(
                    "Password changed. {n} other session{} ended.",
                    if n == 1 { "" } else { "s" }
                )
            } else {
                "Password changed.".to_string()
            };
            my_sessions_page(&state, &p, Some(msg), None).await
        }
        Err(ServiceError::Invalid { message, .. }) => {
            my_sessions_page(&state, &p, None, Some(capitalize(&message))).await
        }
        Err(e) => error_page_for(Some(&p), e),
    }
}

pub async fn my_sessions(State(state): State<AppState>, PageUser(p): PageUser) -> Response {
    my_sessions_page(&state, &p, None, None).await
}

pub async fn end_mine(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> Response {
    if let Err(r) = form.check_csrf(&p) {
        return r;
    }
    match state.svc.end_own_session(&p, &id).await {
        Ok(()) => see_other("/me/sessions"),
        Err(e) => error_page_for(Some(&p), e),
    }
}

pub async fn end_others(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    form: FormData,
) -> Response {
    if let Err(r) = form.check_csrf(&p) {
        return r;
    }
    match state.svc.end_other_sessions(&p).await {
        Ok(_) => see_other("/me/sessions"),
        Err(e) => error_page_for(Some(&p), e),
    }
}
