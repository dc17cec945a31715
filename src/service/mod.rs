//! Use cases: sign-in, sessions, the team, settings. Checks permissions, writes the audit log
//! and publishes events; the web layer only translates HTTP to these calls.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::domain::ClientIp;
use crate::domain::audit::AuditKind;
use crate::domain::member::MemberKind;
use crate::domain::policy::Actor;
use crate::domain::session::{self, EndReason};
use crate::domain::time::{MINUTE, Millis};
use crate::events::{Event, EventBus};
use crate::store::{AuditEntry, Session, Store, StoreError, Which};

/// How long the health check waits for the database: short, since it is what load balancers
/// poll, yet long enough for a busy but working database to answer.
pub const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

pub mod alerts;
pub mod assertion;
pub mod audit;
pub mod authenticate;
pub mod cache;
pub mod delivery;
pub mod device_pass;
pub(crate) mod ending;
pub mod invitations;
pub mod keys;
pub mod limiter;
pub(crate) mod links;
pub mod mail;
pub mod mailer;
pub mod metrics;
pub mod mfa;
pub mod own;
pub mod passkeys;
pub mod passwords;
pub mod policies;
pub mod presence;
pub(crate) mod reach;
pub mod reset;
pub mod retention;
pub mod settings;
pub mod setup;
pub mod signin;
pub mod sso;
mod sso_provider;
pub(crate) mod starting;
pub mod team;
pub(crate) mod throttling;
pub mod webhooks;

pub use authenticate::Principal;
pub use ending::EndedCount;
pub use setup::NewAccountRequest;
pub use signin::{ChosenLogin, LoginRequest, MfaLogin, SignInStep, SignedIn};
pub use team::{MemberView, NewPerson, Page, PersonPatch, TeamQuery};

/// Ids are made in `crate::ids`, which the store shares; re-exported for the service's callers.
pub use crate::ids::{new_id, new_ordered_id, random_hex};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not signed in")]
    Unauthenticated(Option<EndReason>),
    #[error("not allowed")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    /// Bad input; `field` names it, `message` says what is wrong in a sentence.
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("e-mail or password is incorrect")]
    InvalidCredentials,
    #[error("this account is disabled")]
    AccountDisabled,
    /// A password sign-in for a role whose people must sign in with the identity provider;
    /// the words name the button.
    #[error("{0}")]
    SsoRequired(String),
    /// Sign-in from outside every office network, under an `enforce` policy.
    #[error("sign-in from outside the office networks is not allowed")]
    OutsideOfficeNetwork,
    /// A Security change would lock the saving administrator out from where they are; it
    /// needs confirming. The message says why.
    #[error("{0}")]
    WouldLockOutSelf(String),
    /// The person must set up a second factor before doing anything else.
    #[error("set up two-factor sign-in first")]
    MfaEnrollmentRequired,
    /// "Send again" on a delivery of a webhook endpoint its receiver turned off with 410
    /// Gone: nothing would send it (the worker skips endpoints that are off), so it is
    /// refused rather than queued for ever.
    #[error(
        "this webhook endpoint is turned off: its receiver answered 410 Gone, so nothing is \
         sent to it any more; delete the endpoint and add it again to resume, then send again"
    )]
    WebhookEndpointOff,
    /// A new invitation for someone who is no longer invited: they set their password
    /// already (or are disabled), so a link would do nothing.
    #[error(
        "this person is not waiting for an invitation: they have set their password already, \
         or their account is disabled"
    )]
    NotInvited,
    /// A reset (or invitation) link that is unknown, used or expired.
    #[error("this link has expired or was already used; ask for a new one from the sign-in page")]
    LinkExpired,
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    /// A person was sent as many new invitations as an hour allows; the message says when the
    /// next one may go, in words.
    #[error("{message}")]
    TooManyInvitations {
        retry_after_secs: u64,
        message: String,
    },
    #[error("service temporarily unavailable")]
    Unavailable,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// The refusal for lacking a permission. It names the permission as the pages do ("Team →
    /// Administrators"), not by its code: the message is read by people, and API clients
    /// match on the error's `code`.
    pub fn needs(permission: crate::domain::member::Permission) -> Self {
        ServiceError::Forbidden(format!("you need the “{}” permission", permission.label()))
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl From<crate::domain::name::NameError> for ServiceError {
    fn from(e: crate::domain::name::NameError) -> Self {
        ServiceError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ServiceError::NotFound,
            StoreError::Conflict { field } => ServiceError::invalid(
                field,
                match field {
                    "email" => {
                        "this e-mail address is already used by another person of the same kind"
                            .to_string()
                    }
                    "slug" => "this account slug is already taken".to_string(),
                    other => format!("{other} is already taken"),
                },
            ),
            StoreError::AddressRefused => team::address_refused(),
            StoreError::UnknownIds(ids) => ServiceError::invalid(
                "ids",
                format!(
                    "ids do not name people of this kind in this account: {}",
                    ids.join(", ")
                ),
            ),
            StoreError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "database unavailable");
                ServiceError::Unavailable
            }
            StoreError::Other(msg) => ServiceError::Internal(msg),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Settings of the service that are not per account.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// How long an agent may have no connected tab before going Offline.
    pub presence_grace_ms: Millis,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            presence_grace_ms: 30_000,
        }
    }
}

pub struct Service {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    events: EventBus,
    config: ServiceConfig,
    connections: presence::Connections,
    /// Agents seen Online without any tab, and since when (see `settle_tabless_agents`).
    tabless_since: std::sync::Mutex<std::collections::HashMap<String, tokio::time::Instant>>,
    cache: cache::AuthCache,
    /// This process among the instances sharing the database (presence rows are per instance).
    instance_id: String,
    /// Secrets shared by every instance (`SecretStore::server_secret`), kept once read.
    secrets: std::sync::RwLock<std::collections::HashMap<String, Arc<[u8]>>>,
    /// The secret key kept outside the database, once `use_secret_key` accepted it: every
    /// server secret is derived from it then, none read from the database.
    outside_key: std::sync::OnceLock<keys::SecretKey>,
    /// `--webhook-allow-private` (see `webhooks`).
    webhook_allow_private: std::sync::atomic::AtomicBool,
    policies: policies::PolicyCache,
    metrics: metrics::Metrics,
    /// Whether the database is known to be unreachable (see `reach`).
    reach: reach::Reach,
    /// Where links in e-mails point (`mail::MailLinks`), once the server knows.
    mail_links: std::sync::RwLock<Option<mail::MailLinks>>,
    /// Wakes the mail worker when a message is queued.
    mail_wake: tokio::sync::Notify,
    assertions: assertion::Assertions,
    /// Identity providers for single sign-on, discovered, and how they are reached.
    sso: sso_provider::Providers,
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        events: EventBus,
        config: ServiceConfig,
    ) -> Self {
        // The webhook outbox rows the store writes with each change carry this clock's time.
        store.use_clock(clock.clone());
        Self {
            store,
            clock,
            events,
            config,
            connections: presence::Connections::default(),
            tabless_since: Default::default(),
            cache: cache::AuthCache::default(),
            instance_id: new_id("in"),
            secrets: Default::default(),
            outside_key: Default::default(),
            webhook_allow_private: Default::default(),
            policies: Default::default(),
            metrics: metrics::Metrics::new(),
            reach: Default::default(),
            mail_links: Default::default(),
            mail_wake: tokio::sync::Notify::new(),
            assertions: Default::default(),
            sso: Default::default(),
        }
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    pub fn connections(&self) -> &presence::Connections {
        &self.connections
    }

    /// Publishes an event after dropping whatever it made stale in this instance's cache, so
    /// the next request here already sees the change.
    pub(crate) fn publish(&self, event: Event) {
        self.cache.apply(&event);
        self.policies.apply(&event);
        self.assertions.apply(&event);
        self.events.publish(event);
    }

    /// Keeps the cache right for events from other instances (and for missed ones). Call once
    /// the runtime is running.
    pub fn start_background(self: &Arc<Self>) {
        self.start_probe();
        let mut rx = self.events.subscribe();
        let svc = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let ev = rx.recv().await;
                let Some(svc) = svc.upgrade() else { break };
                match ev {
                    Ok(ev) => {
                        svc.cache.apply(&ev);
                        svc.policies.apply(&ev);
                        svc.assertions.apply(&ev);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        svc.cache.clear();
                        svc.assertions.apply(&Event::Resync);
                        svc.policies.apply(&Event::Resync);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// A secret every instance shares, made on first use and kept once read.
    pub(crate) async fn secret(&self, name: &str) -> ServiceResult<Arc<[u8]>> {
        let known = self
            .secrets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned();
        if let Some(s) = known {
            return Ok(s);
        }
        if let Some(key) = self.outside_key.get() {
            return Ok(key.derive(name));
        }
        let secret: Arc<[u8]> = self.store.server_secret(name).await?.into();
        self.secrets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), secret.clone());
        Ok(secret)
    }

    /// Whether the database answers and takes writes, for the health check; why not if not.
    /// Bounded by [`HEALTH_TIMEOUT`]: with PostgreSQL gone the pool keeps retrying its
    /// connection until the acquire timeout, and a load balancer's check should get its 503
    /// long before that.
    pub async fn healthy(&self) -> Result<(), String> {
        match tokio::time::timeout(HEALTH_TIMEOUT, self.store.ping()).await {
            Ok(answer) => answer.map_err(|e| match e {
                StoreError::Unavailable(why) => why,
                other => other.to_string(),
            }),
            Err(_) => Err(format!(
                "no answer within {} ms",
                HEALTH_TIMEOUT.as_millis()
            )),
        }
    }

    /// A person as an actor outside any session (the command line, the demo, fixtures), with
    /// their permissions as stored now.
    pub async fn actor_of(
        &self,
        account_id: &str,
        member_id: &str,
        ip: ClientIp,
    ) -> ServiceResult<Actor> {
        let m = self.store.member(account_id, member_id).await?;
        Ok(Actor {
            account_id: m.account_id,
            member_id: m.id,
            kind: m.kind,
            primary: m.primary,
            permissions: m.permissions,
            ip,
            session_id: None,
        })
    }

    /// The account a deployment without `--base-domain` serves: the first created.
    pub async fn default_account(&self) -> ServiceResult<String> {
        Ok(self.store.first_account().await?.id)
    }

    /// The account with this slug (the first label of the host with `--base-domain`).
    pub async fn account_by_slug(&self, slug: &str) -> ServiceResult<String> {
        Ok(self.store.account_by_slug(slug).await?.id)
    }

    /// Last-activity cutoff for "active" of a kind: sessions idle longer are as good as ended
    /// even before the sweep marks them.
    pub fn active_after(&self, kind: MemberKind, agent_timeout_minutes: i64) -> Millis {
        self.now() - session::idle_timeout_minutes(kind, agent_timeout_minutes) * MINUTE
    }

    /// Background upkeep, run with every sweep and never on a request's path: forgets failed
    /// sign-ins older than the throttling window and sign-in challenges past their expiry
    /// (nothing reads them once expired, but a sign-in abandoned at its second step would
    /// otherwise stay in the table for good), and lets the database tidy its log
    /// (`DatabaseStore::checkpoint`).
    pub async fn housekeeping(&self) {
        let now = self.now();
        if let Err(e) = self
            .store
            .prune_signin_failures(now - limiter::WINDOW)
            .await
        {
            tracing::warn!(error = %e, "could not prune failed sign-ins");
        }
        if let Err(e) = self.store.prune_challenges(now).await {
            tracing::warn!(error = %e, "could not prune expired sign-in challenges");
        }
        self.prune_sso().await;
        if let Err(e) = self.store.checkpoint().await {
            tracing::warn!(error = %e, "database checkpoint failed");
        }
    }

    /// Ends sessions idle beyond their timeout (or agents' past their account's lifetime) in
    /// every account; the background sweep, so lists are right without anyone visiting.
    pub async fn expire_sessions(&self) -> ServiceResult<usize> {
        let ended = self
            .end(
                ending::Scope::Everywhere,
                Which::Expired,
                EndReason::Expired,
                None,
            )
            .await?;
        Ok(ended.len())
    }

    /// Writes the audit entry of something `actor` did (in their account, from their address).
    pub(crate) async fn audit_by(
        &self,
        actor: &Actor,
        kind: AuditKind,
        target: Option<&str>,
        detail: String,
    ) {
        self.audit(
            &actor.account_id,
            kind,
            Some(&actor.member_id),
            target,
            Some(actor.ip),
            detail,
        )
        .await;
    }

    /// Writes an audit entry. A failure to audit is logged, never shown to the person acting.
    pub(crate) async fn audit(
        &self,
        account_id: &str,
        kind: AuditKind,
        actor: Option<&str>,
        target: Option<&str>,
        ip: Option<ClientIp>,
        detail: String,
    ) {
        let entry = audit_entry(account_id, kind, actor, target, ip, detail, self.now());
        if let Err(e) = self.store.insert_audit(&entry).await {
            tracing::error!(error = %e, kind = kind.as_str(), "could not write audit entry");
        }
    }

    /// Requires the actor to be able to see a Team subsection.
    pub(crate) fn require_view(&self, actor: &Actor, kind: MemberKind) -> ServiceResult<()> {
        if actor.can_view(kind) {
            Ok(())
        } else {
            Err(ServiceError::needs(
                crate::domain::policy::section_permission(kind),
            ))
        }
    }

    /// The live sessions of one person, oldest first.
    pub async fn sessions_of(
        &self,
        account_id: &str,
        member_id: &str,
        kind: MemberKind,
    ) -> ServiceResult<Vec<Session>> {
        let account = self.store.account(account_id).await?;
        let after = self.active_after(kind, account.agent_idle_timeout_minutes);
        Ok(self
            .store
            .active_sessions(account_id, &[member_id.to_string()], after)
            .await?)
    }
}

/// An audit entry of one thing that happened at `at`.
pub(crate) fn audit_entry(
    account_id: &str,
    kind: AuditKind,
    actor: Option<&str>,
    target: Option<&str>,
    ip: Option<ClientIp>,
    detail: String,
    at: Millis,
) -> AuditEntry {
    AuditEntry {
        id: new_ordered_id("au", at),
        account_id: account_id.to_string(),
        at,
        kind: kind.as_str().to_string(),
        actor: actor.map(str::to_string),
        target: target.map(str::to_string),
        ip,
        detail,
        count: 1,
    }
}

/// What the database stores of a session token: its SHA-256, hex-encoded.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
