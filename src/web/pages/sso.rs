//! Single sign-on's pages: the button's start and the identity provider's callback (the
//! sign-in page again, saying in words why nobody was signed in), the back-channel logout
//! endpoint the provider calls server to server (no cookie, no CSRF token: the signed token
//! is the proof), and the Security section's settings page with "Test the connection".

use askama::Template;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::domain::sso::{SsoFailure, SsoRole};
use crate::service::settings::SecurityChange;
use crate::service::sso::{SsoCallback, SsoCallbackError, SsoChange, SsoView};
use crate::service::{Principal, ServiceError, random_hex};
use crate::web::AppState;
use crate::web::cookies;
use crate::web::request::Client;
use crate::web::return_to;

use super::auth::{LoginPage, next_step, offer_sso};
use super::{
    FieldErrors, InPage, Layout, PageError, PageResult, PageTenant, PageUser, SignedForm,
    capitalize, render,
};

fn query_param(parts: &Parts, name: &str) -> Option<String> {
    form_urlencoded::parse(parts.uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The status of the page that says why nobody was signed in.
fn failure_status(f: SsoFailure) -> StatusCode {
    match f {
        SsoFailure::NotSetUp => StatusCode::NOT_FOUND,
        SsoFailure::BadState => StatusCode::BAD_REQUEST,
        SsoFailure::ProviderUnreachable => StatusCode::BAD_GATEWAY,
        SsoFailure::ProviderError | SsoFailure::TokenRefused => StatusCode::UNAUTHORIZED,
        SsoFailure::UnverifiedEmail
        | SsoFailure::UnknownPerson
        | SsoFailure::AccountDisabled
        | SsoFailure::RoleOff => StatusCode::FORBIDDEN,
    }
}

/// The sign-in page saying why single sign-on signed nobody in; the password form stays
/// (for roles that may use it) and so does the button, to try again.
async fn failed(
    state: &AppState,
    account_id: &str,
    rd: &Option<url::Url>,
    e: SsoCallbackError,
) -> Response {
    let mut page = LoginPage::new(String::new(), rd);
    offer_sso(state, account_id, &mut page).await;
    let status = match e {
        SsoCallbackError::Failed(f) => {
            page.layout.error = Some(f.message().to_string());
            failure_status(f)
        }
        SsoCallbackError::Other(ServiceError::OutsideOfficeNetwork) => {
            page.layout.error = Some(
                "Sign-in refused: you are connecting from outside the office networks, and \
                 this account may only sign in from the office."
                    .to_string(),
            );
            StatusCode::FORBIDDEN
        }
        SsoCallbackError::Other(ServiceError::AccountDisabled) => {
            page.layout.error = Some(SsoFailure::AccountDisabled.message().to_string());
            StatusCode::FORBIDDEN
        }
        SsoCallbackError::Other(e) => return PageError::from(e).into_response(),
    };
    render(status, &page)
}

/// `GET /sso/start?rd=`: to the identity provider (302), with this browser's binding cookie
/// (kept if it has one, so two tabs signing in at once both complete).
pub async fn start(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    client: Client,
    parts: Parts,
) -> Response {
    let rd = return_to::allowed(query_param(&parts, "rd").as_deref(), &parts, &state);
    let domain = state.cfg.cookie_domain.as_deref();
    let binding = cookies::sso_binding(&parts.headers, client.https, domain)
        .filter(|b| b.len() == 64 && b.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| random_hex(32));
    let rd_text = rd.as_ref().map(|u| u.to_string()).unwrap_or_default();
    match state.svc.sso_start(&account_id, &binding, &rd_text).await {
        Ok(url) => {
            let mut res = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            cookies::set(
                &mut res,
                &cookies::sso_cookie(&binding, client.https, domain),
            );
            res
        }
        Err(e) => failed(&state, &account_id, &rd, e).await,
    }
}

/// `GET /sso/callback`: the provider's answer, in the browser that started.
pub async fn callback(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    client: Client,
    parts: Parts,
) -> Response {
    let domain = state.cfg.cookie_domain.as_deref();
    let req = SsoCallback {
        account_id: account_id.clone(),
        state: query_param(&parts, "state"),
        code: query_param(&parts, "code"),
        error: query_param(&parts, "error"),
        binding: cookies::sso_binding(&parts.headers, client.https, domain),
        ip: client.ip,
        user_agent: client.user_agent.clone(),
        device_pass: cookies::device_pass(&parts.headers, client.https, domain),
    };
    match state.svc.sso_callback(req).await {
        Ok(done) => {
            let rd = return_to::allowed(
                Some(done.rd.as_str()).filter(|r| !r.is_empty()),
                &parts,
                &state,
            );
            let mut page = LoginPage::new(String::new(), &rd);
            offer_sso(&state, &account_id, &mut page).await;
            next_step(&state, done.step, client.https, rd, page)
        }
        Err(e) => failed(&state, &account_id, &None, e).await,
    }
}

/// `POST /sso/backchannel-logout`: the provider's logout token (form field `logout_token`)
/// → 200, or 400 with the reason (OpenID Connect Back-Channel Logout 1.0, section 2.8).
pub async fn backchannel_logout(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    body: Bytes,
) -> Response {
    let token = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let (status, body) = match state.svc.sso_backchannel_logout(&account_id, &token).await {
        Ok(Ok(_)) => (StatusCode::OK, String::new()),
        Ok(Err(why)) => (
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "invalid_request", "error_description": why}).to_string(),
        ),
        Err(e) => return crate::web::error::ApiError::from(e).into_response(),
    };
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status != StatusCode::OK {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    res
}

#[derive(Template)]
#[template(path = "sso_settings.html")]
struct SsoPage {
    layout: Layout,
    view: SsoView,
    issuer: String,
    client_id: String,
    button_label: String,
    agents: &'static str,
    admins: &'static str,
    domains: String,
    create_agents: bool,
    /// Only the primary administrator may change the administrators' policy.
    primary: bool,
    roles: [(&'static str, &'static str); 3],
    errors: FieldErrors,
}

fn role_value(text: Option<&str>, current: SsoRole) -> &'static str {
    text.and_then(|t| t.parse::<SsoRole>().ok())
        .unwrap_or(current)
        .as_str()
}

/// The settings page, drawn from what is saved or (after a refusal) from the form as typed.
async fn page(
    state: &AppState,
    p: &Principal,
    typed: Option<&super::FormData>,
    errors: FieldErrors,
    layout: impl FnOnce(Layout) -> Layout,
) -> PageResult {
    let s = state.svc.security_settings(&p.actor).await.in_page(p)?;
    let v = s.sso;
    let typed_text = |k: &str, saved: &str| {
        typed
            .and_then(|f| f.get(k))
            .map(str::to_string)
            .unwrap_or_else(|| saved.to_string())
    };
    let mut layout = layout(Layout::signed_in(p, "security", "Single sign-on"));
    if !errors.is_empty() && layout.error.is_none() {
        layout.error = errors.summary();
    }
    let roles =
        [SsoRole::Off, SsoRole::Allowed, SsoRole::Required].map(|r| (r.as_str(), r.label()));
    Ok(render(
        layout.status(),
        &SsoPage {
            layout,
            issuer: typed_text("issuer", &v.issuer),
            client_id: typed_text("client_id", &v.client_id),
            button_label: typed_text("button_label", &v.button_label),
            agents: role_value(typed.and_then(|f| f.get("agents")), v.roles.agents),
            admins: if p.actor.primary {
                role_value(typed.and_then(|f| f.get("admins")), v.roles.admins)
            } else {
                v.roles.admins.as_str()
            },
            domains: typed_text("allowed_domains", &v.allowed_domains.join("\n")),
            create_agents: match typed {
                Some(f) => f.get("create_agents") == Some("yes"),
                None => v.create_agents,
            },
            primary: p.actor.primary,
            roles,
            errors,
            view: v,
        },
    ))
}

pub async fn settings_page(State(state): State<AppState>, PageUser(p): PageUser) -> PageResult {
    page(&state, &p, None, FieldErrors::new(), |l| l).await
}

/// The form as a change: every field it shows (the secret only when one is typed; the
/// administrators' policy only for the primary administrator, whose box is enabled).
fn change_of(form: &super::FormData, primary: bool) -> SsoChange {
    SsoChange {
        issuer: Some(form.text("issuer")),
        client_id: Some(form.text("client_id")),
        client_secret: form
            .get("client_secret")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        button_label: Some(form.text("button_label")),
        agents: form.get("agents").map(str::to_string),
        admins: form.get("admins").filter(|_| primary).map(str::to_string),
        allowed_domains: Some(
            form.text("allowed_domains")
                .split(|c: char| c == '\n' || c == ',' || c.is_whitespace())
                .map(str::to_string)
                .collect(),
        ),
        create_agents: Some(form.get("create_agents") == Some("yes")),
    }
}

/// The page field a service error names.
fn form_field(service_field: &str) -> &'static str {
    match service_field {
        "client_id" => "client_id",
        "client_secret" => "client_secret",
        "button_label" => "button_label",
        "allowed_domains" => "allowed_domains",
        "agents" => "agents",
        "admins" => "admins",
        _ => "issuer",
    }
}

pub async fn settings_submit(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let change = SecurityChange {
        sso: change_of(&form, p.actor.primary),
        ..Default::default()
    };
    match state.svc.change_security_settings(&p.actor, change).await {
        Ok(_) => {
            let saved = Some("Single sign-on settings saved.".to_string());
            page(&state, &p, None, FieldErrors::new(), |l| {
                l.with_notice(saved)
            })
            .await
        }
        Err(ServiceError::Invalid { field, message }) => {
            let mut errors = FieldErrors::new();
            errors.add(form_field(&field), capitalize(&message));
            page(&state, &p, Some(&form), errors, |l| {
                l.with_error(Some(format!("Nothing was saved. {}", capitalize(&message))))
            })
            .await
        }
        Err(e) => Err(e).in_page(&p),
    }
}

/// "Test the connection": reads the typed issuer's discovery document and keys.
pub async fn test_connection(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    match state
        .svc
        .test_sso_connection(&p.actor, form.get("issuer"))
        .await
    {
        Ok(found) => {
            page(&state, &p, Some(&form), FieldErrors::new(), |l| {
                l.with_notice(Some(format!("Connection works. {found}")))
            })
            .await
        }
        Err(ServiceError::Invalid { message, .. }) => {
            let mut errors = FieldErrors::new();
            errors.add("issuer", capitalize(&message));
            page(&state, &p, Some(&form), errors, |l| {
                l.with_error(Some(format!(
                    "The connection test failed: {}",
                    capitalize(&message)
                )))
            })
            .await
        }
        Err(e) => Err(e).in_page(&p),
    }
}
