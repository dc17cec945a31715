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
    mfa_required: Option<MfaRequiredBody>,
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
        && b.mfa_required.is_none()
    {
        return Err(ApiError::invalid(
            "agent_idle_timeout_minutes: required (a whole number of minutes)",
        ));
    }
    let s = state
        .svc
        .change_security_settings(
            &p.actor,
            SecurityChange {
                agent_idle_timeout_minutes: b.agent_idle_timeout_minutes,
                max_session_lifetime_minutes: b.max_session_lifetime_minutes,
                mfa_required_agents: b.mfa_required.as_ref().and_then(|m| m.agents),
                mfa_required_admins: b.mfa_required.as_ref().and_then(|m| m.admins),
            },
        )
        .await?;
    Ok(body(&s))
}
