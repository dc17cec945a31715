//! The one way a session ends. Sign-out, expiry, an administrator, disabling, a new password,
//! a session cap: every caller names the sessions, the reason and who ended them, and this
//! function does the rest the same way each time — one transaction that ends the sessions and
//! writes their audit rows (one shape, `domain::audit`) and sets their agents Offline (their tabs
//! are cut off), then the events every open tab and cache listens to.
//!
//! A new reason for sessions to end is a variant of `EndReason` and one call of [`Service::end`].

use crate::domain::member::AgentStatus;
use crate::domain::policy::Actor;
use crate::domain::session::EndReason;
use crate::events::Event;
use crate::store::{EndSessions, Ended, EndedSession, Which};

use super::{Service, ServiceResult};

/// Where the sessions to end are: in the actor's account, in another given account, or (the
/// background sweep only) in every account.
pub(crate) enum Scope<'a> {
    Account(&'a str),
    Everywhere,
}

impl Service {
    /// Ends the sessions `which` selects, for `reason`, by `by` (a person, or `None` for the
    /// system: expiry, a policy). Sessions already past their timeout end as `expired` instead,
    /// since nobody ended them. Returns the sessions that ended, each with its actual reason.
    #[tracing::instrument(skip_all, fields(reason = ?reason))]
    pub(crate) async fn end(
        &self,
        scope: Scope<'_>,
        which: Which,
        reason: EndReason,
        by: Option<&Actor>,
    ) -> ServiceResult<Vec<EndedSession>> {
        let request = EndSessions {
            account_id: match scope {
                Scope::Account(id) => Some(id.to_string()),
                Scope::Everywhere => None,
            },
            which,
            reason,
            by: by.map(|a| a.member_id.clone()),
            ip: by.map(|a| a.ip),
            at: self.now(),
        };
        let ended = self.store.end_sessions(&request).await?;
        self.announce_ended(&ended);
        Ok(ended.sessions)
    }

    /// Ends sessions in the actor's own account; the common case.
    pub(crate) async fn end_by(
        &self,
        actor: &Actor,
        which: Which,
        reason: EndReason,
    ) -> ServiceResult<Vec<EndedSession>> {
        self.end(
            Scope::Account(&actor.account_id),
            which,
            reason,
            Some(actor),
        )
        .await
    }

    /// Tells every listener that these sessions ended (the cache drops them first, so the next
    /// request here is refused) and that their agents went Offline (the store set them so in
    /// the ending's transaction: their tabs are being disconnected).
    pub(super) fn announce_ended(&self, ended: &Ended) {
        for e in &ended.sessions {
            self.metrics.session_ended(e.reason);
            self.publish(Event::SessionEnded {
                account_id: e.account_id.clone(),
                member_id: e.member_id.clone(),
                member_kind: e.member_kind,
                session_id: e.id.clone(),
                reason: e.reason,
            });
        }
        for (account_id, member_id) in &ended.offline {
            self.publish(Event::StatusChanged {
                account_id: account_id.clone(),
                member_id: member_id.clone(),
                status: AgentStatus::Offline,
            });
        }
    }
}

/// What an ending did, for the notice a person reads: sessions and people counted apart
/// ("2 sessions of 1 person ended").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndedCount {
    pub sessions: usize,
    pub people: usize,
}

/// The sessions and people of `ended` that ended for `reason` itself (see [`counted`]).
pub(crate) fn tally(ended: &[EndedSession], reason: EndReason) -> EndedCount {
    let mut people: Vec<&str> = ended
        .iter()
        .filter(|e| e.reason == reason)
        .map(|e| e.member_id.as_str())
        .collect();
    let sessions = people.len();
    people.sort_unstable();
    people.dedup();
    EndedCount {
        sessions,
        people: people.len(),
    }
}

/// How many of `ended` ended for `reason` itself: sessions found already past their timeout
/// ended as expired, and nobody ended those.
pub(crate) fn counted(ended: &[EndedSession], reason: EndReason) -> usize {
    tally(ended, reason).sessions
}
