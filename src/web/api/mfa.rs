//! Two-factor sign-in: the second step of signing in, the caller's own authenticator app, and
//! administrators resetting a person's second factor.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::service::MfaLogin;
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::ApiError;
use crate::web::request::{ApiTenant, ApiUser, Client};
use crate::web::return_to;
use crate::web::section::Section;

use super::{ApiJson, ApiPath};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondStepBody {
    challenge: String,
    code: String,
    rd: Option<String>,
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
    let out = state
        .svc
        .login_mfa(MfaLogin {
            account_id,
            challenge: body.challenge,
            code: body.code,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            device_pass: cookies::device_pass(&parts.headers, client.https),
        })
        .await?;
    super::auth::signed_in(&state, out, &client, rd).await
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
