//! The Security settings endpoint.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::office::{NetworkPolicy, OfficeNetwork};
use crate::domain::sso::SsoRole;
use crate::service::settings::{SecurityChange, SecuritySettings};
use crate::service::sso::SsoChange;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::request::ApiUser;

use super::ApiJson;
use super::shapes::Sorted;

#[derive(Serialize, ToSchema)]
#[schema(as = SecuritySettings)]
pub struct SettingsJson {
    pub agent_idle_timeout_minutes: i64,
    /// Fixed: 72 h.
    pub admin_idle_timeout_minutes: i64,
    /// Agents' absolute session lifetime; null: none.
    pub max_session_lifetime_minutes: Option<i64>,
    /// Agents' live sessions each; null: no limit (nobody holds more than 100).
    pub max_sessions_per_person: Option<i64>,
    pub office_networks: Vec<NetworkJson>,
    pub office_network_policy: PoliciesJson,
    pub mfa_required: MfaRequiredJson,
    /// Who is told by e-mail about a sign-in from a browser without their device pass
    /// (default: administrators only).
    pub signin_alerts: SigninAlertsJson,
    /// Single sign-on with the company's identity provider (OpenID Connect).
    pub sso: SsoJson,
}

/// Single sign-on's settings. The client secret is never returned: `has_client_secret` says
/// whether one is kept.
#[derive(Serialize, ToSchema)]
#[schema(as = SsoSettings)]
pub struct SsoJson {
    /// The provider's issuer URL; empty: none set up.
    pub issuer: String,
    pub client_id: String,
    pub has_client_secret: bool,
    /// The sign-in page says "Sign in with {button_label}".
    pub button_label: String,
    pub agents: SsoRole,
    pub admins: SsoRole,
    /// Exact domains whose unknown addresses become agents at their first sign-in (with
    /// `create_agents`); subdomains are not included.
    pub allowed_domains: Vec<String>,
    pub create_agents: bool,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    /// The back-channel logout URI to register at the provider.
    pub backchannel_logout_uri: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = OfficeNetwork)]
pub struct NetworkJson {
    /// IPv4 or IPv6 CIDR.
    pub cidr: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = NetworkPolicies)]
pub struct PoliciesJson {
    pub agents: NetworkPolicy,
    pub admins: NetworkPolicy,
}

#[derive(Serialize, ToSchema)]
#[schema(as = MfaRequiredSettings)]
pub struct MfaRequiredJson {
    pub agents: bool,
    pub admins: bool,
}

#[derive(Serialize, ToSchema)]
#[schema(as = SigninAlertSettings)]
pub struct SigninAlertsJson {
    pub agents: bool,
    pub admins: bool,
}

impl From<SecuritySettings> for SettingsJson {
    fn from(s: SecuritySettings) -> Self {
        Self {
            agent_idle_timeout_minutes: s.agent_idle_timeout_minutes,
            admin_idle_timeout_minutes: s.admin_idle_timeout_minutes,
            max_session_lifetime_minutes: s.max_session_lifetime_minutes,
            max_sessions_per_person: s.max_sessions_per_person,
            office_networks: s
                .office_networks
                .into_iter()
                .map(|OfficeNetwork { cidr, name }| NetworkJson { cidr, name })
                .collect(),
            office_network_policy: PoliciesJson {
                agents: s.office_network_policy.agents,
                admins: s.office_network_policy.admins,
            },
            mfa_required: MfaRequiredJson {
                agents: s.mfa_required.agents,
                admins: s.mfa_required.admins,
            },
            signin_alerts: SigninAlertsJson {
                agents: s.signin_alerts.agents,
                admins: s.signin_alerts.admins,
            },
            sso: SsoJson {
                issuer: s.sso.issuer,
                client_id: s.sso.client_id,
                has_client_secret: s.sso.has_client_secret,
                button_label: s.sso.button_label,
                agents: s.sso.roles.agents,
                admins: s.sso.roles.admins,
                allowed_domains: s.sso.allowed_domains,
                create_agents: s.sso.create_agents,
                redirect_uri: s.sso.redirect_uri,
                backchannel_logout_uri: s.sso.backchannel_logout_uri,
            },
        }
    }
}

#[utoipa::path(get, path = "/settings/security", tag = "security",
    operation_id = "get_settings",
    security(("session" = [])),
    responses(
        (status = 200, description = "The Security settings", body = SettingsJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden`: needs `security`", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
) -> Result<Sorted<SettingsJson>, ApiError> {
    Ok(Sorted(state.svc.security_settings(&p.actor).await?.into()))
}

/// Any subset of the fields (at least one besides `confirm`); the others stay as they are.
#[derive(Deserialize, ToSchema)]
#[schema(as = SecurityInput)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    /// 5 minutes to 90 days.
    #[schema(minimum = 5, maximum = 129_600)]
    agent_idle_timeout_minutes: Option<i64>,
    /// Null: no limit (present as null to turn the absolute lifetime off); else 5 minutes to
    /// 360 days.
    #[schema(value_type = Option<i64>, minimum = 5, maximum = 518_400)]
    #[serde(default, deserialize_with = "present")]
    max_session_lifetime_minutes: Option<Option<i64>>,
    /// Null: no limit (present as null to remove it); else 1 to 10.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10)]
    #[serde(default, deserialize_with = "present")]
    max_sessions_per_person: Option<Option<i64>>,
    /// At most 100, replacing the list. Read by hand (`networks`), so that a bad entry is
    /// named by its index.
    #[schema(value_type = Option<Vec<NetworkInput>>, max_items = 100)]
    office_networks: Option<Vec<serde_json::Value>>,
    office_network_policy: Option<PolicyBody>,
    /// Saves a change that would lock out the saving administrator (else 409
    /// `would_lock_out_self`).
    #[serde(default)]
    confirm: bool,
    mfa_required: Option<MfaRequiredBody>,
    signin_alerts: Option<SigninAlertsBody>,
    /// Merged into the saved settings: the fields left out stay as they are. Saving reads
    /// the issuer's discovery document and JWKS; what fails is named in a 422 and nothing
    /// is saved.
    sso: Option<SsoBody>,
}

/// Any of the fields; the others stay as they are. `admins` by the primary administrator
/// only.
#[derive(Deserialize, ToSchema)]
#[schema(as = SsoInput)]
#[serde(deny_unknown_fields)]
pub struct SsoBody {
    /// The provider's issuer URL (https; plain http and private addresses only with
    /// `serve --sso-allow-private`); empty: none.
    issuer: Option<String>,
    client_id: Option<String>,
    /// Write-only: never returned; kept when left out.
    client_secret: Option<String>,
    button_label: Option<String>,
    #[schema(value_type = Option<SsoRole>)]
    agents: Option<String>,
    #[schema(value_type = Option<SsoRole>)]
    admins: Option<String>,
    #[schema(max_items = 50)]
    allowed_domains: Option<Vec<String>>,
    create_agents: Option<bool>,
}

/// An office network on input: `{"cidr", "name"?}` or a bare CIDR string. Only described:
/// `networks` reads the entries.
#[derive(Deserialize, ToSchema)]
#[schema(as = OfficeNetworkInput)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum NetworkInput {
    Cidr(String),
    Named(NamedNetworkInput),
}

#[derive(Deserialize, ToSchema)]
#[schema(as = OfficeNetworkEntry)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NamedNetworkInput {
    cidr: String,
    name: Option<String>,
}

/// Either or both; `admins` by the primary administrator only.
#[derive(Deserialize, ToSchema)]
#[schema(as = NetworkPoliciesInput)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    #[schema(value_type = Option<NetworkPolicy>)]
    agents: Option<String>,
    #[schema(value_type = Option<NetworkPolicy>)]
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

/// Either or both; `admins` by the primary administrator only.
#[derive(Deserialize, ToSchema)]
#[schema(as = MfaRequiredInput)]
#[serde(deny_unknown_fields)]
pub struct MfaRequiredBody {
    agents: Option<bool>,
    admins: Option<bool>,
}

/// Either or both; `admins` by the primary administrator only.
#[derive(Deserialize, ToSchema)]
#[schema(as = SigninAlertsInput)]
#[serde(deny_unknown_fields)]
pub struct SigninAlertsBody {
    agents: Option<bool>,
    admins: Option<bool>,
}

/// Tells "absent" (None) from "null" (Some(None)).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Ok(Some(Option::<i64>::deserialize(d)?))
}

#[utoipa::path(put, path = "/settings/security", tag = "security",
    operation_id = "put_settings",
    security(("session" = [], "csrf" = [])),
    request_body = PutBody,
    responses(
        (status = 200, description = "The settings as changed", body = SettingsJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden` (also a sub-administrator changing an `admins` \
            field of `office_network_policy`, `mfa_required`, `signin_alerts` or `sso`, or the office networks while the `admins` policy is not `off`) or `csrf`", body = ErrorBody),
        (status = 409, description = "`would_lock_out_self`: the change would lock out the caller; \
            send `confirm: true` to save it anyway", body = ErrorBody),
        (status = 422, description = "`invalid_input` (also: the `sso` issuer's discovery \
            document or JWKS could not be read, or its address is refused; nothing is saved)", body = ErrorBody),
    ))]
pub async fn put(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<PutBody>,
) -> Result<Sorted<SettingsJson>, ApiError> {
    if b.agent_idle_timeout_minutes.is_none()
        && b.max_session_lifetime_minutes.is_none()
        && b.max_sessions_per_person.is_none()
        && b.office_networks.is_none()
        && b.office_network_policy.is_none()
        && b.mfa_required.is_none()
        && b.signin_alerts.is_none()
        && b.sso.is_none()
    {
        return Err(ApiError::invalid(
            "agent_idle_timeout_minutes: required (a whole number of minutes)",
        ));
    }
    if b.signin_alerts
        .as_ref()
        .is_some_and(|a| a.agents.is_none() && a.admins.is_none())
    {
        return Err(ApiError::invalid(
            "signin_alerts: give \"agents\", \"admins\" or both, each true or false",
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
                signin_alerts_agents: b.signin_alerts.as_ref().and_then(|a| a.agents),
                signin_alerts_admins: b.signin_alerts.as_ref().and_then(|a| a.admins),
                sso: b
                    .sso
                    .map(|x| SsoChange {
                        issuer: x.issuer,
                        client_id: x.client_id,
                        client_secret: x.client_secret,
                        button_label: x.button_label,
                        agents: x.agents,
                        admins: x.admins,
                        allowed_domains: x.allowed_domains,
                        create_agents: x.create_agents,
                    })
                    .unwrap_or_default(),
            },
        )
        .await?;
    Ok(Sorted(s.into()))
}
