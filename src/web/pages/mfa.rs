//! "Sign-in methods": a person's own two-factor sign-in. Setting up an authenticator app
//! shows its QR code (an SVG drawn here, no outside service) and the secret as text; the
//! confirmation shows the recovery codes once. Plain forms: it all works without JavaScript.
//! A session limited to enrolling is led here from every other page.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::request::Parts;

use crate::service::mfa::{MfaStatus, TotpSetup};
use crate::service::{Principal, ServiceError};
use crate::web::AppState;
use crate::web::section::Section;

use super::confirm::{Confirm, confirm_about};
use super::{
    FieldErrors, InPage, Layout, PageResult, PageUser, ShownTime, SignedForm, render, safe_back,
    see_other, viewer_zone, with_notice,
};

#[derive(Template)]
#[template(path = "me_security.html")]
struct SecurityPage {
    layout: Layout,
    status: MfaStatus,
    /// The session may do nothing else until a second factor is set up.
    enrolling: bool,
    /// An app being set up: its secret, and its QR code as an inline SVG.
    setup: Option<(String, String)>,
    /// Shown once, right after the confirmation.
    recovery_codes: Vec<String>,
    /// The codes as a text file to download (a `data:` URL: no request, nothing stored).
    recovery_download: String,
    /// Name, id, when added, when last used.
    passkeys: Vec<(String, String, ShownTime, Option<ShownTime>)>,
    errors: FieldErrors,
}

/// What the page may add to its defaults.
#[derive(Default)]
struct Shown {
    setup: Option<TotpSetup>,
    recovery_codes: Vec<String>,
    notice: Option<String>,
    /// What is wrong with the form just sent: `password` (the authenticator app's forms),
    /// `code`, or `passkey_password-<id>`.
    errors: FieldErrors,
}

/// The recovery codes as a `data:` URL of a small text file, one code a line, saying whose they
/// are (a file found later in a downloads folder should say what it is).
fn recovery_file(email: &str, codes: &[String]) -> String {
    if codes.is_empty() {
        return String::new();
    }
    let text = format!(
        "Deskward recovery codes for {email}\nEach one signs you in once. Keep them somewhere \
         safe.\n\n{}\n",
        codes.join("\n")
    );
    format!(
        "data:text/plain;charset=utf-8,{}",
        percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
    )
}

async fn page(state: &AppState, p: &Principal, shown: Shown) -> PageResult {
    let zone = viewer_zone(p);
    let status = state.svc.mfa_status(&p.actor.member_id).await.in_page(p)?;
    let setup = match shown.setup {
        Some(s) => Some(s),
        None if !status.totp => state.svc.pending_totp(&p.actor).await.in_page(p)?,
        None => None,
    };
    // Whether the session is still limited: the confirmation lifts it in the database.
    let enrolling = p.session.mfa_enrollment && !status.any();
    let layout = Layout::signed_in(p, "me-security", "Sign-in methods")
        .with_notice(shown.notice)
        .with_error(shown.errors.summary());
    Ok(render(
        layout.status(),
        &SecurityPage {
            layout,
            status,
            enrolling,
            setup: setup.map(|s| (s.secret.clone(), qr_svg(&s.otpauth_url))),
            recovery_download: recovery_file(&p.email, &shown.recovery_codes),
            recovery_codes: shown.recovery_codes,
            passkeys: state
                .svc
                .passkeys(&p.actor)
                .await
                .in_page(p)?
                .into_iter()
                .map(|k| {
                    (
                        k.name,
                        k.id,
                        ShownTime::at(k.created_at, &zone),
                        k.last_used_at.map(|at| ShownTime::at(at, &zone)),
                    )
                })
                .collect(),
            errors: shown.errors,
        },
    ))
}

/// The QR code of an `otpauth://` URL as an SVG element to put in the page.
fn qr_svg(url: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(url.as_bytes()) else {
        return String::new();
    };
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Inline in HTML: no XML declaration.
    match svg.find("<svg") {
        Some(i) => svg[i..].to_string(),
        None => svg,
    }
}

pub async fn security_page(
    State(state): State<AppState>,
    PageUser(p): PageUser,
    parts: Parts,
) -> PageResult {
    let left = parts.uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "codes_left")
            .and_then(|(_, v)| v.parse::<u32>().ok())
    });
    let notice = left.map(|n| {
        format!(
            "You signed in with a recovery code. You have {n} left{}",
            if n < 3 {
                ": remove and set up your authenticator app again to get new ones."
            } else {
                "."
            }
        )
    });
    page(
        &state,
        &p,
        Shown {
            notice,
            ..Default::default()
        },
    )
    .await
}

/// A refusal about the form's one field, shown next to it (under `key`).
fn input_error(key: &str, e: ServiceError) -> Result<FieldErrors, ServiceError> {
    match e {
        ServiceError::Invalid { message, .. } => {
            let mut errors = FieldErrors::new();
            errors.add(key, message);
            Ok(errors)
        }
        other => Err(other),
    }
}

pub async fn start_totp(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let shown = match state.svc.start_totp(&p.actor, form.text("password")).await {
        Ok(setup) => Shown {
            setup: Some(setup),
            ..Default::default()
        },
        Err(e) => Shown {
            errors: input_error("password", e).in_page(&p)?,
            ..Default::default()
        },
    };
    page(&state, &p, shown).await
}

pub async fn confirm_totp(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let shown = match state.svc.confirm_totp(&p.actor, &form.text("code")).await {
        Ok(codes) => Shown {
            recovery_codes: codes,
            notice: Some("Two-factor sign-in is on.".to_string()),
            ..Default::default()
        },
        Err(e) => Shown {
            errors: input_error("code", e).in_page(&p)?,
            ..Default::default()
        },
    };
    page(&state, &p, shown).await
}

pub async fn remove_totp(
    State(state): State<AppState>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let shown = match state.svc.remove_totp(&p.actor, form.text("password")).await {
        Ok(()) => Shown {
            notice: Some("Your authenticator app was removed.".to_string()),
            ..Default::default()
        },
        Err(e) => Shown {
            errors: input_error("password", e).in_page(&p)?,
            ..Default::default()
        },
    };
    page(&state, &p, shown).await
}

/// The profile's "Reset two-factor sign-in" (same permission as changing the password).
/// Like disabling, it signs the person out everywhere and cannot be undone, so a post without
/// `confirm=yes` (a form sent without JavaScript) gets the confirmation page instead.
pub async fn reset<S: Section>(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let profile = format!("/team/{}/{id}", S::KIND.plural());
    let back = safe_back(form.get("back"), &profile);
    if form.get("confirm") != Some("yes") {
        let v = state
            .svc
            .person_to_reset_mfa(&p.actor, S::KIND, &id)
            .await
            .in_page(&p)?;
        return Ok(confirm_about(
            &p,
            &v,
            Confirm {
                heading: "Reset two-factor sign-in?",
                message: format!(
                    "Reset the two-factor sign-in of {}? Their authenticator app, passkeys and recovery codes are removed and they are signed out everywhere; they sign in again with their password.",
                    v.member.name
                ),
                action: format!("{profile}/mfa/reset"),
                back,
                button: "Reset two-factor sign-in",
                ..Confirm::default()
            },
        ));
    }
    state
        .svc
        .reset_mfa(&p.actor, S::KIND, &id)
        .await
        .in_page(&p)?;
    Ok(see_other(&with_notice(&back, "mfa_reset", None)))
}

pub async fn remove_passkey(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(p, form): SignedForm,
) -> PageResult {
    let shown = match state
        .svc
        .remove_passkey(&p.actor, &id, form.text("password"))
        .await
    {
        Ok(()) => Shown {
            notice: Some("The passkey was removed.".to_string()),
            ..Default::default()
        },
        Err(e) => Shown {
            errors: input_error(&format!("passkey_password-{id}"), e).in_page(&p)?,
            ..Default::default()
        },
    };
    page(&state, &p, shown).await
}
