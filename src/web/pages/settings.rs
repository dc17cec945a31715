//! The Security page and "My sessions".

use askama::Template;
use axum::extract::{Path, State};

use crate::service::settings::SecurityChange;
use crate::service::{Principal, ServiceError};
use crate::web::AppState;

use super::{
    InPage, Layout, PageResult, PageUser, SessionRow, SignedForm, capitalize, render, see_other,
};

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    layout: Layout,
    amount: String,
    unit: &'static str,
    admin_hours: i64,
    lifetime_hours: String,
    mfa_agents: bool,
    mfa_admins: bool,
    primary: bool,
}

async fn security(
    state: &AppState,
    p: &Principal,
    layout: impl FnOnce(Layout) -> Layout,
) -> PageResult {
    let s = state.svc.security_settings(&p.actor).await.in_page(p)?;
    let m = s.agent_idle_timeout_minutes;
    let (amount, unit) = if m % 60 == 0 {
        (m / 60, "hours")
    } else {
        (m, "minutes")
    };
    let layout = layout(Layout::signed_in(p, "security", "Security"));
    Ok(render(
        layout.status(),
        &SecurityPage {
            layout,
            amount: amount.to_string(),
            unit,
            admin_hours: s.admin_idle_timeout_minutes / 60,
            lifetime_hours: s
                .max_session_lifetime_minutes
                .map(|m| (m / 60).to_string())
                .unwrap_or_default(),
            mfa_agents: s.mfa_required.agents,
            mfa_admins: s.mfa_required.admins,
            primary: p.actor.primary,
        },
    ))
}

pub async fn security_page(State(state): State<AppState>, PageUser(p): PageUser) -> PageResult {
    security(&state, &p, |l| l).await
}

/// The Security form's values as minutes, or the sentence saying what is wrong with them.
fn security_change(form: &super::FormData) -> Result<SecurityChange, String> {
    let amount = form.text("amount");
    let n = amount
        .trim()
        .parse::<i64>()
        .map_err(|_| format!("The timeout must be a whole number, got \"{amount}\"."))?;
    let minutes = match form.get("unit") {
        Some("hours") => n.checked_mul(60),
        Some("minutes") => Some(n),
        _ => return Err("Choose minutes or hours.".into()),
    }
    .ok_or("The timeout is too large.")?;
    let lifetime = form.text("lifetime_hours");
    let lifetime = match lifetime.trim() {
        "" => None,
        h => match h.parse::<i64>() {
            Ok(h) if h > 0 => Some(h.saturating_mul(60)),
            _ => {
                return Err(
                    "The absolute lifetime must be a whole number of hours, or empty.".into(),
                );
            }
        },
    };
    Ok(SecurityChange {
        agent_idle_timeout_minutes: Some(minutes),
        max_session_lifetime_minutes: Some(lifetime),
        mfa_required_agents: Some(form.get("mfa_agents") == Some("yes")),
        mfa_required_admins: Some(form.get("mfa_admins") == Some("yes")),
    })
}

/// The page's words for a setting the service refused, by the field it names.
fn settings_error(field: &str, message: &str) -> String {
    match field {
        "agent_idle_timeout_minutes" => {
            "The agents' timeout must be between 5 minutes and 90 days.".to_string()
        }
        "max_session_lifetime_minutes" => {
            "The absolute lifetime must be between 5 minutes and 360 days, or empty.".to_string()
        }
        _ => capitalize(message),
    }
}

pub async fn security_submit(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let change = match security_change(&form) {
        // Only the primary administrator sees the administrators' box enabled.
        Ok(c) if !p.actor.primary => SecurityChange {
            mfa_required_admins: None,
            ..c
        },
        Ok(c) => c,
        Err(e) => return security(&state, &p, |l| l.with_error(Some(e))).await,
    };
    match state.svc.change_security_settings(&p.actor, change).await {
        Ok(_) => {
            let saved = Some("Security settings saved.".to_string());
            security(&state, &p, |l| l.with_notice(saved)).await
        }
        Err(ServiceError::Invalid { field, message }) => {
            let error = Some(settings_error(&field, &message));
            security(&state, &p, |l| l.with_error(error)).await
        }
        Err(e) => Err(e).in_page(&p),
    }
}

#[derive(Template)]
#[template(path = "my_sessions.html")]
struct MySessionsPage {
    layout: Layout,
    sessions: Vec<SessionRow>,
}

async fn my_sessions_page(
    state: &AppState,
    p: &Principal,
    layout: impl FnOnce(Layout) -> Layout,
) -> PageResult {
    let v = state.svc.me(&p.actor).await.in_page(p)?;
    let sessions = v
        .sessions
        .iter()
        .map(|s| {
            let mut row = SessionRow::new(s);
            row.current = s.id == p.session.id;
            row
        })
        .collect();
    let layout = layout(Layout::signed_in(p, "me", "My sessions"));
    Ok(render(
        layout.status(),
        &MySessionsPage { layout, sessions },
    ))
}

pub async fn change_password(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let end_others = form.get("end_others") == Some("yes");
    let changed = state
        .svc
        .change_own_password(
            &p.actor,
            form.text("current_password"),
            form.text("new_password"),
            end_others,
        )
        .await;
    match changed {
        Ok(n) => {
            let msg = if end_others {
                format!(
                    "Password changed. {n} other session{} ended.",
                    if n == 1 { "" } else { "s" }
                )
            } else {
                "Password changed.".to_string()
            };
            my_sessions_page(&state, &p, |l| l.with_notice(Some(msg))).await
        }
        Err(ServiceError::Invalid { message, .. }) => {
            let error = Some(capitalize(&message));
            my_sessions_page(&state, &p, |l| l.with_error(error)).await
        }
        Err(e) => Err(e).in_page(&p),
    }
}

pub async fn my_sessions(State(state): State<AppState>, PageUser(p): PageUser) -> PageResult {
    my_sessions_page(&state, &p, |l| l).await
}

pub async fn end_mine(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(p, _): SignedForm,
) -> PageResult {
    state.svc.end_own_session(&p.actor, &id).await.in_page(&p)?;
    Ok(see_other("/me/sessions"))
}

pub async fn end_others(State(state): State<AppState>, SignedForm(p, _): SignedForm) -> PageResult {
    state.svc.end_other_sessions(&p.actor).await.in_page(&p)?;
    Ok(see_other("/me/sessions"))
}
