//! Single sign-on with the company's identity provider (OpenID Connect): the settings in the
//! Security section (saved only once the provider's discovery document and keys were read),
//! the sign-in (authorization code flow with PKCE, `state` bound to the browser and used
//! once, `nonce`, the ID token checked by `openidconnect`), the per-role policy refusing
//! passwords, and the provider's back-channel logout, which ends sessions through the one
//! ending path. Reaching the provider is `sso_provider`.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreIdTokenVerifier,
    CoreJwsSigningAlgorithm, CoreUserInfoClaims,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse,
};

use crate::domain::ClientIp;
use crate::domain::audit::AuditKind;
use crate::domain::email::{self, Email};
use crate::domain::member::{MemberKind, Permissions};
use crate::domain::policy::Actor;
use crate::domain::session::EndReason;
use crate::domain::signin::{AuthMethod, AuthMethods};
use crate::domain::sso::{self, SsoFailure, SsoRole, SsoRoles};
use crate::domain::time::{MINUTE, Millis};
use crate::events::Event;
use crate::store::{AuditEntry, Member, NewMember, SsoOrigin, SsoSettingsRow, SsoState, Which};

use super::ending::Scope as Within;
use super::signin::{Proof, SignInStep};
use super::sso_provider::{self, Provider};
use super::{Service, ServiceError, ServiceResult, mfa, new_id, random_hex, token_hash};

/// How long a sign-in at the provider may take, from the button to the callback.
pub const STATE_TTL: Millis = 10 * MINUTE;

/// The server secret client secrets are sealed under (derived from `--secret-key-file` when
/// one is given).
pub(crate) const SEALING_SECRET: &str = "sso-client-secret";

/// What a client secret is sealed with besides the key: its account, so a sealed secret
/// copied to another account's row does not open.
pub(crate) fn seal_label(account_id: &str) -> String {
    format!("sso:{account_id}")
}

/// Seals a secret of any length: [`mfa::seal_under`] covers 32 bytes (one HMAC-SHA256 key
/// stream), so longer secrets are sealed in 32-byte pieces, each with its own nonce and its
/// place in the label, joined by commas.
pub(crate) fn seal_long(key: &[u8], label: &str, secret: &[u8]) -> ServiceResult<String> {
    let pieces: ServiceResult<Vec<String>> = secret
        .chunks(32)
        .enumerate()
        .map(|(i, piece)| mfa::seal_under(key, &format!("{label}#{i}"), piece))
        .collect();
    Ok(pieces?.join(","))
}

/// Opens what [`seal_long`] sealed with the same key and label.
pub(crate) fn open_long(key: &[u8], label: &str, sealed: &str) -> ServiceResult<Vec<u8>> {
    let mut out = Vec::new();
    if sealed.is_empty() {
        return Ok(out);
    }
    for (i, piece) in sealed.split(',').enumerate() {
        out.extend(mfa::open_under(key, &format!("{label}#{i}"), piece)?);
    }
    Ok(out)
}

/// The settings as the Security section shows them: never the secret, only whether there is
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoView {
    pub issuer: String,
    pub client_id: String,
    pub has_client_secret: bool,
    pub button_label: String,
    pub roles: SsoRoles,
    pub allowed_domains: Vec<String>,
    pub create_agents: bool,
    /// What to register at the provider.
    pub redirect_uri: String,
    pub backchannel_logout_uri: String,
}

/// A change of the settings; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct SsoChange {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub button_label: Option<String>,
    pub agents: Option<String>,
    pub admins: Option<String>,
    pub allowed_domains: Option<Vec<String>>,
    pub create_agents: Option<bool>,
}

impl SsoChange {
    pub fn is_empty(&self) -> bool {
        self.issuer.is_none()
            && self.client_id.is_none()
            && self.client_secret.is_none()
            && self.button_label.is_none()
            && self.agents.is_none()
            && self.admins.is_none()
            && self.allowed_domains.is_none()
            && self.create_agents.is_none()
    }
}

/// The sign-in page's button: its words, when anyone may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoButton {
    pub label: String,
    pub roles: SsoRoles,
}

/// The provider's answer at `/sso/callback`, with the browser it came to.
pub struct SsoCallback {
    pub account_id: String,
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's `error`, when it signed nobody in.
    pub error: Option<String>,
    /// The binding cookie the browser sent.
    pub binding: Option<String>,
    pub ip: ClientIp,
    pub user_agent: String,
    pub device_pass: Option<String>,
}

/// Where a callback leads: the sign-in's next step, and the `rd` it started with.
pub struct SsoDone {
    pub step: SignInStep,
    pub rd: String,
}

/// Why a callback signed nobody in.
#[derive(Debug)]
pub enum SsoCallbackError {
    /// A reason the page says in its own words (and audited as `sso.failed`).
    Failed(SsoFailure),
    /// A refusal every sign-in shares (outside the office networks, throttled, the database).
    Other(ServiceError),
}

type Failed = (SsoFailure, String);

/// What the verified ID token (and userinfo) said.
struct Identity {
    sub: String,
    sid: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
    second_factor: bool,
}

/// Stored settings, the secret opened.
struct Settings {
    row: SsoSettingsRow,
    secret: String,
    roles: SsoRoles,
}

fn roles_of(row: &SsoSettingsRow) -> SsoRoles {
    SsoRoles {
        agents: row.agents.parse().unwrap_or_default(),
        admins: row.admins.parse().unwrap_or_default(),
    }
}

fn empty_row(account_id: &str) -> SsoSettingsRow {
    SsoSettingsRow {
        account_id: account_id.to_string(),
        issuer: String::new(),
        client_id: String::new(),
        client_secret: String::new(),
        button_label: "single sign-on".to_string(),
        agents: SsoRole::Off.as_str().to_string(),
        admins: SsoRole::Off.as_str().to_string(),
        allowed_domains: Vec::new(),
        create_agents: false,
        updated_at: 0,
    }
}

impl Service {
    /// Whether providers on loopback and private addresses are allowed
    /// (`--sso-allow-private`).
    pub fn set_sso_allow_private(&self, allow: bool) {
        self.sso.set_allow_private(allow);
    }

    async fn seal_client_secret(&self, account_id: &str, secret: &str) -> ServiceResult<String> {
        if secret.is_empty() {
            return Ok(String::new());
        }
        let key = self.secret(SEALING_SECRET).await?;
        seal_long(&key, &seal_label(account_id), secret.as_bytes())
    }

    async fn open_client_secret(&self, row: &SsoSettingsRow) -> ServiceResult<String> {
        if row.client_secret.is_empty() {
            return Ok(String::new());
        }
        let key = self.secret(SEALING_SECRET).await?;
        let plain = open_long(&key, &seal_label(&row.account_id), &row.client_secret)?;
        String::from_utf8(plain)
            .map_err(|_| ServiceError::Internal("unreadable client secret".to_string()))
    }

    async fn sso_row(&self, account_id: &str) -> ServiceResult<SsoSettingsRow> {
        Ok(self
            .store
            .sso_settings(account_id)
            .await?
            .unwrap_or_else(|| empty_row(account_id)))
    }

    /// The settings for the Security section (its permission checked by the caller).
    pub(crate) async fn sso_view(&self, account_id: &str) -> ServiceResult<SsoView> {
        let row = self.sso_row(account_id).await?;
        let slug = self.store.account(account_id).await?.slug;
        Ok(SsoView {
            roles: roles_of(&row),
            issuer: row.issuer,
            client_id: row.client_id,
            has_client_secret: !row.client_secret.is_empty(),
            button_label: row.button_label,
            allowed_domains: row.allowed_domains,
            create_agents: row.create_agents,
            redirect_uri: self.link(&slug, "/sso/callback"),
            backchannel_logout_uri: self.link(&slug, "/sso/backchannel-logout"),
        })
    }

    /// Checks a change of the settings before anything of the Security change is saved: the
    /// permission for `admins`, every field, and (when there is an issuer) its discovery
    /// document and keys. The row to save, or `None` when nothing changes.
    pub(crate) async fn check_sso_change(
        &self,
        actor: &Actor,
        change: &super::sso::SsoChange,
    ) -> ServiceResult<Option<SsoSettingsRow>> {
        if change.is_empty() {
            return Ok(None);
        }
        let before = self.sso_row(&actor.account_id).await?;
        let before_roles = roles_of(&before);
        let mut row = before.clone();
        let parse_role = |field: &str, v: &str| {
            v.parse::<SsoRole>()
                .map_err(|m| ServiceError::invalid(field, format!("sso.{field}: {m}")))
        };
        let mut roles = before_roles;
        if let Some(a) = &change.agents {
            roles.agents = parse_role("agents", a)?;
        }
        if let Some(a) = &change.admins {
            roles.admins = parse_role("admins", a)?;
            if roles.admins != before_roles.admins && !actor.primary {
                return Err(ServiceError::Forbidden(
                    "only the primary administrator may change single sign-on for \
                     administrators"
                        .to_string(),
                ));
            }
        }
        row.agents = roles.agents.as_str().to_string();
        row.admins = roles.admins.as_str().to_string();
        if let Some(i) = &change.issuer {
            row.issuer = if i.trim().is_empty() {
                String::new()
            } else {
                sso::check_issuer(i, self.sso.allows_private())
                    .map_err(|m| ServiceError::invalid("issuer", format!("sso.{m}")))?;
                i.trim().to_string()
            };
        }
        if let Some(c) = &change.client_id {
            let c = c.trim();
            if c.chars().count() > sso::MAX_FIELD_CHARS || c.chars().any(char::is_control) {
                return Err(ServiceError::invalid(
                    "client_id",
                    "sso.client_id must be one line of at most 2000 characters",
                ));
            }
            row.client_id = c.to_string();
        }
        if let Some(s) = &change.client_secret {
            if s.chars().count() > sso::MAX_FIELD_CHARS {
                return Err(ServiceError::invalid(
                    "client_secret",
                    "sso.client_secret is longer than 2000 characters",
                ));
            }
            row.client_secret = self.seal_client_secret(&actor.account_id, s).await?;
        }
        if let Some(l) = &change.button_label {
            row.button_label = sso::check_label(l)
                .map_err(|m| ServiceError::invalid("button_label", format!("sso.{m}")))?;
        }
        if let Some(d) = &change.allowed_domains {
            row.allowed_domains = sso::check_domains(d)
                .map_err(|m| ServiceError::invalid("allowed_domains", format!("sso.{m}")))?;
        }
        if let Some(c) = change.create_agents {
            row.create_agents = c;
        }
        if roles.any() && (row.issuer.is_empty() || row.client_id.is_empty()) {
            return Err(ServiceError::invalid(
                "issuer",
                "sso.issuer and sso.client_id are required before single sign-on is allowed or \
                 required for anyone",
            ));
        }
        if !row.issuer.is_empty() {
            self.sso_check_provider(&row.issuer).await?;
        }
        row.updated_at = self.now().max(before.updated_at + 1);
        Ok(Some(row))
    }

    /// Reads the issuer's discovery document and keys; a 422 names what failed.
    async fn sso_check_provider(&self, issuer: &str) -> ServiceResult<String> {
        let url = sso::check_issuer(issuer, self.sso.allows_private())
            .map_err(|m| ServiceError::invalid("issuer", format!("sso.{m}")))?;
        self.sso
            .check_reachable(&url)
            .await
            .map_err(|m| ServiceError::invalid("issuer", format!("sso.issuer is refused: {m}")))?;
        let (metadata, keys) = self
            .sso
            .discover(issuer)
            .await
            .map_err(|m| ServiceError::invalid("issuer", format!("sso.issuer: {m}")))?;
        Ok(format!(
            "The provider answered: discovery document read, {} signing key{} in its JWKS, \
             sign-in at {}.",
            keys.core.keys().len(),
            if keys.core.keys().len() == 1 { "" } else { "s" },
            metadata.authorization_endpoint().as_str()
        ))
    }

    /// Saves checked settings, audited. Turning `required` on ends nobody's session: it
    /// applies from their next sign-in.
    pub(crate) async fn save_sso(&self, actor: &Actor, row: SsoSettingsRow) -> ServiceResult<()> {
        let before = self.sso_row(&actor.account_id).await?;
        self.store.put_sso_settings(&row).await?;
        let mut said = Vec::new();
        if before.issuer != row.issuer {
            said.push(format!("issuer {}", row.issuer));
        }
        if before.client_id != row.client_id {
            said.push(format!("client id {}", row.client_id));
        }
        if before.client_secret != row.client_secret {
            said.push("client secret changed".to_string());
        }
        if before.agents != row.agents {
            said.push(format!("agents {} → {}", before.agents, row.agents));
        }
        if before.admins != row.admins {
            said.push(format!("administrators {} → {}", before.admins, row.admins));
        }
        if before.allowed_domains != row.allowed_domains {
            said.push(format!(
                "allowed domains {}",
                row.allowed_domains.join(", ")
            ));
        }
        if before.create_agents != row.create_agents {
            said.push(format!("create agents {}", row.create_agents));
        }
        if before.button_label != row.button_label {
            said.push(format!("button “{}”", row.button_label));
        }
        if !said.is_empty() {
            self.audit_by(
                actor,
                AuditKind::SettingsChanged,
                None,
                format!("single sign-on: {}", said.join("; ")),
            )
            .await;
        }
        Ok(())
    }

    /// "Test the connection": reads the discovery document and keys of `issuer` (as typed,
    /// else the saved one) and says what it found, or (a 422) what failed.
    pub async fn test_sso_connection(
        &self,
        actor: &Actor,
        issuer: Option<&str>,
    ) -> ServiceResult<String> {
        if !actor.can_change_security() {
            return Err(ServiceError::needs(
                crate::domain::member::Permission::Security,
            ));
        }
        let issuer = match issuer.map(str::trim).filter(|i| !i.is_empty()) {
            Some(i) => i.to_string(),
            None => self.sso_row(&actor.account_id).await?.issuer,
        };
        if issuer.is_empty() {
            return Err(ServiceError::invalid(
                "issuer",
                "sso.issuer is required: the provider's URL",
            ));
        }
        self.sso_check_provider(&issuer).await
    }

    /// The sign-in page's button, when the account has a provider and a role may use it.
    pub async fn sso_button(&self, account_id: &str) -> ServiceResult<Option<SsoButton>> {
        let row = self.sso_row(account_id).await?;
        let roles = roles_of(&row);
        Ok(
            (roles.any() && !row.issuer.is_empty()).then_some(SsoButton {
                label: row.button_label,
                roles,
            }),
        )
    }

    /// Refuses a password sign-in for someone whose role must use the provider.
    pub(super) async fn refuse_password_if_sso_required(
        &self,
        member: &Member,
    ) -> ServiceResult<()> {
        let row = self.sso_row(&member.account_id).await?;
        if row.issuer.is_empty() || !roles_of(&row).password_refused(member.kind, member.primary) {
            return Ok(());
        }
        self.audit(
            &member.account_id,
            AuditKind::SignInRefused,
            Some(&member.id),
            Some(&member.id),
            None,
            "password sign-in refused: single sign-on is required for this role".to_string(),
        )
        .await;
        Err(ServiceError::SsoRequired(format!(
            "your role signs in with single sign-on: use “Sign in with {}” on the sign-in page",
            row.button_label
        )))
    }

    async fn sso_settings_opened(&self, account_id: &str) -> ServiceResult<Option<Settings>> {
        let Some(row) = self.store.sso_settings(account_id).await? else {
            return Ok(None);
        };
        let roles = roles_of(&row);
        if row.issuer.is_empty() || row.client_id.is_empty() {
            return Ok(None);
        }
        let secret = self.open_client_secret(&row).await?;
        Ok(Some(Settings { row, secret, roles }))
    }

    async fn sso_provider(&self, s: &Settings) -> Result<std::sync::Arc<Provider>, String> {
        self.sso
            .provider(&s.row.account_id, &s.row.issuer, s.row.updated_at)
            .await
    }

    fn oidc_client(
        &self,
        s: &Settings,
        p: &Provider,
        slug: &str,
    ) -> Result<
        CoreClient<
            EndpointSet,
            EndpointNotSet,
            EndpointNotSet,
            EndpointNotSet,
            EndpointMaybeSet,
            EndpointMaybeSet,
        >,
        String,
    > {
        let redirect = RedirectUrl::new(self.link(slug, "/sso/callback"))
            .map_err(|e| format!("the redirect URI is not a URL: {e}"))?;
        let secret = (!s.secret.is_empty()).then(|| ClientSecret::new(s.secret.clone()));
        // client_secret_basic unless the provider says it takes only client_secret_post.
        let post_only = p
            .metadata
            .token_endpoint_auth_methods_supported()
            .is_some_and(|m| {
                m.contains(&CoreClientAuthMethod::ClientSecretPost)
                    && !m.contains(&CoreClientAuthMethod::ClientSecretBasic)
            });
        Ok(CoreClient::from_provider_metadata(
            p.metadata.clone(),
            ClientId::new(s.row.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect)
        .set_auth_type(if post_only {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        }))
    }

    /// `GET /sso/start`: the URL of the provider's sign-in for this browser (`binding`, the
    /// value of its binding cookie), remembering `state`, `nonce`, the PKCE verifier and `rd`.
    pub async fn sso_start(
        &self,
        account_id: &str,
        binding: &str,
        rd: &str,
    ) -> Result<String, SsoCallbackError> {
        let fail = |f| SsoCallbackError::Failed(f);
        let s = self
            .sso_settings_opened(account_id)
            .await
            .map_err(SsoCallbackError::Other)?
            .filter(|s| s.roles.any())
            .ok_or(fail(SsoFailure::NotSetUp))?;
        let p = self.sso_provider(&s).await.map_err(|e| {
            tracing::warn!(error = %e, "identity provider unreachable");
            fail(SsoFailure::ProviderUnreachable)
        })?;
        let slug = self
            .store
            .account(account_id)
            .await
            .map_err(|e| SsoCallbackError::Other(e.into()))?
            .slug;
        let client = self.oidc_client(&s, &p, &slug).map_err(|e| {
            tracing::warn!(error = %e, "single sign-on misconfigured");
            fail(SsoFailure::NotSetUp)
        })?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = random_hex(32);
        let nonce = random_hex(32);
        let (url, _, _) = {
            let (state, nonce) = (state.clone(), nonce.clone());
            client
                .authorize_url(
                    CoreAuthenticationFlow::AuthorizationCode,
                    move || CsrfToken::new(state),
                    move || Nonce::new(nonce),
                )
                .add_scope(Scope::new("email".to_string()))
                .add_scope(Scope::new("profile".to_string()))
                .set_pkce_challenge(challenge)
                .url()
        };
        let now = self.now();
        self.store
            .insert_sso_state(&SsoState {
                state_hash: token_hash(&state),
                account_id: account_id.to_string(),
                binding_hash: token_hash(binding),
                nonce,
                pkce_verifier: verifier.secret().clone(),
                rd: rd.to_string(),
                created_at: now,
                expires_at: now + STATE_TTL,
            })
            .await
            .map_err(|e| SsoCallbackError::Other(e.into()))?;
        Ok(url.to_string())
    }

    /// `GET /sso/callback`: the provider's answer. Signs the person in (or leads to the
    /// choice between linked accounts, or the second factor), or says why nobody was signed
    /// in; each such failure is audited as `sso.failed` with its reason.
    pub async fn sso_callback(&self, req: SsoCallback) -> Result<SsoDone, SsoCallbackError> {
        let result = self.sso_callback_inner(&req).await;
        match result {
            Ok(Ok(done)) => {
                self.metrics.signin(Ok("success"));
                Ok(done)
            }
            Ok(Err((failure, detail))) => {
                tracing::info!(reason = failure.as_str(), %detail, "single sign-on failed");
                self.audit(
                    &req.account_id,
                    AuditKind::SsoFailed,
                    None,
                    None,
                    Some(req.ip),
                    format!("single sign-on failed: {}: {detail}", failure.as_str()),
                )
                .await;
                Err(SsoCallbackError::Failed(failure))
            }
            Err(e) => Err(SsoCallbackError::Other(e)),
        }
    }

    async fn sso_callback_inner(
        &self,
        req: &SsoCallback,
    ) -> ServiceResult<Result<SsoDone, Failed>> {
        let (Some(state), Some(binding)) = (req.state.as_deref(), req.binding.as_deref()) else {
            return Ok(Err((
                SsoFailure::BadState,
                "no state, or no binding cookie in this browser".to_string(),
            )));
        };
        let Some(pending) = self
            .store
            .take_sso_state(
                &req.account_id,
                &token_hash(state),
                &token_hash(binding),
                self.now(),
            )
            .await?
        else {
            return Ok(Err((
                SsoFailure::BadState,
                "state unknown, used, expired or started in another browser".to_string(),
            )));
        };
        if let Some(e) = &req.error {
            let e: String = e.chars().take(100).collect();
            return Ok(Err((
                SsoFailure::ProviderError,
                format!("the provider answered {e}"),
            )));
        }
        let Some(code) = req.code.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(Err((SsoFailure::ProviderError, "no code".to_string())));
        };
        let Some(s) = self.sso_settings_opened(&req.account_id).await? else {
            return Ok(Err((
                SsoFailure::NotSetUp,
                "no provider set up".to_string(),
            )));
        };
        let identity = match self.sso_identity(&s, &pending, code).await {
            Ok(i) => i,
            Err(f) => return Ok(Err(f)),
        };
        if identity.email_verified != Some(true) {
            return Ok(Err((
                SsoFailure::UnverifiedEmail,
                format!(
                    "email_verified is not true for {}",
                    identity.email.as_deref().unwrap_or("(no e-mail)")
                ),
            )));
        }
        let Some(raw_email) = identity.email.as_deref() else {
            return Ok(Err((
                SsoFailure::UnverifiedEmail,
                "no e-mail claim".to_string(),
            )));
        };
        let norm = email::normalize(raw_email);
        let people: Vec<Member> = self
            .store
            .credentials_by_email(&req.account_id, &norm)
            .await?
            .into_iter()
            .map(|c| c.member)
            .collect();
        let mut people = if people.is_empty() {
            match self
                .sso_create_agent(&s, &identity, raw_email, &norm)
                .await?
            {
                Ok(m) => vec![m],
                Err(f) => return Ok(Err(f)),
            }
        } else {
            people
        };
        let before = people.len();
        people.retain(|m| s.roles.may_use(m.kind));
        if people.is_empty() {
            let why =
                format!("{norm}: the role of {before} account(s) on it signs in with a password");
            return Ok(Err((SsoFailure::RoleOff, why)));
        }
        if people.iter().all(|m| m.disabled) {
            for m in &people {
                self.audit(
                    &m.account_id,
                    AuditKind::SignInRefused,
                    Some(&m.id),
                    Some(&m.id),
                    Some(req.ip),
                    "single sign-on refused: account disabled".to_string(),
                )
                .await;
            }
            return Ok(Err((
                SsoFailure::AccountDisabled,
                format!("{norm} is disabled"),
            )));
        }
        people.retain(|m| !m.disabled);
        let mut methods = AuthMethods::none().with(AuthMethod::Sso);
        if identity.second_factor {
            methods = methods.with(AuthMethod::Mfa);
        }
        let proof = Proof {
            methods,
            sso: Some(SsoOrigin {
                sub: identity.sub.clone(),
                sid: identity.sid.clone(),
            }),
        };
        if people.len() > 1 {
            let challenge = self
                .hold_choice(&req.account_id, req.ip, &req.user_agent, &people, &proof)
                .await?;
            let name_of = |k: MemberKind| {
                people
                    .iter()
                    .find(|m| m.kind == k)
                    .map(|m| m.name.clone())
                    .unwrap_or_default()
            };
            return Ok(Ok(SsoDone {
                step: SignInStep::ChooseAccount {
                    challenge,
                    agent_name: name_of(MemberKind::Agent),
                    admin_name: name_of(MemberKind::Admin),
                },
                rd: pending.rd,
            }));
        }
        let member = people.pop().expect("one person");
        let known_browser = self
            .device_pass_holder(
                req.device_pass.as_deref(),
                &req.account_id,
                &norm,
                Some(&member.id),
            )
            .await
            .is_some();
        let step = match self
            .proven(
                member,
                &norm,
                req.ip,
                &req.user_agent,
                None,
                known_browser,
                proof,
            )
            .await
        {
            Ok(step) => step,
            Err(ServiceError::AccountDisabled) => {
                return Ok(Err((
                    SsoFailure::AccountDisabled,
                    format!("{norm} is disabled"),
                )));
            }
            Err(e) => return Err(e),
        };
        Ok(Ok(SsoDone {
            step,
            rd: pending.rd,
        }))
    }

    /// An agent for an address nobody in the account has, when its domain is allowed and
    /// agents are created on first sign-in.
    async fn sso_create_agent(
        &self,
        s: &Settings,
        identity: &Identity,
        raw_email: &str,
        norm: &str,
    ) -> ServiceResult<Result<Member, Failed>> {
        if !s.row.create_agents
            || !s.roles.may_use(MemberKind::Agent)
            || !sso::domain_allowed(norm, &s.row.allowed_domains)
        {
            return Ok(Err((
                SsoFailure::UnknownPerson,
                format!("nobody has {norm}, and its domain is not one where agents are created"),
            )));
        }
        let Ok(address) = Email::parse(raw_email) else {
            return Ok(Err((
                SsoFailure::UnknownPerson,
                format!("{norm} is not an address Deskward accepts"),
            )));
        };
        let local = norm.split('@').next().unwrap_or(norm).to_string();
        let name = identity
            .name
            .as_deref()
            .and_then(|n| crate::domain::name::check_name("name", n).ok())
            .unwrap_or(local);
        let row = NewMember {
            id: new_id("ag"),
            account_id: s.row.account_id.clone(),
            kind: MemberKind::Agent,
            name,
            email: address.as_str().to_string(),
            email_norm: address.normalized().to_string(),
            password_hash: super::passwords::unusable_hash(),
            primary: false,
            permissions: Permissions::default(),
            created_at: self.now(),
        };
        let member = match self.store.insert_member(&row).await {
            Ok(m) => m,
            // Another sign-in created them a moment ago.
            Err(crate::store::StoreError::Conflict { .. }) => {
                match self
                    .store
                    .credentials_by_email(&s.row.account_id, norm)
                    .await?
                    .into_iter()
                    .find(|c| c.member.kind == MemberKind::Agent)
                {
                    Some(c) => return Ok(Ok(c.member)),
                    None => {
                        return Ok(Err((
                            SsoFailure::UnknownPerson,
                            format!("{norm} could not be created"),
                        )));
                    }
                }
            }
            Err(e) => return Err(e.into()),
        };
        self.audit(
            &member.account_id,
            AuditKind::MemberCreated,
            None,
            Some(&member.id),
            None,
            format!(
                "added agent {} <{}> at their first single sign-on",
                member.name, member.email
            ),
        )
        .await;
        self.publish(Event::MemberChanged {
            account_id: member.account_id.clone(),
            member_id: member.id.clone(),
            member_kind: member.kind,
        });
        Ok(Ok(member))
    }

    /// Exchanges the code and checks the ID token: signature by the provider's keys (fetched
    /// again once for a key id it lacks), `iss`, `aud`, `exp` (by the service's clock) and
    /// `nonce`; `email_verified` from userinfo when the token does not say.
    async fn sso_identity(
        &self,
        s: &Settings,
        pending: &SsoState,
        code: &str,
    ) -> Result<Identity, Failed> {
        let unreachable = |e: String| (SsoFailure::ProviderUnreachable, e);
        let p = self.sso_provider(s).await.map_err(unreachable)?;
        let slug = self
            .store
            .account(&s.row.account_id)
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .slug;
        let client = self
            .oidc_client(s, &p, &slug)
            .map_err(|e| (SsoFailure::NotSetUp, e))?;
        let http = sso_provider::Http(&self.sso);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| (SsoFailure::NotSetUp, e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| match e {
                RequestTokenError::Request(e) => {
                    unreachable(format!("the token endpoint could not be reached: {e}"))
                }
                RequestTokenError::ServerResponse(r) => (
                    SsoFailure::TokenRefused,
                    format!("the token endpoint refused the code: {r}"),
                ),
                other => (
                    SsoFailure::TokenRefused,
                    format!("the token endpoint's answer: {other}"),
                ),
            })?;
        let Some(id_token) = token.id_token() else {
            return Err((SsoFailure::TokenRefused, "no ID token".to_string()));
        };
        let nonce = Nonce::new(pending.nonce.clone());
        let mut keys = p.keys();
        let mut refreshed = false;
        let (mut identity, access_token) = loop {
            let verifier = self.id_token_verifier(s, &p, &keys);
            match id_token.claims(&verifier, &nonce) {
                Ok(c) => {
                    let amr: Vec<String> = c
                        .auth_method_refs()
                        .map(|v| v.iter().map(|m| m.to_string()).collect())
                        .unwrap_or_default();
                    break (
                        Identity {
                            sub: c.subject().to_string(),
                            sid: None,
                            email: c.email().map(|e| e.to_string()),
                            email_verified: c.email_verified(),
                            name: c.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
                            second_factor: sso::amr_has_second_factor(&amr),
                        },
                        token.access_token().clone(),
                    );
                }
                Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )) if !refreshed => {
                    keys = self
                        .sso
                        .refresh_keys(&p, &keys)
                        .await
                        .map_err(unreachable)?;
                    refreshed = true;
                }
                Err(e) => {
                    return Err((SsoFailure::TokenRefused, format!("the ID token: {e}")));
                }
            }
        };
        identity.sid = jwt_claim(id_token, "sid");
        if (identity.email_verified.is_none() || identity.email.is_none())
            && let Ok(req) = client.user_info(
                access_token,
                Some(openidconnect::SubjectIdentifier::new(identity.sub.clone())),
            )
        {
            let info: Result<CoreUserInfoClaims, _> = req.request_async(&http).await;
            match info {
                Ok(info) => {
                    if identity.email.is_none() {
                        identity.email = info.email().map(|e| e.to_string());
                    }
                    if identity.email_verified.is_none() {
                        identity.email_verified = info.email_verified();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "userinfo could not be read");
                }
            }
        }
        Ok(identity)
    }

    fn id_token_verifier<'a>(
        &self,
        s: &Settings,
        p: &Provider,
        keys: &sso_provider::Keys,
    ) -> CoreIdTokenVerifier<'a> {
        let clock = self.clock.clone();
        let algs: Vec<CoreJwsSigningAlgorithm> = p
            .metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|a| {
                !matches!(
                    a,
                    CoreJwsSigningAlgorithm::None
                        | CoreJwsSigningAlgorithm::HmacSha256
                        | CoreJwsSigningAlgorithm::HmacSha384
                        | CoreJwsSigningAlgorithm::HmacSha512
                )
            })
            .cloned()
            .collect();
        let issuer =
            IssuerUrl::new(s.row.issuer.clone()).unwrap_or_else(|_| p.metadata.issuer().clone());
        CoreIdTokenVerifier::new_public_client(
            ClientId::new(s.row.client_id.clone()),
            issuer,
            keys.core.clone(),
        )
        .set_allowed_algs(algs)
        .set_time_fn(move || {
            chrono::DateTime::from_timestamp_millis(clock.now()).unwrap_or_default()
        })
    }

    /// `POST /sso/backchannel-logout`: ends the sessions the provider's logout token names
    /// (its `sid`, else every session of its `sub`), reason `idp_logout`, through the one
    /// ending path. How many ended, or why the token was refused (nothing ends then).
    pub async fn sso_backchannel_logout(
        &self,
        account_id: &str,
        token: &str,
    ) -> ServiceResult<Result<usize, String>> {
        let outcome = self.sso_backchannel_inner(account_id, token).await?;
        if let Err(why) = &outcome {
            self.count_refused_logout(account_id, why).await;
        }
        Ok(outcome)
    }

    async fn sso_backchannel_inner(
        &self,
        account_id: &str,
        token: &str,
    ) -> ServiceResult<Result<usize, String>> {
        if token.is_empty() {
            return Ok(Err("logout_token is required".to_string()));
        }
        if token.len() > 16 * 1024 {
            return Ok(Err("logout_token is longer than 16 KiB".to_string()));
        }
        let Some(s) = self.sso_settings_opened(account_id).await? else {
            return Ok(Err(
                "single sign-on is not set up for this account".to_string()
            ));
        };
        let p = match self.sso_provider(&s).await {
            Ok(p) => p,
            Err(e) => return Ok(Err(format!("the provider's keys could not be read: {e}"))),
        };
        let claims = match sso_provider::verify_logout_token(&self.sso, &p, token).await {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let now = self.now();
        let subject =
            match sso::check_logout_claims(&claims, &s.row.issuer, &s.row.client_id, now / 1000) {
                Ok(x) => x,
                Err(e) => return Ok(Err(e)),
            };
        // Kept past the last moment the token's iat would still be accepted.
        let keep_until = now.max(subject.iat * 1000) + 2 * sso::LOGOUT_TOKEN_MAX_AGE_SECS * 1000;
        if !self
            .store
            .remember_logout_jti(account_id, &subject.jti, keep_until)
            .await?
        {
            return Ok(Err("this logout token's jti was already used".to_string()));
        }
        let ended = self
            .end(
                Within::Account(account_id),
                Which::Sso {
                    sid: subject.sid.clone(),
                    sub: subject.sub.clone(),
                },
                EndReason::IdpLogout,
                None,
            )
            .await?;
        Ok(Ok(ended.len()))
    }

    /// A refused logout token, in the audit log: the endpoint takes anyone's request, so
    /// refusals are counted per account and hour rather than written one by one.
    async fn count_refused_logout(&self, account_id: &str, why: &str) {
        let now = self.now();
        let hour = now.div_euclid(60 * MINUTE);
        let key = token_hash(&format!("sso-logout-refused:{account_id}:{hour}"));
        let entry = AuditEntry {
            id: format!("au_{}", &key[..24]),
            account_id: account_id.to_string(),
            at: now,
            kind: AuditKind::SsoLogoutRefused.as_str().to_string(),
            actor: None,
            target: None,
            ip: None,
            detail: format!("back-channel logout token refused (the latest: {why})"),
            count: 1,
        };
        if let Err(e) = self.store.count_audit(&entry).await {
            tracing::warn!(error = %e, "could not count a refused logout token");
        }
    }

    /// Deletes expired pending sign-ins and logout `jti`s too old to replay (the sweep).
    pub(crate) async fn prune_sso(&self) {
        if let Err(e) = self.store.prune_sso(self.now()).await {
            tracing::warn!(error = %e, "could not prune single sign-on rows");
        }
    }
}

/// A claim of a JWT whose signature was already checked: its payload read as JSON.
fn jwt_claim<T: serde::Serialize>(jwt: &T, name: &str) -> Option<String> {
    use base64::Engine;
    let text = serde_json::to_value(jwt).ok()?;
    let payload = text.as_str()?.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get(name)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn providers_on_private_addresses_are_refused_unless_allowed() {
        let p = super::sso_provider::Providers::default();
        for issuer in [
            "http://127.0.0.1:9000",
            "https://10.1.2.3/realms/x",
            "https://[::1]:8443",
            "https://192.168.0.10",
        ] {
            let url = url::Url::parse(issuer).unwrap();
            let e = p.check_reachable(&url).await.unwrap_err();
            assert!(e.contains("loopback or private"), "{issuer}: {e}");
            assert!(e.contains("--sso-allow-private"), "{issuer}: {e}");
        }
        p.set_allow_private(true);
        let url = url::Url::parse("http://127.0.0.1:9000").unwrap();
        assert!(p.check_reachable(&url).await.is_ok());
    }

    #[test]
    fn secrets_longer_than_one_key_stream_are_sealed_whole() {
        let key = [7u8; 32];
        for len in [0, 1, 31, 32, 33, 64, 100, 300] {
            let secret: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = super::seal_long(&key, "sso:ac1", &secret).unwrap();
            assert_eq!(
                super::open_long(&key, "sso:ac1", &sealed).unwrap(),
                secret,
                "{len}"
            );
            if len >= 16 {
                assert!(!sealed.contains(&hex::encode(&secret)), "{len}");
                let other = super::open_long(&key, "sso:ac2", &sealed).unwrap();
                assert_ne!(
                    other, secret,
                    "another account's label opens nothing useful"
                );
            }
        }
    }

    #[test]
    fn a_claim_is_read_from_a_jwt() {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!("{}.{}.sig", b("{}"), b(r#"{"sid":"abc","sub":"u"}"#));
        assert_eq!(super::jwt_claim(&jwt, "sid").as_deref(), Some("abc"));
        assert_eq!(super::jwt_claim(&jwt, "nope"), None);
        assert_eq!(super::jwt_claim(&"garbage".to_string(), "sid"), None);
    }
}
