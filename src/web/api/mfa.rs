//! Two-factor sign-in: the second step of signing in, the caller's own authenticator app, and
//! administrators resetting a person's second factor.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use url::Url;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::domain::time::rfc3339;
use crate::service::MfaLogin;
use crate::service::passkeys::PasskeyAnswer;
use crate::store::PasskeyRecord;
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::request::{ApiTenant, ApiUser, Client};
use crate::web::return_to::{self, after_new_sign_in};
use crate::web::section::{Admins, Agents, Section};

use super::auth::SignedInJson;
use super::shapes::{MfaJson, Sorted};
use super::{ApiJson, ApiPath};

#[derive(Deserialize, ToSchema)]
#[schema(as = SecondStepInput)]
#[serde(deny_unknown_fields)]
pub struct SecondStepBody {
    /// From the login answer.
    challenge: String,
    /// A code of the authenticator app or a recovery code; or else `credential`.
    #[serde(default)]
    code: String,
    /// A passkey's answer (WebAuthn `PublicKeyCredential`) to the options of
    /// `POST /auth/login/mfa/passkey-options`.
    #[schema(value_type = Option<Object>)]
    credential: Option<PublicKeyCredential>,
    rd: Option<String>,
}

/// The origin the browser used, as the passkey ceremonies check it.
fn origin(parts: &Parts, state: &AppState) -> Result<Url, ApiError> {
    return_to::own_origin(parts, state)
        .and_then(|o| Url::parse(&o.ascii_serialization()).ok())
        .ok_or_else(|| ApiError::invalid("Host: this request names no usable origin"))
}

/// `POST /auth/login/mfa`: like login, no CSRF token (there is no session yet).
#[utoipa::path(post, path = "/auth/login/mfa", tag = "two-factor sign-in",
    operation_id = "login_mfa",
    request_body = SecondStepBody,
    responses(
        (status = 200, description = "Signed in, as by a login; sets the session cookie", body = SignedInJson),
        (status = 401, description = "`invalid_credentials`: a wrong code or passkey, or an unknown \
            or expired challenge", body = ErrorBody),
        (status = 403, description = "`account_disabled`, `outside_office_network`, or `csrf` for a \
            cross-site request", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ApiTenant(account_id): ApiTenant,
    client: Client,
    parts: Parts,
    ApiJson(body): ApiJson<SecondStepBody>,
) -> Result<Response, ApiError> {
    let rd = return_to::allowed(body.rd.as_deref(), &parts, &state);
    let passkey = match body.credential {
        Some(credential) => Some(PasskeyAnswer {
            credential,
            origin: origin(&parts, &state)?,
        }),
        None => None,
    };
    let out = state
        .svc
        .login_mfa(MfaLogin {
            account_id,
            challenge: body.challenge,
            code: body.code,
            ip: client.ip,
            user_agent: client.user_agent.clone(),
            device_pass: cookies::device_pass(
                &parts.headers,
                client.https,
                state.cfg.cookie_domain.as_deref(),
            ),
            passkey,
        })
        .await?;
    let to = after_new_sign_in(&state, out.member.kind, rd);
    super::auth::signed_in(&state, out, &client, to).await
}

#[derive(Deserialize, ToSchema)]
#[schema(as = OwnPassword)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The caller's password.
    password: String,
}

/// A new authenticator app's secret.
#[derive(Serialize, ToSchema)]
#[schema(as = TotpSetup)]
pub struct TotpSetupJson {
    /// Base32.
    pub secret: String,
    /// What the QR code holds.
    pub otpauth_url: String,
}

/// `POST /me/mfa/totp`: a new secret to scan or type, pending until confirmed.
#[utoipa::path(post, path = "/me/mfa/totp", tag = "two-factor sign-in",
    security(("session" = [], "csrf" = [])),
    request_body = PasswordBody,
    responses(
        (status = 200, description = "A new secret, pending until confirmed", body = TotpSetupJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`csrf`", body = ErrorBody),
        (status = 422, description = "`invalid_input`: a wrong `password`, an app set up already, ...", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn start_totp(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<Sorted<TotpSetupJson>, ApiError> {
    let setup = state.svc.start_totp(&p.actor, b.password).await?;
    Ok(Sorted(TotpSetupJson {
        secret: setup.secret,
        otpauth_url: setup.otpauth_url,
    }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = CodeInput)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// A code of the authenticator app.
    code: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = RecoveryCodes)]
pub struct RecoveryCodesJson {
    /// Ten codes, shown this once.
    pub recovery_codes: Vec<String>,
}

/// `POST /me/mfa/totp/confirm`: the recovery codes, shown this once.
#[utoipa::path(post, path = "/me/mfa/totp/confirm", tag = "two-factor sign-in",
    security(("session" = [], "csrf" = [])),
    request_body = CodeBody,
    responses(
        (status = 200, description = "The app is set up; the recovery codes, shown this once", body = RecoveryCodesJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`csrf`", body = ErrorBody),
        (status = 422, description = "`invalid_input`: a wrong code, or nothing to confirm", body = ErrorBody),
    ))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<CodeBody>,
) -> Result<Sorted<RecoveryCodesJson>, ApiError> {
    let recovery_codes = state.svc.confirm_totp(&p.actor, &b.code).await?;
    Ok(Sorted(RecoveryCodesJson { recovery_codes }))
}

/// `DELETE /me/mfa/totp`.
#[utoipa::path(delete, path = "/me/mfa/totp", tag = "two-factor sign-in",
    security(("session" = [], "csrf" = [])),
    request_body = PasswordBody,
    responses(
        (status = 204, description = "The authenticator app is removed"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`csrf`", body = ErrorBody),
        (status = 404, description = "`not_found`: no app is set up", body = ErrorBody),
        (status = 422, description = "`invalid_input`: a wrong `password`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn remove_totp(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    state.svc.remove_totp(&p.actor, b.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /me/mfa`: the caller's second factors (also in `GET /me`).
#[utoipa::path(get, path = "/me/mfa", tag = "two-factor sign-in",
    operation_id = "mfa_status",
    security(("session" = [])),
    responses(
        (status = 200, description = "The caller's second factors (also in `GET /me`)", body = MfaJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
    ))]
pub async fn status(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
) -> Result<Json<MfaJson>, ApiError> {
    let s = state.svc.mfa_status(&p.actor.member_id).await?;
    Ok(Json(s.into()))
}

/// `DELETE /agents/{id}/mfa`, `DELETE /admins/{id}/mfa`.
pub async fn reset<S: Section>(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.svc.reset_mfa(&p.actor, S::KIND, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Each section's reset, annotated for its path around the shared handler (see
/// `team::section_operations` for why wrappers).
macro_rules! reset_operation {
    ($name:ident, $section:ty, path = $path:literal, One = $One:literal, the = $the:literal,
        forbidden = $forbidden:literal) => {
        #[utoipa::path(delete, path = $path, tag = "two-factor sign-in",
            security(("session" = [], "csrf" = [])),
            params(("id" = String, Path, description = concat!($One, " id"))),
            responses(
                (status = 204, description = concat!("The ", $the, "'s second factors are removed and \
                    their sessions ended (reason `mfa_reset`)")),
                (status = 401, description = "`unauthenticated`", body = ErrorBody),
                (status = 403, description = $forbidden, body = ErrorBody),
                (status = 404, description = "`not_found`", body = ErrorBody),
                (status = 422, description = "`invalid_input`: no second factor to reset", body = ErrorBody),
            ))]
        pub async fn $name(
            state: State<AppState>,
            p: ApiUser,
            id: ApiPath<String>,
        ) -> Result<StatusCode, ApiError> {
            reset::<$section>(state, p, id).await
        }
    };
}

reset_operation!(
    reset_agent_mfa,
    Agents,
    path = "/agents/{id}/mfa",
    One = "Agent",
    the = "agent",
    forbidden = "`forbidden` (also: the agent's e-mail belongs to an administrator the caller \
        may not administer) or `csrf`"
);
reset_operation!(
    reset_admin_mfa,
    Admins,
    path = "/admins/{id}/mfa",
    One = "Administrator",
    the = "administrator",
    forbidden = "`forbidden` (also on one's own id: one's own factor goes through \
        `DELETE /api/v1/me/mfa/totp`, which asks for the password) or `csrf`"
);

#[derive(Deserialize, ToSchema)]
#[schema(as = ChallengeInput)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    challenge: String,
}

/// `POST /auth/login/mfa/passkey-options`: what `navigator.credentials.get` needs for the
/// second step of this sign-in.
#[utoipa::path(post, path = "/auth/login/mfa/passkey-options", tag = "two-factor sign-in",
    request_body = ChallengeBody,
    responses(
        (status = 200, description = "WebAuthn request options for `navigator.credentials.get`", body = Object),
        (status = 401, description = "`invalid_credentials`: an unknown or expired challenge", body = ErrorBody),
        (status = 403, description = "`csrf` for a cross-site request", body = ErrorBody),
        (status = 422, description = "`invalid_input` (no passkey, or no usable origin)", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn login_passkey_options(
    State(state): State<AppState>,
    ApiTenant(account_id): ApiTenant,
    client: Client,
    parts: Parts,
    ApiJson(b): ApiJson<ChallengeBody>,
) -> Result<Response, ApiError> {
    let origin = origin(&parts, &state)?;
    let options = state
        .svc
        .passkey_options(&account_id, &b.challenge, client.ip, &origin)
        .await?;
    Ok(Json(options).into_response())
}

#[derive(Serialize, ToSchema)]
#[schema(as = Passkey)]
pub struct PasskeyJson {
    pub id: String,
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
}

impl From<&PasskeyRecord> for PasskeyJson {
    fn from(p: &PasskeyRecord) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = PasskeyList)]
pub struct PasskeysJson {
    pub items: Vec<PasskeyJson>,
}

/// A passkey's registration, begun.
#[derive(Serialize, ToSchema)]
#[schema(as = PasskeyRegistration)]
pub struct PasskeyRegistrationJson {
    /// Send it back with `POST /me/mfa/passkeys`.
    pub registration: String,
    /// WebAuthn creation options for `navigator.credentials.create`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// `POST /me/mfa/passkeys/options` `{"password"}`: starts registering a passkey.
#[utoipa::path(post, path = "/me/mfa/passkeys/options", tag = "two-factor sign-in",
    security(("session" = [], "csrf" = [])),
    request_body = PasswordBody,
    responses(
        (status = 200, description = "Starts registering a passkey", body = PasskeyRegistrationJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`csrf`", body = ErrorBody),
        (status = 422, description = "`invalid_input`: a wrong `password`, no usable origin, 20 \
            passkeys already, ...", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn passkey_options(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    parts: Parts,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<Sorted<PasskeyRegistrationJson>, ApiError> {
    let origin = origin(&parts, &state)?;
    let (registration, options) = state
        .svc
        .start_passkey(&p.actor, b.password, &origin)
        .await?;
    Ok(Sorted(PasskeyRegistrationJson {
        registration,
        options,
    }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = NewPasskey)]
#[serde(deny_unknown_fields)]
pub struct NewPasskeyBody {
    registration: String,
    name: String,
    /// The WebAuthn `PublicKeyCredential` of `navigator.credentials.create`.
    #[schema(value_type = Object)]
    credential: RegisterPublicKeyCredential,
}

/// `POST /me/mfa/passkeys`: finishes registering a passkey under a name.
#[utoipa::path(post, path = "/me/mfa/passkeys", tag = "two-factor sign-in",
    security(("session" = [], "csrf" = [])),
    request_body = NewPasskeyBody,
    responses(
        (status = 201, description = "The passkey, registered under its name", body = PasskeyJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`csrf`", body = ErrorBody),
        (status = 422, description = "`invalid_input`: an expired `registration`, a refused \
            `credential`, a bad `name`", body = ErrorBody),
    ))]
pub async fn add_passkey(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    parts: Parts,
    ApiJson(b): ApiJson<NewPasskeyBody>,
) -> Result<(StatusCode, Sorted<PasskeyJson>), ApiError> {
    let origin = origin(&parts, &state)?;
    let record = state
        .svc
        .finish_passkey(&p.actor, &b.registration, &b.name, &b.credential, &origin)
        .await?;
    Ok((StatusCode::CREATED, Sorted(PasskeyJson::from(&record))))
}

/// `GET /me/mfa/passkeys`.
#[utoipa::path(get, path = "/me/mfa/passkeys", tag = "two-factor sign-in",
    security(("session" = [])),
    responses(
        (status = 200, description = "The caller's passkeys", body = PasskeysJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
    ))]
pub async fn list_passkeys(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
) -> Result<Sorted<PasskeysJson>, ApiError> {
    let items = state
        .svc
        .passkeys(&p.actor)
        .await?
        .iter()
        .map(PasskeyJson::from)
        .collect();
    Ok(Sorted(PasskeysJson { items }))
}

/// `DELETE /me/mfa/passkeys/{id}` `{"password"}`.
#[utoipa::path(delete, path = "/me/mfa/passkeys/{id}", tag = "two-factor sign-in",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "Passkey id")),
    request_body = PasswordBody,
    responses(
        (status = 204, description = "The passkey is removed"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`csrf`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_input`: a wrong `password`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn remove_passkey(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    state.svc.remove_passkey(&p.actor, &id, b.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
