//! Two-factor sign-in: the second step of signing in, the caller's own authenticator app, and
//! administrators resetting a person's second factor.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use url::Url;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use crate::domain::time::rfc3339;
use crate::service::MfaLogin;
use crate::service::passkeys::PasskeyAnswer;
use crate::store::PasskeyRecord;
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::ApiError;
use crate::web::request::{ApiTenant, ApiUser, Client};
use crate::web::return_to::{self, after_new_sign_in};
use crate::web::section::Section;

use super::{ApiJson, ApiPath};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondStepBody {
    challenge: String,
    /// A code of the authenticator app or a recovery code; or else `credential`.
    #[serde(default)]
    code: String,
    /// A passkey's answer to the options of `POST /auth/login/mfa/passkey-options`.
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
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            device_pass: cookies::device_pass(&parts.headers, client.https),
            passkey,
        })
        .await?;
    let to = after_new_sign_in(&state, out.member.kind, rd);
    super::auth::signed_in(&state, out, &client, to).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    password: String,
}

/// `POST /me/mfa/totp`: a new secret to scan or type, pending until confirmed.
pub async fn start_totp(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<Response, ApiError> {
    let setup = state.svc.start_totp(&p.actor, b.password).await?;
    Ok(Json(json!({
        "secret": setup.secret,
        "otpauth_url": setup.otpauth_url,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    code: String,
}

/// `POST /me/mfa/totp/confirm`: the recovery codes, shown this once.
pub async fn confirm_totp(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<CodeBody>,
) -> Result<Response, ApiError> {
    let codes = state.svc.confirm_totp(&p.actor, &b.code).await?;
    Ok(Json(json!({ "recovery_codes": codes })).into_response())
}

/// `DELETE /me/mfa/totp`.
pub async fn remove_totp(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<Response, ApiError> {
    state.svc.remove_totp(&p.actor, b.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /me/mfa`: the caller's second factors (also in `GET /me`).
pub async fn status(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
) -> Result<Response, ApiError> {
    let s = state.svc.mfa_status(&p.actor.member_id).await?;
    Ok(Json(s).into_response())
}

/// `DELETE /agents/{id}/mfa`, `DELETE /admins/{id}/mfa`.
pub async fn reset<S: Section>(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state.svc.reset_mfa(&p.actor, S::KIND, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    challenge: String,
}

/// `POST /auth/login/mfa/passkey-options`: what `navigator.credentials.get` needs for the
/// second step of this sign-in.
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
        .passkey_options(&account_id, &b.challenge, &client.ip, &origin)
        .await?;
    Ok(Json(options).into_response())
}

fn passkey_json(p: &PasskeyRecord) -> serde_json::Value {
    json!({
        "id": p.id,
        "name": p.name,
        "created_at": rfc3339(p.created_at),
        "last_used_at": p.last_used_at.map(rfc3339),
    })
}

/// `POST /me/mfa/passkeys/options` `{"password"}`: starts registering a passkey.
pub async fn passkey_options(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    parts: Parts,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<Response, ApiError> {
    let origin = origin(&parts, &state)?;
    let (registration, options) = state
        .svc
        .start_passkey(&p.actor, b.password, &origin)
        .await?;
    Ok(Json(json!({"registration": registration, "options": options})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPasskeyBody {
    registration: String,
    name: String,
    credential: RegisterPublicKeyCredential,
}

/// `POST /me/mfa/passkeys`: finishes registering a passkey under a name.
pub async fn add_passkey(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    parts: Parts,
    ApiJson(b): ApiJson<NewPasskeyBody>,
) -> Result<Response, ApiError> {
    let origin = origin(&parts, &state)?;
    let record = state
        .svc
        .finish_passkey(&p.actor, &b.registration, &b.name, &b.credential, &origin)
        .await?;
    Ok((StatusCode::CREATED, Json(passkey_json(&record))).into_response())
}

/// `GET /me/mfa/passkeys`.
pub async fn list_passkeys(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
) -> Result<Response, ApiError> {
    let items: Vec<_> = state
        .svc
        .passkeys(&p.actor)
        .await?
        .iter()
        .map(passkey_json)
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}

/// `DELETE /me/mfa/passkeys/{id}` `{"password"}`.
pub async fn remove_passkey(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<Response, ApiError> {
    state.svc.remove_passkey(&p.actor, &id, b.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
