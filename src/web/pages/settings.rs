//! The Security page and "My sessions".

use askama::Template;
use axum::extract::{Path, State};

use crate::domain::office::NetworkPolicy;
use crate::service::settings::SecurityChange;
use crate::service::{Principal, ServiceError};
use crate::web::AppState;

use super::confirm::{Confirm, THIS_BROWSER, confirm};
use super::{
    InPage, Layout, PageError, PageResult, PageUser, SessionRow, SignedForm, capitalize,
    counted_noun, render, see_other,
};

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    layout: Layout,
    amount: String,
    unit: &'static str,
    admin_hours: i64,
    lifetime_hours: String,
    max_sessions: String,
    /// One office network a line: the range, then its name.
    networks: String,
    agents_policy: &'static str,
    admins_policy: &'static str,
    /// Only the primary administrator may change the administrators' policy.
    primary: bool,
    /// Why the last save needs confirming (it would lock the saver out), with the form's
    /// values kept for "Save anyway".
    confirm_why: Option<String>,
    mfa_agents: bool,
    mfa_admins: bool,
}

/// The office-network part of the form as submitted, shown again on the confirmation step.
#[derive(Default)]
struct Draft {
    networks: Option<String>,
    agents: Option<String>,
    admins: Option<String>,
    confirm_why: Option<String>,
}

/// The policies as the form's select values.
fn policy_value(text: Option<&str>, current: NetworkPolicy) -> &'static str {
    text.and_then(|t| t.parse::<NetworkPolicy>().ok())
        .unwrap_or(current)
        .as_str()
}

async fn security(
    state: &AppState,
    p: &Principal,
    layout: impl FnOnce(Layout) -> Layout,
) -> PageResult {
    security_with(state, p, layout, Draft::default()).await
}

async fn security_with(
    state: &AppState,
    p: &Principal,
    layout: impl FnOnce(Layout) -> Layout,
    draft: Draft,
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
            max_sessions: s
                .max_sessions_per_person
                .map(|n| n.to_string())
                .unwrap_or_default(),
            networks: draft.networks.unwrap_or_else(|| {
                s.office_networks
                    .iter()
                    .map(|n| format!("{} {}", n.cidr, n.name).trim_end().to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
            agents_policy: policy_value(draft.agents.as_deref(), s.office_network_policy.agents),
            admins_policy: policy_value(draft.admins.as_deref(), s.office_network_policy.admins),
            primary: p.actor.primary,
            confirm_why: draft.confirm_why,
            mfa_agents: s.mfa_required.agents,
            mfa_admins: s.mfa_required.admins,
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
    let max_sessions = form.text("max_sessions");
    let max_sessions = match max_sessions.trim() {
        "" => None,
        n => Some(n.parse::<i64>().map_err(|_| {
            "The number of sessions per person must be a whole number from 1 to 10, or empty."
                .to_string()
        })?),
    };
    let office_networks = form.get("office_networks").map(|text| {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| match l.split_once(char::is_whitespace) {
                Some((cidr, name)) => (cidr.to_string(), name.trim().to_string()),
                None => (l.to_string(), String::new()),
            })
            .collect()
    });
    Ok(SecurityChange {
        agent_idle_timeout_minutes: Some(minutes),
        max_session_lifetime_minutes: Some(lifetime),
        max_sessions_per_person: Some(max_sessions),
        office_networks,
        agents_network_policy: form.get("agents_network_policy").map(str::to_string),
        admins_network_policy: form.get("admins_network_policy").map(str::to_string),
        confirm: form.get("confirm") == Some("yes"),
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
        "office_networks" | "office_network_policy" => capitalize(message),
        "max_sessions_per_person" => {
            "The number of sessions per person must be from 1 to 10, or empty for no limit."
                .to_string()
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
            security_with(&state, &p, |l| l.with_error(error), draft(&form, None)).await
        }
        Err(ServiceError::WouldLockOutSelf(why)) => {
            let why = Some(format!(
                "Nothing was saved yet: {}.",
                why.split("; send").next().unwrap_or(&why)
            ));
            security_with(&state, &p, |l| l, draft(&form, why)).await
        }
        Err(e) => Err(e).in_page(&p),
    }
}

fn draft(form: &super::FormData, confirm_why: Option<String>) -> Draft {
    Draft {
        networks: form.get("office_networks").map(str::to_string),
        agents: form.get("agents_network_policy").map(str::to_string),
        admins: form.get("admins_network_policy").map(str::to_string),
        confirm_why,
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

/// Ends one of the person's own sessions, after a confirmation (the dialog, or without
/// JavaScript this page).
pub async fn end_mine(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    if form.get("confirm") != Some("yes") {
        let me = state.svc.me(&p.actor).await.in_page(&p)?;
        let Some(s) = me.sessions.iter().find(|s| s.id == id) else {
            return Err(PageError::of(&p, ServiceError::NotFound));
        };
        let row = SessionRow::new(s);
        return Ok(confirm(
            &p,
            Confirm {
                nav: "me",
                heading: "End this session?",
                message: format!(
                    "End your session in {} at {}? That browser will be signed out.",
                    row.device, row.ip
                ),
                warning: (s.id == p.session.id).then(|| THIS_BROWSER.to_string()),
                sessions: vec![row],
                action: format!("/me/sessions/{id}/end"),
                back: "/me/sessions".into(),
                button: "End this session",
                ..Confirm::default()
            },
        ));
    }
    state.svc.end_own_session(&p.actor, &id).await.in_page(&p)?;
    Ok(see_other("/me/sessions"))
}

/// Ends every other session of the person, after a confirmation listing them.
pub async fn end_others(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    if form.get("confirm") != Some("yes") {
        let me = state.svc.me(&p.actor).await.in_page(&p)?;
        let others: Vec<SessionRow> = me
            .sessions
            .iter()
            .filter(|s| s.id != p.session.id)
            .map(SessionRow::new)
            .collect();
        return Ok(confirm(
            &p,
            Confirm {
                nav: "me",
                heading: "End all other sessions?",
                message: format!(
                    "End {} of yours? Those browsers will be signed out; this one stays signed in.",
                    counted_noun(others.len(), "other session", "other sessions")
                ),
                sessions: others,
                action: "/me/sessions/end-others".into(),
                back: "/me/sessions".into(),
                button: "End other sessions",
                ..Confirm::default()
            },
        ));
    }
    state.svc.end_other_sessions(&p.actor).await.in_page(&p)?;
    Ok(see_other("/me/sessions"))
}
