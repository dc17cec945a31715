//! The Team section's use cases: listing people with their sessions, adding and editing them,
//! and ending sessions one by one, per person and in bulk.

use std::collections::HashMap;

use crate::domain::audit::AuditKind;
use crate::domain::email::{self, Email};
use crate::domain::member::{AgentStatus, MemberKind, Permissions};
use crate::domain::name::check_name;
use crate::domain::password;
use crate::domain::policy::{Actor, Target};
use crate::domain::session::EndReason;
use crate::events::Event;
use crate::store::{Member, MemberPatch, MemberQuery, NewMember, Session, SessionFilter, Which};

use super::ending::{EndedCount, counted, tally};
use super::{Service, ServiceError, ServiceResult, new_id, passwords};

pub const DEFAULT_PER_PAGE: i64 = 50;
pub const MAX_PER_PAGE: i64 = 200;
pub const MAX_SEARCH_CHARS: usize = 100;
pub const MAX_BULK_IDS: usize = 10_000;

/// A person as the Team section shows them: the record plus their live sessions.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub member: Member,
    pub sessions: Vec<Session>,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

impl<T> Page<T> {
    pub fn last_page(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }
}

/// A Team list request as the client sent it; validated here so pages and API agree.
#[derive(Debug, Clone, Default)]
pub struct TeamQuery {
    pub session: Option<String>,
    pub status: Option<String>,
    pub q: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
    /// `outside`: only people with a session outside the office networks.
    pub network: Option<String>,
}

pub struct NewPerson {
    pub kind: MemberKind,
    pub name: String,
    pub email: String,
    /// None: invite them by e-mail to choose their own.
    pub password: Option<String>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct PersonPatch {
    pub name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub disabled: Option<bool>,
    pub permissions: Option<Vec<String>>,
    /// Needed when people change their own password or e-mail.
    pub current_password: Option<String>,
}

impl Service {
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, kind = ?kind))]
    pub async fn list_team(
        &self,
        actor: &Actor,
        kind: MemberKind,
        query: &TeamQuery,
    ) -> ServiceResult<Page<MemberView>> {
        self.require_view(actor, kind)?;
        let session = match query.session.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some("active") => Some(SessionFilter::Active),
            Some("none") => Some(SessionFilter::None),
            Some(other) => {
                return Err(ServiceError::invalid(
                    "session",
                    format!("session must be \"active\" or \"none\", got \"{other}\""),
                ));
            }
        };
        let session = match query.network.as_deref().filter(|s| !s.is_empty()) {
            None => session,
            Some("outside") if session != Some(SessionFilter::None) => {
                Some(SessionFilter::OutsideOffice)
            }
            Some("outside") => {
                return Err(ServiceError::invalid(
                    "network",
                    "network=outside lists people with an active session outside the office \
                     networks; it cannot be combined with session=none",
                ));
            }
            Some(other) => {
                return Err(ServiceError::invalid(
                    "network",
                    format!("network must be \"outside\", got \"{other}\""),
                ));
            }
        };
        let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => match (kind, s.parse::<AgentStatus>()) {
                (MemberKind::Agent, Ok(st)) => Some(st),
                (MemberKind::Admin, _) => {
                    return Err(ServiceError::invalid(
                        "status",
                        "administrators have no Online/Offline status to filter by",
                    ));
                }
                (_, Err(())) => {
                    return Err(ServiceError::invalid(
                        "status",
                        format!("status must be \"online\" or \"offline\", got \"{s}\""),
                    ));
                }
            },
        };
        let search = query.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if search.is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS) {
            return Err(ServiceError::invalid(
                "q",
                format!("search must be at most {MAX_SEARCH_CHARS} characters"),
            ));
        }
        let per_page = query.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ServiceError::invalid(
                "per_page",
                format!("per_page must be between 1 and {MAX_PER_PAGE}"),
            ));
        }
        let page = query.page.unwrap_or(1);
        if page < 1 {
            return Err(ServiceError::invalid("page", "page must be 1 or more"));
        }
        let account = self.store.account(&actor.account_id).await?;
        let active_after = self.active_after(kind, account.agent_idle_timeout_minutes);
        let (members, total) = self
            .store
            .list_members(
                &actor.account_id,
                &MemberQuery {
                    kind,
                    session,
                    status,
                    search: search.map(str::to_lowercase),
                    active_after,
                    offset: (page - 1).saturating_mul(per_page),
                    limit: per_page,
                },
            )
            .await?;
        // A page past the end (the list shrank since the link was made) is empty, with the
        // true total: the caller can tell it from an empty list and find the last page.
        let items = self
            .with_sessions(&actor.account_id, members, active_after)
            .await?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
        })
    }

    async fn with_sessions(
        &self,
        account_id: &str,
        members: Vec<Member>,
        active_after: i64,
    ) -> ServiceResult<Vec<MemberView>> {
        let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
        let mut by_member: HashMap<String, Vec<Session>> = HashMap::new();
        for s in self
            .store
            .active_sessions(account_id, &ids, active_after)
            .await?
        {
            by_member.entry(s.member_id.clone()).or_default().push(s);
        }
        Ok(members
            .into_iter()
            .map(|m| MemberView {
                sessions: by_member.remove(&m.id).unwrap_or_default(),
                member: m,
            })
            .collect())
    }

    /// One person of a kind, with their live sessions. Another kind's id is 404 too.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, kind = ?kind, id = %id))]
    pub async fn get_person(
        &self,
        actor: &Actor,
        kind: MemberKind,
        id: &str,
    ) -> ServiceResult<MemberView> {
        self.require_view(actor, kind)?;
        let member = self.store.member(&actor.account_id, id).await?;
        if member.kind != kind {
            return Err(ServiceError::NotFound);
        }
        let sessions = self.sessions_of(&actor.account_id, id, kind).await?;
        Ok(MemberView { member, sessions })
    }

    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, kind = ?new.kind))]
    pub async fn add_person(&self, actor: &Actor, new: NewPerson) -> ServiceResult<MemberView> {
        self.require_view(actor, new.kind)?;
        let name = check_name("name", &new.name)?;
        let email =
            Email::parse(&new.email).map_err(|e| ServiceError::invalid("email", e.to_string()))?;
        if let Some(pw) = &new.password {
            password::check_new_password(pw)
                .map_err(|e| ServiceError::invalid("password", e.to_string()))?;
        }
        self.require_address_allowed(actor, email.normalized(), None)
            .await?;
        let permissions = match new.kind {
            MemberKind::Agent if !new.permissions.is_empty() => {
                return Err(ServiceError::invalid(
                    "permissions",
                    "agents have no permissions",
                ));
            }
            MemberKind::Agent => Permissions::default(),
            MemberKind::Admin => {
                let p = Permissions::parse_names(&new.permissions)
                    .map_err(|e| ServiceError::invalid("permissions", e))?;
                if !actor.can_grant(&p) {
                    return Err(ServiceError::Forbidden(
                        "you can only grant permissions you hold yourself".to_string(),
                    ));
                }
                p
            }
        };
        let invited = new.password.is_none();
        let hash = match new.password {
            Some(pw) => passwords::hash(pw).await?,
            None => passwords::unusable_hash(),
        };
        let row = NewMember {
            id: new_id(match new.kind {
                MemberKind::Agent => "ag",
                MemberKind::Admin => "ad",
            }),
            account_id: actor.account_id.clone(),
            kind: new.kind,
            name,
            email: email.as_str().to_string(),
            email_norm: email.normalized().to_string(),
            password_hash: hash,
            primary: false,
            permissions,
            created_at: self.now(),
        };
        let member = if invited {
            self.add_invited(actor, &row).await?
        } else {
            self.store
                .insert_member_checked(&row, &address_rule(actor))
                .await?
        };
        self.audit_by(
            actor,
            AuditKind::MemberCreated,
            Some(&member.id),
            format!("added {} {} <{}>", member.kind, member.name, member.email),
        )
        .await;
        if invited {
            self.audit_by(
                actor,
                AuditKind::InvitationSent,
                Some(&member.id),
                format!("invitation sent to {}", member.email),
            )
            .await;
        }
        self.member_changed(&member);
        if let Some(l) = &member.linked {
            self.publish(Event::MemberChanged {
                account_id: member.account_id.clone(),
                member_id: l.id.clone(),
                member_kind: l.kind,
            });
        }
        Ok(MemberView {
            member,
            sessions: Vec::new(),
        })
    }

    /// Edits a person: name, e-mail, password (ends their sessions), disabled (ends their
    /// sessions and blocks sign-in), permissions (sub-administrators).
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, kind = ?kind, id = %id))]
    pub async fn update_person(
        &self,
        actor: &Actor,
        kind: MemberKind,
        id: &str,
        patch: PersonPatch,
    ) -> ServiceResult<MemberView> {
        let before = self.get_person(actor, kind, id).await?.member;
        self.require_manage(actor, &before)?;
        let changes = self.checked_changes(actor, &before, patch).await?;
        let after = self
            .store
            .update_member_checked(&actor.account_id, id, &changes, &address_rule(actor))
            .await?;
        let password_changed = changes.password_hash.is_some();
        self.audit_changes(actor, &before, &after, password_changed)
            .await;
        self.end_sessions_after_change(actor, &before, &after, password_changed)
            .await?;
        self.member_changed(&after);
        // The link is derived from e-mails: both old and new partners' cards change.
        for l in [&before.linked, &after.linked].into_iter().flatten() {
            self.publish(Event::MemberChanged {
                account_id: after.account_id.clone(),
                member_id: l.id.clone(),
                member_kind: l.kind,
            });
        }
        self.get_person(actor, kind, id).await
    }

    /// Validates a patch against the rules and turns it into the store's change (the new
    /// password hashed). Nothing is written here.
    async fn checked_changes(
        &self,
        actor: &Actor,
        before: &Member,
        patch: PersonPatch,
    ) -> ServiceResult<MemberPatch> {
        let mut changes = MemberPatch::default();
        if let Some(name) = &patch.name {
            changes.name = Some(check_name("name", name)?);
        }
        if let Some(email) = &patch.email {
            let e =
                Email::parse(email).map_err(|e| ServiceError::invalid("email", e.to_string()))?;
            // Forms send every field: the same address again is no change.
            if e.as_str() != before.email {
                changes.email = Some((e.as_str().to_string(), e.normalized().to_string()));
            }
        }
        if let Some(pw) = &patch.password {
            password::check_new_password(pw)
                .map_err(|e| ServiceError::invalid("password", e.to_string()))?;
        }
        if let Some(d) = patch.disabled.filter(|d| *d != before.disabled) {
            if d {
                may_be_disabled(actor, before)?;
            }
            changes.disabled = Some(d);
        }
        if let Some(names) = &patch.permissions {
            let p = self.checked_permissions(actor, before, names)?;
            if p != before.permissions {
                changes.permissions = Some(p);
            }
        }
        let becomes_them = changes.email.is_some()
            || patch.password.is_some()
            || changes.disabled.is_some()
            || changes.permissions.is_some();
        if becomes_them {
            self.require_administer(actor, before)?;
        }
        if let Some((_, norm)) = &changes.email {
            self.require_address_allowed(actor, norm, Some(&before.id))
                .await?;
        }
        if patch.password.is_some() {
            self.require_address_allowed(actor, &email::normalize(&before.email), Some(&before.id))
                .await?;
        }
        let own_credentials =
            before.id == actor.member_id && (changes.email.is_some() || patch.password.is_some());
        if own_credentials {
            let current = patch.current_password.unwrap_or_default();
            self.check_own_password(actor, current, "current_password")
                .await?;
        }
        if let Some(pw) = patch.password {
            changes.password_hash = Some(passwords::hash(pw).await?);
        }
        Ok(changes)
    }

    fn checked_permissions(
        &self,
        actor: &Actor,
        before: &Member,
        names: &[String],
    ) -> ServiceResult<Permissions> {
        if before.kind != MemberKind::Admin {
            return Err(ServiceError::invalid(
                "permissions",
                "agents have no permissions",
            ));
        }
        if before.primary {
            return Err(ServiceError::invalid(
                "permissions",
                "the primary administrator always has every permission",
            ));
        }
        let p =
            Permissions::parse_names(names).map_err(|e| ServiceError::invalid("permissions", e))?;
        if !actor.can_grant(&p) {
            return Err(ServiceError::Forbidden(
                "you can only grant permissions you hold yourself".to_string(),
            ));
        }
        Ok(p)
    }

    /// One audit entry per kind of change a patch made.
    async fn audit_changes(
        &self,
        actor: &Actor,
        before: &Member,
        after: &Member,
        password_changed: bool,
    ) {
        let mut entries = Vec::new();
        if before.name != after.name || before.email != after.email {
            entries.push((
                AuditKind::MemberUpdated,
                format!(
                    "profile changed: {} <{}> → {} <{}>",
                    before.name, before.email, after.name, after.email
                ),
            ));
        }
        if password_changed {
            let whose = if after.id == actor.member_id {
                "own password changed".to_string()
            } else {
                format!("password of {} set by an administrator", after.email)
            };
            entries.push((AuditKind::PasswordChanged, whose));
        }
        if before.disabled != after.disabled {
            entries.push(if after.disabled {
                (
                    AuditKind::MemberDisabled,
                    format!("disabled {}", after.email),
                )
            } else {
                (AuditKind::MemberEnabled, format!("enabled {}", after.email))
            });
        }
        if before.permissions != after.permissions {
            entries.push((
                AuditKind::PermissionsChanged,
                format!(
                    "permissions of {}: [{}] → [{}]",
                    after.email,
                    before.permissions.names().join(", "),
                    after.permissions.names().join(", ")
                ),
            ));
        }
        for (kind, detail) in entries {
            self.audit_by(actor, kind, Some(&after.id), detail).await;
        }
    }

    /// Disabling ends every session; a new password ends every session of the person, or,
    /// when they changed it themselves, every other one.
    async fn end_sessions_after_change(
        &self,
        actor: &Actor,
        before: &Member,
        after: &Member,
        password_changed: bool,
    ) -> ServiceResult<()> {
        let ids = [after.id.clone()];
        if after.disabled && !before.disabled {
            self.end_sessions_of(actor, after.kind, &ids, EndReason::Disabled)
                .await?;
        } else if password_changed && after.id == actor.member_id {
            self.end_other_sessions_for(actor, EndReason::PasswordChanged)
                .await?;
        } else if password_changed {
            self.end_sessions_of(actor, after.kind, &ids, EndReason::PasswordChanged)
                .await?;
        }
        Ok(())
    }

    /// A live session and its owner, for the page that asks to confirm ending it: only for
    /// those who may end it (its owner, or whoever may manage the owner). Sessions of people
    /// the actor may not even see are "not found", like those of other accounts.
    pub async fn session_to_end(
        &self,
        actor: &Actor,
        session_id: &str,
    ) -> ServiceResult<(Session, Member)> {
        let session = self.store.session(&actor.account_id, session_id).await?;
        if session.ended_at.is_some() {
            return Err(ServiceError::NotFound);
        }
        let owner = self
            .store
            .member(&actor.account_id, &session.member_id)
            .await?;
        if owner.id != actor.member_id {
            if !actor.can_view(owner.kind) {
                return Err(ServiceError::NotFound);
            }
            self.require_manage(actor, &owner)?;
        }
        Ok((session, owner))
    }

    /// Ends one session by id. A session already past its timeout is expired, not ended by
    /// anyone: it ends as such and the answer is "not found", as for any session not live.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, session = %session_id))]
    pub async fn end_one_session(&self, actor: &Actor, session_id: &str) -> ServiceResult<()> {
        let (_, owner) = self.session_to_end(actor, session_id).await?;
        // Anyone may end their own session (as from "My sessions"); that is a sign-out.
        let reason = if owner.id == actor.member_id {
            EndReason::Logout
        } else {
            EndReason::EndedByAdmin
        };
        let ended = self
            .end_by(actor, Which::Session(session_id.to_string()), reason)
            .await?;
        if counted(&ended, reason) == 0 {
            return Err(ServiceError::NotFound);
        }
        Ok(())
    }

    /// Ends every live session of one person.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, kind = ?kind, id = %id))]
    pub async fn end_person_sessions(
        &self,
        actor: &Actor,
        kind: MemberKind,
        id: &str,
    ) -> ServiceResult<EndedCount> {
        let member = self.get_person(actor, kind, id).await?.member;
        self.require_manage(actor, &member)?;
        self.end_sessions_of(actor, kind, &[id.to_string()], EndReason::EndedByAdmin)
            .await
    }

    /// Ends every live session of every selected agent, in one transaction. Nothing ends when
    /// any id is not an agent of this account.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, people = ids.len()))]
    pub async fn bulk_end_agent_sessions(
        &self,
        actor: &Actor,
        ids: &[String],
    ) -> ServiceResult<EndedCount> {
        self.require_view(actor, MemberKind::Agent)?;
        let unique = bulk_ids(ids)?;
        self.end_sessions_of(actor, MemberKind::Agent, &unique, EndReason::EndedByAdmin)
            .await
    }

    /// A person the actor may disable, with their live sessions: what a confirmation shows
    /// before disabling. The same refusals as the change itself, so nobody is asked to confirm
    /// what they may not do.
    pub async fn person_to_disable(
        &self,
        actor: &Actor,
        kind: MemberKind,
        id: &str,
    ) -> ServiceResult<MemberView> {
        let v = self.get_person(actor, kind, id).await?;
        self.require_administer(actor, &v.member)?;
        may_be_disabled(actor, &v.member)?;
        Ok(v)
    }

    /// The selected agents with their live sessions, ordered by name: what a bulk ending
    /// would end, for the confirmation. Ids that are not agents of this account are left out
    /// (the ending itself refuses them).
    pub async fn bulk_preview(
        &self,
        actor: &Actor,
        ids: &[String],
    ) -> ServiceResult<Vec<MemberView>> {
        self.require_view(actor, MemberKind::Agent)?;
        let unique = bulk_ids(ids)?;
        let account = self.store.account(&actor.account_id).await?;
        let active_after = self.active_after(MemberKind::Agent, account.agent_idle_timeout_minutes);
        let mut agents: Vec<Member> = self
            .store
            .members(&actor.account_id, &unique)
            .await?
            .into_iter()
            .filter(|m| m.kind == MemberKind::Agent)
            .collect();
        agents.sort_by_cached_key(|m| (m.name.to_lowercase(), m.id.clone()));
        self.with_sessions(&actor.account_id, agents, active_after)
            .await
    }

    /// Ends every live session of these people of `kind`, in one transaction; returns how
    /// many sessions and people ended for `reason` (sessions found already idle end as expired
    /// and are not counted).
    pub(crate) async fn end_sessions_of(
        &self,
        actor: &Actor,
        kind: MemberKind,
        ids: &[String],
        reason: EndReason,
    ) -> ServiceResult<EndedCount> {
        let people = Which::People {
            kind,
            ids: ids.to_vec(),
        };
        let ended = self.end_by(actor, people, reason).await?;
        Ok(tally(&ended, reason))
    }

    fn require_manage(&self, actor: &Actor, target: &Member) -> ServiceResult<()> {
        if actor.can_manage(target.as_target()) {
            Ok(())
        } else {
            Err(refusal(target))
        }
    }

    /// As [`Service::require_manage`], for changes that would let the actor act as the target
    /// (password, e-mail, permissions, disabling): they must hold every permission it holds.
    pub(crate) fn require_administer(&self, actor: &Actor, target: &Member) -> ServiceResult<()> {
        self.require_manage(actor, target)?;
        if actor.can_administer(target.as_target()) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(
                "you can only change the password, e-mail, permissions or status of an \
                 administrator whose permissions you all hold yourself"
                    .to_string(),
            ))
        }
    }

    /// Refuses to create a person on, move a person onto, or set the credentials of a person
    /// on an address that belongs to an administrator the actor may not administer (`except`:
    /// the person being changed, whose own rules were checked already). Linked accounts share
    /// the address: whoever holds the agent twin's password is, to anything that goes by the
    /// address, that administrator; so a twin is only for those who could become the
    /// administrator anyway. One's own address is always one's own.
    pub(crate) async fn require_address_allowed(
        &self,
        actor: &Actor,
        email_norm: &str,
        except: Option<&str>,
    ) -> ServiceResult<()> {
        let holders = self
            .store
            .credentials_by_email(&actor.account_id, email_norm)
            .await?;
        let refuses = address_rule(actor);
        let refused = holders
            .iter()
            .map(|c| &c.member)
            .any(|m| Some(m.id.as_str()) != except && refuses(m));
        if refused {
            return Err(address_refused());
        }
        Ok(())
    }

    fn member_changed(&self, m: &Member) {
        self.publish(Event::MemberChanged {
            account_id: m.account_id.clone(),
            member_id: m.id.clone(),
            member_kind: m.kind,
        });
    }

    /// Sets an agent's own Online/Offline choice (from any of their tabs).
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, status = ?status))]
    pub async fn set_own_status(
        &self,
        actor: &Actor,
        status: AgentStatus,
    ) -> ServiceResult<Member> {
        if actor.kind != MemberKind::Agent {
            return Err(ServiceError::Forbidden(
                "only agents have an Online/Offline status".to_string(),
            ));
        }
        let m = self
            .store
            .set_status(&actor.account_id, &actor.member_id, status, Some(status))
            .await?;
        self.publish(Event::StatusChanged {
            account_id: m.account_id.clone(),
            member_id: m.id.clone(),
            status,
        });
        Ok(m)
    }

    /// Makes an agent Offline without touching their own choice (tabs gone, session ended).
    pub async fn force_offline(&self, account_id: &str, member_id: &str) {
        match self.store.member(account_id, member_id).await {
            Ok(m) if m.kind == MemberKind::Agent && m.status == AgentStatus::Online => {
                if let Err(e) = self
                    .store
                    .set_status(account_id, member_id, AgentStatus::Offline, None)
                    .await
                {
                    tracing::warn!(error = %e, "could not set agent offline");
                    return;
                }
                self.publish(Event::StatusChanged {
                    account_id: account_id.to_string(),
                    member_id: member_id.to_string(),
                    status: AgentStatus::Offline,
                });
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not read agent for presence"),
        }
    }
}

impl Member {
    /// This person as the permission rules see them.
    pub fn as_target(&self) -> Target<'_> {
        Target {
            kind: self.kind,
            primary: self.primary,
            permissions: &self.permissions,
        }
    }
}

/// Why an actor may not touch `target`.
fn refusal(target: &Member) -> ServiceError {
    if target.primary {
        ServiceError::Forbidden(
            "only the primary administrator can manage the primary administrator".to_string(),
        )
    } else {
        ServiceError::Forbidden("you are not allowed to manage this person".to_string())
    }
}

/// Nobody disables the primary administrator, nor themselves.
fn may_be_disabled(actor: &Actor, m: &Member) -> ServiceResult<()> {
    if m.primary {
        return Err(ServiceError::invalid(
            "disabled",
            "the primary administrator cannot be disabled",
        ));
    }
    if m.id == actor.member_id {
        return Err(ServiceError::invalid(
            "disabled",
            "you cannot disable yourself",
        ));
    }
    Ok(())
}

/// The ids of a bulk request, each once; refuses none or too many (the same rule for the
/// confirmation and the ending).
fn bulk_ids(ids: &[String]) -> ServiceResult<Vec<String>> {
    if ids.is_empty() {
        return Err(ServiceError::invalid("ids", "select at least one agent"));
    }
    if ids.len() > MAX_BULK_IDS {
        return Err(ServiceError::invalid(
            "ids",
            format!("at most {MAX_BULK_IDS} agents at once"),
        ));
    }
    let mut unique: Vec<String> = ids.to_vec();
    unique.sort();
    unique.dedup();
    Ok(unique)
}

/// Who on an address refuses a write by `actor` that puts someone on it or sets a password on
/// it: an administrator other than the actor whom the actor may not administer. The service
/// checks it first for a clear answer; the store checks it again in the writing transaction
/// with the address locked, so that a concurrent write cannot slip past.
pub(super) fn address_rule(actor: &Actor) -> impl Fn(&Member) -> bool + Send + Sync + '_ {
    move |m: &Member| {
        m.kind == MemberKind::Admin
            && m.id != actor.member_id
            && !actor.can_administer(m.as_target())
    }
}

pub(crate) fn address_refused() -> ServiceError {
    ServiceError::Forbidden(
        "this e-mail address belongs to an administrator you may not administer: \
         nobody else may create, move or set the password of an account on it"
            .to_string(),
    )
}
