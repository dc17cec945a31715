//! The Security section: the agents' inactivity timeout, the optional absolute lifetime and the
//! session policies (`service::policies`).

use crate::domain::audit::AuditKind;
use crate::domain::office::{self, OfficeNetwork, RolePolicies};
use crate::domain::policy::Actor;
use crate::domain::session::{self, ADMIN_IDLE_TIMEOUT_MINUTES};

use super::ending::Scope;
use super::{Service, ServiceError, ServiceResult};
use crate::domain::session::EndReason;
use crate::store::Which;

/// A change to a Security setting with one switch for agents and one for administrators,
/// the administrators' the primary administrator's to change (who must have a second
/// factor, who is told of sign-ins): the check and the audit entry, written once.
pub(crate) struct PerRoleChange {
    /// What the audit entry calls it ("second factor", "sign-in alerts").
    pub what: &'static str,
    /// How a switch reads there, on and off ("required", "optional").
    pub shown: (&'static str, &'static str),
    /// (agents, administrators) before.
    pub before: (bool, bool),
    /// What the request sets; None keeps it.
    pub agents: Option<bool>,
    pub admins: Option<bool>,
}

impl PerRoleChange {
    /// (agents, administrators) after.
    pub fn after(&self) -> (bool, bool) {
        (
            self.agents.unwrap_or(self.before.0),
            self.admins.unwrap_or(self.before.1),
        )
    }

    /// Refuses a change of the administrators' switch by anyone but the primary
    /// administrator, with `refusal`: a sub-administrator could otherwise weaken what guards
    /// or warns their superiors.
    pub fn check(&self, actor: &Actor, refusal: &str) -> ServiceResult<()> {
        if let Some(admins) = self.admins
            && admins != self.before.1
            && !actor.primary
        {
            return Err(ServiceError::Forbidden(refusal.to_string()));
        }
        Ok(())
    }
}

impl Service {
    /// Audits a per-role change that was applied (nothing when nothing changed).
    pub(crate) async fn audit_per_role(&self, actor: &Actor, c: &PerRoleChange) {
        let after = c.after();
        if after == c.before {
            return;
        }
        let show = |b: bool| if b { c.shown.0 } else { c.shown.1 };
        self.audit_by(
            actor,
            AuditKind::SettingsChanged,
            None,
            format!(
                "{} for agents {} → {}, for administrators {} → {}",
                c.what,
                show(c.before.0),
                show(after.0),
                show(c.before.1),
                show(after.1)
            ),
        )
        .await;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySettings {
    pub agent_idle_timeout_minutes: i64,
    pub admin_idle_timeout_minutes: i64,
    pub max_session_lifetime_minutes: Option<i64>,
    /// Agents' live sessions per person (None: no limit beyond the cap of 100).
    pub max_sessions_per_person: Option<i64>,
    pub office_networks: Vec<OfficeNetwork>,
    pub office_network_policy: RolePolicies,
    /// Who must have a second factor.
    pub mfa_required: crate::store::MfaPolicy,
    /// Who is told by e-mail about a sign-in from a new browser.
    pub signin_alerts: crate::domain::mail::SigninAlerts,
    /// Single sign-on with the company's identity provider.
    pub sso: super::sso::SsoView,
}

/// A change request; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct SecurityChange {
    pub agent_idle_timeout_minutes: Option<i64>,
    /// `Some(None)` turns the absolute lifetime off.
    pub max_session_lifetime_minutes: Option<Option<i64>>,
    /// `Some(None)` removes the limit of sessions per person.
    pub max_sessions_per_person: Option<Option<i64>>,
    /// The whole new list, as (cidr, name) entries to validate.
    pub office_networks: Option<Vec<(String, String)>>,
    /// `off`, `flag` or `enforce`, to validate.
    pub agents_network_policy: Option<String>,
    pub admins_network_policy: Option<String>,
    /// Save even though it would lock out the saving administrator from where they are.
    pub confirm: bool,
    /// Whether agents must have a second factor.
    pub mfa_required_agents: Option<bool>,
    /// Whether administrators must: the primary administrator's to change.
    pub mfa_required_admins: Option<bool>,
    /// Whether agents are told about sign-ins from new browsers.
    pub signin_alerts_agents: Option<bool>,
    /// Whether administrators are: the primary administrator's to change.
    pub signin_alerts_admins: Option<bool>,
    /// Single sign-on's settings, merged into the saved ones.
    pub sso: super::sso::SsoChange,
}

impl Service {
    pub async fn security_settings(&self, actor: &Actor) -> ServiceResult<SecuritySettings> {
        if !actor.can_change_security() {
            return Err(ServiceError::needs(
                crate::domain::member::Permission::Security,
            ));
        }
        let a = self.store.account(&actor.account_id).await?;
        let policy = self.fresh_session_policy(&actor.account_id).await?;
        Ok(SecuritySettings {
            agent_idle_timeout_minutes: a.agent_idle_timeout_minutes,
            admin_idle_timeout_minutes: ADMIN_IDLE_TIMEOUT_MINUTES,
            max_session_lifetime_minutes: a.max_session_lifetime_minutes,
            max_sessions_per_person: policy.max_sessions_per_person,
            office_networks: policy.office_networks,
            office_network_policy: policy.roles,
            mfa_required: self.mfa_policy(&actor.account_id).await?,
            signin_alerts: self.signin_alerts(&actor.account_id).await?,
            sso: self.sso_view(&actor.account_id).await?,
        })
    }

    /// Applies at once to existing sessions: every request and the sweep read the setting.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id))]
    pub async fn change_security_settings(
        &self,
        actor: &Actor,
        change: SecurityChange,
    ) -> ServiceResult<SecuritySettings> {
        let before = self.security_settings(actor).await?;
        self.check_mfa_policy_change(actor, &before.mfa_required, &change)?;
        self.check_signin_alerts_change(actor, before.signin_alerts, &change)?;
        // Read from the provider before anything is saved: a provider that cannot be read
        // leaves every setting as it was.
        let sso = self.check_sso_change(actor, &change.sso).await?;
        if let Some(m) = change.agent_idle_timeout_minutes {
            session::check_agent_timeout(m)
                .map_err(|e| ServiceError::invalid("agent_idle_timeout_minutes", e))?;
        }
        if let Some(Some(m)) = change.max_session_lifetime_minutes
            && !(5..=session::MAX_AGENT_IDLE_TIMEOUT_MINUTES * 4).contains(&m)
        {
            return Err(ServiceError::invalid(
                "max_session_lifetime_minutes",
                "max_session_lifetime_minutes must be between 5 minutes and 360 days, or null for no limit",
            ));
        }
        if let Some(Some(n)) = change.max_sessions_per_person {
            office::check_max_sessions(n)
                .map_err(|e| ServiceError::invalid("max_sessions_per_person", e))?;
        }
        self.change_session_policy(actor, &change).await?;
        if let Some(m) = change.agent_idle_timeout_minutes
            && m != before.agent_idle_timeout_minutes
        {
            self.store
                .set_agent_idle_timeout(&actor.account_id, m)
                .await?;
            self.audit_by(
                actor,
                AuditKind::SettingsChanged,
                None,
                format!(
                    "agent inactivity timeout {} → {} minutes",
                    before.agent_idle_timeout_minutes, m
                ),
            )
            .await;
        }
        if let Some(m) = change.max_session_lifetime_minutes
            && m != before.max_session_lifetime_minutes
        {
            self.store
                .set_max_session_lifetime(&actor.account_id, m)
                .await?;
            let show = |v: Option<i64>| v.map_or("off".to_string(), |m| format!("{m} minutes"));
            self.audit_by(
                actor,
                AuditKind::SettingsChanged,
                None,
                format!(
                    "absolute session lifetime {} → {}",
                    show(before.max_session_lifetime_minutes),
                    show(m)
                ),
            )
            .await;
        }
        self.change_mfa_policy(actor, before.mfa_required, &change)
            .await?;
        self.change_signin_alerts(actor, before.signin_alerts, &change)
            .await?;
        if let Some(row) = sso {
            self.save_sso(actor, row).await?;
        }
        self.publish(crate::events::Event::SettingsChanged {
            account_id: actor.account_id.clone(),
        });
        // Sessions of this account already past a shorter timeout end now, not at the next
        // sweep (one indexed pass over this account's live sessions, never every account's).
        self.end(
            Scope::Account(&actor.account_id),
            Which::Expired,
            EndReason::Expired,
            None,
        )
        .await?;
        self.security_settings(actor).await
    }
}
