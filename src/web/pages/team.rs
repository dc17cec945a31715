//! The Team pages: Agents and Administrators lists, profiles, and ending sessions with a
//! confirmation (a dialog with JavaScript, a page without). Each handler serves both sections.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

use crate::domain::email::{self, Email};
use crate::domain::member::{MemberKind, Permission, Permissions};
use crate::domain::name::check_name;
use crate::domain::password;
use crate::domain::policy::{Actor, section_permission};
use crate::domain::zone::Zone;
use crate::service::{MemberView, NewPerson, PersonPatch, Principal, ServiceError};
use crate::store::Member;
use crate::web::section::Section;
use crate::web::{AppState, query};

use super::confirm::{Confirm, NAMES_LISTED, THIS_BROWSER, confirm, confirm_about};
use super::{
    FieldErrors, FormData, InPage, Layout, PageError, PageResult, PageUser, SessionRow, SignedForm,
    counted_noun, notice, render, safe_back, see_other, viewer_zone, with_notice,
};

/// "agent" or "administrator", as sentences name a kind.
fn kind_label(k: MemberKind) -> &'static str {
    match k {
        MemberKind::Agent => "agent",
        MemberKind::Admin => "administrator",
    }
}

fn section_title(k: MemberKind) -> &'static str {
    match k {
        MemberKind::Agent => "Agents",
        MemberKind::Admin => "Administrators",
    }
}

/// The Team list of a section.
fn list_href(k: MemberKind) -> String {
    format!("/team/{}", k.plural())
}

/// A person's profile.
fn profile_href(k: MemberKind, id: &str) -> String {
    format!("/team/{}/{id}", k.plural())
}

pub struct LinkView {
    pub href: String,
    pub label: String,
    pub name: String,
    pub kind_label: &'static str,
    pub can_open: bool,
    /// Why the viewer cannot open it, in words (empty when they can).
    pub closed_because: String,
    pub can_manage: bool,
    /// Disabling needs more than ending sessions (every permission the person holds): the
    /// button shows only to those it would work for.
    pub can_disable: bool,
    pub disabled: bool,
}

/// The chain icon's facts. Viewers who may not see the linked person's section learn only
/// that a linked account exists, not whose.
fn link_view(actor: &Actor, m: &Member) -> Option<LinkView> {
    let l = m.linked.as_ref()?;
    let shown = actor.sees_linked(&m.id, l.kind);
    Some(LinkView {
        href: profile_href(l.kind, &l.id),
        label: if shown {
            format!("{} {}", kind_label(l.kind), l.name)
        } else {
            format!("an {} account", kind_label(l.kind))
        },
        name: if shown { l.name.clone() } else { String::new() },
        kind_label: kind_label(l.kind),
        can_open: shown,
        closed_because: if shown {
            String::new()
        } else {
            format!(
                "Opening it needs the {} permission.",
                section_permission(l.kind).label()
            )
        },
        can_manage: false,
        can_disable: false,
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
    /// The viewer's own card: ending its sessions signs this browser out too.
    pub is_self: bool,
    pub linked: Option<LinkView>,
    /// The addresses of sessions outside the office networks, for the icon beside the
    /// session icon.
    pub outside: Option<String>,
    /// Invited and not signed in yet.
    pub invited: bool,
    /// The viewer may send them a new invitation (what setting their password needs).
    pub can_resend: bool,
}

fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

fn card(actor: &Actor, v: &MemberView, zone: &Zone) -> Card {
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
        sessions: v
            .sessions
            .iter()
            .map(|s| SessionRow::new(s, zone))
            .collect(),
        can_end: actor.can_manage(m.as_target()),
        is_self: m.id == actor.member_id,
        linked: link_view(actor, m),
        outside: outside_addresses(&v.sessions),
        invited: m.invited,
        can_resend: m.invited
            && !m.disabled
            && actor.can_manage(m.as_target())
            && actor.can_administer(m.as_target()),
    }
}

/// The latest addresses of the sessions marked outside the office networks, if any.
pub(crate) fn outside_addresses(sessions: &[crate::store::Session]) -> Option<String> {
    let mut ips: Vec<String> = sessions
        .iter()
        .filter(|s| s.outside_office)
        .map(|s| s.last_ip.to_string())
        .collect();
    ips.dedup();
    (!ips.is_empty()).then(|| ips.join(", "))
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    layout: Layout,
    kind: &'static str,
    cards: Vec<Card>,
    total: i64,
    page: i64,
    per_page: i64,
    last_page: i64,
    q: String,
    session: String,
    status: String,
    filtered: bool,
    back: String,
    prev_href: String,
    next_href: String,
}

pub async fn team_root(PageUser(p): PageUser) -> PageResult {
    if p.actor.can_view(MemberKind::Agent) {
        Ok(see_other("/team/agents"))
    } else if p.actor.can_view(MemberKind::Admin) {
        Ok(see_other("/team/admins"))
    } else {
        Err(PageError::of(
            &p,
            ServiceError::Forbidden("you have no access to the Team section".into()),
        ))
    }
}

/// A list page's address with the same filters, on page `page`.
fn page_href(kind: MemberKind, params: &HashMap<String, String>, page: i64) -> String {
    href_with(kind, params, page, &[])
}

/// A list page's address with the same filters, on page `page`, plus the `extra` parameters
/// that are present (such as the notice of an action just done).
fn href_with(
    kind: MemberKind,
    params: &HashMap<String, String>,
    page: i64,
    extra: &[&str],
) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for key in ["q", "session", "status", "network", "per_page"] {
        if let Some(v) = params.get(key).filter(|v| !v.is_empty()) {
            s.append_pair(key, v);
        }
    }
    if page > 1 {
        s.append_pair("page", &page.to_string());
    }
    for key in extra {
        if let Some(v) = params.get(*key).filter(|v| !v.is_empty()) {
            s.append_pair(key, v);
        }
    }
    let q = s.finish();
    if q.is_empty() {
        list_href(kind)
    } else {
        format!("{}?{q}", list_href(kind))
    }
}

/// The notice a redirect after an action asked for (`done`, `n`).
fn done_notice(params: &HashMap<String, String>) -> Option<String> {
    notice(
        params.get("done").map(String::as_str),
        params.get("n").map(String::as_str),
        params.get("people").map(String::as_str),
    )
}

pub async fn list<S: Section>(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let mut query = query::team_query(&params).in_page(&p)?;
    // The page's Session filter offers "Outside office networks" as one more session choice
    // (the API's `network=outside`, which the page takes too).
    if query.session.as_deref() == Some("outside") || query.network.as_deref() == Some("outside") {
        query.session = None;
        query.network = Some("outside".to_string());
    }
    let page = state
        .svc
        .list_team(&p.actor, S::KIND, &query)
        .await
        .in_page(&p)?;
    // Past the end (people ended or removed since the link was made, as after ending the
    // sessions of everyone on the last page of a filtered list): show the last page, keeping
    // the notice of what was just done.
    if page.page > page.last_page() {
        return Ok(see_other(&href_with(
            S::KIND,
            &params,
            page.last_page(),
            &["done", "n", "people"],
        )));
    }
    let get = |k: &str| params.get(k).cloned().unwrap_or_default();
    let zone = viewer_zone(&p);
    let filtered = ["q", "session", "status", "network"]
        .iter()
        .any(|k| params.get(*k).is_some_and(|v| !v.is_empty()));
    Ok(render(
        StatusCode::OK,
        &TeamPage {
            layout: Layout::signed_in(&p, "team", section_title(S::KIND))
                .with_notice(done_notice(&params)),
            kind: S::KIND.plural(),
            cards: page
                .items
                .iter()
                .map(|v| card(&p.actor, v, &zone))
                .collect(),
            total: page.total,
            page: page.page,
            per_page: page.per_page,
            last_page: page.last_page(),
            q: get("q"),
            session: get("session"),
            status: get("status"),
            filtered,
            back: page_href(S::KIND, &params, page.page),
            prev_href: page_href(S::KIND, &params, page.page - 1),
            next_href: page_href(S::KIND, &params, page.page + 1),
        },
    ))
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
    layout: Layout,
    kind: &'static str,
    name: String,
    email: String,
    /// `invite` (the default: an e-mail with a link) or `password` (set one now).
    how: String,
    permissions: Vec<PermView>,
    errors: FieldErrors,
}

/// Whether the Add form sets a password now rather than inviting by e-mail: "Set a password
/// now" chosen, or (a form that does not say, as scripts post it) a password typed.
fn sets_password(form: &FormData) -> bool {
    match form.get("how") {
        Some(how) => how == "password",
        None => !form.text("password").is_empty(),
    }
}

pub async fn new_person<S: Section>(PageUser(p): PageUser) -> PageResult {
    if !p.actor.can_view(S::KIND) {
        return Err(PageError::of(
            &p,
            ServiceError::Forbidden("you cannot add people here".into()),
        ));
    }
    Ok(render(
        StatusCode::OK,
        &NewPersonPage {
            layout: Layout::signed_in(&p, "team", "Add"),
            kind: S::KIND.plural(),
            name: String::new(),
            email: String::new(),
            how: "invite".to_string(),
            permissions: perm_views(&p.actor, &[]),
            errors: FieldErrors::new(),
        },
    ))
}

/// The name, e-mail, password and permissions of a person's form, each checked by the rules
/// the service applies. Adding someone (`new`) needs a password unless they are invited, and
/// always sets permissions; an edit checks them only when the form sends them.
fn person_errors(form: &FormData, kind: MemberKind, new: bool) -> FieldErrors {
    let mut errors = FieldErrors::new();
    if let Some(name) = form.get("name") {
        errors.check("name", check_name("name", name));
    }
    if let Some(email) = form.get("email") {
        errors.check("email", Email::parse(email));
    }
    let typed = form.text("password");
    if (new && sets_password(form)) || (!new && !typed.is_empty()) {
        errors.check("password", password::check_new_password(&typed));
    } else if new && !typed.is_empty() {
        // A password typed with "Send an invitation" chosen: which was meant is unclear, and
        // neither guess should be made for the person.
        errors.add(
            "password",
            "choose “Set a password now” to use this password, or leave it empty to send an \
             invitation",
        );
    }
    if new
        && form
            .get("how")
            .is_some_and(|h| h != "invite" && h != "password")
    {
        errors.add("how", "choose “Send an invitation” or “Set a password now”");
    }
    let perms = form.all("permissions");
    match kind {
        _ if !new && form.get("permissions_present").is_none() => {}
        MemberKind::Agent if !perms.is_empty() => {
            errors.add("permissions", "agents have no permissions")
        }
        MemberKind::Agent => {}
        MemberKind::Admin => {
            errors.check("permissions", Permissions::parse_names(&perms));
        }
    }
    errors
}

pub async fn create<S: Section>(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let perms = form.all("permissions");
    let mut errors = person_errors(&form, S::KIND, true);
    if errors.is_empty() {
        let result = state
            .svc
            .add_person(
                &p.actor,
                NewPerson {
                    kind: S::KIND,
                    name: form.text("name"),
                    email: form.text("email"),
                    password: sets_password(&form).then(|| form.text("password")),
                    permissions: perms.clone(),
                },
            )
            .await;
        match result {
            Ok(_) => {
                let done = if sets_password(&form) {
                    "added"
                } else {
                    "invited"
                };
                return Ok(see_other(&with_notice(&list_href(S::KIND), done, None)));
            }
            Err(e) => errors.absorb(e, |f| f).in_page(&p)?,
        }
    }
    Ok(render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &NewPersonPage {
            layout: Layout::signed_in(&p, "team", "Add").with_error(errors.summary()),
            kind: S::KIND.plural(),
            name: form.text("name"),
            email: form.text("email"),
            how: if sets_password(&form) {
                "password"
            } else {
                "invite"
            }
            .to_string(),
            permissions: perm_views(&p.actor, &perms),
            errors,
        },
    ))
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    kind: &'static str,
    p: Card,
    sessions: Vec<SessionRow>,
    can_manage: bool,
    /// Disabling needs every permission the person holds (see `LinkView::can_disable`).
    can_disable: bool,
    is_self: bool,
    permissions: Vec<PermView>,
    linked: Option<LinkView>,
    cmp_self: Vec<SessionRow>,
    cmp_linked: Vec<SessionRow>,
    /// The person has a second factor (an administrator may reset it).
    mfa_on: bool,
    /// The edit form's name and e-mail: as stored, or as typed when the save was refused.
    form_name: String,
    form_email: String,
    errors: FieldErrors,
}

/// A refused edit, shown again as typed (never the passwords).
struct Refused<'a> {
    form: &'a FormData,
    errors: FieldErrors,
}

/// Marks which of `rows` share an IP address or user agent with any of `others`.
fn mark_matches(rows: &mut [SessionRow], others: &[crate::store::Session]) {
    for s in rows.iter_mut() {
        s.ip_match = others.iter().any(|o| o.ip.to_string() == s.ip);
        s.ua_match = others.iter().any(|o| o.user_agent == s.user_agent);
    }
}

async fn profile_page(
    state: &AppState,
    p: &Principal,
    kind: MemberKind,
    id: &str,
    layout: impl FnOnce(Layout) -> Layout,
    refused: Option<Refused<'_>>,
) -> PageResult {
    let v = state.svc.get_person(&p.actor, kind, id).await.in_page(p)?;
    let m = &v.member;
    let mut linked = link_view(&p.actor, m);
    let zone = viewer_zone(p);
    let mut cmp_self: Vec<SessionRow> = v
        .sessions
        .iter()
        .map(|s| SessionRow::new(s, &zone))
        .collect();
    let mut cmp_linked = Vec::new();
    if let (Some(lv), Some(l)) = (linked.as_mut(), m.linked.as_ref())
        && lv.can_open
        && let Ok(other) = state.svc.get_person(&p.actor, l.kind, &l.id).await
    {
        lv.can_manage = p.actor.can_manage(other.member.as_target());
        lv.can_disable = p.actor.can_administer(other.member.as_target());
        lv.disabled = other.member.disabled;
        cmp_linked = other
            .sessions
            .iter()
            .map(|s| SessionRow::new(s, &zone))
            .collect();
        mark_matches(&mut cmp_self, &other.sessions);
        mark_matches(&mut cmp_linked, &v.sessions);
    }
    let perms: Vec<String> = match &refused {
        Some(r) if r.form.get("permissions_present").is_some() => r.form.all("permissions"),
        _ => m
            .permissions
            .names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let (form_name, form_email, errors) = match refused {
        Some(r) => (
            r.form.get("name").unwrap_or(&m.name).to_string(),
            r.form.get("email").unwrap_or(&m.email).to_string(),
            r.errors,
        ),
        None => (m.name.clone(), m.email.clone(), FieldErrors::new()),
    };
    let mut layout = layout(Layout::signed_in(p, "team", m.name.clone()));
    if !errors.is_empty() {
        layout.error = errors.summary();
    }
    Ok(render(
        layout.status(),
        &ProfilePage {
            layout,
            kind: kind.plural(),
            sessions: v
                .sessions
                .iter()
                .map(|s| SessionRow::new(s, &zone))
                .collect(),
            can_manage: p.actor.can_manage(m.as_target()),
            can_disable: p.actor.can_administer(m.as_target()),
            is_self: m.id == p.actor.member_id,
            permissions: perm_views(&p.actor, &perms),
            p: card(&p.actor, &v, &zone),
            linked,
            cmp_self,
            cmp_linked,
            mfa_on: state.svc.mfa_status(&m.id).await.in_page(p)?.any(),
            form_name,
            form_email,
            errors,
        },
    ))
}

pub async fn profile<S: Section>(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let n = done_notice(&params);
    profile_page(&state, &p, S::KIND, &id, |l| l.with_notice(n), None).await
}

pub async fn update<S: Section>(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let before = state
        .svc
        .get_person(&p.actor, S::KIND, &id)
        .await
        .in_page(&p)?
        .member;
    let mut errors = person_errors(&form, S::KIND, false);
    let password = form.text("password");
    let email_changes = form
        .get("email")
        .is_some_and(|e| email::normalize(e) != email::normalize(&before.email));
    if before.id == p.actor.member_id
        && (email_changes || !password.is_empty())
        && form.text("current_password").is_empty()
    {
        errors.add(
            "current_password",
            "enter your current password to change your own e-mail or password",
        );
    }
    if errors.is_empty() {
        let patch = PersonPatch {
            name: form.get("name").map(str::to_string),
            email: form.get("email").map(str::to_string),
            password: (!password.is_empty()).then_some(password),
            disabled: None,
            permissions: form
                .get("permissions_present")
                .map(|_| form.all("permissions")),
            current_password: form.get("current_password").map(str::to_string),
        };
        match state.svc.update_person(&p.actor, S::KIND, &id, patch).await {
            Ok(_) => {
                return Ok(see_other(&with_notice(
                    &profile_href(S::KIND, &id),
                    "saved",
                    None,
                )));
            }
            Err(e) => errors.absorb(e, |f| f).in_page(&p)?,
        }
    }
    let refused = Refused {
        form: &form,
        errors,
    };
    profile_page(&state, &p, S::KIND, &id, |l| l, Some(refused)).await
}

pub async fn set_disabled<S: Section>(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let disabled = match form.get("disabled") {
        Some("true") => true,
        Some("false") => false,
        _ => {
            return Err(PageError::of(
                &p,
                ServiceError::invalid("disabled", "disabled must be true or false"),
            ));
        }
    };
    let back = safe_back(form.get("back"), &profile_href(S::KIND, &id));
    if disabled && form.get("confirm") != Some("yes") {
        let v = state
            .svc
            .person_to_disable(&p.actor, S::KIND, &id)
            .await
            .in_page(&p)?;
        return Ok(confirm_about(
            &p,
            &v,
            Confirm {
                heading: "Disable account?",
                message: format!(
                    "Disable the {} account of {}? Every session of it ends at once, and it cannot sign in until it is enabled again.",
                    kind_label(S::KIND),
                    v.member.name
                ),
                action: format!("{}/disabled", profile_href(S::KIND, &id)),
                back,
                fields: vec![("disabled".into(), "true".into())],
                button: "Disable account",
                ..Confirm::default()
            },
        ));
    }
    let patch = PersonPatch {
        disabled: Some(disabled),
        ..Default::default()
    };
    state
        .svc
        .update_person(&p.actor, S::KIND, &id, patch)
        .await
        .in_page(&p)?;
    let done = if disabled { "disabled" } else { "enabled" };
    Ok(see_other(&with_notice(&back, done, None)))
}

/// The confirmation page for ending a person's sessions (the no-JavaScript path).
pub async fn confirm_end_person<S: Section>(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let v = state
        .svc
        .get_person(&p.actor, S::KIND, &id)
        .await
        .in_page(&p)?;
    if !p.actor.can_manage(v.member.as_target()) {
        return Err(PageError::of(
            &p,
            ServiceError::Forbidden("only the primary administrator can end this session".into()),
        ));
    }
    let back = safe_back(params.get("back").map(String::as_str), &list_href(S::KIND));
    let n = v.sessions.len();
    let which = if n == 1 {
        "the active session".to_string()
    } else {
        format!("all {n} active sessions")
    };
    Ok(confirm_about(
        &p,
        &v,
        Confirm {
            heading: "End session?",
            message: format!(
                "End {which} of {}? They will be signed out and will need to sign in again to continue working.",
                v.member.name
            ),
            warning: (v.member.id == p.actor.member_id).then(|| THIS_BROWSER.to_string()),
            action: format!("{}/end-sessions", profile_href(S::KIND, &id)),
            back,
            ids: Vec::new(),
            button: "End session",
            ..Confirm::default()
        },
    ))
}

pub async fn end_person<S: Section>(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let back = safe_back(form.get("back"), &list_href(S::KIND));
    let n = state
        .svc
        .end_person_sessions(&p.actor, S::KIND, &id)
        .await
        .in_page(&p)?;
    Ok(see_other(&with_notice(&back, "ended", Some(n))))
}

/// The confirmation page for ending one session; offered only to those who may end it.
pub async fn confirm_end_one(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> PageResult {
    let (s, owner) = state.svc.session_to_end(&p.actor, &id).await.in_page(&p)?;
    let back = safe_back(
        params.get("back").map(String::as_str),
        &profile_href(owner.kind, &owner.id),
    );
    Ok(confirm(
        &p,
        Confirm {
            heading: "End session?",
            message: format!(
                "End this session of {}? They will be signed out and must sign in again.",
                owner.name
            ),
            sessions: vec![SessionRow::new(&s, &viewer_zone(&p))],
            action: format!("/sessions/{id}/end"),
            back,
            ids: Vec::new(),
            button: "End session",
            ..Confirm::default()
        },
    ))
}

pub async fn end_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let back = safe_back(form.get("back"), "/team");
    state.svc.end_one_session(&p.actor, &id).await.in_page(&p)?;
    let one = crate::service::EndedCount {
        sessions: 1,
        people: 1,
    };
    Ok(see_other(&with_notice(&back, "ended", Some(one))))
}

/// The bulk form: without `confirm` it shows the warning page; with it, ends the sessions.
pub async fn bulk_end(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let ids = form.all("ids");
    let back = safe_back(form.get("back"), "/team/agents");
    if ids.is_empty() {
        return Ok(see_other(&back));
    }
    if form.get("confirm") != Some("yes") {
        let chosen = state.svc.bulk_preview(&p.actor, &ids).await.in_page(&p)?;
        let n = chosen.len();
        let with_sessions = chosen.iter().filter(|v| !v.sessions.is_empty()).count();
        let names: Vec<String> = chosen.iter().map(|v| v.member.name.clone()).collect();
        let more = names.len().saturating_sub(NAMES_LISTED);
        let agents = counted_noun(n, "selected agent", "selected agents");
        if with_sessions == 0 {
            return Ok(confirm(
                &p,
                Confirm {
                    heading: "Nothing to end",
                    message: format!(
                        "None of the {agents} has an active session: there is nothing to end."
                    ),
                    people: names.into_iter().take(NAMES_LISTED).collect(),
                    more_people: more,
                    back,
                    ..Confirm::default()
                },
            ));
        }
        return Ok(confirm(
            &p,
            Confirm {
                heading: "End sessions of the selected agents?",
                message: format!(
                    "Every active session of the {agents} will end ({} with a session now). They will be signed out and must sign in again.",
                    counted_noun(with_sessions, "agent", "agents")
                ),
                people: names.into_iter().take(NAMES_LISTED).collect(),
                more_people: more,
                action: "/team/agents/bulk-end".into(),
                back,
                ids,
                button: "End sessions",
                ..Confirm::default()
            },
        ));
    }
    let n = state
        .svc
        .bulk_end_agent_sessions(&p.actor, &ids)
        .await
        .in_page(&p)?;
    Ok(see_other(&with_notice(&back, "ended", Some(n))))
}
