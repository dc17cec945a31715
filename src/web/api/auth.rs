//! Sign-in, sign-out and the caller's own record.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::member::{AgentStatus, MemberKind};
use crate::service::{LoginRequest, SignInStep, SignedIn};
use crate::web::AppState;
use crate::web::cookies::{self, device_cookie, session_cookie, signed_out_response};
use crate::web::error::ApiError;
use crate::web::request::{ApiTenant, ApiUser, Client};
use crate::web::return_to::{self, after_new_sign_in};

use super::ApiJson;
use super::shapes::{MemberJson, SessionJson};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
    #[serde(rename = "as")]
    as_kind: Option<String>,
    /// Where the person wanted to go (forward auth); the answer's `redirect_to` is it when
    /// its origin is allowed.
    rd: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    ApiTenant(account_id): ApiTenant,
    client: Client,
    parts: Parts,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let rd = return_to::allowed(body.rd.as_deref(), &parts, &state);
    let as_kind = match body.as_kind.as_deref() {
        None => None,
        Some(k) => Some(k.parse::<MemberKind>().map_err(|_| {
            ApiError::invalid(format!("as: must be \"agent\" or \"admin\", got \"{k}\""))
        })?),
    };
    let step = state
        .svc
        .login(LoginRequest {
            account_id,
            email: body.email,
            password: body.password,
            as_kind,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            device_pass: cookies::device_pass(&parts.headers, client.https),
        })
        .await?;
    match step {
        SignInStep::SignedIn(out) => {
            let to = after_new_sign_in(&state, out.member.kind, rd);
            signed_in(&state, *out, &client, to).await
        }
        // Signed in, but the session may only set up a second factor: that page is next.
        SignInStep::Enrol(out) => {
            let to = crate::web::prefix::url(return_to::ENROL_PAGE);
            signed_in(&state, *out, &client, to).await
        }
        SignInStep::ChooseAccount { .. } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "choose_account",
            "this e-mail and password open both an agent and an administrator account; say \
             which with \"as\": \"agent\" or \"admin\"",
        )),
        // No cookie yet: the second step (`POST /auth/login/mfa`) signs in.
        SignInStep::SecondFactor { challenge, methods } => Ok(Json(json!({
            "mfa_required": true,
            "challenge": challenge,
            "methods": methods,
        }))
        .into_response()),
    }
}

/// The answer to a completed sign-in (password alone, or its second step): the person, the
/// session and its CSRF token, where to go now (`to`), with the session cookie and a fresh
/// known-device pass.
pub(super) async fn signed_in(
    state: &AppState,
    out: SignedIn,
    client: &Client,
    to: String,
) -> Result<Response, ApiError> {
    let sessions = state
        .svc
        .sessions_of(&out.member.account_id, &out.member.id, out.member.kind)
        .await?;
    let mut body = json!({
        "user": MemberJson::new(&out.member, &sessions, &out.actor),
        "session": SessionJson::from(&out.session),
        "csrf_token": out.csrf_token,
        "redirect_to": to,
    });
    if let Some(left) = out.recovery_codes_left {
        body["recovery_codes_left"] = json!(left);
    }
    let mut res = Json(body).into_response();
    cookies::set(&mut res, &session_cookie(&out.token, client.https));
    cookies::set(&mut res, &device_cookie(&out.device_pass, client.https));
    Ok(res)
}

pub async fn logout(
    State(state): State<AppState>,
    client: Client,
    ApiUser(p): ApiUser,
) -> Result<Response, ApiError> {
    state.svc.logout(&p.actor).await?;
    Ok(signed_out_response(
        StatusCode::NO_CONTENT.into_response(),
        client.https,
    ))
}

/// The body of `GET /api/v1/me`.
#[derive(Serialize)]
struct MeJson<'a> {
    user: MemberJson,
    session: SessionJson,
    csrf_token: &'a str,
    mfa: crate::service::mfa::MfaStatus,
}

pub async fn me(State(state): State<AppState>, ApiUser(p): ApiUser) -> Result<Response, ApiError> {
    let view = state.svc.me(&p.actor).await?;
    // Every tab asks for `/me`, and serializing the person with their sessions was a fifth
    // of the request's cost: the body is kept for the session while it would come out the
    // same (the service's cache bounds these bodies by bytes and drops them as sessions end).
    let body = match state.svc.kept_body(&p.session, &view) {
        Some(body) => body,
        None => {
            let json = MeJson {
                user: MemberJson::of(&view, &p.actor),
                session: SessionJson::from(&p.session),
                csrf_token: &p.csrf_token,
                mfa: state.svc.mfa_status(&p.actor.member_id).await?,
            };
            let body = serde_json::to_vec(&json).map_err(|e| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })?;
            let body = Bytes::from(body);
            state.svc.keep_body(&p.session, &view, body.clone());
            body
        }
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

pub async fn my_sessions(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
) -> Result<Response, ApiError> {
    let view = state.svc.me(&p.actor).await?;
    let items: Vec<_> = view
        .sessions
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(SessionJson::from(s)).unwrap_or_default();
            v["current"] = json!(s.id == p.session.id);
            v
        })
        .collect();
    Ok(Json(json!({ "items": items })).into_response())
}

#[derive(Deserialize)]
pub struct StatusBody {
    status: String,
}

pub async fn set_status(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Response, ApiError> {
    let status: AgentStatus = body.status.parse().map_err(|_| {
        ApiError::invalid(format!(
            "status: must be \"online\" or \"offline\", got \"{}\"",
            body.status
        ))
    })?;
    let m = state.svc.set_own_status(&p.actor, status).await?;
    let sessions = state.svc.sessions_of(&m.account_id, &m.id, m.kind).await?;
    Ok(Json(MemberJson::new(&m, &sessions, &p.actor)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
    /// Other sessions end unless this is false: whoever learnt the old password is out.
    end_other_sessions: Option<bool>,
}

pub async fn change_password(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<Response, ApiError> {
    let ended = state
        .svc
        .change_own_password(
            &p.actor,
            b.current_password,
            b.new_password,
            b.end_other_sessions.unwrap_or(true),
        )
        .await?;
    Ok(Json(json!({ "ended": ended })).into_response())
}
