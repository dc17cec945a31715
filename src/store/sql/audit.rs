//! The audit log: single and batched inserts, counted repeats, and the filtered, paged list.

use async_trait::async_trait;

use crate::store::sql::{
    self, Dialect, Executor, Query, SqlStore, dynamic_as, dynamic_scalar, query,
};
use crate::store::{AuditEntry, AuditQuery, AuditStore, StoreError, StoreResult};

/// Inserts the audit rows of one JSON array of `[id, account_id, at, kind, actor, target, ip,
/// detail, count]` arrays, bound as `$1`.
pub(in crate::store) fn insert_audits_sql(dialect: Dialect) -> &'static str {
    if dialect == Dialect::Postgres {
        "INSERT INTO audit_log (id, account_id, at, kind, actor, target, ip, detail, count) \
         SELECT e->>0, e->>1, (e->>2)::bigint, e->>3, e->>4, e->>5, e->>6, e->>7, \
         (e->>8)::bigint FROM jsonb_array_elements($1::jsonb) AS e"
    } else {
        "INSERT INTO audit_log (id, account_id, at, kind, actor, target, ip, detail, count) \
         SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, \
         value->>7, value->>8 FROM json_each($1)"
    }
}

/// The rows of [`insert_audits_sql`] as its one JSON parameter.
pub(in crate::store) fn audits_json(entries: &[AuditEntry]) -> String {
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            serde_json::json!([
                e.id,
                e.account_id,
                e.at,
                e.kind,
                e.actor,
                e.target,
                e.ip.map(|ip| ip.to_string()),
                e.detail,
                e.count
            ])
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// Binds an entry's columns but its count, `$1` to `$8` in the order of [`insert_audits_sql`].
fn bind_entry(q: Query, e: &AuditEntry) -> Query {
    q.bind(&e.id)
        .bind(&e.account_id)
        .bind(e.at)
        .bind(&e.kind)
        .bind(&e.actor)
        .bind(&e.target)
        .bind(e.ip)
        .bind(&e.detail)
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn insert_audit(&self, e: &AuditEntry) -> StoreResult<()> {
        bind_entry(
            query(
                "INSERT INTO audit_log \
                 (id, account_id, at, kind, actor, target, ip, detail, count) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            ),
            e,
        )
        .bind(e.count)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn count_audit(&self, e: &AuditEntry) -> StoreResult<()> {
        // A row of that id in another account is not this one's to count.
        let r = bind_entry(
            query(
                "INSERT INTO audit_log \
                 (id, account_id, at, kind, actor, target, ip, detail, count) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1) \
                 ON CONFLICT (id) DO UPDATE SET count = audit_log.count + 1, \
                 at = excluded.at, detail = excluded.detail \
                 WHERE audit_log.account_id = excluded.account_id",
            ),
            e,
        )
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::Conflict { field: "id" });
        }
        Ok(())
    }

    async fn list_audit(
        &self,
        account_id: &str,
        q: &AuditQuery,
    ) -> StoreResult<(Vec<AuditEntry>, i64)> {
        let mut args = sql::Args::default();
        let mut wh = vec![format!("account_id = {}", args.text(account_id))];
        if !q.persons.is_empty() {
            let list = args.list(self.dialect(), &q.persons);
            wh.push(format!("(actor IN ({list}) OR target IN ({list}))"));
        }
        if let Some(a) = &q.actor {
            wh.push(format!("actor = {}", args.text(a.clone())));
        }
        if let Some(t) = &q.target {
            wh.push(format!("target = {}", args.text(t.clone())));
        }
        if let Some(k) = &q.kind {
            wh.push(format!("kind = {}", args.text(k.clone())));
        }
        if let Some(f) = q.from {
            wh.push(format!("at >= {}", args.int(f)));
        }
        if let Some(t) = q.to {
            wh.push(format!("at < {}", args.int(t)));
        }
        let wh = wh.join(" AND ");
        let count_sql = format!("SELECT COUNT(*) FROM audit_log WHERE {wh}");
        let total: i64 = dynamic_scalar(count_sql, &args)
            .fetch_one(&self.pool)
            .await?;
        let limit = args.int(q.limit);
        let offset = args.int(q.offset);
        let sql = format!(
            "SELECT * FROM audit_log WHERE {wh} ORDER BY at DESC, id DESC \
             LIMIT {limit} OFFSET {offset}"
        );
        let items = dynamic_as(sql, &args).fetch_all(&self.pool).await?;
        Ok((items, total))
    }
}

impl SqlStore {
    /// All rows as one JSON parameter: one statement text whatever the count (see
    /// `Args::list`), and every row or none.
    pub(in crate::store) async fn insert_audits_in(
        executor: impl Executor<'_>,
        entries: &[AuditEntry],
    ) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        query(sql::audit::insert_audits_sql(executor.dialect()))
            .bind(sql::audit::audits_json(entries))
            .execute(executor)
            .await?;
        Ok(())
    }
}
