//! Webhooks: endpoints, the delivery outbox written inside the transaction of each change it
//! reports (`record_changes_in`, called by endings, sign-in, presence and people), claiming
//! with a lease, and attempt results.

use async_trait::async_trait;

use super::*;
use crate::store::*;

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::domain::member::MemberKind;
use crate::domain::session::EndReason;
use crate::domain::time::{Millis, rfc3339};
use crate::domain::webhook::{Audience, EventFilter, EventType, PersonData, body};
use crate::ids::new_id;
use crate::store::Session;

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
        "ip": s.ip,
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

pub(in crate::store) const DELIVERY_COLUMNS: &str = "id, account_id, endpoint_id, member_id, \
     event_type, body, status, attempts, next_attempt_at, last_status_code, last_error, \
     created_at, delivered_at";

/// The claim: due, unclaimed (or lease run out), endpoint enabled, and no earlier pending
/// event of the same person for the same endpoint; the accounts in turn (`r`, each account's
/// first candidate, then its second, ...) and none past `$4` in flight (`busy`: claims not yet
/// recorded, by any instance). PostgreSQL locks at the outer level, where the window function
/// is not, skips rows another instance is claiming and checks the claim again on the row it
/// locked; SQLite's write lock makes the one statement atomic.
pub(in crate::store) fn claim_sql(dialect: Dialect) -> String {
    let lock = if dialect == Dialect::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    format!(
        "UPDATE webhook_deliveries SET claimed_until = $1 WHERE seq IN ( \
         SELECT x.seq FROM webhook_deliveries x WHERE x.status = 'pending' \
         AND x.claimed_until <= $2 AND x.seq IN ( \
         SELECT c.seq FROM ( \
         SELECT d.seq, d.account_id, \
         ROW_NUMBER() OVER (PARTITION BY d.account_id ORDER BY d.seq) AS r \
         FROM webhook_deliveries d \
         JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         WHERE d.status = 'pending' AND d.next_attempt_at <= $2 AND d.claimed_until <= $2 \
         AND e.disabled_reason IS NULL \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id \
         AND p.member_id = d.member_id AND p.status = 'pending' AND p.seq < d.seq)) c \
         LEFT JOIN (SELECT account_id, COUNT(*) AS n FROM webhook_deliveries \
         WHERE status = 'pending' AND claimed_until > $2 GROUP BY account_id) busy \
         ON busy.account_id = c.account_id \
         WHERE c.r + COALESCE(busy.n, 0) <= $4 \
         ORDER BY c.r, c.seq LIMIT $3){lock}) RETURNING {DELIVERY_COLUMNS}"
    )
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn insert_webhook(&self, e: &WebhookEndpoint) -> StoreResult<()> {
        query(
            "INSERT INTO webhook_endpoints (id, account_id, url, events, secret, \
             disabled_reason, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&e.id)
        .bind(&e.account_id)
        .bind(&e.url)
        .bind(&e.events)
        .bind(&e.secret)
        .bind(&e.disabled_reason)
        .bind(e.created_at)
        .bind(&e.created_by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn webhooks(&self, account_id: &str) -> StoreResult<Vec<WebhookEndpoint>> {
        Ok(query_as(
            "SELECT id, account_id, url, events, secret, disabled_reason, created_at, \
             created_by FROM webhook_endpoints WHERE account_id = $1 ORDER BY created_at, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn webhook(&self, account_id: &str, id: &str) -> StoreResult<WebhookEndpoint> {
        Ok(query_as(
            "SELECT id, account_id, url, events, secret, disabled_reason, created_at, \
             created_by FROM webhook_endpoints WHERE account_id = $1 AND id = $2",
        )
        .bind(account_id)
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn delete_webhook(&self, account_id: &str, id: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        // Deleted explicitly as well: SQLite enforces ON DELETE CASCADE only with
        // foreign keys on, which a copied database may not have.
        query("DELETE FROM webhook_deliveries WHERE account_id = $1 AND endpoint_id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let r = query("DELETE FROM webhook_endpoints WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn webhook_deliveries(
        &self,
        account_id: &str,
        endpoint_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let sql = format!(
            "SELECT {} FROM webhook_deliveries WHERE account_id = $1 AND endpoint_id = $2 \
             ORDER BY seq DESC LIMIT $3",
            sql::webhooks::DELIVERY_COLUMNS
        );
        Ok(query_as(sql)
            .bind(account_id)
            .bind(endpoint_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn retry_delivery(
        &self,
        account_id: &str,
        endpoint_id: &str,
        delivery_id: &str,
        now: Millis,
    ) -> StoreResult<WebhookDelivery> {
        let sql = format!(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, \
             next_attempt_at = $1, claimed_until = 0, delivered_at = NULL \
             WHERE account_id = $2 AND endpoint_id = $3 AND id = $4 \
             AND EXISTS (SELECT 1 FROM webhook_endpoints e \
             WHERE e.id = $3 AND e.disabled_reason IS NULL) RETURNING {}",
            sql::webhooks::DELIVERY_COLUMNS
        );
        Ok(query_as(sql)
            .bind(now)
            .bind(account_id)
            .bind(endpoint_id)
            .bind(delivery_id)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn claim_deliveries_fairly(
        &self,
        now: Millis,
        lease_until: Millis,
        limit: i64,
        per_account: i64,
    ) -> StoreResult<Vec<DeliveryJob>> {
        // A read first: the worker asks several times a second, and on SQLite an
        // UPDATE takes the write lock even when it changes nothing.
        let due: Option<i64> = query_scalar(
            "SELECT seq FROM webhook_deliveries WHERE status = 'pending' \
             AND next_attempt_at <= $1 AND claimed_until <= $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        // One statement leases every row it returns; in a write transaction so that
        // on SQLite it takes its turn at the write gate like every other writer.
        let mut tx = self.begin_write().await?;
        let claimed: Vec<WebhookDelivery> = query_as(sql::webhooks::claim_sql(self.dialect()))
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .bind(per_account)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<String> = claimed.iter().map(|d| d.endpoint_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let mut args = sql::Args::default();
        let sql = format!(
            "SELECT id, url, secret FROM webhook_endpoints WHERE id IN ({})",
            args.list(self.dialect(), &ids)
        );
        let targets: std::collections::HashMap<String, (String, String)> =
            dynamic_as::<(String, String, String)>(sql, &args)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|(id, url, secret)| (id, (url, secret)))
                .collect();
        let mut jobs: Vec<DeliveryJob> = claimed
            .into_iter()
            .filter_map(|d| {
                let (url, secret) = targets.get(&d.endpoint_id)?.clone();
                Some(DeliveryJob {
                    delivery: d,
                    url,
                    secret,
                })
            })
            .collect();
        jobs.sort_by(|a, b| {
            (a.delivery.created_at, &a.delivery.id).cmp(&(b.delivery.created_at, &b.delivery.id))
        });
        Ok(jobs)
    }

    async fn finish_deliveries(&self, results: &[(String, AttemptResult)]) -> StoreResult<()> {
        if results.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (delivery_id, r) in results {
            let endpoint: Option<String> = query_scalar(
                "UPDATE webhook_deliveries SET status = $1, attempts = $2, \
                 next_attempt_at = $3, last_status_code = $4, last_error = $5, \
                 delivered_at = $6, claimed_until = 0 WHERE id = $7 RETURNING endpoint_id",
            )
            .bind(&r.status)
            .bind(r.attempts)
            .bind(r.next_attempt_at)
            .bind(r.last_status_code)
            .bind(&r.last_error)
            .bind(r.delivered_at)
            .bind(delivery_id)
            .fetch_optional(&mut *tx)
            .await?;
            if r.disable_endpoint
                && let Some(endpoint) = endpoint
            {
                query("UPDATE webhook_endpoints SET disabled_reason = 'gone' WHERE id = $1")
                    .bind(&endpoint)
                    .execute(&mut *tx)
                    .await?;
                // Nothing more goes to it: what was waiting fails now rather than sit
                // in the queue.
                query(
                    "UPDATE webhook_deliveries SET status = 'failed', claimed_until = 0, \
                     last_error = 'not sent: the endpoint is off (410 Gone)' \
                     WHERE endpoint_id = $1 AND status = 'pending'",
                )
                .bind(&endpoint)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn pending_deliveries(&self) -> StoreResult<i64> {
        Ok(
            query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

impl SqlStore {
    /// Writes the outbox rows of `changes` on `conn`, inside the caller's transaction,
    /// for every enabled endpoint of their accounts that wants them. Costs one indexed
    /// read when the account has no endpoint.
    pub(super) async fn record_changes_in(
        conn: &mut Tx,
        at: Millis,
        changes: &[sql::webhooks::Change],
    ) -> StoreResult<()> {
        use std::collections::HashMap;
        if changes.is_empty() {
            return Ok(());
        }
        let mut accounts: Vec<String> = changes.iter().map(|c| c.account_id.clone()).collect();
        accounts.sort();
        accounts.dedup();
        let mut args = sql::Args::default();
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
        let mut endpoints: HashMap<String, Vec<sql::webhooks::Endpoint>> = HashMap::new();
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
            endpoints
                .entry(account)
                .or_default()
                .push(sql::webhooks::Endpoint {
                    id,
                    filter: crate::domain::webhook::EventFilter::from_db(&events),
                    audience,
                });
        }
        let wanted: Vec<&sql::webhooks::Change> = changes
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
        let mut args = sql::Args::default();
        let sql = format!(
            "SELECT id, kind, email, name, status FROM members WHERE id IN ({}){lock}",
            args.list(conn.dialect(), &member_ids)
        );
        let people: HashMap<String, sql::webhooks::PersonRow> =
            dynamic_as::<sql::webhooks::PersonRow>(sql, &args)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|p| (p.id.clone(), p))
                .collect();
        let session_ids: Vec<String> = wanted.iter().filter_map(|c| c.session_id.clone()).collect();
        let mut sessions: HashMap<String, Session> = HashMap::new();
        if !session_ids.is_empty() {
            let mut args = sql::Args::default();
            let sql = format!(
                "SELECT {} FROM sessions s WHERE s.id IN ({})",
                sql::SESSION_COLUMNS,
                args.list(conn.dialect(), &session_ids)
            );
            for s in dynamic_as::<Session>(sql, &args)
                .fetch_all(&mut *conn)
                .await?
            {
                sessions.insert(s.id.clone(), s);
            }
        }
        let wanted: Vec<sql::webhooks::Change> = wanted.into_iter().cloned().collect();
        let rows = sql::webhooks::outbox_rows(&wanted, &endpoints, &people, &sessions, at);
        if rows.is_empty() {
            return Ok(());
        }
        query(sql::webhooks::insert_outbox_sql(conn.dialect()))
            .bind(serde_json::Value::Array(rows).to_string())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
