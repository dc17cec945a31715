//! Team endpoints: lists, people, and ending sessions.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::service::{NewPerson, PersonPatch};
use crate::web::error::ApiError;
use crate::web::request::ApiUser;
use crate::web::section::Section;
use crate::web::{AppState, query};

use super::shapes::MemberJson;
use super::{ApiJson, ApiPath};

pub async fn list<S: Section>(
    State(state): State<AppState>,
    p: ApiUser,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let query = query::team_query(&params)?;
    let page = state.svc.list_team(&p.0.actor, S::KIND, &query).await?;
    let items: Vec<MemberJson> = page
        .items
        .iter()
        .map(|v| MemberJson::of(v, &p.0.actor))
        .collect();
    Ok(Json(json!({
        "items": items,
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    }))
    .into_response())
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

pub async fn create<S: Section>(
    State(state): State<AppState>,
    p: ApiUser,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
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
    Ok((StatusCode::CREATED, Json(MemberJson::of(&view, &p.0.actor))).into_response())
}

pub async fn get<S: Section>(
    State(state): State<AppState>,
    p: ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let v = state.svc.get_person(&p.0.actor, S::KIND, &id).await?;
    Ok(Json(MemberJson::of(&v, &p.0.actor)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    disabled: Option<bool>,
    permissions: Option<Vec<String>>,
    /// Needed to change one's own password or e-mail.
    current_password: Option<String>,
}

pub async fn patch<S: Section>(
    State(state): State<AppState>,
    p: ApiUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Response, ApiError> {
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
    Ok(Json(MemberJson::of(&v, &p.0.actor)).into_response())
}

pub async fn end_sessions<S: Section>(
    State(state): State<AppState>,
    p: ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let n = state
        .svc
        .end_person_sessions(&p.0.actor, S::KIND, &id)
        .await?;
    Ok(Json(json!({ "ended": n.sessions, "people": n.people })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    ids: Vec<String>,
}

pub async fn bulk_end(
    State(state): State<AppState>,
    p: ApiUser,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<Response, ApiError> {
    let n = state
        .svc
        .bulk_end_agent_sessions(&p.0.actor, &body.ids)
        .await?;
    Ok(Json(json!({ "ended": n.sessions, "people": n.people })).into_response())
}

pub async fn end_session(
    State(state): State<AppState>,
    p: ApiUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state.svc.end_one_session(&p.0.actor, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
