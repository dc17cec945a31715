//! The Webhooks part of the Security section, as pages: the endpoints (add with the secret
//! shown once, delete) and each one's delivery log with "send again". Plain forms; no script
//! needed.

use askama::Template;
use axum::extract::{Path, State};

use crate::domain::webhook::{self, EventFilter, EventType};
use crate::service::{Principal, ServiceError};
use crate::web::AppState;

use super::{
    FieldErrors, InPage, Layout, PageResult, PageUser, ShownTime, SignedForm, render, see_other,
    viewer_zone,
};

/// An endpoint as the list shows it.
struct EndpointRow {
    id: String,
    url: String,
    events: String,
    state: String,
    created: ShownTime,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    layout: Layout,
    endpoints: Vec<EndpointRow>,
    event_types: Vec<&'static str>,
    /// The secret of an endpoint just added: shown this once.
    new_secret: Option<String>,
    url: String,
    /// The event types checked in the form (kept when it is refused).
    checked: Vec<String>,
    errors: FieldErrors,
}

impl WebhooksPage {
    fn is_checked(&self, t: &str) -> bool {
        self.checked.iter().any(|c| c == t)
    }
}

/// The add form as typed, with what is wrong with it.
#[derive(Default)]
struct AddForm {
    url: String,
    events: Vec<String>,
    errors: FieldErrors,
}

async fn webhooks(
    state: &AppState,
    p: &Principal,
    new_secret: Option<String>,
    typed: AddForm,
    layout: impl FnOnce(Layout) -> Layout,
) -> PageResult {
    let list = state.svc.webhooks(&p.actor).await.in_page(p)?;
    let zone = viewer_zone(p);
    let endpoints = list
        .iter()
        .map(|e| EndpointRow {
            id: e.id.clone(),
            url: e.url.clone(),
            events: EventFilter::from_db(&e.events).names().join(", "),
            state: match &e.disabled_reason {
                None => "on".to_string(),
                Some(r) if r == "gone" => "off (the receiver answered 410 Gone)".to_string(),
                Some(r) => format!("off ({r})"),
            },
            created: ShownTime::at(e.created_at, &zone),
        })
        .collect();
    let mut layout = layout(Layout::signed_in(p, "security", "Webhooks"));
    if !typed.errors.is_empty() {
        layout.error = typed.errors.summary();
    }
    Ok(render(
        layout.status(),
        &WebhooksPage {
            layout,
            endpoints,
            event_types: EventType::ALL.iter().map(|t| t.as_str()).collect(),
            new_secret,
            url: typed.url,
            checked: typed.events,
            errors: typed.errors,
        },
    ))
}

pub async fn webhooks_page(State(state): State<AppState>, PageUser(p): PageUser) -> PageResult {
    webhooks(&state, &p, None, AddForm::default(), |l| l).await
}

/// The service's sentences name the field ("url must …"); next to the field it is "The URL".
fn about_url(message: &str) -> String {
    match message.strip_prefix("url ") {
        Some(rest) => format!("the URL {rest}"),
        None => message.to_string(),
    }
}

pub async fn add(State(state): State<AppState>, SignedForm(p, form): SignedForm) -> PageResult {
    let url = form.text("url");
    let checked = form.all("events");
    let events = if checked.is_empty() {
        vec!["*".to_string()]
    } else {
        checked.clone()
    };
    let mut errors = FieldErrors::new();
    errors.check("url", webhook::check_url(&url).map_err(|m| about_url(&m)));
    errors.check("events", EventFilter::parse(&events));
    if errors.is_empty() {
        match state.svc.create_webhook(&p.actor, &url, &events).await {
            Ok(created) => {
                let notice = Some(format!("Webhook to {} added.", created.endpoint.url));
                return webhooks(&state, &p, Some(created.secret), AddForm::default(), |l| {
                    l.with_notice(notice)
                })
                .await;
            }
            Err(ServiceError::Invalid { field, message }) => {
                let key = if field == "events" { "events" } else { "url" };
                errors.add(key, about_url(&message));
            }
            Err(e) => return Err(e).in_page(&p),
        }
    }
    let typed = AddForm {
        url,
        events: checked,
        errors,
    };
    webhooks(&state, &p, None, typed, |l| l).await
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    SignedForm(p, _): SignedForm,
) -> PageResult {
    state.svc.delete_webhook(&p.actor, &id).await.in_page(&p)?;
    Ok(see_other("/security/webhooks"))
}

/// A delivery as the log shows it.
struct DeliveryRow {
    id: String,
    created: ShownTime,
    event_type: String,
    status: String,
    /// When a pending delivery that failed is tried next.
    next_try: Option<ShownTime>,
    attempts: i64,
    answer: String,
    delivered: Option<ShownTime>,
}

#[derive(Template)]
#[template(path = "webhook_log.html")]
struct LogPage {
    layout: Layout,
    id: String,
    url: String,
    /// Turned off by a 410 answer: "Send again" would queue what nothing sends.
    off: bool,
    rows: Vec<DeliveryRow>,
}

pub async fn log_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageUser(p): PageUser,
) -> PageResult {
    let (endpoint, log) = state
        .svc
        .webhook_deliveries(&p.actor, &id)
        .await
        .in_page(&p)?;
    let zone = viewer_zone(&p);
    let rows = log
        .iter()
        .map(|d| DeliveryRow {
            id: d.id.clone(),
            created: ShownTime::at(d.created_at, &zone),
            event_type: d.event_type.clone(),
            status: d.status.clone(),
            next_try: (d.status == "pending" && d.attempts > 0)
                .then(|| ShownTime::at(d.next_attempt_at, &zone)),
            attempts: d.attempts,
            answer: match (d.last_status_code, &d.last_error) {
                (Some(code), _) => format!("HTTP {code}"),
                (None, Some(e)) => e.clone(),
                (None, None) => String::new(),
            },
            delivered: d.delivered_at.map(|at| ShownTime::at(at, &zone)),
        })
        .collect();
    let layout = Layout::signed_in(&p, "security", "Webhook deliveries");
    Ok(render(
        layout.status(),
        &LogPage {
            layout,
            off: endpoint.disabled_reason.is_some(),
            id: endpoint.id,
            url: endpoint.url,
            rows,
        },
    ))
}

pub async fn send_again(
    State(state): State<AppState>,
    Path((id, delivery_id)): Path<(String, String)>,
    SignedForm(p, _): SignedForm,
) -> PageResult {
    state
        .svc
        .retry_webhook_delivery(&p.actor, &id, &delivery_id)
        .await
        .in_page(&p)?;
    Ok(see_other(&format!("/security/webhooks/{id}")))
}
