//! Sign-in, first-run setup, sign-out and the agents' home page.

use askama::Template;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use url::Url;

use crate::domain::email::{Email, MAX_EMAIL_LEN};
use crate::domain::member::{AgentStatus, MemberKind};
use crate::domain::name::check_name;
use crate::domain::password;
use crate::domain::session::EndReason;
use crate::domain::signin::AuthMethod;
use crate::service::{
    ChosenLogin, LoginRequest, MfaLogin, NewAccountRequest, Principal, ServiceError, SignInStep,
    SignedIn,
};
use crate::web::AppState;
use crate::web::cookies::{self, clear_cookie, device_cookie, session_cookie, signed_out_response};
use crate::web::request::Client;
use crate::web::return_to::{self, ENROL_PAGE, after_new_sign_in, after_sign_in};

use super::extract::check_csrf;
use super::{
    FieldErrors, FormData, InPage, Layout, PageResult, PageTenant, PageUser, SignedForm, Visitor,
    capitalize, render, see_other,
};

#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    pub(super) layout: Layout,
    email: String,
    /// Set when the password opened two linked accounts: the server-side choice to complete.
    challenge: Option<String>,
    /// With a challenge: the agent's and the administrator's names, to choose between.
    names: Option<(String, String)>,
    /// Set when the person has a second factor: the second step to complete with a code.
    mfa_challenge: Option<String>,
    /// The second step may use a passkey.
    mfa_passkey: bool,
    /// Where to go once signed in (an allowed `rd`, else empty), kept through the form.
    rd: String,
    errors: FieldErrors,
    /// The single sign-on button's words, when the account offers it.
    pub(super) sso_label: Option<String>,
    /// Where the button goes (`/sso/start`, with `rd`).
    pub(super) sso_start: String,
    /// The password was refused because the role signs in with the provider: the button
    /// takes the form's place.
    pub(super) sso_only: bool,
}

impl LoginPage {
    pub(super) fn new(email: String, rd: &Option<Url>) -> Self {
        let rd_text = rd.as_ref().map(|u| u.to_string()).unwrap_or_default();
        let sso_start = if rd_text.is_empty() {
            crate::web::prefix::url("/sso/start")
        } else {
            let q: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("rd", &rd_text)
                .finish();
            crate::web::prefix::url(&format!("/sso/start?{q}"))
        };
        Self {
            sso_label: None,
            sso_start,
            sso_only: false,
            layout: Layout::public("Sign in"),
            email,
            challenge: None,
            names: None,
            mfa_challenge: None,
            mfa_passkey: false,
            rd: rd.as_ref().map(|u| u.to_string()).unwrap_or_default(),
            errors: FieldErrors::new(),
        }
    }
}

/// `/`: setup first, then the person's landing page by role.
pub async fn home(visitor: Visitor) -> Response {
    match visitor.user {
        Some(p) => see_other(landing(&p)),
        None => see_other("/login"),
    }
}

/// 303 to a URL [`after_sign_in`] chose (already complete: absolute, or prefixed).
fn go(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A query parameter of the request.
fn query_param(parts: &Parts, name: &str) -> Option<String> {
    form_urlencoded::parse(parts.uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn landing(p: &Principal) -> &'static str {
    let a = &p.actor;
    match a.kind {
        MemberKind::Agent => "/agent",
        MemberKind::Admin if a.can_view(MemberKind::Agent) => "/team/agents",
        MemberKind::Admin if a.can_view(MemberKind::Admin) => "/team/admins",
        MemberKind::Admin if a.can_change_security() => "/security",
        MemberKind::Admin => "/me/sessions",
    }
}

/// The sign-in form. A browser whose session was ended is told why, once (from the ended
/// session itself, else from `reason`, which guard.js passes along). With `rd`, signing in
/// goes back there when its origin is allowed; someone already signed in goes at once.
pub async fn login_page(
    State(state): State<AppState>,
    client: Client,
    visitor: Visitor,
    parts: Parts,
) -> Response {
    let rd = return_to::allowed(query_param(&parts, "rd").as_deref(), &parts, &state);
    if let Some(p) = &visitor.user {
        return go(&after_sign_in(&state, p.actor.kind, landing(p), rd));
    }
    let said = query_param(&parts, "reason").and_then(|r| r.parse::<EndReason>().ok());
    let mut page = LoginPage::new(visitor.ended_email.clone().unwrap_or_default(), &rd);
    offer_sso(&state, &visitor.account_id, &mut page).await;
    match visitor.ended {
        Some(reason) => {
            page.layout.info = reason.or(said).map(|r| r.message().to_string());
            {
                let mut res = render(StatusCode::OK, &page);
                cookies::set(
                    &mut res,
                    &clear_cookie(client.https, state.cfg.cookie_domain.as_deref()),
                );
                res
            }
        }
        None => {
            page.layout.info = said.map(|r| r.message().to_string());
            render(StatusCode::OK, &page)
        }
    }
}

/// Shows the account's single sign-on button on the sign-in page, when it has one.
pub(super) async fn offer_sso(state: &AppState, account_id: &str, page: &mut LoginPage) {
    match state.svc.sso_button(account_id).await {
        Ok(b) => page.sso_label = b.map(|b| b.label),
        Err(e) => tracing::warn!(error = %e, "could not read the single sign-on settings"),
    }
}

/// Which step of signing in a posted form is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Posted {
    /// E-mail and password.
    Password,
    /// The choice between linked accounts: carries the challenge, never the password.
    Choice,
    /// A second factor's code, for the challenge the password step gave.
    SecondStep,
}

impl Posted {
    fn of(form: &FormData) -> Self {
        if form.get("mfa_challenge").is_some() {
            Posted::SecondStep
        } else if form.get("challenge").is_some() {
            Posted::Choice
        } else {
            Posted::Password
        }
    }
}

pub async fn login_submit(
    State(state): State<AppState>,
    PageTenant(account_id): PageTenant,
    client: Client,
    parts: Parts,
    form: FormData,
) -> PageResult {
    let rd = return_to::allowed(form.get("rd"), &parts, &state);
    let posted = Posted::of(&form);
    let mut page = LoginPage::new(form.text("email"), &rd);
    offer_sso(&state, &account_id, &mut page).await;
    if posted == Posted::Password {
        let errors = first_step_errors(&form);
        if !errors.is_empty() {
            page.layout.error = errors.summary();
            page.errors = errors;
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    }
    let device_pass = cookies::device_pass(
        &parts.headers,
        client.https,
        state.cfg.cookie_domain.as_deref(),
    );
    let as_kind = form.get("as").and_then(|k| k.parse::<MemberKind>().ok());
    let svc = &state.svc;
    let result = match (posted, as_kind) {
        (Posted::SecondStep, _) => svc
            .login_mfa(MfaLogin {
                account_id,
                challenge: form.text("mfa_challenge"),
                code: form.text("code"),
                ip: client.ip,
                user_agent: client.user_agent.clone(),
                device_pass,
                passkey: None,
            })
            .await
            .map(|out| SignInStep::SignedIn(Box::new(out))),
        (Posted::Choice, Some(as_kind)) => {
            svc.login_chosen(ChosenLogin {
                account_id,
                challenge: form.text("challenge"),
                as_kind,
                ip: client.ip,
                user_agent: client.user_agent.clone(),
                device_pass,
            })
            .await
        }
        _ => {
            svc.login(LoginRequest {
                account_id,
                email: form.text("email"),
                password: form.text("password"),
                as_kind,
                ip: client.ip,
                user_agent: client.user_agent.clone(),
                device_pass,
            })
            .await
        }
    };
    match result {
        Ok(step) => Ok(next_step(&state, step, client.https, rd, page)),
        Err(e) => refused(e, posted, &form, page),
    }
}

/// The first step's fields, both named at once when they are missing or too long.
fn first_step_errors(form: &FormData) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let email = form.text("email");
    if email.trim().is_empty() {
        errors.add("email", "e-mail is required");
    } else if email.trim().chars().count() > MAX_EMAIL_LEN {
        errors.add("email", "e-mail is longer than 254 characters");
    }
    let typed = form.text("password");
    if typed.is_empty() {
        errors.add("password", "password is required");
    } else if typed.chars().count() > password::MAX_PASSWORD_CHARS {
        errors.add("password", "password is longer than 128 characters");
    }
    errors
}

/// Where a step leads: into the app with the session cookie, or the form of the next step.
pub(super) fn next_step(
    state: &AppState,
    step: SignInStep,
    https: bool,
    rd: Option<Url>,
    mut page: LoginPage,
) -> Response {
    let (out, to) = match step {
        SignInStep::SignedIn(out) => {
            let to = match out.recovery_codes_left {
                // Someone who needed a recovery code learns how many are left, and where
                // to make new ones.
                Some(left) => crate::web::prefix::url(&format!("{ENROL_PAGE}?codes_left={left}")),
                None => after_new_sign_in(state, out.member.kind, rd),
            };
            (out, to)
        }
        SignInStep::Enrol(out) => (out, crate::web::prefix::url(ENROL_PAGE)),
        SignInStep::ChooseAccount {
            challenge,
            agent_name,
            admin_name,
        } => {
            page.challenge = Some(challenge);
            page.names = Some((agent_name, admin_name));
            return render(StatusCode::OK, &page);
        }
        SignInStep::SecondFactor { challenge, methods } => {
            page.mfa_passkey = methods.contains(AuthMethod::Webauthn);
            page.mfa_challenge = Some(challenge);
            return render(StatusCode::OK, &page);
        }
    };
    into_app(state, &out, &to, https)
}

/// A redirect to `to` (complete already: prefixed, or absolute) carrying a new session's cookie
/// and the browser's device pass.
pub(super) fn into_app(state: &AppState, out: &SignedIn, to: &str, https: bool) -> Response {
    let mut res = go(to);
    cookies::set(
        &mut res,
        &session_cookie(&out.token, https, state.cfg.cookie_domain.as_deref()),
    );
    cookies::set(
        &mut res,
        &device_cookie(&out.device_pass, https, state.cfg.cookie_domain.as_deref()),
    );
    res
}

/// The form again, saying why this step was refused.
fn refused(e: ServiceError, posted: Posted, form: &FormData, mut page: LoginPage) -> PageResult {
    let status = match e {
        ServiceError::InvalidCredentials if posted == Posted::SecondStep => {
            // The challenge stays usable until it expires: the person may try again.
            page.mfa_challenge = Some(form.text("mfa_challenge"));
            page.layout.error = Some(
                "That code is not right. Enter the current code from your authenticator app, \
                 or a recovery code (if the page has been open for minutes, sign in again)."
                    .into(),
            );
            StatusCode::UNAUTHORIZED
        }
        ServiceError::InvalidCredentials => {
            page.layout.error = Some(if posted == Posted::Choice {
                "That choice has expired. Please sign in again.".into()
            } else {
                "E-mail or password is incorrect.".into()
            });
            StatusCode::UNAUTHORIZED
        }
        ServiceError::AccountDisabled => {
            page.layout.error = Some("This account has been disabled by an administrator.".into());
            StatusCode::FORBIDDEN
        }
        ServiceError::SsoRequired(message) => {
            page.layout.error = Some(capitalize(&message));
            page.sso_only = page.sso_label.is_some();
            StatusCode::UNAUTHORIZED
        }
        ServiceError::OutsideOfficeNetwork => {
            page.layout.error = Some(
                "Sign-in refused: you are connecting from outside the office networks, and this \
                 account may only sign in from the office. Your password was not the problem."
                    .into(),
            );
            StatusCode::FORBIDDEN
        }
        ServiceError::Invalid { field, message } if posted == Posted::Password => {
            page.errors.add(&field, message);
            page.layout.error = page.errors.summary();
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ServiceError::Invalid { message, .. } => {
            page.layout.error = Some(capitalize(&message));
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ServiceError::RateLimited { retry_after_secs } => {
            page.mfa_challenge = form.get("mfa_challenge").map(str::to_string);
            page.layout.error = Some(format!(
                "Too many failed attempts. Try again in {}.",
                super::counted_noun(retry_after_secs as usize, "second", "seconds")
            ));
            let mut res = render(StatusCode::TOO_MANY_REQUESTS, &page);
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return Ok(res);
        }
        e => return Err(e.into()),
    };
    Ok(render(status, &page))
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    layout: Layout,
    /// Who is signed in: name and e-mail; `None` for nobody.
    who: Option<(String, String)>,
    csrf: String,
    /// Where to go once signed out (an allowed `rd`, else empty).
    rd: String,
    rd_encoded: String,
}

/// `GET /logout?rd=URL`: asks "Sign out?" (a link, such as the guarded app's sign-out link or
/// `DeskwardGuard.signOut()`, must not end a session by itself); confirming posts to
/// [`logout`] with the CSRF token and `rd`. An `rd` sign-in would not follow is dropped.
pub async fn logout_page(
    State(state): State<AppState>,
    visitor: Visitor,
    parts: Parts,
) -> Response {
    let rd = return_to::allowed(query_param(&parts, "rd").as_deref(), &parts, &state)
        .map(String::from)
        .unwrap_or_default();
    let page = LogoutPage {
        layout: Layout::public("Sign out"),
        who: visitor
            .user
            .as_ref()
            .map(|p| (p.name.clone(), p.email.clone())),
        csrf: visitor
            .user
            .as_ref()
            .map(|p| p.csrf_token.clone())
            .unwrap_or_default(),
        rd_encoded: return_to::encode(&rd),
        rd,
    };
    render(StatusCode::OK, &page)
}

/// Signs out (the one ending path, reason `logout`), then goes to the form's `rd` when
/// sign-in may go there, else to the sign-in page. Signing out of an already-ended session
/// still clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    client: Client,
    visitor: Visitor,
    parts: Parts,
    form: FormData,
) -> PageResult {
    if let Some(p) = visitor.user {
        check_csrf(&p, &form)?;
        state.svc.logout(&p.actor).await.in_page(&p)?;
    }
    let to = match return_to::allowed(form.get("rd").filter(|r| !r.is_empty()), &parts, &state) {
        Some(rd) => Redirect::to(rd.as_str()).into_response(),
        // The sign-in page says so: the cookie is gone, so only the address can tell it.
        None => see_other("/login?reason=logout"),
    };
    Ok(signed_out_response(
        to,
        client.https,
        state.cfg.cookie_domain.as_deref(),
    ))
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    layout: Layout,
    name: String,
    admin_name: String,
    admin_email: String,
    errors: FieldErrors,
}

impl SetupPage {
    /// The form as typed (never the password), with what is wrong with it.
    fn again(form: &FormData, errors: FieldErrors) -> Self {
        Self {
            layout: Layout::public("Set up Deskward").with_error(errors.summary()),
            name: form.text("name"),
            admin_name: form.text("admin_name"),
            admin_email: form.text("admin_email"),
            errors,
        }
    }
}

pub async fn setup_page(State(state): State<AppState>) -> PageResult {
    if !state.svc.needs_setup().await? {
        return Ok(see_other("/login"));
    }
    Ok(render(
        StatusCode::OK,
        &SetupPage {
            layout: Layout::public("Set up Deskward"),
            name: String::new(),
            admin_name: String::new(),
            admin_email: String::new(),
            errors: FieldErrors::new(),
        },
    ))
}

/// Every field of the setup form checked by the rules `create_account` applies.
fn setup_errors(form: &FormData) -> FieldErrors {
    let mut errors = FieldErrors::new();
    errors.check(
        "name",
        check_name("the company or team name", &form.text("name")),
    );
    errors.check(
        "admin_name",
        check_name("your name", &form.text("admin_name")),
    );
    errors.check("admin_email", Email::parse(&form.text("admin_email")));
    errors.check(
        "password",
        password::check_new_password(&form.text("password")),
    );
    errors
}

pub async fn setup_submit(
    State(state): State<AppState>,
    client: Client,
    form: FormData,
) -> PageResult {
    if !state.svc.needs_setup().await? {
        return Ok(see_other("/login"));
    }
    let mut errors = setup_errors(&form);
    if !errors.is_empty() {
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetupPage::again(&form, errors),
        ));
    }
    let req = NewAccountRequest {
        name: form.text("name"),
        slug: None,
        admin_name: form.text("admin_name"),
        admin_email: form.text("admin_email"),
        admin_password: form.text("password"),
    };
    match state.svc.create_account(req, true).await {
        Ok((account, admin)) => {
            let _ = state.single_account.set(account.id.clone());
            let signed_in = state
                .svc
                .login_after_setup(
                    LoginRequest {
                        account_id: account.id,
                        email: admin.email.clone(),
                        password: form.text("password"),
                        as_kind: Some(MemberKind::Admin),
                        ip: client.ip,
                        user_agent: client.user_agent,
                        device_pass: None,
                    },
                    &admin,
                )
                .await;
            Ok(match signed_in {
                Ok(SignInStep::SignedIn(out)) => {
                    let mut res = see_other("/team/agents");
                    cookies::set(
                        &mut res,
                        &session_cookie(
                            &out.token,
                            client.https,
                            state.cfg.cookie_domain.as_deref(),
                        ),
                    );
                    cookies::set(
                        &mut res,
                        &device_cookie(
                            &out.device_pass,
                            client.https,
                            state.cfg.cookie_domain.as_deref(),
                        ),
                    );
                    res
                }
                _ => see_other("/login"),
            })
        }
        Err(ServiceError::Forbidden(_)) => Ok(see_other("/login")),
        Err(e) => {
            errors.absorb(e, |f| if f == "slug" { "name" } else { f })?;
            Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &SetupPage::again(&form, errors),
            ))
        }
    }
}

#[derive(Template)]
#[template(path = "agent_home.html")]
struct AgentHome {
    layout: Layout,
    name: String,
    status: &'static str,
    status_label: &'static str,
}

pub async fn agent_home(State(state): State<AppState>, PageUser(p): PageUser) -> PageResult {
    if p.actor.kind != MemberKind::Agent {
        return Ok(see_other(landing(&p)));
    }
    let v = state.svc.me(&p.actor).await.in_page(&p)?;
    Ok(render(
        StatusCode::OK,
        &AgentHome {
            layout: Layout::signed_in(&p, "home", "Home"),
            name: v.member.name.clone(),
            status: v.member.status.as_str(),
            status_label: v.member.status.label(),
        },
    ))
}

pub async fn set_status(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let status = form
        .text("status")
        .parse::<AgentStatus>()
        .map_err(|()| ServiceError::invalid("status", "status must be online or offline"))
        .in_page(&p)?;
    state
        .svc
        .set_own_status(&p.actor, status)
        .await
        .in_page(&p)?;
    Ok(see_other("/agent"))
}
