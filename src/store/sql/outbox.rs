//! The webhook outbox: the delivery rows a change writes inside its own transaction
//! (`record_changes_in`, called by endings, sign-in, presence and people), so an event is
//! sent if and only if its change committed.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Args, Dialect, SqlStore, Tx, dynamic_as, query};
use crate::domain::member::MemberKind;
use crate::domain::session::EndReason;
use crate::domain::time::{Millis, rfc3339};
use crate::domain::webhook::{Audience, EventFilter, EventType, PersonData, body};
use crate::ids::new_id;
use crate::store::{Session, StoreResult};

/// One change to report, recorded by the store method that makes it, in its transaction.
#[derive(Debug, Clone)]
pub(in crate::store) struct Change {
    pub account_id: String,
    pub member_id: String,
    pub event: EventType,
    /// The session of `session.*` events.
    pub session_id: Option<String>,
}

impl Change {
    pub fn person(account_id: &str, member_id: &str, event: EventType) -> Self {
        Change {
            account_id: account_id.to_string(),
            member_id: member_id.to_string(),
            event,
            session_id: None,
        }
    }

    pub fn session(account_id: &str, member_id: &str, session_id: &str, ended: bool) -> Self {
        Change {
            account_id: account_id.to_string(),
            member_id: member_id.to_string(),
            event: if ended {
                EventType::SessionEnded
            } else {
                EventType::SessionStarted
            },
            session_id: Some(session_id.to_string()),
        }
    }
}

/// An enabled endpoint as the outbox needs it: which events, about whom.
pub(in crate::store) struct Endpoint {
    pub id: String,
    pub filter: EventFilter,
    pub audience: Audience,
}

/// A person as an event body shows them, with their presence.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct PersonRow {
    pub id: String,
    pub kind: String,
    pub email: String,
    pub name: String,
    pub status: String,
}

/// The API's Session shape.
fn session_json(s: &Session) -> Value {
    let mut v = json!({
        "id": s.id,
        "started_at": rfc3339(s.started_at),
        "last_seen_at": rfc3339(s.last_seen_at),
        "ip": s.ip.to_string(),
        "user_agent": s.user_agent,
        "device": s.device,
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(at) = s.ended_at {
            o.insert("ended_at".into(), json!(rfc3339(at)));
        }
        if let Some(r) = s.end_reason {
            o.insert("end_reason".into(), json!(r.as_str()));
        }
        if let Some(by) = &s.ended_by {
            o.insert("ended_by".into(), json!(by));
        }
    }
    v
}

/// The outbox rows of `changes` for the endpoints that want them, as one JSON parameter of
/// `[id, account_id, endpoint_id, member_id, event_type, body, at]` arrays, in the order of
/// the changes (which is the order a person's events are sent in).
pub(in crate::store) fn outbox_rows(
    changes: &[Change],
    endpoints: &HashMap<String, Vec<Endpoint>>,
    people: &HashMap<String, PersonRow>,
    sessions: &HashMap<String, Session>,
    at: Millis,
) -> Vec<Value> {
    let mut rows = Vec::new();
    for c in changes {
        let Some(eps) = endpoints.get(&c.account_id) else {
            continue;
        };
        let Some(p) = people.get(&c.member_id) else {
            continue;
        };
        let mut extra = json!({});
        if let Some(sid) = &c.session_id {
            let Some(s) = sessions.get(sid) else { continue };
            extra["session"] = session_json(s);
            if c.event == EventType::SessionEnded {
                extra["reason"] = json!(s.end_reason.unwrap_or(EndReason::Logout).as_str());
                extra["ended_by"] = json!(s.ended_by);
            }
        }
        if c.event == EventType::PresenceChanged {
            extra["status"] = json!(p.status);
        }
        let person = PersonData {
            id: &p.id,
            kind: &p.kind,
            email: &p.email,
            name: &p.name,
        };
        let text = body(c.event, at, &person, extra);
        let Ok(kind) = p.kind.parse::<MemberKind>() else {
            continue;
        };
        for e in eps {
            if e.filter.matches(c.event) && e.audience.includes(&p.id, kind) {
                rows.push(json!([
                    new_id("msg"),
                    c.account_id,
                    e.id,
                    c.member_id,
                    c.event.as_str(),
                    text,
                    at
                ]));
            }
        }
    }
    rows
}

/// Inserts the rows of [`outbox_rows`], bound as `$1`, in their order.
pub(in crate::store) fn insert_outbox_sql(dialect: Dialect) -> &'static str {
    if dialect == Dialect::Postgres {
        "INSERT INTO webhook_deliveries (id, account_id, endpoint_id, member_id, event_type, \
         body, status, attempts, next_attempt_at, created_at) \
         SELECT e->>0, e->>1, e->>2, e->>3, e->>4, e->>5, 'pending', 0, (e->>6)::bigint, \
         (e->>6)::bigint FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, n) \
         ORDER BY n"
    } else {
        "INSERT INTO webhook_deliveries (id, account_id, endpoint_id, member_id, event_type, \
         body, status, attempts, next_attempt_at, created_at) \
         SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, 'pending', 0, \
         value->>6, value->>6 FROM json_each($1) ORDER BY key"
    }
}

impl SqlStore {
    /// Writes the outbox rows of `changes` on `conn`, inside the caller's transaction,
    /// for every enabled endpoint of their accounts that wants them. Costs one indexed
    /// read when the account has no endpoint.
    pub(super) async fn record_changes_in(
        conn: &mut Tx,
        at: Millis,
        changes: &[Change],
    ) -> StoreResult<()> {
        use std::collections::HashMap;
        if changes.is_empty() {
            return Ok(());
        }
        let mut accounts: Vec<String> = changes.iter().map(|c| c.account_id.clone()).collect();
        accounts.sort();
        accounts.dedup();
        let mut args = Args::default();
        // With each endpoint, its creator as the permission rules see them.
        let sql = format!(
            "SELECT e.account_id, e.id, e.events, c.id, c.kind, c.is_primary, \
             c.permissions, c.disabled FROM webhook_endpoints e \
             LEFT JOIN members c ON c.id = e.created_by \
             WHERE e.disabled_reason IS NULL AND e.account_id IN ({}) \
             ORDER BY e.created_at, e.id",
            args.list(conn.dialect(), &accounts)
        );
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<bool>,
            Option<String>,
            Option<bool>,
        )> = dynamic_as(sql, &args).fetch_all(&mut *conn).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut endpoints: HashMap<String, Vec<Endpoint>> = HashMap::new();
        for (account, id, events, c_id, c_kind, c_primary, c_perms, c_disabled) in rows {
            let creator = match (&c_id, &c_kind) {
                (Some(cid), Some(kind)) => Some((
                    cid.as_str(),
                    kind.as_str(),
                    c_primary.unwrap_or(false),
                    c_perms.as_deref().unwrap_or(""),
                    c_disabled.unwrap_or(false),
                )),
                _ => None,
            };
            let audience = crate::domain::webhook::Audience::of_creator(&account, creator);
            endpoints.entry(account).or_default().push(Endpoint {
                id,
                filter: crate::domain::webhook::EventFilter::from_db(&events),
                audience,
            });
        }
        let wanted: Vec<&Change> = changes
            .iter()
            .filter(|c| {
                endpoints
                    .get(&c.account_id)
                    .is_some_and(|eps| eps.iter().any(|e| e.filter.matches(c.event)))
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let mut member_ids: Vec<String> = wanted.iter().map(|c| c.member_id.clone()).collect();
        member_ids.sort();
        member_ids.dedup();
        // PostgreSQL numbers the rows (`seq`) at insert, not at commit: two transactions
        // writing events of one person (two of their sessions ending at once, a
        // sign-in beside an ending) could commit in the other order, and a claim in
        // between would send the later event first. Holding the person's row until
        // commit makes such transactions take their numbers one after the other
        // (ordered by id, so transactions about several people cannot deadlock here).
        // FOR NO KEY UPDATE, not FOR UPDATE: the session or outbox row this
        // transaction inserted share-locks the person's row through its foreign key,
        // and so did a concurrent one's; FOR UPDATE would wait for that share lock
        // while the other waited for ours (two sign-ins of one person deadlocked).
        // SQLite has one writer at a time: its order is the commit order already.
        let lock = if conn.dialect() == Dialect::Postgres {
            " ORDER BY id FOR NO KEY UPDATE"
        } else {
            ""
        };
        let mut args = Args::default();
        let sql = format!(
            "SELECT id, kind, email, name, status FROM members WHERE id IN ({}){lock}",
            args.list(conn.dialect(), &member_ids)
        );
        let people: HashMap<String, PersonRow> = dynamic_as::<PersonRow>(sql, &args)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let session_ids: Vec<String> = wanted.iter().filter_map(|c| c.session_id.clone()).collect();
        let mut sessions: HashMap<String, Session> = HashMap::new();
        if !session_ids.is_empty() {
            let mut args = Args::default();
            let sql = format!(
                "SELECT {} FROM sessions s WHERE s.id IN ({})",
                super::SESSION_COLUMNS,
                args.list(conn.dialect(), &session_ids)
            );
            for s in dynamic_as::<Session>(sql, &args)
                .fetch_all(&mut *conn)
                .await?
            {
                sessions.insert(s.id.clone(), s);
            }
        }
        let wanted: Vec<Change> = wanted.into_iter().cloned().collect();
        let rows = outbox_rows(&wanted, &endpoints, &people, &sessions, at);
        if rows.is_empty() {
            return Ok(());
        }
        query(insert_outbox_sql(conn.dialect()))
            .bind(serde_json::Value::Array(rows).to_string())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
