//! The Security settings endpoint.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::service::settings::{SecurityChange, SecuritySettings};
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::request::ApiUser;

use super::ApiJson;

fn body(s: &SecuritySettings) -> Response {
    Json(json!({
        "agent_idle_timeout_minutes": s.agent_idle_timeout_minutes,
        "admin_idle_timeout_minutes": s.admin_idle_timeout_minutes,
        "max_session_lifetime_minutes": s.max_session_lifetime_minutes,
        "max_sessions_per_person": s.max_sessions_per_person,
        "office_networks": s.office_networks,
        "office_network_policy": {
            "agents": s.office_network_policy.agents,
            "admins": s.office_network_policy.admins,
        },
        "mfa_required": {"agents": s.mfa_required.agents, "admins": s.mfa_required.admins},
    }))
    .into_response()
}

pub async fn get(State(state): State<AppState>, ApiUser(p): ApiUser) -> Result<Response, ApiError> {
    Ok(body(&state.svc.security_settings(&p.actor).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    agent_idle_timeout_minutes: Option<i64>,
    /// Present as null to turn the absolute lifetime off.
    #[serde(default, deserialize_with = "present")]
    max_session_lifetime_minutes: Option<Option<i64>>,
    /// Present as null to remove the limit.
    #[serde(default, deserialize_with = "present")]
    max_sessions_per_person: Option<Option<i64>>,
    /// Entries `{"cidr", "name"}` or bare CIDR strings.
    office_networks: Option<Vec<serde_json::Value>>,
    office_network_policy: Option<PolicyBody>,
    /// Saves a change that would lock out the saving administrator.
    #[serde(default)]
    confirm: bool,
    mfa_required: Option<MfaRequiredBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    agents: Option<String>,
    admins: Option<String>,
}

/// The office networks as (cidr, name), naming the entry that is neither a CIDR string nor
/// `{"cidr", "name"}`.
fn networks(list: &[serde_json::Value]) -> Result<Vec<(String, String)>, ApiError> {
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            match v {
                serde_json::Value::String(c) => Ok((c.clone(), String::new())),
                serde_json::Value::Object(o)
                    if o.keys().all(|k| k == "cidr" || k == "name") && text("cidr").is_some() =>
                {
                    Ok((
                        text("cidr").unwrap_or_default(),
                        text("name").unwrap_or_default(),
                    ))
                }
                _ => Err(ApiError::invalid(format!(
                    "office_networks[{i}]: must be a CIDR string or {{\"cidr\", \"name\"}}, got {v}"
                ))),
            }
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaRequiredBody {
    agents: Option<bool>,
    admins: Option<bool>,
}

/// Tells "absent" (None) from "null" (Some(None)).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Ok(Some(Option::<i64>::deserialize(d)?))
}

pub async fn put(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<PutBody>,
) -> Result<Response, ApiError> {
    if b.agent_idle_timeout_minutes.is_none()
        && b.max_session_lifetime_minutes.is_none()
        && b.max_sessions_per_person.is_none()
        && b.office_networks.is_none()
        && b.office_network_policy.is_none()
        && b.mfa_required.is_none()
    {
        return Err(ApiError::invalid(
            "agent_idle_timeout_minutes: required (a whole number of minutes)",
        ));
    }
    let office_networks = b.office_networks.as_deref().map(networks).transpose()?;
    let (agents, admins) = match b.office_network_policy {
        Some(p) => (p.agents, p.admins),
        None => (None, None),
    };
    let s = state
        .svc
        .change_security_settings(
            &p.actor,
            SecurityChange {
                agent_idle_timeout_minutes: b.agent_idle_timeout_minutes,
                max_session_lifetime_minutes: b.max_session_lifetime_minutes,
                max_sessions_per_person: b.max_sessions_per_person,
                office_networks,
                agents_network_policy: agents,
                admins_network_policy: admins,
                confirm: b.confirm,
                mfa_required_agents: b.mfa_required.as_ref().and_then(|m| m.agents),
                mfa_required_admins: b.mfa_required.as_ref().and_then(|m| m.admins),
            },
        )
        .await?;
    Ok(body(&s))
}
