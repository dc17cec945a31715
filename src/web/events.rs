//! `GET /api/v1/events`: one Server-Sent Events stream per open tab. It tells the tab when
//! its session ends (then closes), a minute before it would end for inactivity (so the tab
//! can offer to stay signed in), and tells administrators what changed on the Team pages they
//! may see.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::oneshot;

use crate::domain::member::MemberKind;
use crate::domain::policy::Actor;
use crate::domain::session::{Deadline, EXPIRY_WARNING};
use crate::domain::time::{Millis, rfc3339};
use crate::events::Event;
use crate::service::Principal;
use crate::service::presence::TabGuard;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorBody};
use crate::web::request::ApiUser;

/// Event streams one session may hold open at once (in this instance); a newer one ends the
/// oldest. Each holds a connection and a task, so a script opening streams in a loop with one
/// cookie must not be able to hold thousands.
pub const MAX_STREAMS_PER_SESSION: usize = 20;

/// How long a tab whose stream was ended for a newer one waits before its browser reconnects
/// (the SSE `retry` field), so that more than twenty tabs of one session do not take turns
/// ending each other's streams every few seconds.
const DISPLACED_RETRY: Duration = Duration::from_secs(600);

/// How often an otherwise quiet stream writes a comment. Besides keeping proxies from closing
/// it, each write is data the client must acknowledge: with the server's
/// `UNACKNOWLEDGED_LIMIT` (`server.rs`) it is what lets the kernel notice a client that
/// vanished without a reset, and the next one is where that failure surfaces, ending the stream
/// (and so the tab, for presence).
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How often a stream looks at its session's deadline. It compares the service's clock with
/// the deadline it knows and reads the database only once the warning is due (or, once
/// warned, to see whether activity moved it), so it costs nothing until then. The server's
/// timers are not throttled as a background tab's are: the warning comes from here.
const DEADLINE_CHECK: Duration = Duration::from_secs(5);

/// One session's open streams, oldest first: each one's number and what ends it.
type Open = VecDeque<(u64, oneshot::Sender<()>)>;

/// The open event streams of each session.
#[derive(Default)]
pub struct SessionStreams {
    by_session: Mutex<HashMap<String, Open>>,
    next_id: AtomicU64,
}

impl SessionStreams {
    /// Registers a new stream of `session_id`, ending the session's oldest one when that makes
    /// more than [`MAX_STREAMS_PER_SESSION`]. Returns the stream's number (to leave with) and
    /// what tells it that it was ended.
    fn join(&self, session_id: &str) -> (u64, oneshot::Receiver<()>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let mut map = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
        let open = map.entry(session_id.to_string()).or_default();
        open.push_back((id, tx));
        while open.len() > MAX_STREAMS_PER_SESSION {
            if let Some((_, oldest)) = open.pop_front() {
                let _ = oldest.send(());
            }
        }
        (id, rx)
    }

    /// Forgets a stream that has ended (for whatever reason).
    fn leave(&self, session_id: &str, id: u64) {
        let mut map = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = map.get_mut(session_id) {
            open.retain(|(i, _)| *i != id);
            if open.is_empty() {
                map.remove(session_id);
            }
        }
    }
}

struct StreamState {
    state: AppState,
    rx: tokio::sync::broadcast::Receiver<Arc<Event>>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Resolves when a newer stream of the same session took this one's place.
    displaced: oneshot::Receiver<()>,
    slot: u64,
    principal: Principal,
    token_account: String,
    _guard: TabGuard,
    _counted: crate::service::metrics::StreamGauge,
    done: bool,
    deadline_tick: tokio::time::Interval,
    /// When the deadline is next read (the service's clock): the warning's time as last
    /// known; 0 to read it at the next tick (the Security settings changed).
    next_check: Millis,
    /// The deadline the tab was warned about, until activity moves it.
    warned: Option<Millis>,
}

impl Drop for StreamState {
    fn drop(&mut self) {
        self.state
            .streams
            .leave(&self.principal.session.id, self.slot);
    }
}

/// One Server-Sent Event of `GET /api/v1/events`: `event` names it (`ready`, `member`,
/// `status`, `session_ended`, ...) and `data` is JSON text. Only described: axum's `Event`
/// writes the frames.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct StreamEvent {
    event: Option<String>,
    data: String,
    id: Option<String>,
}

#[utoipa::path(get, path = "/events", tag = "presence",
    operation_id = "events",
    security(("session" = [])),
    responses(
        (status = 200, description = "Server-Sent Events for the caller's session: `ready`, \
            member and status events, `session_expiring` with `{\"expires_at\", \"seconds_left\", \
            \"extendable\"}` a minute before the session would end for inactivity (or reach its \
            absolute lifetime, not extendable), `session_extended` with `{\"expires_at\"}` once \
            activity moved that, and `session_ended` with `{\"reason\"}` before it closes",
            content_type = "text/event-stream", body = StreamEvent),
        (status = 401, description = "`unauthenticated`", body = ErrorBody),
        (status = 403, description = "`mfa_enrollment_required`", body = ErrorBody),
    ))]
pub async fn stream(
    State(state): State<AppState>,
    ApiUser(p): ApiUser,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    // Subscribe before announcing the tab, so nothing that happens in between is missed.
    let rx = state.svc.events().subscribe();
    let guard = state.svc.tab_connected(&p.actor).await?;
    let (slot, displaced) = state.streams.join(&p.session.id);
    let counted = state.svc.metrics().stream_opened();
    let mut deadline_tick = tokio::time::interval(DEADLINE_CHECK);
    deadline_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let st = StreamState {
        next_check: p.deadline.at - EXPIRY_WARNING,
        warned: None,
        deadline_tick,
        token_account: p.actor.account_id.clone(),
        shutdown: state.shutdown.clone(),
        state,
        rx,
        displaced,
        slot,
        principal: p,
        _guard: guard,
        _counted: counted,
        done: false,
    };
    let hello = SseEvent::default()
        .event("ready")
        .data(json!({"session_id": st.principal.session.id}).to_string());
    let first = futures_util::stream::once(async move { Ok(hello) });
    let rest = futures_util::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let next = tokio::select! {
                next = st.rx.recv() => next,
                _ = st.shutdown.changed() => return None,
                _ = &mut st.displaced => {
                    st.done = true;
                    let closed = SseEvent::default()
                        .event("stream_closed")
                        .retry(DISPLACED_RETRY)
                        .data(json!({"reason": "too_many_streams"}).to_string());
                    return Some((Ok(closed), st));
                }
                _ = st.deadline_tick.tick() => {
                    if let Some(out) = deadline_check(&mut st).await {
                        return Some((Ok(out), st));
                    }
                    continue;
                }
            };
            match next {
                Ok(ev) => {
                    if let Some(out) = translate(&mut st, &ev).await {
                        return Some((Ok(out), st));
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Missed events: the one that matters is our own ending, so re-check.
                    if let Some(out) = recheck(&mut st).await {
                        return Some((Ok(out), st));
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(futures_util::StreamExt::chain(first, rest))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn ended(st: &mut StreamState, reason: &str) -> SseEvent {
    st.done = true;
    SseEvent::default()
        .event("session_ended")
        .data(json!({ "reason": reason }).to_string())
}

async fn recheck(st: &mut StreamState) -> Option<SseEvent> {
    let reason = st
        .state
        .svc
        .session_end_reason(&st.token_account, &st.principal.session.id)
        .await
        .ok()??;
    Some(ended(st, reason.as_str()))
}

/// What this tab should hear of an event, if anything.
async fn translate(st: &mut StreamState, ev: &Event) -> Option<SseEvent> {
    if let Event::Resync = ev {
        return recheck(st).await;
    }
    if ev.account_id() != Some(st.token_account.as_str()) {
        return None;
    }
    let me: &Actor = &st.principal.actor;
    match ev {
        Event::SessionEnded {
            session_id, reason, ..
        } if *session_id == st.principal.session.id => Some(ended(st, reason.as_str())),
        Event::SessionStarted {
            member_id,
            member_kind,
            ..
        }
        | Event::SessionEnded {
            member_id,
            member_kind,
            ..
        }
        | Event::MemberChanged {
            member_id,
            member_kind,
            ..
        } => {
            if *member_id == me.member_id {
                refresh_actor(st).await;
                if st.done {
                    return Some(ended(st, "disabled"));
                }
            }
            st.principal
                .actor
                .follows(member_id, *member_kind)
                .then(|| {
                    SseEvent::default().event("member").data(
                        json!({"id": member_id, "kind": member_kind, "change": change_name(ev)})
                            .to_string(),
                    )
                })
        }
        Event::SettingsChanged { .. } => {
            // A new timeout may bring the deadline closer: read it at the next tick.
            st.next_check = 0;
            None
        }
        Event::Resync => None,
        Event::StatusChanged {
            member_id, status, ..
        } => me.follows(member_id, MemberKind::Agent).then(|| {
            SseEvent::default()
                .event("status")
                .data(json!({"id": member_id, "kind": "agent", "status": status}).to_string())
        }),
    }
}

/// `session_expiring` once the session's deadline is within [`EXPIRY_WARNING`], and
/// `session_extended` when activity (in this tab or any other) has moved it since.
async fn deadline_check(st: &mut StreamState) -> Option<SseEvent> {
    let now = st.state.svc.now();
    if st.warned.is_none() && now < st.next_check {
        return None;
    }
    let deadline = match st
        .state
        .svc
        .session_deadline(&st.token_account, &st.principal.session.id)
        .await
    {
        Ok(Some(d)) => d,
        Ok(None) => return recheck(st).await,
        Err(e) => {
            tracing::warn!(error = %e, "could not read a session's deadline");
            return None;
        }
    };
    if deadline.warn(now) {
        if st.warned == Some(deadline.at) {
            return None;
        }
        st.warned = Some(deadline.at);
        return Some(expiring(&deadline, now));
    }
    st.next_check = deadline.at - EXPIRY_WARNING;
    st.warned.take().map(|_| {
        SseEvent::default()
            .event("session_extended")
            .data(json!({ "expires_at": rfc3339(deadline.at) }).to_string())
    })
}

fn expiring(d: &Deadline, now: Millis) -> SseEvent {
    SseEvent::default().event("session_expiring").data(
        json!({
            "expires_at": rfc3339(d.at),
            "seconds_left": ((d.at - now).max(0) + 999) / 1000,
            "extendable": d.extendable,
        })
        .to_string(),
    )
}

fn change_name(ev: &Event) -> &'static str {
    match ev {
        Event::SessionStarted { .. } => "session_started",
        Event::SessionEnded { .. } => "session_ended",
        Event::MemberChanged { .. } => "member_changed",
        Event::StatusChanged { .. } => "status_changed",
        Event::Resync => "resync",
        Event::SettingsChanged { .. } => "settings_changed",
    }
}

/// The viewer's own record changed: later events are filtered by their new permissions, and
/// a disabled viewer's stream ends.
async fn refresh_actor(st: &mut StreamState) {
    match st.state.svc.refreshed(&st.principal.actor).await {
        Ok(Some(actor)) => st.principal.actor = actor,
        Ok(None) => st.done = true,
        Err(e) => tracing::warn!(error = %e, "could not refresh stream viewer"),
    }
}
