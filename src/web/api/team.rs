//! Team endpoints: lists, people, and ending sessions.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::domain::member::MemberKind;
use crate::service::{NewPerson, PersonPatch, TeamQuery};
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::request::{ApiUser, Client};

use super::ApiJson;
use super::shapes::MemberJson;

/// Reads the Team list query, naming the parameter that is malformed.
pub fn team_query(params: &HashMap<String, String>) -> Result<TeamQuery, ApiError> {
    let int = |name: &str| -> Result<Option<i64>, ApiError> {
        match params.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::invalid(format!("{name}: must be a whole number, got \"{v}\""))
            }),
        }
    };
    Ok(TeamQuery {
        session: params.get("session").cloned(),
        status: params.get("status").cloned(),
        q: params.get("q").cloned(),
        page: int("page")?,
        per_page: int("per_page")?,
    })
}

async fn list(
    state: AppState,
    p: ApiUser,
    kind: MemberKind,
    params: HashMap<String, String>,
) -> Result<Response, ApiError> {
    let query = team_query(&params)?;
    let page = state.svc.list_team(&p.0.actor, kind, &query).await?;
    let items: Vec<MemberJson> = page.items.iter().map(MemberJson::from).collect();
    Ok(Json(json!({
        "items": items,
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    }))
    .into_response())
}

pub async fn list_agents(
    State(state): State<AppState>,
    p: ApiUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    list(state, p, MemberKind::Agent, params).await
}

pub async fn list_admins(
    State(state): State<AppState>,
    p: ApiUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    list(state, p, MemberKind::Admin, params).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    permissions: Vec<String>,
}

async fn create(
    state: AppState,
    p: ApiUser,
    client: Client,
    kind: MemberKind,
    body: CreateBody,
) -> Result<Response, ApiError> {
    let view = state
        .svc
        .add_person(
            &p.0.actor,
            &client.ip,
            NewPerson {
                kind,
                name: body.name,
                email: body.email,
                password: body.password,
                permissions: body.permissions,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(MemberJson::from(&view))).into_response())
}

pub async fn create_agent(
    State(state): State<AppState>,
    client: Client,
    p: ApiUser,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    create(state, p, client, MemberKind::Agent, body).await
}

pub async fn create_admin(
    State(state): State<AppState>,
    client: Client,
    p: ApiUser,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    create(state, p, client, MemberKind::Admin, body).await
}

pub async fn get_agent(
    State(state): State<AppState>,
    p: ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let v = state
        .svc
        .get_person(&p.0.actor, MemberKind::Agent, &id)
        .await?;
    Ok(Json(MemberJson::from(&v)).into_response())
}

pub async fn get_admin(
    State(state): State<AppState>,
    p: ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let v = state
        .svc
        .get_person(&p.0.actor, MemberKind::Admin, &id)
        .await?;
    Ok(Json(MemberJson::from(&v)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    disabled: Option<bool>,
    permissions: Option<Vec<String>>,
}

async fn patch(
    state: AppState,
    p: ApiUser,
    client: Client,
    kind: MemberKind,
    id: String,
    body: PatchBody,
) -> Result<Response, ApiError> {
    let v = state
        .svc
        .update_person(
            &p.0.actor,
            &client.ip,
            kind,
            &id,
            PersonPatch {
                name: body.name,
                email: body.email,
                password: body.password,
                disabled: body.disabled,
                permissions: body.permissions,
            },
        )
        .await?;
    Ok(Json(MemberJson::from(&v)).into_response())
}

pub async fn patch_agent(
    State(state): State<AppState>,
    client: Client,
    p: ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Response, ApiError> {
    patch(state, p, client, MemberKind::Agent, id, body).await
}

pub async fn patch_admin(
    State(state): State<AppState>,
    client: Client,
    p: ApiUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Response, ApiError> {
    patch(state, p, client, MemberKind::Admin, id, body).await
}

pub async fn end_agent_sessions(
    State(state): State<AppState>,
    client: Client,
    p: ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let n = state
        .svc
        .end_person_sessions(&p.0.actor, &client.ip, MemberKind::Agent, &id)
        .await?;
    Ok(Json(json!({ "ended": n })).into_response())
}

pub async fn end_admin_sessions(
    State(state): State<AppState>,
    client: Client,
    p: ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let n = state
        .svc
        .end_person_sessions(&p.0.actor, &client.ip, MemberKind::Admin, &id)
        .await?;
    Ok(Json(json!({ "ended": n })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    ids: Vec<String>,
}

pub async fn bulk_end(
    State(state): State<AppState>,
    client: Client,
    p: ApiUser,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Response, ApiError> {
    let n = state
        .svc
        .bulk_end_agent_sessions(&p.0.actor, &client.ip, &body.ids)
        .await?;
    Ok(Json(json!({ "ended": n })).into_response())
}

pub async fn end_session(
    State(state): State<AppState>,
    client: Client,
    p: ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .svc
        .end_one_session(&p.0.actor, &client.ip, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
