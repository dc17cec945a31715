//! The Team pages: Agents and Administrators lists, profiles, and ending sessions with a
//! confirmation (a dialog with JavaScript, a page without).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::domain::member::{MemberKind, Permission};
use crate::domain::policy::{Actor, Target};
use crate::service::{MemberView, NewPerson, PersonPatch, Principal, ServiceError, TeamQuery};
use crate::store::Member;
use crate::web::AppState;
use crate::web::request::{Client, PageUser};

use super::{
    FormData, Nav, SessionRow, capitalize, error_page_for, notice, render, safe_back, see_other,
    with_notice,
};

fn kind_of(segment: &str) -> Result<MemberKind, ServiceError> {
    match segment {
        "agents" => Ok(MemberKind::Agent),
        "admins" => Ok(MemberKind::Admin),
        _ => Err(ServiceError::NotFound),
    }
}

fn kind_label(k: MemberKind) -> &'static str {
    match k {
        MemberKind::Agent => "agent",
        MemberKind::Admin => "administrator",
    }
}

pub struct LinkView {
    pub href: String,
    pub label: String,
    pub name: String,
    pub kind_label: &'static str,
    pub can_open: bool,
    pub can_manage: bool,
    pub disabled: bool,
}

fn link_view(actor: &Actor, m: &Member) -> Option<LinkView> {
    let l = m.linked.as_ref()?;
    let can_open = actor.can_view(l.kind);
    Some(LinkView {
        href: format!("/team/{}/{}", l.kind.plural(), l.id),
        label: format!("{} {}", kind_label(l.kind), l.name),
        name: l.name.clone(),
        kind_label: kind_label(l.kind),
        can_open,
        can_manage: false,
        disabled: false,
    })
}

pub struct Card {
    pub id: String,
    pub name: String,
    pub email: String,
    pub initials: String,
    pub primary: bool,
    pub disabled: bool,
    pub status: &'static str,
    pub status_label: &'static str,
    pub sessions: Vec<SessionRow>,
    pub can_end: bool,
    pub linked: Option<LinkView>,
}

fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

fn can_manage(actor: &Actor, m: &Member) -> bool {
    actor.can_manage(Target {
        member_id: &m.id,
        kind: m.kind,
        primary: m.primary,
    })
}

fn card(actor: &Actor, v: &MemberView) -> Card {
    let m = &v.member;
    Card {
        id: m.id.clone(),
        name: m.name.clone(),
        email: m.email.clone(),
        initials: initials(&m.name),
        primary: m.primary,
        disabled: m.disabled,
        status: m.status.as_str(),
        status_label: m.status.label(),
        sessions: v.sessions.iter().map(SessionRow::new).collect(),
        can_end: can_manage(actor, m),
        linked: link_view(actor, m),
    }
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    title: String,
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    kind: &'static str,
    csrf: String,
    cards: Vec<Card>,
    total: i64,
    page: i64,
    per_page: i64,
    last_page: i64,
    q: String,
    session: String,
    status: String,
    filtered: bool,
    can_add: bool,
    back: String,
    prev_href: String,
    next_href: String,
}

pub async fn team_root(PageUser(p): PageUser) -> Response {
    if p.actor.can_view(MemberKind::Agent) {
        see_other("/team/agents")
    } else if p.actor.can_view(MemberKind::Admin) {
        see_other("/team/admins")
    } else {
        error_page_for(
            Some(&p),
            ServiceError::Forbidden("you have no access to the Team section".into()),
        )
    }
}

fn page_href(kind: &str, params: &HashMap<String, String>, page: i64) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for key in ["q", "session", "status", "per_page"] {
        if let Some(v) = params.get(key).filter(|v| !v.is_empty()) {
            s.append_pair(key, v);
        }
    }
    if page > 1 {
        s.append_pair("page", &page.to_string());
    }
    let q = s.finish();
    if q.is_empty() {
        format!("/team/{kind}")
    } else {
        format!("/team/{kind}?{q}")
    }
}

pub async fn list(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path(kind): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(e) => return error_page_for(Some(&p), e),
    };
    let int = |name: &str| params.get(name).and_then(|v| v.trim().parse::<i64>().ok());
    let query = TeamQuery {
        session: params.get("session").cloned(),
        status: params.get("status").cloned(),
        q: params.get("q").cloned(),
        page: int("page"),
        per_page: int("per_page"),
    };
    let page = match state.svc.list_team(&p.actor, kind, &query).await {
        Ok(page) => page,
        Err(e) => return error_page_for(Some(&p), e),
    };
    let seg = kind.plural();
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let filtered = ["q", "session", "status"]
        .iter()
        .any(|k| params.get(*k).is_some_and(|v| !v.is_empty()));
    let last_page = page.last_page();
    render(
        StatusCode::OK,
        &TeamPage {
            title: if kind == MemberKind::Agent {
                "Agents".into()
            } else {
                "Administrators".into()
            },
            nav: Some(Nav::new(&p, "team")),
            notice: notice(
                params.get("done").map(String::as_str),
                params.get("n").map(String::as_str),
            ),
            error: None,
            kind: seg,
            csrf: p.csrf_token.clone(),
            cards: page.items.iter().map(|v| card(&p.actor, v)).collect(),
            total: page.total,
            page: page.page,
            per_page: page.per_page,
            last_page,
            q: get("q"),
            session: get("session"),
            status: get("status"),
            filtered,
            can_add: true,
            back: page_href(seg, &params, page.page),
            prev_href: page_href(seg, &params, page.page - 1),
            next_href: page_href(seg, &params, page.page + 1),
        },
    )
}

pub struct PermView {
    pub name: &'static str,
    pub label: &'static str,
    pub checked: bool,
    pub grantable: bool,
}

fn perm_views(actor: &Actor, checked: &[String]) -> Vec<PermView> {
    let mine = actor.effective_permissions();
    Permission::ALL
        .iter()
        .map(|p| PermView {
            name: p.as_str(),
            label: p.label(),
            checked: checked.iter().any(|c| c == p.as_str()),
            grantable: mine.contains(*p),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "person_new.html")]
struct NewPersonPage {
    title: String,
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    kind: &'static str,
    csrf: String,
    name: String,
    email: String,
    permissions: Vec<PermView>,
}

pub async fn new_person(PageUser(p): PageUser, Path(kind): Path<String>) -> Response {
    let kind = match kind_of(&kind) {
        Ok(k) if p.actor.can_view(k) => k,
        Ok(_) => {
            return error_page_for(
                Some(&p),
                ServiceError::Forbidden("you cannot add people here".into()),
            );
        }
        Err(e) => return error_page_for(Some(&p), e),
    };
    render(
        StatusCode::OK,
        &NewPersonPage {
            title: "Add".into(),
            nav: Some(Nav::new(&p, "team")),
            notice: None,
            error: None,
            kind: kind.plural(),
            csrf: p.csrf_token.clone(),
            name: String::new(),
            email: String::new(),
            permissions: perm_views(&p.actor, &[]),
        },
    )
}

pub async fn create(
    State(state): State<AppState>,
    client: Client,
    PageUser(p): PageUser,
    Path(kind): Path<String>,
    form: FormData,
) -> Response {
    if let Err(r) = form.check_csrf(&p) {
        return r;
    }
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(e) => return error_page_for(Some(&p), e),
    };
    let perms = form.all("permissions");
    let result = state
        .svc
        .add_person(
            &p.actor,
            &client.ip,
            NewPerson {
                kind,
                name: form.text("name"),
                email: form.text("email"),
                password: form.text("password"),
                permissions: perms.clone(),
            },
        )
        .await;
    match result {
        Ok(_) => see_other(&with_notice(
            &format!("/team/{}", kind.plural()),
            "added",
            None,
        )),
        Err(ServiceError::Invalid { message, .. }) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &NewPersonPage {
                title: "Add".into(),
                nav: Some(Nav::new(&p, "team")),
                notice: None,
                error: Some(capitalize(&message)),
                kind: kind.plural(),
                csrf: p.csrf_token.clone(),
                name: form.text("name"),
                email: form.text("email"),
                permissions: perm_views(&p.actor, &perms),
            },
        ),
        Err(e) => error_page_for(Some(&p), e),
    }
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    title: String,
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    kind: &'static str,
    csrf: String,
    p: Card,
    sessions: Vec<SessionRow>,
    can_manage: bool,
    is_self: bool,
    permissions: Vec<PermView>,
    linked: Option<LinkView>,
    cmp_self: Vec<SessionRow>,
    cmp_linked: Vec<SessionRow>,
}

async fn profile_page(
    state: &AppState,
    p: &Principal,
    kind: MemberKind,
    id: &str,
    notice_text: Option<String>,
    error: Option<String>,
) -> Response {
    let v = match state.svc.get_person(&p.actor, kind, id).await {
        Ok(v) => v,
        Err(e) => return error_page_for(Some(p), e),
    };
    let m = &v.member;
    let mut linked = link_view(&p.actor, m);
    let mut cmp_self: Vec<SessionRow> = v.sessions.iter().map(SessionRow::new).collect();
    let mut cmp_linked = Vec::new();
    if let (Some(lv), Some(l)) = (linked.as_mut(), m.linked.as_ref())
        && lv.can_open
        && let Ok(other) = state.svc.get_person(&p.actor, l.kind, &l.id).await
    {
        lv.can_manage = can_manage(&p.actor, &other.member);
        lv.disabled = other.member.disabled;
        cmp_linked = other.sessions.iter().map(SessionRow::new).collect();
        for s in cmp_self.iter_mut() {
            s.ip_match = other.sessions.iter().any(|o| o.ip == s.ip);
            s.ua_match = other.sessions.iter().any(|o| o.user_agent == s.user_agent);
        }
        for s in cmp_linked.iter_mut() {
            s.ip_match = v.sessions.iter().any(|o| o.ip == s.ip);
            s.ua_match = v.sessions.iter().any(|o| o.user_agent == s.user_agent);
        }
    }
    let perms: Vec<String> = m
        .permissions
        .names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    render(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &ProfilePage {
            title: m.name.clone(),
            nav: Some(Nav::new(p, "team")),
            notice: notice_text,
            error,
            kind: kind.plural(),
            csrf: p.csrf_token.clone(),
            sessions: v.sessions.iter().map(SessionRow::new).collect(),
            can_manage: can_manage(&p.actor, m),
            is_self: m.id == p.actor.member_id,
            permissions: perm_views(&p.actor, &perms),
            p: card(&p.actor, &v),
            linked,
            cmp_self,
            cmp_linked,
        },
    )
}

pub async fn profile(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path((kind, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(e) => return error_page_for(Some(&p), e),
    };
    let n = notice(
        params.get("done").map(String::as_str),
        params.get("n").map(String::as_str),
    );
    profile_page(&state, &p, kind, &id, n, None).await
}

pub async fn update(
    State(state): State<AppState>,
    client: Client,
    PageUser(p): PageUser,
    Path((kind, id)): Path<(String, String)>,
    form: FormData,
) -> Response {
    if let Err(r) = form.check_csrf(&p) {
        return r;
    }
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(e) => return error_page_for(Some(&p), e),
    };
    let password = form.text("password");
    let patch = PersonPatch {
        name: form.get("name").map(str::to_string),
        email: form.get("email").map(str::to_string),
        password: (!password.is_empty()).then_some(password),
        disabled: None,
        permissions: form
            .get("permissions_present")
            .map(|_| form.all("permissions")),
    };
    match state
        .svc
        .update_person(&p.actor, &client.ip, kind, &id, patch)
        .await
    {
        Ok(_) => see_other(&with_notice(
            &format!("/team/{}/{id}", kind.plural()),
            "saved",
            None,
        )),
        Err(ServiceError::Invalid { message, .. }) => {
            profile_page(&state, &p, kind, &id, None, Some(capitalize(&message))).await
        }
        Err(e) => error_page_for(Some(&p), e),
    }
}

pub async fn set_disabled(
    State(state): State<AppState>,
    client: Client,
    PageUser(p): PageUser,
    Path((kind, id)): Path<(String, String)>,
    form: FormData,
) -> Response {
    if let Err(r) = form.check_csrf(&p) {
        return r;
    }
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(e) => return error_page_for(Some(&p), e),
    };
    let disabled = match form.get("disabled") {
        Some("true") => true,
        Some("false") => false,
        _ => {
            return error_page_for(
                Some(&p),
                ServiceError::invalid("disabled", "disabled must be true or false"),
            );
        }
    };
    let patch = PersonPatch {
        disabled: Some(disabled),
        ..Default::default()
    };
    let back = safe_back(form.get("back"), &format!("/team/{}/{id}", kind.plural()));
    match state
        .svc
        .update_person(&p.actor, &client.ip, kind, &id, patch)
        .await
    {
        Ok(_) => see_other(&with_notice(
            &back,
            if disabled { "disabled" } else { "enabled" },
            None,
        )),
        Err(e) => error_page_for(Some(&p), e),
    }
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    title: String,
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    heading: String,
    message: String,
    sessions: Vec<SessionRow>,
    action: String,
    csrf: String,
    back: String,
    ids: Vec<String>,
    button: String,
}

/// What a confirmation page asks.
struct Confirm {
    heading: &'static str,
    message: String,
    sessions: Vec<SessionRow>,
    action: String,
    back: String,
    ids: Vec<String>,
    button: &'static str,
}

fn confirm(p: &Principal, c: Confirm) -> Response {
    render(
        StatusCode::OK,
        &ConfirmPage {
            title: c.heading.to_string(),
            nav: Some(Nav::new(p, "team")),
            notice: None,
            error: None,
            heading: c.heading.to_string(),
            message: c.message,
            sessions: c.sessions,
            action: c.action,
            csrf: p.csrf_token.clone(),
            back: c.back,
            ids: c.ids,
            button: c.button.to_string(),
        },
    )
}

/// The confirmation page for ending a person's sessions (the no-JavaScript path).
pub async fn confirm_end_person(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path((kind, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(e) => return error_page_for(Some(&p), e),
    };
    let v = match state.svc.get_person(&p.actor, kind, &id).await {
        Ok(v) => v,
        Err(e) => return error_page_for(Some(&p), e),
    };
    if !can_manage(&p.actor, &v.member) {
        return error_page_for(
            Some(&p),
            ServiceError::Forbidden("only the primary administrator can end this session".into()),
        );
    }
    let back = safe_back(
        params.get("back").map(String::as_str),
        &format!("/team/{}", kind.plural()),
    );
    let n = v.sessions.len();
    confirm(
        &p,
        Confirm {
            heading: "End session?",
            message: format!(
                "End {} of {}? They will be signed out and will need to sign in again to continue working.",
                if n == 1 {
                    "the active session".to_string()
                } else {
                    format!("all {n} active sessions")
                },
                v.member.name
            ),
            sessions: v.sessions.iter().map(SessionRow::new).collect(),
            action: format!("/team/{}/{id}/end-sessions", kind.plural()),
            back,
            ids: Vec::new(),
            button: "End session",
        },
    )
}

pub async fn end_person(
    State(state): State<AppState>,
    client: Client,
    PageUser(p): PageUser,
    Path((kind, id)): Path<(String, String)>,
    form: FormData,
) -> Response {
    if let Err(r) = form.check_csrf(&p) {
        return r;
    }
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(e) => return error_page_for(Some(&p), e),
    };
    let back = safe_back(form.get("back"), &format!("/team/{}", kind.plural()));
    match state
        .svc
        .end_person_sessions(&p.actor, &client.ip, kind, &id)
        .await
    {
        Ok(n) => see_other(&with_notice(&back, "ended", Some(n))),
        Err(e) => error_page_for(Some(&p), e),
    }
}

pub async fn confirm_end_one(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let s = match state.svc.store().session(&p.actor.account_id, &id).await {
        Ok(s) if s.ended_at.is_none() => s,
        Ok(_) => return error_page_for(Some(&p), ServiceError::NotFound),
        Err(e) => return error_page_for(Some(&p), e.into()),
    };
    let v = match state
        .svc
        .get_person(&p.actor, s.member_kind, &s.member_id)
        .await
    {
        Ok(v) => v,
        Err(e) => return error_page_for(Some(&p), e),
    };
    let back = safe_back(
        params.get("back").map(String::as_str),
        &format!("/team/{}/{}", s.member_kind.plural(), s.member_id),
    );
    confirm(
        &p,
        Confirm {
            heading: "End session?",
            message: format!(
                "End this session of {}? They will be signed out and must sign in again.",
                v.member.name
            ),
            sessions: vec![SessionRow::new(&s)],
            action: format!("/sessions/{id}/end"),
            back,
            ids: Vec::new(),
            button: "End session",
        },
    )
}

pub async fn end_one(
    State(state): State<AppState>,
    client: Client,
    PageUser(p): PageUser,
    Path(id): Path<String>,
    form: FormData,
) -> Response {
    if let Err(r) = form.check_csrf(&p) {
        return r;
    }
    let back = safe_back(form.get("back"), "/team");
    match state.svc.end_one_session(&p.actor, &client.ip, &id).await {
        Ok(()) => see_other(&with_notice(&back, "ended", Some(1))),
        Err(e) => error_page_for(Some(&p), e),
    }
}

/// The bulk form: without `confirm` it shows the warning page; with it, ends the sessions.
pub async fn bulk_end(
    State(state): State<AppState>,
    client: Client,
    PageUser(p): PageUser,
    form: FormData,
) -> Response {
    if let Err(r) = form.check_csrf(&p) {
        return r;
    }
    let ids = form.all("ids");
    let back = safe_back(form.get("back"), "/team/agents");
    if ids.is_empty() {
        return see_other(&back);
    }
    if form.get("confirm") != Some("yes") {
        return confirm(
            &p,
            Confirm {
                heading: "End sessions of the selected agents?",
                message: format!(
                    "Every active session of the {} selected agent{} will end. They will be signed out and must sign in again.",
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" }
                ),
                sessions: Vec::new(),
                action: "/team/agents/bulk-end".into(),
                back: back.clone(),
                ids,
                button: "End sessions",
            },
        );
    }
    match state
        .svc
        .bulk_end_agent_sessions(&p.actor, &client.ip, &ids)
        .await
    {
        Ok(n) => see_other(&with_notice(&back, "ended", Some(n))),
        Err(e) => error_page_for(Some(&p), e),
    }
}
