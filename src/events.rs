//! Who is told what happened: an in-process broadcast every open event stream listens to.
//!
//! Each instance publishes locally; with PostgreSQL a relay forwards events between instances
//! (see `relay`), so a stream on any instance hears of an ending made on another.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::domain::member::{AgentStatus, MemberKind};
use crate::domain::session::EndReason;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    SessionStarted {
        account_id: String,
        member_id: String,
        member_kind: MemberKind,
        session_id: String,
    },
    SessionEnded {
        account_id: String,
        member_id: String,
        member_kind: MemberKind,
        session_id: String,
        #[serde(with = "reason_text")]
        reason: EndReason,
    },
    StatusChanged {
        account_id: String,
        member_id: String,
        status: AgentStatus,
    },
    /// An account's Security settings changed (timeouts apply to live sessions at once).
    SettingsChanged { account_id: String },
    /// Events may have been missed (a relay reconnected): every stream re-checks its session.
    /// It concerns every account.
    Resync,
    /// Name, e-mail, permissions or disabled flag changed, or the person was added.
    MemberChanged {
        account_id: String,
        member_id: String,
        member_kind: MemberKind,
    },
}

impl Event {
    /// The account the event belongs to; `None` for events about every account.
    pub fn account_id(&self) -> Option<&str> {
        match self {
            Event::SessionStarted { account_id, .. }
            | Event::SessionEnded { account_id, .. }
            | Event::StatusChanged { account_id, .. }
            | Event::SettingsChanged { account_id }
            | Event::MemberChanged { account_id, .. } => Some(account_id),
            Event::Resync => None,
        }
    }
}

mod reason_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::session::EndReason;

    pub fn serialize<S: Serializer>(r: &EndReason, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(r.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<EndReason, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown end reason {text}")))
    }
}

/// A cheap-to-clone handle on the broadcast.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    /// Events this instance publishes, for the cross-instance relay to forward.
    outbound: Option<tokio::sync::mpsc::UnboundedSender<Event>>,
}

impl EventBus {
    pub fn new() -> Self {
        // Large enough that a burst (a bulk ending of thousands of sessions) does not make
        // slow streams lag; a lagging stream re-checks its session (see web::events).
        let (tx, _) = broadcast::channel(16_384);
        Self { tx, outbound: None }
    }

    /// Forwards every locally published event to `outbound` as well (the relay to other
    /// instances).
    pub fn with_outbound(mut self, outbound: tokio::sync::mpsc::UnboundedSender<Event>) -> Self {
        self.outbound = Some(outbound);
        self
    }

    pub fn publish(&self, event: Event) {
        if let Some(out) = &self.outbound {
            let _ = out.send(event.clone());
        }
        let _ = self.tx.send(Arc::new(event));
    }

    /// Delivers an event that came from another instance to this instance's listeners only.
    pub fn deliver_remote(&self, event: Event) {
        let _ = self.tx.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}
