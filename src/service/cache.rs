//! The hot path's memory: live sessions by token hash, and people's views, so an
//! authenticated request needs no database read. Every event that could make an entry wrong
//! removes it: local events synchronously before they are published (so an ended session is
//! refused on its very next request here), other instances' events as they arrive. Entries are
//! also re-validated against the database whenever activity is recorded (once a minute).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::domain::time::Millis;
use crate::events::Event;
use crate::store::AuthRecord;

use super::MemberView;

/// Entries kept at most; past that the cache starts over rather than grow without bound.
const MAX_ENTRIES: usize = 200_000;
/// How long a person's view may be served from memory without any event.
pub const VIEW_TTL: Millis = 30_000;

#[derive(Default)]
pub struct AuthCache {
    sessions: RwLock<Sessions>,
    views: RwLock<HashMap<String, (Millis, Arc<MemberView>)>>,
}

#[derive(Default)]
struct Sessions {
    by_token: HashMap<String, Arc<AuthRecord>>,
    token_of_session: HashMap<String, String>,
}

impl AuthCache {
    pub fn get(&self, token_hash: &str) -> Option<Arc<AuthRecord>> {
        let s = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        s.by_token.get(token_hash).cloned()
    }

    pub fn put(&self, token_hash: &str, rec: AuthRecord) {
        let mut s = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        if s.by_token.len() >= MAX_ENTRIES {
            s.by_token.clear();
            s.token_of_session.clear();
        }
        s.token_of_session
            .insert(rec.session.id.clone(), token_hash.to_string());
        s.by_token.insert(token_hash.to_string(), Arc::new(rec));
    }

    pub fn forget_session(&self, session_id: &str) {
        let mut s = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = s.token_of_session.remove(session_id) {
            s.by_token.remove(&token);
        }
    }

    fn forget_where(&self, pred: impl Fn(&AuthRecord) -> bool) {
        let mut s = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        let doomed: Vec<(String, String)> = s
            .by_token
            .iter()
            .filter(|(_, r)| pred(r))
            .map(|(t, r)| (t.clone(), r.session.id.clone()))
            .collect();
        for (token, sid) in doomed {
            s.by_token.remove(&token);
            s.token_of_session.remove(&sid);
        }
    }

    pub fn view(&self, member_id: &str, now: Millis) -> Option<Arc<MemberView>> {
        let v = self.views.read().unwrap_or_else(|e| e.into_inner());
        v.get(member_id)
            .filter(|(at, _)| now - at < VIEW_TTL)
            .map(|(_, view)| view.clone())
    }

    pub fn put_view(&self, view: MemberView, now: Millis) {
        let mut v = self.views.write().unwrap_or_else(|e| e.into_inner());
        if v.len() >= MAX_ENTRIES {
            v.clear();
        }
        v.insert(view.member.id.clone(), (now, Arc::new(view)));
    }

    pub fn forget_view(&self, member_id: &str) {
        let mut v = self.views.write().unwrap_or_else(|e| e.into_inner());
        v.remove(member_id);
    }

    pub fn clear(&self) {
        let mut s = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        s.by_token.clear();
        s.token_of_session.clear();
        drop(s);
        self.views
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Removes whatever `event` may have made wrong.
    pub fn apply(&self, event: &Event) {
        match event {
            Event::SessionEnded {
                session_id,
                member_id,
                ..
            } => {
                self.forget_session(session_id);
                self.forget_view(member_id);
            }
            Event::SessionStarted { member_id, .. } | Event::StatusChanged { member_id, .. } => {
                self.forget_view(member_id);
            }
            Event::MemberChanged { member_id, .. } => {
                let id = member_id.clone();
                self.forget_where(|r| r.session.member_id == id);
                self.forget_view(member_id);
            }
            Event::SettingsChanged { account_id } => {
                let id = account_id.clone();
                self.forget_where(|r| r.session.account_id == id);
            }
            Event::Resync => self.clear(),
        }
    }
}
