//! Sign-in, sign-out and the caller's own record.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::member::{AgentStatus, MemberKind};
use crate::domain::signin::AuthMethods;
use crate::service::{LoginRequest, SignInStep, SignedIn};
use crate::web::AppState;
use crate::web::cookies::{self, device_cookie, session_cookie, signed_out_response};
use crate::web::error::{ApiError, ErrorBody};
use crate::web::request::{ApiTenant, ApiUser, Client};
use crate::web::return_to::{self, after_new_sign_in};

use super::ApiJson;
use super::shapes::{MemberJson, MfaJson, SessionJson, Sorted};

#[derive(Deserialize, ToSchema)]
#[schema(as = LoginInput)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(format = Email)]
    email: String,
    #[schema(min_length = 1)]
    password: String,
    /// Which account of a linked pair.
    #[schema(value_type = Option<MemberKind>)]
    #[serde(rename = "as")]
    as_kind: Option<String>,
    /// Where the person wanted to go (forward auth); the answer's `redirect_to` is it when
    /// its origin is allowed.
    rd: Option<String>,
}

/// A completed sign-in (password alone, or its second step).
#[derive(Serialize, ToSchema)]
#[schema(as = LoginOutput)]
pub struct SignedInJson {
    pub user: MemberJson,
    pub session: SessionJson,
    /// Send it as `X-CSRF-Token` on every state-changing request.
    pub csrf_token: String,
    /// Where the browser goes next.
    pub redirect_to: String,
    /// When a recovery code was used: how many are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes_left: Option<i64>,
}

/// The first step passed; the sign-in needs its second step (`POST /auth/login/mfa`). No
/// session cookie is set.
#[derive(Serialize, ToSchema)]
#[schema(as = MfaRequired)]
pub struct MfaRequiredJson {
    /// Always true.
    pub mfa_required: bool,
    /// Send it back with the second step.
    pub challenge: String,
    /// The person's second factors: any of `totp`, `webauthn` (passkeys), `recovery_code`
    #[schema(value_type = Vec<String>)]
    pub methods: AuthMethods,
}

/// What `POST /auth/login` answers with 200: signed in, or asked for a second step.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    SignedIn(Box<SignedInJson>),
    MfaRequired(MfaRequiredJson),
}

#[utoipa::path(post, path = "/auth/login", tag = "sign-in",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in (sets the session cookie), or, for a person with a \
            second factor, `{\"mfa_required\": true, \"challenge\", \"methods\"}` without a cookie", body = LoginAnswer),
        (status = 401, description = "`invalid_credentials`: unknown e-mail or wrong password", body = ErrorBody),
        (status = 403, description = "`account_disabled`, `outside_office_network` (the policy \
            enforces the office networks), or `csrf` for a cross-site request", body = ErrorBody),
        (status = 409, description = "`choose_account`: the password opens both linked accounts; send `as`", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
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
            ip: client.ip,
            user_agent: client.user_agent.clone(),
            device_pass: cookies::device_pass(
                &parts.headers,
                client.https,
                state.cfg.cookie_domain.as_deref(),
            ),
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
        SignInStep::SecondFactor { challenge, methods } => {
            let body = MfaRequiredJson {
                mfa_required: true,
                challenge,
                methods,
            };
            Ok(Sorted(LoginAnswer::MfaRequired(body)).into_response())
        }
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
    let body = SignedInJson {
        user: MemberJson::new(&out.member, &sessions, &out.actor),
        session: SessionJson::from(&out.session),
        csrf_token: out.csrf_token,
        redirect_to: to,
        recovery_codes_left: out.recovery_codes_left,
    };
    let mut res = Sorted(LoginAnswer::SignedIn(Box::new(body))).into_response();
    cookies::set(
        &mut res,
        &session_cookie(&out.token, client.https, state.cfg.cookie_domain.as_deref()),
    );
    cookies::set(
        &mut res,
        &device_cookie(
            &out.device_pass,
            client.https,
            state.cfg.cookie_domain.as_deref(),
        ),
    );
    Ok(res)
}

#[utoipa::path(post, path = "/auth/logout", tag = "sign-in",
    security(("session" = [], "csrf" = [])),
    responses(
        (status = 204, description = "The session ended (reason `logout`)"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`csrf`", body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    client: Client,
    ApiUser(p): ApiUser,
) -> Result<Response, ApiError> {
    state.svc.logout(&p.actor).await?;
    Ok(signed_out_response(
        StatusCode::NO_CONTENT.into_response(),
        client.https,
        state.cfg.cookie_domain.as_deref(),
    ))
}

/// The body of `GET /api/v1/me`.
#[derive(Serialize, ToSchema)]
#[schema(as = Me)]
pub struct MeJson<'a> {
    user: MemberJson,
    session: SessionJson,
    csrf_token: &'a str,
    mfa: MfaJson,
    /// The caller's own IANA time zone, null when not set (pages then use the browser's).
    time_zone: Option<&'a str>,
}

#[utoipa::path(get, path = "/me", tag = "sign-in",
    security(("session" = [])),
    responses(
        (status = 200, description = "The caller, their session, CSRF token and second factors", body = MeJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
    ))]
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
                session: SessionJson::from(&*p.session),
                csrf_token: &p.csrf_token,
                mfa: state.svc.mfa_status(&p.actor.member_id).await?.into(),
                time_zone: view.member.time_zone.as_deref(),
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

#[derive(Serialize, ToSchema)]
#[schema(as = SessionList)]
pub struct SessionsJson {
    pub items: Vec<SessionJson>,
}

#[utoipa::path(get, path = "/me/sessions", tag = "sign-in",
    security(("session" = [])),
    responses(
        (status = 200, description = "The caller's active sessions", body = SessionsJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`mfa_enrollment_required`", body = ErrorBody),
    ))]
pub async fn my_sessions(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
) -> Result<Sorted<SessionsJson>, ApiError> {
    let view = state.svc.me(&p.actor).await?;
    let items = view
        .sessions
        .iter()
        .map(|s| SessionJson {
            current: Some(s.id == p.session.id),
            ..SessionJson::from(s)
        })
        .collect();
    Ok(Sorted(SessionsJson { items }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = StatusInput)]
pub struct StatusBody {
    #[schema(value_type = AgentStatus)]
    status: String,
}

#[utoipa::path(put, path = "/me/status", tag = "presence",
    security(("session" = [], "csrf" = [])),
    request_body = StatusBody,
    responses(
        (status = 200, description = "The agent with their new status", body = MemberJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden` (not an agent) or `csrf`", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
    ))]
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

/// The body of `PUT /api/v1/me/time_zone`, and its answer.
#[derive(Deserialize, Serialize, ToSchema)]
#[schema(as = TimeZone)]
#[serde(deny_unknown_fields)]
pub struct TimeZoneBody {
    /// An IANA time zone name ("America/Los_Angeles"; any case, answered as the database
    /// spells it), or null to unset it.
    #[schema(example = "America/Los_Angeles")]
    // Required, though it may be null: a body without it must not unset anything.
    #[serde(deserialize_with = "Option::deserialize")]
    time_zone: Option<String>,
}

#[utoipa::path(put, path = "/me/time_zone", tag = "sign-in",
    security(("session" = [], "csrf" = [])),
    request_body = TimeZoneBody,
    responses(
        (status = 200, description = "The caller's time zone as stored", body = TimeZoneBody),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`csrf`", body = ErrorBody),
        (status = 422, description = "`invalid_input`: not an IANA time zone name; nothing changed", body = ErrorBody),
    ))]
pub async fn set_time_zone(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(body): ApiJson<TimeZoneBody>,
) -> Result<Json<TimeZoneBody>, ApiError> {
    if body
        .time_zone
        .as_deref()
        .is_some_and(|z| z.trim().is_empty())
    {
        return Err(ApiError::invalid(
            "time_zone: must be an IANA time zone name, or null to unset it",
        ));
    }
    let m = state
        .svc
        .set_own_time_zone(&p.actor, body.time_zone.as_deref())
        .await?;
    Ok(Json(TimeZoneBody {
        time_zone: m.time_zone,
    }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = PasswordInput)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    current_password: String,
    /// 12 to 128 characters, not a common password.
    #[schema(min_length = 12, max_length = 128)]
    new_password: String,
    /// Other sessions end unless this is false: whoever learnt the old password is out.
    end_other_sessions: Option<bool>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Ended)]
pub struct EndedJson {
    /// How many sessions ended.
    #[schema(value_type = i64)]
    pub ended: usize,
}

#[utoipa::path(put, path = "/me/password", tag = "sign-in",
    security(("session" = [], "csrf" = [])),
    request_body = PasswordBody,
    responses(
        (status = 200, description = "Changed; other sessions ended unless asked not to", body = EndedJson),
        (status = 401, description = "`unauthenticated`, or `invalid_credentials` (wrong current password)", body = ErrorBody),
        (status = 403, description = "`csrf`", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<Sorted<EndedJson>, ApiError> {
    let ended = state
        .svc
        .change_own_password(
            &p.actor,
            b.current_password,
            b.new_password,
            b.end_other_sessions.unwrap_or(true),
        )
        .await?;
    Ok(Sorted(EndedJson { ended }))
}
