//! The hot path's memory: live sessions by token hash, people's views, and answers already
//! serialized for a session, so an authenticated request needs no database read. Every event
//! that could make an entry wrong removes it: local events synchronously before they are
//! published (so an ended session is refused on its very next request here), other instances'
//! events as they arrive. Entries are also re-validated against the database whenever
//! activity is recorded (once a minute).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock, Weak};

use bytes::Bytes;

use crate::domain::time::Millis;
use crate::events::Event;
use crate::store::{AuthRecord, Session};

use super::{MemberView, Service};

/// Entries kept at most; past that the cache starts over rather than grow without bound.
const MAX_ENTRIES: usize = 200_000;
/// How long a person's view may be served from memory without any event.
pub const VIEW_TTL: Millis = 30_000;

/// Bytes of kept answer bodies at most (with their keys); past it the oldest go first. The
/// `/me` body of a person with many sessions lists them all (about 400 KB for 600 sessions
/// with long user agents), so a count of entries alone would not bound the memory.
pub const BODY_BUDGET: usize = 32 << 20;
/// A body larger than this is not kept: it would push out many others for one reader.
const MAX_BODY: usize = BODY_BUDGET / 16;

#[derive(Default)]
pub struct AuthCache {
    sessions: RwLock<Sessions>,
    views: RwLock<HashMap<String, (Millis, Arc<MemberView>)>>,
    bodies: RwLock<Bodies>,
}

/// One serialized answer per session (the web layer's `GET /api/v1/me` body), with what it
/// was made from.
#[derive(Default)]
struct Bodies {
    by_session: HashMap<String, KeptBody>,
    /// Sessions in the order their bodies were stored, oldest first. An entry whose stamp is
    /// no longer its session's is stale (the body was replaced or dropped) and is skipped.
    order: VecDeque<(String, u64)>,
    /// What the kept bodies and their keys take, as [`cost`] counts it.
    bytes: usize,
    next_stamp: u64,
}

struct KeptBody {
    /// The view the body was made from. Weak: a body must not keep a replaced view (with all
    /// of the person's sessions) alive, yet the allocation it points to cannot be reused for
    /// a newer view while this is held, so comparing addresses stays sound.
    view: Weak<MemberView>,
    last_seen_at: Millis,
    body: Bytes,
    stamp: u64,
}

/// What one kept body counts for against [`BODY_BUDGET`]: its bytes, its key (twice: map and
/// order) and the entries' own size.
fn cost(session_id: &str, body: &Bytes) -> usize {
    body.len() + 2 * session_id.len() + 128
}

impl Bodies {
    fn get(&self, session: &Session, view: &Arc<MemberView>) -> Option<Bytes> {
        self.by_session
            .get(&session.id)
            .filter(|b| {
                std::ptr::eq(b.view.as_ptr(), Arc::as_ptr(view))
                    && b.last_seen_at == session.last_seen_at
            })
            .map(|b| b.body.clone())
    }

    fn put(&mut self, session: &Session, view: &Arc<MemberView>, body: Bytes) {
        self.remove(&session.id);
        if body.len() > MAX_BODY {
            return;
        }
        self.next_stamp += 1;
        let stamp = self.next_stamp;
        self.bytes += cost(&session.id, &body);
        self.order.push_back((session.id.clone(), stamp));
        self.by_session.insert(
            session.id.clone(),
            KeptBody {
                view: Arc::downgrade(view),
                last_seen_at: session.last_seen_at,
                body,
                stamp,
            },
        );
        while self.bytes > BODY_BUDGET {
            let Some((id, stamp)) = self.order.pop_front() else {
                break;
            };
            if self.by_session.get(&id).is_some_and(|b| b.stamp == stamp) {
                self.remove(&id);
            }
        }
        // Replaced bodies leave stale entries behind: keep them from outnumbering the live.
        if self.order.len() > 2 * self.by_session.len() + 1024 {
            let live = &self.by_session;
            self.order
                .retain(|(id, stamp)| live.get(id).is_some_and(|b| b.stamp == *stamp));
        }
    }

    fn remove(&mut self, session_id: &str) {
        if let Some(old) = self.by_session.remove(session_id) {
            self.bytes -= cost(session_id, &old.body);
        }
    }

    fn clear(&mut self) {
        *self = Bodies {
            next_stamp: self.next_stamp,
            ..Bodies::default()
        };
    }
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
        drop(s);
        self.bodies
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(session_id);
    }

    /// The body kept for `session` by [`AuthCache::put_body`], if it was made from this very
    /// view and the session's last activity has not moved since.
    pub fn body(&self, session: &Session, view: &Arc<MemberView>) -> Option<Bytes> {
        let b = self.bodies.read().unwrap_or_else(|e| e.into_inner());
        b.get(session, view)
    }

    /// Keeps a body serialized from `view` and `session`, replacing the session's earlier one.
    /// It goes when the session ends, or when newer bodies need the room.
    pub fn put_body(&self, session: &Session, view: &Arc<MemberView>, body: Bytes) {
        let mut b = self.bodies.write().unwrap_or_else(|e| e.into_inner());
        b.put(session, view, body);
    }

    /// Bytes the kept bodies take, and how many there are.
    pub fn body_usage(&self) -> (usize, usize) {
        let b = self.bodies.read().unwrap_or_else(|e| e.into_inner());
        (b.bytes, b.by_session.len())
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

    /// Keeps a person's view; returns the shared copy, which later hits hand out too (so a
    /// body made from it is recognised as current).
    pub fn put_view(&self, view: MemberView, now: Millis) -> Arc<MemberView> {
        let view = Arc::new(view);
        let mut v = self.views.write().unwrap_or_else(|e| e.into_inner());
        if v.len() >= MAX_ENTRIES {
            v.clear();
        }
        v.insert(view.member.id.clone(), (now, view.clone()));
        view
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
        self.bodies
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

impl Service {
    /// A serialized answer kept for this session (the `GET /api/v1/me` body), while it would
    /// come out the same: made from the view [`Service::me`] still hands out (the same `Arc`
    /// until anything about the person changes) and the session's current last activity.
    pub fn kept_body(&self, session: &Session, view: &Arc<MemberView>) -> Option<Bytes> {
        self.cache.body(session, view)
    }

    /// Keeps a serialized answer for this session; see [`Service::kept_body`]. The bodies
    /// together stay under [`BODY_BUDGET`] bytes, and a session's goes when it ends.
    pub fn keep_body(&self, session: &Session, view: &Arc<MemberView>, body: Bytes) {
        self.cache.put_body(session, view, body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::member::{AgentStatus, MemberKind, Permissions};
    use crate::domain::session::EndReason;
    use crate::store::Member;

    fn session(id: &str, member_id: &str) -> Session {
        Session {
            id: id.to_string(),
            account_id: "ac_1".to_string(),
            member_id: member_id.to_string(),
            member_kind: MemberKind::Agent,
            started_at: 1_000,
            last_seen_at: 1_000,
            ip: crate::domain::ClientIp::from_recorded("192.0.2.1"),
            user_agent: "test".to_string(),
            device: "test".to_string(),
            ended_at: None,
            end_reason: None,
            ended_by: None,
            last_ip: crate::domain::ClientIp::from_recorded("192.0.2.1"),
            last_user_agent: "test".to_string(),
            ip_changed_at: None,
            device_changed_at: None,
            outside_office: false,
            auth_methods: crate::domain::signin::AuthMethods::password(),
            mfa_enrollment: false,
        }
    }

    fn view(member_id: &str) -> Arc<MemberView> {
        Arc::new(MemberView {
            member: Member {
                id: member_id.to_string(),
                account_id: "ac_1".to_string(),
                kind: MemberKind::Agent,
                name: "Ann".to_string(),
                email: "ann@acme.test".to_string(),
                primary: false,
                permissions: Permissions::new(Vec::new()),
                status: AgentStatus::Offline,
                status_choice: AgentStatus::Offline,
                disabled: false,
                invited: false,
                created_at: 1_000,
                linked: None,
                time_zone: None,
            },
            sessions: Vec::new(),
        })
    }

    #[test]
    fn an_ended_sessions_body_is_dropped() {
        let cache = AuthCache::default();
        let (s, v) = (session("se_1", "mb_1"), view("mb_1"));
        let other = session("se_2", "mb_1");
        cache.put_body(&s, &v, Bytes::from_static(b"{\"me\":1}"));
        cache.put_body(&other, &v, Bytes::from_static(b"{\"me\":2}"));
        assert_eq!(cache.body(&s, &v).as_deref(), Some(&b"{\"me\":1}"[..]));
        cache.apply(&Event::SessionEnded {
            account_id: "ac_1".to_string(),
            session_id: "se_1".to_string(),
            member_id: "mb_1".to_string(),
            member_kind: MemberKind::Agent,
            reason: EndReason::Logout,
        });
        assert_eq!(cache.body(&s, &v), None);
        assert_eq!(
            cache.body_usage().1,
            1,
            "only the ended session's body went"
        );
        assert!(cache.body(&other, &v).is_some());
    }

    #[test]
    fn a_body_is_only_served_for_the_view_and_activity_it_was_made_from() {
        let cache = AuthCache::default();
        let (mut s, v) = (session("se_1", "mb_1"), view("mb_1"));
        cache.put_body(&s, &v, Bytes::from_static(b"old"));
        assert_eq!(cache.body(&s, &view("mb_1")), None, "another view");
        s.last_seen_at += 60_000;
        assert_eq!(cache.body(&s, &v), None, "newer activity");
        // A replaced view does not stay alive because a body was made from it.
        let weak = Arc::downgrade(&v);
        drop(v);
        assert_eq!(weak.strong_count(), 0);
    }

    #[test]
    fn bodies_stay_within_the_byte_budget_oldest_out_first() {
        let cache = AuthCache::default();
        let v = view("mb_1");
        let body = Bytes::from(vec![b'x'; 400 * 1024]);
        let sessions: Vec<Session> = (0..600)
            .map(|i| session(&format!("se_{i:04}"), "mb_1"))
            .collect();
        for s in &sessions {
            cache.put_body(s, &v, body.clone());
            assert!(cache.body_usage().0 <= BODY_BUDGET);
        }
        let (bytes, kept) = cache.body_usage();
        assert!(
            bytes <= BODY_BUDGET && kept >= 70,
            "{bytes} bytes in {kept} bodies"
        );
        assert!(
            cache.body(&sessions[599], &v).is_some(),
            "the newest is kept"
        );
        assert_eq!(cache.body(&sessions[0], &v), None, "the oldest went first");
        // Replacing one session's body again and again does not grow anything.
        for _ in 0..10_000 {
            cache.put_body(&sessions[599], &v, Bytes::from_static(b"small"));
        }
        let b = cache.bodies.read().unwrap();
        assert!(b.order.len() <= 2 * b.by_session.len() + 1024);
        drop(b);
        // Too big to keep at all.
        cache.put_body(&sessions[1], &v, Bytes::from(vec![b'x'; MAX_BODY + 1]));
        assert_eq!(cache.body(&sessions[1], &v), None);
    }

    #[test]
    fn a_resync_drops_every_body() {
        let cache = AuthCache::default();
        let (s, v) = (session("se_1", "mb_1"), view("mb_1"));
        cache.put_body(&s, &v, Bytes::from_static(b"body"));
        cache.apply(&Event::Resync);
        assert_eq!(cache.body_usage(), (0, 0));
    }
}
