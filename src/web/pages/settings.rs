//! The Security page and "My sessions".

use askama::Template;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};

use crate::domain::office::{self, NetworkPolicy};
use crate::domain::password;
use crate::domain::session;
use crate::service::settings::SecurityChange;
use crate::service::{Principal, ServiceError};
use crate::web::AppState;

use super::confirm::{Confirm, THIS_BROWSER, confirm};
use super::{
    FieldErrors, InPage, Layout, PageError, PageResult, PageUser, SessionRow, SignedForm,
    capitalize, counted_noun, render, see_other, viewer_zone,
};

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    layout: Layout,
    amount: String,
    unit: &'static str,
    admin_hours: i64,
    /// The absolute lifetime in minutes, the unit it is stored in, so that saving the form
    /// writes back exactly what was shown.
    lifetime_minutes: String,
    /// The absolute lifetime's limits in minutes, for the browser's min and max.
    lifetime_bounds: (i64, i64),
    max_sessions: String,
    /// One office network a line: the range, then its name.
    networks: String,
    agents_policy: &'static str,
    admins_policy: &'static str,
    /// Only the primary administrator may change the administrators' policy.
    primary: bool,
    /// The ranges are the primary's too while the administrators' policy is on.
    networks_locked: bool,
    /// Why the last save needs confirming (it would lock the saver out), with the form's
    /// values kept for "Save anyway".
    confirm_why: Option<String>,
    mfa_agents: bool,
    mfa_admins: bool,
    /// The sign-in alert boxes as shown, and the values they were drawn from (sent back, so
    /// that saving changes only a box its user changed: never what someone else set since).
    alerts: Alerts,
    errors: FieldErrors,
    /// The timeout's limits in each unit, for the browser's min and max.
    minutes: (i64, i64),
    hours: (i64, i64),
}

/// The sign-in alert checkboxes: as ticked, and as they were when the page was drawn.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Alerts {
    agents: bool,
    admins: bool,
    agents_was: bool,
    admins_was: bool,
}

impl Alerts {
    /// As the form sent them, if the form had them.
    fn posted(form: &super::FormData) -> Option<Alerts> {
        let yes = |k: &str| form.get(k) == Some("yes");
        (form.get("alerts_shown") == Some("yes")).then(|| Alerts {
            agents: yes("alerts_agents"),
            admins: yes("alerts_admins"),
            agents_was: yes("alerts_agents_was"),
            admins_was: yes("alerts_admins_was"),
        })
    }

    /// The change the form asks for: only the boxes its user changed.
    fn change(self) -> (Option<bool>, Option<bool>) {
        (
            (self.agents != self.agents_was).then_some(self.agents),
            (self.admins != self.admins_was).then_some(self.admins),
        )
    }
}

/// The unit the agents' timeout is typed in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Unit {
    Minutes,
    Hours,
}

impl Unit {
    fn parse(s: &str) -> Option<Unit> {
        match s {
            "minutes" => Some(Unit::Minutes),
            "hours" => Some(Unit::Hours),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Unit::Minutes => "minutes",
            Unit::Hours => "hours",
        }
    }

    fn minutes(self) -> i64 {
        match self {
            Unit::Minutes => 1,
            Unit::Hours => 60,
        }
    }

    /// The whole amounts of this unit the timeout may be: 5 minutes (1 hour) to 90 days.
    fn bounds(self) -> (i64, i64) {
        let (min, max) = (
            session::MIN_AGENT_IDLE_TIMEOUT_MINUTES,
            session::MAX_AGENT_IDLE_TIMEOUT_MINUTES,
        );
        let per = self.minutes();
        ((min + per - 1) / per, max / per)
    }

    /// "1 hour", "129600 minutes".
    fn of(self, n: i64) -> String {
        let unit = self.as_str();
        if n == 1 {
            format!("1 {}", &unit[..unit.len() - 1])
        } else {
            format!("{n} {unit}")
        }
    }
}

/// The agents' timeout as typed, in minutes, with any error worded in the unit typed.
fn timeout_minutes(amount: &str, unit: Option<&str>, errors: &mut FieldErrors) -> Option<i64> {
    let Some(unit) = unit.and_then(Unit::parse) else {
        errors.add("unit", "choose minutes or hours");
        return None;
    };
    let Ok(n) = amount.trim().parse::<i64>() else {
        errors.add(
            "amount",
            format!(
                "the timeout must be a whole number of {}, got \"{}\"",
                unit.as_str(),
                amount.trim()
            ),
        );
        return None;
    };
    let (min, max) = unit.bounds();
    if n < min {
        errors.add(
            "amount",
            format!("the timeout must be at least {}", unit.of(min)),
        );
        None
    } else if n > max {
        errors.add(
            "amount",
            format!("the timeout must be at most {} (90 days)", unit.of(max)),
        );
        None
    } else {
        Some(n * unit.minutes())
    }
}

/// The Security form as submitted, shown again when it is refused or needs confirming.
#[derive(Default)]
struct Draft {
    amount: Option<String>,
    unit: Option<String>,
    lifetime: Option<String>,
    max_sessions: Option<String>,
    networks: Option<String>,
    agents: Option<String>,
    admins: Option<String>,
    mfa: Option<(bool, bool)>,
    alerts: Option<Alerts>,
    confirm_why: Option<String>,
    errors: FieldErrors,
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
    let (amount, unit) = match (draft.amount, draft.unit.as_deref().and_then(Unit::parse)) {
        (Some(a), Some(u)) => (a, u),
        _ if m % 60 == 0 => ((m / 60).to_string(), Unit::Hours),
        _ => (m.to_string(), Unit::Minutes),
    };
    let mut layout = layout(Layout::signed_in(p, "security", "Security"));
    if !draft.errors.is_empty() && layout.error.is_none() {
        layout.error = draft.errors.summary();
    }
    let (mfa_agents, mfa_admins) = draft
        .mfa
        .unwrap_or((s.mfa_required.agents, s.mfa_required.admins));
    let mut alerts = draft.alerts.unwrap_or(Alerts {
        agents: s.signin_alerts.agents,
        admins: s.signin_alerts.admins,
        agents_was: s.signin_alerts.agents,
        admins_was: s.signin_alerts.admins,
    });
    if !p.actor.primary {
        // Shown disabled, as it is.
        alerts.admins = s.signin_alerts.admins;
        alerts.admins_was = s.signin_alerts.admins;
    }
    Ok(render(
        layout.status(),
        &SecurityPage {
            layout,
            amount,
            unit: unit.as_str(),
            admin_hours: s.admin_idle_timeout_minutes / 60,
            lifetime_minutes: draft.lifetime.unwrap_or_else(|| {
                s.max_session_lifetime_minutes
                    .map(|m| m.to_string())
                    .unwrap_or_default()
            }),
            lifetime_bounds: (LIFETIME_MIN_MINUTES, LIFETIME_MAX_MINUTES),
            max_sessions: draft.max_sessions.unwrap_or_else(|| {
                s.max_sessions_per_person
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            }),
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
            networks_locked: !p.actor.primary
                && s.office_network_policy.admins != NetworkPolicy::Off,
            confirm_why: draft.confirm_why,
            mfa_agents,
            mfa_admins: if p.actor.primary {
                mfa_admins
            } else {
                s.mfa_required.admins
            },
            alerts,
            errors: draft.errors,
            minutes: Unit::Minutes.bounds(),
            hours: Unit::Hours.bounds(),
        },
    ))
}

pub async fn security_page(State(state): State<AppState>, PageUser(p): PageUser) -> PageResult {
    security(&state, &p, |l| l).await
}

/// The office networks as typed, one a line; each line is checked like the service checks
/// it, and every bad line is named.
fn networks(text: &str, errors: &mut FieldErrors) -> Vec<(String, String)> {
    let list: Vec<(String, String)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((cidr, name)) => (cidr.to_string(), name.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect();
    if list.len() > office::MAX_OFFICE_NETWORKS {
        errors.add(
            "office_networks",
            format!(
                "at most {} office networks, got {}",
                office::MAX_OFFICE_NETWORKS,
                list.len()
            ),
        );
        return list;
    }
    let bad: Vec<String> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .filter_map(|(i, l)| {
            let l = l.trim();
            let (cidr, name) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            office::parse_network(cidr, name.trim())
                .err()
                .map(|e| format!("line {}: {e}", i + 1))
        })
        .collect();
    if !bad.is_empty() {
        errors.add("office_networks", bad.join("; "));
    }
    list
}

/// The Security form's values, every field checked at once (in the unit typed); the service
/// checks them again.
fn security_change(form: &super::FormData) -> Result<SecurityChange, FieldErrors> {
    let mut errors = FieldErrors::new();
    let minutes = timeout_minutes(&form.text("amount"), form.get("unit"), &mut errors);
    let lifetime = match form.text("lifetime_minutes").trim() {
        "" => None,
        m => match m.parse::<i64>() {
            Ok(m) if (LIFETIME_MIN_MINUTES..=LIFETIME_MAX_MINUTES).contains(&m) => Some(m),
            _ => {
                errors.add(
                    "lifetime_minutes",
                    format!(
                        "the absolute lifetime must be a whole number of minutes from \
                         {LIFETIME_MIN_MINUTES} to {LIFETIME_MAX_MINUTES} (360 days), or empty"
                    ),
                );
                None
            }
        },
    };
    let max_sessions = match form.text("max_sessions").trim() {
        "" => None,
        n => match n.parse::<i64>() {
            Ok(n) if office::check_max_sessions(n).is_ok() => Some(n),
            _ => {
                errors.add(
                    "max_sessions",
                    "the number of sessions per person must be a whole number from 1 to 10, \
                     or empty for no limit",
                );
                None
            }
        },
    };
    let office_networks = form
        .get("office_networks")
        .map(|text| networks(text, &mut errors));
    for (key, role) in [
        ("agents_network_policy", "agents"),
        ("admins_network_policy", "administrators"),
    ] {
        if let Some(v) = form.get(key)
            && v.parse::<NetworkPolicy>().is_err()
        {
            errors.add(
                key,
                format!("choose off, flag or enforce for {role} outside the office networks"),
            );
        }
    }
    let (alerts_agents, alerts_admins) = Alerts::posted(form).map_or((None, None), Alerts::change);
    match minutes {
        Some(minutes) if errors.is_empty() => Ok(SecurityChange {
            agent_idle_timeout_minutes: Some(minutes),
            max_session_lifetime_minutes: Some(lifetime),
            max_sessions_per_person: Some(max_sessions),
            office_networks,
            agents_network_policy: form.get("agents_network_policy").map(str::to_string),
            admins_network_policy: form.get("admins_network_policy").map(str::to_string),
            confirm: form.get("confirm") == Some("yes"),
            mfa_required_agents: Some(form.get("mfa_agents") == Some("yes")),
            mfa_required_admins: Some(form.get("mfa_admins") == Some("yes")),
            signin_alerts_agents: alerts_agents,
            signin_alerts_admins: alerts_admins,
            sso: Default::default(),
        }),
        _ => Err(errors),
    }
}

/// The absolute lifetime's floor and ceiling, in minutes (5 minutes to 360 days, the
/// service's limits).
const LIFETIME_MIN_MINUTES: i64 = session::MIN_AGENT_IDLE_TIMEOUT_MINUTES;
const LIFETIME_MAX_MINUTES: i64 = session::MAX_AGENT_IDLE_TIMEOUT_MINUTES * 4;

/// The form's field for a setting the service refused, by the field it names.
fn form_field(service_field: &str) -> Option<&'static str> {
    Some(match service_field {
        "agent_idle_timeout_minutes" => "amount",
        "max_session_lifetime_minutes" => "lifetime_minutes",
        "max_sessions_per_person" => "max_sessions",
        "office_networks" => "office_networks",
        "office_network_policy" => "agents_network_policy",
        _ => return None,
    })
}

pub async fn security_submit(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let change = match security_change(&form) {
        // Only the primary administrator sees the administrators' box enabled.
        Ok(c) if !p.actor.primary => SecurityChange {
            mfa_required_admins: None,
            signin_alerts_admins: None,
            ..c
        },
        Ok(c) => c,
        Err(errors) => {
            return security_with(&state, &p, |l| l, draft(&form, None, errors)).await;
        }
    };
    match state.svc.change_security_settings(&p.actor, change).await {
        Ok(_) => {
            let saved = Some("Security settings saved.".to_string());
            security(&state, &p, |l| l.with_notice(saved)).await
        }
        Err(ServiceError::Invalid { field, message }) => {
            let mut errors = FieldErrors::new();
            let general = match form_field(&field) {
                Some(key) => {
                    errors.add(key, &message);
                    None
                }
                None => Some(capitalize(&message)),
            };
            let d = draft(&form, None, errors);
            security_with(&state, &p, |l| l.with_error(general), d).await
        }
        Err(ServiceError::WouldLockOutSelf(why)) => {
            let why = Some(format!(
                "Nothing was saved yet: {}.",
                why.split("; send").next().unwrap_or(&why)
            ));
            security_with(&state, &p, |l| l, draft(&form, why, FieldErrors::new())).await
        }
        Err(e) => Err(e).in_page(&p),
    }
}

fn draft(form: &super::FormData, confirm_why: Option<String>, errors: FieldErrors) -> Draft {
    Draft {
        amount: form.get("amount").map(str::to_string),
        unit: form.get("unit").map(str::to_string),
        lifetime: form.get("lifetime_minutes").map(str::to_string),
        max_sessions: form.get("max_sessions").map(str::to_string),
        networks: form.get("office_networks").map(str::to_string),
        agents: form.get("agents_network_policy").map(str::to_string),
        admins: form.get("admins_network_policy").map(str::to_string),
        mfa: Some((
            form.get("mfa_agents") == Some("yes"),
            form.get("mfa_admins") == Some("yes"),
        )),
        alerts: Alerts::posted(form),
        confirm_why,
        errors,
    }
}

#[derive(Template)]
#[template(path = "my_sessions.html")]
struct MySessionsPage {
    layout: Layout,
    sessions: Vec<SessionRow>,
    /// What is wrong with the password or time-zone form last sent.
    errors: FieldErrors,
    /// The person's own time zone; empty when unset.
    zone: String,
    /// Every zone the form offers.
    zones: Vec<String>,
}

async fn my_sessions_page(
    state: &AppState,
    p: &Principal,
    layout: impl FnOnce(Layout) -> Layout,
    errors: FieldErrors,
) -> PageResult {
    let v = state.svc.me(&p.actor).await.in_page(p)?;
    let sessions = v
        .sessions
        .iter()
        .map(|s| {
            let mut row = SessionRow::new(s, &viewer_zone(p));
            row.current = s.id == p.session.id;
            row
        })
        .collect();
    let mut layout = layout(Layout::signed_in(p, "me", "My sessions"));
    if !errors.is_empty() {
        layout.error = errors.summary();
    }
    Ok(render(
        layout.status(),
        &MySessionsPage {
            layout,
            sessions,
            errors,
            zone: p.time_zone.clone().unwrap_or_default(),
            zones: crate::domain::zone::known_names(),
        },
    ))
}

pub async fn change_password(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let end_others = form.get("end_others") == Some("yes");
    let (current, new) = (form.text("current_password"), form.text("new_password"));
    let mut errors = FieldErrors::new();
    if current.is_empty() {
        errors.add("current_password", "enter your current password");
    }
    if errors
        .check("new_password", password::check_new_password(&new))
        .is_some()
        && new == current
    {
        errors.add(
            "new_password",
            "the new password must differ from the current one",
        );
    }
    if !errors.is_empty() {
        return my_sessions_page(&state, &p, |l| l, errors).await;
    }
    match state
        .svc
        .change_own_password(&p.actor, current, new, end_others)
        .await
    {
        Ok(n) => {
            let msg = if end_others {
                format!(
                    "Password changed. {} ended.",
                    counted_noun(n, "other session", "other sessions")
                )
            } else {
                "Password changed.".to_string()
            };
            my_sessions_page(&state, &p, |l| l.with_notice(Some(msg)), errors).await
        }
        Err(e) => {
            errors.absorb(e, |f| f).in_page(&p)?;
            my_sessions_page(&state, &p, |l| l, errors).await
        }
    }
}

/// Sets or unsets the person's own time zone (My sessions → Time zone). Saved, it redirects,
/// so the page comes back in the new zone; refused, the page says why and nothing changed.
pub async fn set_time_zone(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let zone = form.text("time_zone");
    match state
        .svc
        .set_own_time_zone(&p.actor, Some(zone.as_str()))
        .await
    {
        Ok(_) => Ok(see_other("/me/sessions?done=time_zone#time-zone")),
        Err(e) => {
            let mut errors = FieldErrors::new();
            errors.absorb(e, |f| f).in_page(&p)?;
            my_sessions_page(&state, &p, |l| l, errors).await
        }
    }
}

pub async fn my_sessions(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let notice = ended_notice(&q);
    my_sessions_page(&state, &p, |l| l.with_notice(notice), FieldErrors::new()).await
}

/// What My sessions says after ending some of one's own sessions (the endings redirect here
/// with `done` and the count, so a reload does not end anything again).
fn ended_notice(q: &HashMap<String, String>) -> Option<String> {
    let n: usize = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(0);
    match q.get("done").map(String::as_str) {
        Some("ended") => Some("Session ended. That browser has been signed out.".to_string()),
        Some("time_zone") => Some("Time zone saved.".to_string()),
        Some("others") if n == 0 => Some("You had no other session to end.".to_string()),
        Some("others") => Some(format!(
            "{} ended. {} been signed out.",
            counted_noun(n, "other session", "other sessions"),
            if n == 1 {
                "That browser has"
            } else {
                "Those browsers have"
            }
        )),
        _ => None,
    }
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
        let row = SessionRow::new(s, &viewer_zone(&p));
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
    // When it was this browser's own session, My sessions sends it on to sign in, and the
    // sign-in page says why instead.
    Ok(see_other("/me/sessions?done=ended"))
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
            .map(|s| SessionRow::new(s, &viewer_zone(&p)))
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
    let n = state.svc.end_other_sessions(&p.actor).await.in_page(&p)?;
    Ok(see_other(&format!("/me/sessions?done=others&n={n}")))
}

#[cfg(test)]
mod lockout_confirm_tests {
    use askama::Template;

    use super::{Alerts, FieldErrors, Layout, SecurityPage, Unit};

    /// The self-lockout confirmation comes first in main, where the eye is after
    /// the post, with its "Save anyway" submitting the form below and a way to cancel.
    #[test]
    fn the_confirmation_is_first_with_cancel() {
        let page = SecurityPage {
            layout: Layout::public("Security"),
            amount: "72".into(),
            unit: "hours",
            admin_hours: 72,
            lifetime_minutes: String::new(),
            lifetime_bounds: (5, 518_400),
            max_sessions: String::new(),
            networks: String::new(),
            agents_policy: "off",
            admins_policy: "enforce",
            primary: false,
            networks_locked: false,
            confirm_why: Some("Nothing was saved yet: you would be outside.".into()),
            mfa_agents: false,
            mfa_admins: false,
            alerts: Alerts::default(),
            errors: FieldErrors::new(),
            minutes: Unit::Minutes.bounds(),
            hours: Unit::Hours.bounds(),
        }
        .render()
        .unwrap();
        let main = page.split(r#"<main id="main""#).nth(1).expect("a main");
        let confirm = main
            .find(r#"id="lockout-confirm""#)
            .expect("the confirmation");
        let first_heading = main.find("<h1>").expect("a heading");
        let form = main.find(r#"id="security-form""#).expect("the form");
        assert!(
            confirm < first_heading && confirm < form,
            "the confirmation opens main: {main}"
        );
        assert!(main.contains(
            r#"<button type="submit" form="security-form" name="confirm" value="yes" id="confirm-lockout""#
        ));
        assert!(
            main.contains(r#"href="/security" id="cancel-lockout">Cancel"#),
            "{main}"
        );
    }
}
