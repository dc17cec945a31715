//! Team endpoints: lists, people, and ending sessions.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::member::Permission;
use crate::service::{EndedCount, NewPerson, PersonPatch};
use crate::web::error::{ApiError, ErrorBody};
use crate::web::request::ApiUser;
use crate::web::section::{Admins, Agents, Section};
use crate::web::{AppState, query};

use super::shapes::{MemberJson, Sorted};
use super::{ApiJson, ApiPath};

/// A page of a Team list.
#[derive(Serialize, ToSchema)]
#[schema(as = MemberPage)]
pub struct MemberPageJson {
    pub items: Vec<MemberJson>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

/// Sessions ended across people.
#[derive(Serialize, ToSchema)]
#[schema(as = EndedPeople)]
pub struct EndedPeopleJson {
    /// How many sessions ended.
    #[schema(value_type = i64)]
    pub ended: usize,
    /// How many people lost sessions.
    #[schema(value_type = i64)]
    pub people: usize,
}

impl From<EndedCount> for EndedPeopleJson {
    fn from(n: EndedCount) -> Self {
        Self {
            ended: n.sessions,
            people: n.people,
        }
    }
}

pub async fn list<S: Section>(
    State(state): State<AppState>,
    p: ApiUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Sorted<MemberPageJson>, ApiError> {
    let query = query::team_query(&params)?;
    let page = state.svc.list_team(&p.0.actor, S::KIND, &query).await?;
    let items = page
        .items
        .iter()
        .map(|v| MemberJson::of(v, &p.0.actor))
        .collect();
    Ok(Sorted(MemberPageJson {
        items,
        total: page.total,
        page: page.page,
        per_page: page.per_page,
    }))
}

/// A new person; `permissions` for administrators only (an agent with any is refused).
#[derive(Deserialize, ToSchema)]
#[schema(as = NewPerson)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[schema(min_length = 1)]
    name: String,
    #[schema(format = Email)]
    email: String,
    /// 12 to 128 characters, not a common password. Leave it out to invite the person by
    /// e-mail instead: they choose their own with the link (`"invited": true` until then).
    #[schema(min_length = 12, max_length = 128)]
    password: Option<String>,
    #[schema(value_type = Vec<Permission>)]
    #[serde(default)]
    permissions: Vec<String>,
}

pub async fn create<S: Section>(
    State(state): State<AppState>,
    p: ApiUser,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<MemberJson>), ApiError> {
    let view = state
        .svc
        .add_person(
            &p.0.actor,
            NewPerson {
                kind: S::KIND,
                name: body.name,
                email: body.email,
                password: body.password,
                permissions: body.permissions,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(MemberJson::of(&view, &p.0.actor))))
}

pub async fn get<S: Section>(
    State(state): State<AppState>,
    p: ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MemberJson>, ApiError> {
    let v = state.svc.get_person(&p.0.actor, S::KIND, &id).await?;
    Ok(Json(MemberJson::of(&v, &p.0.actor)))
}

/// Any of the fields; `permissions` for administrators only.
#[derive(Deserialize, ToSchema)]
#[schema(as = PersonPatch)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    disabled: Option<bool>,
    #[schema(value_type = Option<Vec<Permission>>)]
    permissions: Option<Vec<String>>,
    /// The caller's own password, needed to change one's own e-mail or password.
    current_password: Option<String>,
}

pub async fn patch<S: Section>(
    State(state): State<AppState>,
    p: ApiUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Json<MemberJson>, ApiError> {
    let v = state
        .svc
        .update_person(
            &p.0.actor,
            S::KIND,
            &id,
            PersonPatch {
                name: body.name,
                email: body.email,
                password: body.password,
                disabled: body.disabled,
                permissions: body.permissions,
                current_password: body.current_password,
            },
        )
        .await?;
    Ok(Json(MemberJson::of(&v, &p.0.actor)))
}

pub async fn end_sessions<S: Section>(
    State(state): State<AppState>,
    p: ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Sorted<EndedPeopleJson>, ApiError> {
    let n = state
        .svc
        .end_person_sessions(&p.0.actor, S::KIND, &id)
        .await?;
    Ok(Sorted(n.into()))
}

/// The answer to a new invitation.
#[derive(Serialize, ToSchema)]
#[schema(as = InvitationSent)]
pub struct InvitationSentJson {
    /// What to tell the administrator.
    message: &'static str,
}

pub async fn resend_invitation<S: Section>(
    State(state): State<AppState>,
    p: ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<InvitationSentJson>), ApiError> {
    state
        .svc
        .resend_invitation(&p.0.actor, S::KIND, &id)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(InvitationSentJson {
            message: "a new invitation is on its way; earlier links no longer work",
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = BulkEnd)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// Agent ids (at most 10,000).
    #[schema(max_items = 10_000)]
    ids: Vec<String>,
}

#[utoipa::path(post, path = "/agents/sessions/end", tag = "team",
    security(("session" = [], "csrf" = [])),
    request_body = BulkBody,
    responses(
        (status = 200, description = "Every active session of these agents ended", body = EndedPeopleJson),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
        (status = 422, description = "`invalid_input` (names the unknown ids)", body = ErrorBody),
    ))]
pub async fn bulk_end(
    State(state): State<AppState>,
    p: ApiUser,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Sorted<EndedPeopleJson>, ApiError> {
    let n = state
        .svc
        .bulk_end_agent_sessions(&p.0.actor, &body.ids)
        .await?;
    Ok(Sorted(n.into()))
}

#[utoipa::path(delete, path = "/sessions/{id}", tag = "team",
    security(("session" = [], "csrf" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "The session ended"),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 422, description = "`invalid_input`", body = ErrorBody),
    ))]
pub async fn end_session(
    State(state): State<AppState>,
    p: ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.svc.end_one_session(&p.0.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One section's operations. The handlers above are written once for both sections, but an
/// OpenAPI operation has one path and its own words, and utoipa-axum registers a handler at
/// the path its annotation names (`routes!` takes no generic arguments); so each section gets
/// thin wrappers that carry its annotation and call the shared handler. This macro keeps those
/// wrappers one text for both sections, and `api::routes` registers each once.
macro_rules! section_operations {
    (
        $module:ident, $section:ty, path = $path:literal, op = $op:literal, one = $one:literal,
        One = $One:literal, many = $Many:literal, permission = $permission:literal,
        list_params = [$($list_param:tt)*]
    ) => {
        pub mod $module {
            use super::*;

            #[utoipa::path(get, path = $path, tag = "team",
                operation_id = concat!("list_", stringify!($module)),
                security(("session" = [])),
                params(
                    ("session" = Option<String>, Query, description = "`active` or `none`"),
                    $($list_param)*
                    ("q" = Option<String>, Query, description = "Name or e-mail contains"),
                    ("page" = Option<i64>, Query, description = "From 1"),
                    ("per_page" = Option<i64>, Query, description = "Default 50, at most 200"),
                    ("network" = Option<String>, Query, description = "`outside`: only people with a session outside the office networks"),
                ),
                responses(
                    (status = 200, description = concat!($Many, " by name; a page past the end has no items"), body = MemberPageJson),
                    (status = 401, description = "`unauthenticated`", body = ErrorBody),
                    (status = 403, description = concat!("`forbidden`: needs `", $permission, "`"), body = ErrorBody),
                    (status = 422, description = "`invalid_input`", body = ErrorBody),
                ))]
            pub async fn list(
                state: State<AppState>,
                p: ApiUser,
                query: Query<HashMap<String, String>>,
            ) -> Result<Sorted<MemberPageJson>, ApiError> {
                super::list::<$section>(state, p, query).await
            }

            #[utoipa::path(post, path = $path, tag = "team",
                operation_id = concat!("create_", $op),
                security(("session" = [], "csrf" = [])),
                request_body = CreateBody,
                responses(
                    (status = 201, description = concat!("The new ", $one, "; without `password`, invited \
                        (`\"invited\": true`) and sent an e-mail with a link to choose one"), body = MemberJson),
                    (status = 401, description = "`unauthenticated`", body = ErrorBody),
                    (status = 403, description = "`forbidden` (also: the e-mail belongs to an administrator \
                        the caller may not administer) or `csrf`", body = ErrorBody),
                    (status = 422, description = "`invalid_input` (e-mail taken, short password, ...)", body = ErrorBody),
                ))]
            pub async fn create(
                state: State<AppState>,
                p: ApiUser,
                body: ApiJson<CreateBody>,
            ) -> Result<(StatusCode, Json<MemberJson>), ApiError> {
                super::create::<$section>(state, p, body).await
            }

            #[utoipa::path(get, path = concat!($path, "/{id}"), tag = "team",
                operation_id = concat!("get_", $op),
                security(("session" = [])),
                params(("id" = String, Path, description = concat!($One, " id"))),
                responses(
                    (status = 200, description = concat!("The ", $one), body = MemberJson),
                    (status = 401, description = "`unauthenticated`", body = ErrorBody),
                    (status = 403, description = "`forbidden`", body = ErrorBody),
                    (status = 404, description = "`not_found` (also another account's id)", body = ErrorBody),
                    (status = 422, description = "`invalid_input`", body = ErrorBody),
                ))]
            pub async fn get(
                state: State<AppState>,
                p: ApiUser,
                id: ApiPath<String>,
            ) -> Result<Json<MemberJson>, ApiError> {
                super::get::<$section>(state, p, id).await
            }

            #[utoipa::path(patch, path = concat!($path, "/{id}"), tag = "team",
                operation_id = concat!("patch_", $op),
                security(("session" = [], "csrf" = [])),
                params(("id" = String, Path, description = concat!($One, " id"))),
                request_body = PatchBody,
                responses(
                    (status = 200, description = concat!("The ", $one, " as changed"), body = MemberJson),
                    (status = 401, description = "`unauthenticated`, or `invalid_credentials` (wrong current password)", body = ErrorBody),
                    (status = 403, description = "`forbidden` (also: a new e-mail, or a password for an \
                        e-mail, that belongs to an administrator the caller may not administer) or `csrf`", body = ErrorBody),
                    (status = 404, description = "`not_found`", body = ErrorBody),
                    (status = 422, description = "`invalid_input`", body = ErrorBody),
                    (status = 429, description = "`rate_limited`", body = ErrorBody,
                        headers(("Retry-After" = u64, description = "Seconds to wait"))),
                ))]
            pub async fn patch(
                state: State<AppState>,
                p: ApiUser,
                id: ApiPath<String>,
                body: ApiJson<PatchBody>,
            ) -> Result<Json<MemberJson>, ApiError> {
                super::patch::<$section>(state, p, id, body).await
            }

            #[utoipa::path(delete, path = concat!($path, "/{id}/sessions"), tag = "team",
                operation_id = concat!("end_", $op, "_sessions"),
                security(("session" = [], "csrf" = [])),
                params(("id" = String, Path, description = concat!($One, " id"))),
                responses(
                    (status = 200, description = concat!("Every active session of the ", $one, " ended"), body = EndedPeopleJson),
                    (status = 401, description = "`unauthenticated`", body = ErrorBody),
                    (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
                    (status = 404, description = "`not_found`", body = ErrorBody),
                    (status = 422, description = "`invalid_input`", body = ErrorBody),
                ))]
            pub async fn end_sessions(
                state: State<AppState>,
                p: ApiUser,
                id: ApiPath<String>,
            ) -> Result<Sorted<EndedPeopleJson>, ApiError> {
                super::end_sessions::<$section>(state, p, id).await
            }

            #[utoipa::path(post, path = concat!($path, "/{id}/invitation"), tag = "team",
                operation_id = concat!("invite_", $op, "_again"),
                security(("session" = [], "csrf" = [])),
                params(("id" = String, Path, description = concat!($One, " id"))),
                responses(
                    (status = 202, description = "A new invitation is on its way; earlier links no longer work", body = InvitationSentJson),
                    (status = 401, description = "`unauthenticated`", body = ErrorBody),
                    (status = 403, description = "`forbidden` or `csrf`", body = ErrorBody),
                    (status = 404, description = "`not_found`", body = ErrorBody),
                    (status = 409, description = "`not_invited`: they chose their password already, or are disabled", body = ErrorBody),
                    (status = 422, description = "`invalid_input`", body = ErrorBody),
                    (status = 429, description = "`too_many_invitations`: this person was sent 3 new \
                        invitations within the last hour; nothing was sent", body = ErrorBody,
                        headers(("Retry-After" = u64, description = "Seconds until another may be sent"))),
                ))]
            pub async fn resend_invitation(
                state: State<AppState>,
                p: ApiUser,
                id: ApiPath<String>,
            ) -> Result<(StatusCode, Json<InvitationSentJson>), ApiError> {
                super::resend_invitation::<$section>(state, p, id).await
            }
        }
    };
}

section_operations!(
    agents,
    Agents,
    path = "/agents",
    op = "agent",
    one = "agent",
    One = "Agent",
    many = "Agents",
    permission = "team.agents",
    list_params = [("status" = Option<String>, Query, description = "`online` or `offline`"),]
);
section_operations!(
    admins,
    Admins,
    path = "/admins",
    op = "admin",
    one = "administrator",
    One = "Administrator",
    many = "Administrators",
    permission = "team.admins",
    list_params = []
);
