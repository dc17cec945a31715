//! The SQL both backends share. SQLite and PostgreSQL accept the same `$n` placeholders and
//! the same statements here, so one macro body implements the trait for each pool type;
//! backend differences (connection setup, migrations) live in `sqlite.rs` and `postgres.rs`.

use crate::domain::member::{AgentStatus, MemberKind, Permissions};
use crate::domain::session::EndReason;

use super::{LinkedRef, StoreError};

/// A bind value for dynamically built statements.
pub(super) enum Arg {
    Int(i64),
    Text(String),
}

/// Builds `$n` placeholders while collecting their values in order.
#[derive(Default)]
pub(super) struct Args(pub Vec<Arg>);

impl Args {
    pub fn int(&mut self, v: i64) -> String {
        self.0.push(Arg::Int(v));
        format!("${}", self.0.len())
    }

    pub fn text(&mut self, v: impl Into<String>) -> String {
        self.0.push(Arg::Text(v.into()));
        format!("${}", self.0.len())
    }

    /// A list for `x IN (…)`, bound as one JSON array that the database unpacks. One value
    /// and one statement text whatever the length: SQLite's cost per `$n` placeholder grows
    /// with their number, and 1,000 ids made a bulk ending spend a third of its time there.
    pub fn list(&mut self, backend: &str, values: &[String]) -> String {
        let json = serde_json::to_string(values).unwrap_or_else(|_| "[]".to_string());
        let p = self.text(json);
        if backend == "postgres" {
            format!("SELECT jsonb_array_elements_text({p}::jsonb) AS v")
        } else {
            format!("SELECT value AS v FROM json_each({p})")
        }
    }
}

pub(super) const MEMBER_COLUMNS: &str = "m.id, m.account_id, m.kind, m.name, m.email, \
     m.is_primary, m.permissions, m.status, m.status_choice, m.disabled, m.created_at, \
     l.id AS linked_id, l.name AS linked_name";

/// Joins each person to the other-kind person with the same normalized e-mail: the linked
/// account is derived on every read, never stored. The other kind is spelled as an equality so
/// the join is one seek in the unique (account, kind, e-mail) index, not a scan of the account.
pub(super) const MEMBER_FROM: &str = "members m LEFT JOIN members l \
     ON l.account_id = m.account_id \
     AND l.kind = (CASE m.kind WHEN 'agent' THEN 'admin' ELSE 'agent' END) \
     AND l.email_norm = m.email_norm";

/// Inserts the audit rows of one JSON array of `[id, account_id, at, kind, actor, target, ip,
/// detail]` arrays, bound as `$1`.
pub(super) fn insert_audits_sql(backend: &str) -> &'static str {
    if backend == "postgres" {
        "INSERT INTO audit_log (id, account_id, at, kind, actor, target, ip, detail) \
         SELECT e->>0, e->>1, (e->>2)::bigint, e->>3, e->>4, e->>5, e->>6, e->>7 \
         FROM jsonb_array_elements($1::jsonb) AS e"
    } else {
        "INSERT INTO audit_log (id, account_id, at, kind, actor, target, ip, detail) \
         SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, \
         value->>7 FROM json_each($1)"
    }
}

pub(super) const SESSION_COLUMNS: &str = "s.id, s.account_id, s.member_id, s.member_kind, \
     s.started_at, s.last_seen_at, s.ip, s.user_agent, s.device, s.ended_at, s.end_reason, \
     s.ended_by";

pub(super) fn kind(text: &str) -> Result<MemberKind, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Other(format!("bad member kind in database: {text}")))
}

pub(super) fn status(text: &str) -> AgentStatus {
    text.parse().unwrap_or(AgentStatus::Offline)
}

pub(super) fn reason(text: Option<String>) -> Option<EndReason> {
    text.and_then(|t| t.parse().ok())
}

pub(super) fn linked(
    kind_of_member: MemberKind,
    id: Option<String>,
    name: Option<String>,
) -> Option<LinkedRef> {
    id.map(|id| LinkedRef {
        kind: kind_of_member.other(),
        id,
        name: name.unwrap_or_default(),
    })
}

pub(super) fn permissions(text: &str) -> Permissions {
    Permissions::from_db(text)
}

/// Maps a driver error to the store's: unique violations name the colliding field,
/// connection trouble is `Unavailable` so the web layer answers 503.
pub(super) fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let text = format!("{} {}", db.message(), db.constraint().unwrap_or_default());
            let field = if text.contains("email") {
                "email"
            } else if text.contains("slug") {
                "slug"
            } else if text.contains("primary") || text.contains("members.account_id") {
                // PostgreSQL names the index (members_one_primary); SQLite names its column.
                "primary"
            } else {
                "id"
            };
            StoreError::Conflict { field }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
        other => StoreError::Other(other.to_string()),
    }
}

/// Orders names by bytes on both databases (SQLite's default), whatever collation the
/// PostgreSQL database was created with, so both list people in the same order.
pub(super) fn byte_order(backend: &str) -> &'static str {
    if backend == "postgres" {
        " COLLATE \"C\""
    } else {
        ""
    }
}

/// Escapes LIKE wildcards so a search for "50%" means the characters, not a pattern.
pub(super) fn like_pattern(search: &str) -> String {
    let mut out = String::with_capacity(search.len() + 2);
    out.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Implements `Store` for a struct with a `pool: sqlx::Pool<$db>` field.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty, $backend:literal) => {
        impl $store {
            /// Marks expired the live sessions matching `rule`, a condition on `$2` (the
            /// cutoff) and, with an account, `$3`.
            async fn expire_where(
                &self,
                rule: &str,
                now: Millis,
                cutoff: Millis,
                account_id: Option<&str>,
            ) -> StoreResult<Vec<EndedSession>> {
                let sql = format!(
                    "UPDATE sessions SET ended_at = $1, end_reason = 'expired' \
                     WHERE ended_at IS NULL AND {rule} \
                     RETURNING id, account_id, member_id, member_kind"
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(cutoff);
                if let Some(id) = account_id {
                    q = q.bind(id.to_string());
                }
                q.fetch_all(&self.pool)
                    .await
                    .map_err(sql::map_err)?
                    .iter()
                    .map(|r| Self::ended_from_row(r, EndReason::Expired))
                    .collect()
            }

            fn member_from_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<Member> {
                use sqlx::Row;
                let g = |e: sqlx::Error| StoreError::Other(e.to_string());
                let kind = sql::kind(row.try_get::<&str, _>("kind").map_err(g)?)?;
                Ok(Member {
                    id: row.try_get("id").map_err(g)?,
                    account_id: row.try_get("account_id").map_err(g)?,
                    kind,
                    name: row.try_get("name").map_err(g)?,
                    email: row.try_get("email").map_err(g)?,
                    primary: row.try_get("is_primary").map_err(g)?,
                    permissions: sql::permissions(row.try_get::<&str, _>("permissions").map_err(g)?),
                    status: sql::status(row.try_get::<&str, _>("status").map_err(g)?),
                    status_choice: sql::status(row.try_get::<&str, _>("status_choice").map_err(g)?),
                    disabled: row.try_get("disabled").map_err(g)?,
                    created_at: row.try_get("created_at").map_err(g)?,
                    linked: sql::linked(
                        kind,
                        row.try_get("linked_id").map_err(g)?,
                        row.try_get("linked_name").map_err(g)?,
                    ),
                })
            }

            fn session_from_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<Session> {
                use sqlx::Row;
                let g = |e: sqlx::Error| StoreError::Other(e.to_string());
                Ok(Session {
                    id: row.try_get("id").map_err(g)?,
                    account_id: row.try_get("account_id").map_err(g)?,
                    member_id: row.try_get("member_id").map_err(g)?,
                    member_kind: sql::kind(row.try_get::<&str, _>("member_kind").map_err(g)?)?,
                    started_at: row.try_get("started_at").map_err(g)?,
                    last_seen_at: row.try_get("last_seen_at").map_err(g)?,
                    ip: row.try_get("ip").map_err(g)?,
                    user_agent: row.try_get("user_agent").map_err(g)?,
                    device: row.try_get("device").map_err(g)?,
                    ended_at: row.try_get("ended_at").map_err(g)?,
                    end_reason: sql::reason(row.try_get("end_reason").map_err(g)?),
                    ended_by: row.try_get("ended_by").map_err(g)?,
                })
            }

            fn ended_from_row(
                row: &<$db as sqlx::Database>::Row,
                reason: EndReason,
            ) -> StoreResult<EndedSession> {
                use sqlx::Row;
                let g = |e: sqlx::Error| StoreError::Other(e.to_string());
                Ok(EndedSession {
                    id: row.try_get("id").map_err(g)?,
                    account_id: row.try_get("account_id").map_err(g)?,
                    member_id: row.try_get("member_id").map_err(g)?,
                    member_kind: sql::kind(row.try_get::<&str, _>("member_kind").map_err(g)?)?,
                    reason,
                })
            }

            fn account_from_row(row: &<$db as sqlx::Database>::Row) -> StoreResult<Account> {
                use sqlx::Row;
                let g = |e: sqlx::Error| StoreError::Other(e.to_string());
                Ok(Account {
                    id: row.try_get("id").map_err(g)?,
                    slug: row.try_get("slug").map_err(g)?,
                    name: row.try_get("name").map_err(g)?,
                    agent_idle_timeout_minutes: row
                        .try_get("agent_idle_timeout_minutes")
                        .map_err(g)?,
                    max_session_lifetime_minutes: row
                        .try_get("max_session_lifetime_minutes")
                        .map_err(g)?,
                    created_at: row.try_get("created_at").map_err(g)?,
                })
            }

            fn bind_all<'q>(
                mut q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
                args: &'q sql::Args,
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
                for a in &args.0 {
                    q = match a {
                        sql::Arg::Int(v) => q.bind(*v),
                        sql::Arg::Text(v) => q.bind(v.as_str()),
                    };
                }
                q
            }

            /// Starts a transaction that reads, then writes. SQLite takes the write lock up
            /// front (`BEGIN IMMEDIATE`) so the transaction waits its turn (busy timeout)
            /// instead of failing with "database is locked" when another connection writes
            /// between its read and its write.
            async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, $db>> {
                let begin = if $backend == "sqlite" { "BEGIN IMMEDIATE" } else { "BEGIN" };
                self.pool.begin_with(begin).await.map_err(sql::map_err)
            }

            async fn insert_member_in<'e, E>(executor: E, m: &NewMember) -> StoreResult<()>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                sqlx::query(
                    "INSERT INTO members (id, account_id, kind, name, name_norm, email, email_norm, \
                     password_hash, is_primary, permissions, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&m.id)
                .bind(&m.account_id)
                .bind(m.kind.as_str())
                .bind(&m.name)
                .bind(m.name.to_lowercase())
                .bind(&m.email)
                .bind(&m.email_norm)
                .bind(&m.password_hash)
                .bind(m.primary)
                .bind(m.permissions.to_db())
                .bind(m.created_at)
                .execute(executor)
                .await
                .map_err(sql::map_err)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn checkpoint(&self) -> StoreResult<()> {
                if $backend == "sqlite" {
                    // PASSIVE: copies what no reader still needs, never waits for anyone.
                    sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                        .execute(&self.pool)
                        .await
                        .map_err(sql::map_err)?;
                }
                Ok(())
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                Ok(())
            }

            async fn account_count(&self) -> StoreResult<i64> {
                use sqlx::Row;
                let row = sqlx::query("SELECT COUNT(*) AS n FROM accounts")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                row.try_get("n").map_err(sql::map_err)
            }

            async fn create_account(
                &self,
                account: &NewAccount,
                primary: &NewMember,
                only_if_empty: bool,
            ) -> StoreResult<Account> {
                use sqlx::Row;
                let mut tx = self.begin_write().await?;
                if only_if_empty {
                    if $backend == "postgres" {
                        // Concurrent first-run setups queue here; each then counts what the
                        // earlier ones committed (reads are not blocked).
                        sqlx::query("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
                            .execute(&mut *tx)
                            .await
                            .map_err(sql::map_err)?;
                    }
                    let row = sqlx::query("SELECT COUNT(*) AS n FROM accounts")
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(sql::map_err)?;
                    let n: i64 = row.try_get("n").map_err(sql::map_err)?;
                    if n > 0 {
                        return Err(StoreError::Conflict { field: "account" });
                    }
                }
                sqlx::query(
                    "INSERT INTO accounts (id, slug, name, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&account.id)
                .bind(&account.slug)
                .bind(&account.name)
                .bind(account.created_at)
                .execute(&mut *tx)
                .await
                .map_err(sql::map_err)?;
                Self::insert_member_in(&mut *tx, primary).await?;
                tx.commit().await.map_err(sql::map_err)?;
                self.account(&account.id).await
            }

            async fn account(&self, id: &str) -> StoreResult<Account> {
                let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                Self::account_from_row(&row)
            }

            async fn account_by_slug(&self, slug: &str) -> StoreResult<Account> {
                let row = sqlx::query("SELECT * FROM accounts WHERE slug = $1")
                    .bind(slug)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                Self::account_from_row(&row)
            }

            async fn first_account(&self) -> StoreResult<Account> {
                let row = sqlx::query("SELECT * FROM accounts ORDER BY created_at, id LIMIT 1")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                Self::account_from_row(&row)
            }

            async fn set_agent_idle_timeout(
                &self,
                account_id: &str,
                minutes: i64,
            ) -> StoreResult<()> {
                let r = sqlx::query(
                    "UPDATE accounts SET agent_idle_timeout_minutes = $1 WHERE id = $2",
                )
                .bind(minutes)
                .bind(account_id)
                .execute(&self.pool)
                .await
                .map_err(sql::map_err)?;
                if r.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn set_max_session_lifetime(
                &self,
                account_id: &str,
                minutes: Option<i64>,
            ) -> StoreResult<()> {
                let r = sqlx::query(
                    "UPDATE accounts SET max_session_lifetime_minutes = $1 WHERE id = $2",
                )
                .bind(minutes)
                .bind(account_id)
                .execute(&self.pool)
                .await
                .map_err(sql::map_err)?;
                if r.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn insert_member(&self, m: &NewMember) -> StoreResult<Member> {
                Self::insert_member_in(&self.pool, m).await?;
                self.member(&m.account_id, &m.id).await
            }

            async fn member(&self, account_id: &str, id: &str) -> StoreResult<Member> {
                let sql = format!(
                    "SELECT {} FROM {} WHERE m.account_id = $1 AND m.id = $2",
                    sql::MEMBER_COLUMNS,
                    sql::MEMBER_FROM
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(account_id)
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                Self::member_from_row(&row)
            }

            async fn credentials_by_email(
                &self,
                account_id: &str,
                email_norm: &str,
            ) -> StoreResult<Vec<Credentials>> {
                use sqlx::Row;
                let sql = format!(
                    "SELECT {}, m.password_hash FROM {} \
                     WHERE m.account_id = $1 AND m.email_norm = $2 ORDER BY m.kind",
                    sql::MEMBER_COLUMNS,
                    sql::MEMBER_FROM
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(account_id)
                    .bind(email_norm)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                rows.iter()
                    .map(|r| {
                        Ok(Credentials {
                            member: Self::member_from_row(r)?,
                            password_hash: r.try_get("password_hash").map_err(sql::map_err)?,
                        })
                    })
                    .collect()
            }

            async fn password_hash(&self, account_id: &str, id: &str) -> StoreResult<String> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT password_hash FROM members WHERE account_id = $1 AND id = $2",
                )
                .bind(account_id)
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .map_err(sql::map_err)?;
                row.try_get("password_hash").map_err(sql::map_err)
            }

            async fn signin_failures(
                &self,
                key: &str,
                since: Millis,
            ) -> StoreResult<FailureWindow> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n, MIN(at) AS oldest, MAX(at) AS newest \
                     FROM signin_failures WHERE key = $1 AND at > $2",
                )
                .bind(key)
                .bind(since)
                .fetch_one(&self.pool)
                .await
                .map_err(sql::map_err)?;
                let n: i64 = row.try_get("n").map_err(sql::map_err)?;
                Ok(FailureWindow {
                    count: usize::try_from(n).unwrap_or(0),
                    oldest: row.try_get("oldest").map_err(sql::map_err)?,
                    newest: row.try_get("newest").map_err(sql::map_err)?,
                })
            }

            async fn record_signin_failure(&self, keys: &[String], at: Millis) -> StoreResult<()> {
                if keys.is_empty() {
                    return Ok(());
                }
                let mut args = sql::Args::default();
                let sql = format!(
                    "INSERT INTO signin_failures (key, at) SELECT ks.v, {} FROM ({}) AS ks",
                    args.int(at),
                    args.list($backend, keys)
                );
                Self::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
                    .execute(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                Ok(())
            }

            async fn clear_signin_failures(&self, key: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM signin_failures WHERE key = $1")
                    .bind(key)
                    .execute(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                Ok(())
            }

            async fn prune_signin_failures(&self, before: Millis) -> StoreResult<u64> {
                let r = sqlx::query("DELETE FROM signin_failures WHERE at <= $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                Ok(r.rows_affected())
            }

            async fn has_session_from_ip(
                &self,
                account_id: &str,
                email_norm: &str,
                ip: &str,
            ) -> StoreResult<bool> {
                let row = sqlx::query(
                    "SELECT 1 AS one FROM sessions s JOIN members m ON m.id = s.member_id \
                     WHERE m.account_id = $1 AND m.email_norm = $2 AND s.ip = $3 LIMIT 1",
                )
                .bind(account_id)
                .bind(email_norm)
                .bind(ip)
                .fetch_optional(&self.pool)
                .await
                .map_err(sql::map_err)?;
                Ok(row.is_some())
            }

            async fn list_members(
                &self,
                account_id: &str,
                q: &MemberQuery,
            ) -> StoreResult<(Vec<Member>, i64)> {
                use sqlx::Row;
                let mut args = sql::Args::default();
                let mut wh = vec![
                    format!("m.account_id = {}", args.text(account_id)),
                    format!("m.kind = {}", args.text(q.kind.as_str())),
                ];
                if let Some(filter) = q.session {
                    let live = format!(
                        "EXISTS (SELECT 1 FROM sessions s WHERE s.member_id = m.id \
                         AND s.ended_at IS NULL AND s.last_seen_at >= {})",
                        args.int(q.active_after)
                    );
                    wh.push(match filter {
                        SessionFilter::Active => live,
                        SessionFilter::None => format!("NOT {live}"),
                    });
                }
                if let Some(st) = q.status {
                    wh.push(format!("m.status = {}", args.text(st.as_str())));
                }
                if let Some(search) = q.search.as_deref().filter(|s| !s.is_empty()) {
                    let p = args.text(sql::like_pattern(search));
                    wh.push(format!(
                        "(m.name_norm LIKE {p} ESCAPE '\\' OR m.email_norm LIKE {p} ESCAPE '\\')"
                    ));
                }
                let wh = wh.join(" AND ");
                let count_sql = format!("SELECT COUNT(*) AS n FROM members m WHERE {wh}");
                let total: i64 = Self::bind_all(sqlx::query(sqlx::AssertSqlSafe(count_sql)), &args)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(sql::map_err)?
                    .try_get("n")
                    .map_err(sql::map_err)?;
                let limit = args.int(q.limit);
                let offset = args.int(q.offset);
                let page_sql = format!(
                    "SELECT {} FROM {} WHERE {wh} ORDER BY m.name_norm{}, m.id LIMIT {limit} OFFSET {offset}",
                    sql::MEMBER_COLUMNS,
                    sql::MEMBER_FROM,
                    sql::byte_order($backend)
                );
                let rows = Self::bind_all(sqlx::query(sqlx::AssertSqlSafe(page_sql)), &args)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                let items = rows
                    .iter()
                    .map(Self::member_from_row)
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok((items, total))
            }

            async fn update_member(
                &self,
                account_id: &str,
                id: &str,
                patch: &MemberPatch,
            ) -> StoreResult<Member> {
                let mut args = sql::Args::default();
                let mut sets = Vec::new();
                if let Some(name) = &patch.name {
                    sets.push(format!("name = {}", args.text(name.clone())));
                    sets.push(format!("name_norm = {}", args.text(name.to_lowercase())));
                }
                if let Some((email, norm)) = &patch.email {
                    sets.push(format!("email = {}", args.text(email.clone())));
                    sets.push(format!("email_norm = {}", args.text(norm.clone())));
                }
                if let Some(hash) = &patch.password_hash {
                    sets.push(format!("password_hash = {}", args.text(hash.clone())));
                }
                if let Some(d) = patch.disabled {
                    sets.push(format!("disabled = {}", if d { "TRUE" } else { "FALSE" }));
                }
                if let Some(p) = &patch.permissions {
                    sets.push(format!("permissions = {}", args.text(p.to_db())));
                }
                if !sets.is_empty() {
                    let sql = format!(
                        "UPDATE members SET {} WHERE account_id = {} AND id = {}",
                        sets.join(", "),
                        args.text(account_id),
                        args.text(id)
                    );
                    let r = Self::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
                        .execute(&self.pool)
                        .await
                        .map_err(sql::map_err)?;
                    if r.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                }
                self.member(account_id, id).await
            }

            async fn set_status(
                &self,
                account_id: &str,
                id: &str,
                status: AgentStatus,
                choice: Option<AgentStatus>,
            ) -> StoreResult<Member> {
                let r = sqlx::query(
                    "UPDATE members SET status = $1, status_choice = COALESCE($2, status_choice) \
                     WHERE account_id = $3 AND id = $4 AND kind = 'agent'",
                )
                .bind(status.as_str())
                .bind(choice.map(|c| c.as_str()))
                .bind(account_id)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(sql::map_err)?;
                if r.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                self.member(account_id, id).await
            }

            async fn set_offline_many(
                &self,
                account_id: &str,
                ids: &[String],
            ) -> StoreResult<Vec<String>> {
                use sqlx::Row;
                let mut changed = Vec::new();
                for chunk in ids.chunks(1000) {
                    let mut args = sql::Args::default();
                    let sql = format!(
                        "UPDATE members SET status = 'offline' WHERE account_id = {} \
                         AND kind = 'agent' AND status = 'online' AND id IN ({}) RETURNING id",
                        args.text(account_id),
                        args.list($backend, chunk)
                    );
                    let rows = Self::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(sql::map_err)?;
                    for r in rows {
                        changed.push(r.try_get::<String, _>("id").map_err(sql::map_err)?);
                    }
                }
                Ok(changed)
            }

            async fn presence_set(
                &self,
                instance_id: &str,
                account_id: &str,
                member_id: &str,
                tabs: i64,
                now: Millis,
            ) -> StoreResult<()> {
                if tabs <= 0 {
                    sqlx::query("DELETE FROM presence WHERE instance_id = $1 AND member_id = $2")
                        .bind(instance_id)
                        .bind(member_id)
                        .execute(&self.pool)
                        .await
                        .map_err(sql::map_err)?;
                    return Ok(());
                }
                sqlx::query(
                    "INSERT INTO presence (instance_id, account_id, member_id, tabs, heartbeat_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (instance_id, member_id) \
                     DO UPDATE SET tabs = excluded.tabs, heartbeat_at = excluded.heartbeat_at",
                )
                .bind(instance_id)
                .bind(account_id)
                .bind(member_id)
                .bind(tabs)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(sql::map_err)?;
                Ok(())
            }

            async fn presence_heartbeat(&self, instance_id: &str, now: Millis) -> StoreResult<()> {
                sqlx::query("UPDATE presence SET heartbeat_at = $1 WHERE instance_id = $2")
                    .bind(now)
                    .bind(instance_id)
                    .execute(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                Ok(())
            }

            async fn presence_tabs(&self, member_id: &str, fresh_after: Millis) -> StoreResult<i64> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT CAST(COALESCE(SUM(tabs), 0) AS BIGINT) AS n FROM presence \
                     WHERE member_id = $1 AND heartbeat_at > $2",
                )
                .bind(member_id)
                .bind(fresh_after)
                .fetch_one(&self.pool)
                .await
                .map_err(sql::map_err)?;
                row.try_get::<i64, _>("n").map_err(sql::map_err)
            }

            async fn online_without_tabs(
                &self,
                fresh_after: Millis,
            ) -> StoreResult<Vec<(String, String)>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT m.account_id, m.id FROM members m \
                     WHERE m.kind = 'agent' AND m.status = 'online' AND NOT EXISTS ( \
                     SELECT 1 FROM presence p WHERE p.member_id = m.id AND p.tabs > 0 \
                     AND p.heartbeat_at > $1)",
                )
                .bind(fresh_after)
                .fetch_all(&self.pool)
                .await
                .map_err(sql::map_err)?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get::<String, _>("account_id").map_err(sql::map_err)?,
                            r.try_get::<String, _>("id").map_err(sql::map_err)?,
                        ))
                    })
                    .collect()
            }

            async fn presence_reap(
                &self,
                fresh_after: Millis,
            ) -> StoreResult<Vec<(String, String)>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "DELETE FROM presence WHERE heartbeat_at <= $1 RETURNING account_id, member_id",
                )
                .bind(fresh_after)
                .fetch_all(&self.pool)
                .await
                .map_err(sql::map_err)?;
                let mut gone = Vec::new();
                for r in rows {
                    let account_id: String = r.try_get("account_id").map_err(sql::map_err)?;
                    let member_id: String = r.try_get("member_id").map_err(sql::map_err)?;
                    if self.presence_tabs(&member_id, fresh_after).await? == 0
                        && !gone.iter().any(|(_, m)| *m == member_id)
                    {
                        gone.push((account_id, member_id));
                    }
                }
                Ok(gone)
            }

            async fn insert_session(&self, s: &NewSession) -> StoreResult<Session> {
                sqlx::query(
                    "INSERT INTO sessions (id, account_id, member_id, member_kind, token_hash, \
                     csrf_token, started_at, last_seen_at, ip, user_agent, device) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10)",
                )
                .bind(&s.id)
                .bind(&s.account_id)
                .bind(&s.member_id)
                .bind(s.member_kind.as_str())
                .bind(&s.token_hash)
                .bind(&s.csrf_token)
                .bind(s.started_at)
                .bind(&s.ip)
                .bind(&s.user_agent)
                .bind(&s.device)
                .execute(&self.pool)
                .await
                .map_err(sql::map_err)?;
                self.session(&s.account_id, &s.id).await
            }

            async fn auth_record(&self, token_hash: &str) -> StoreResult<Option<AuthRecord>> {
                use sqlx::Row;
                let sql = format!(
                    "SELECT {}, s.csrf_token, m.name AS member_name, m.email AS member_email, \
                     m.is_primary, m.permissions, m.disabled, a.agent_idle_timeout_minutes, \
                     a.max_session_lifetime_minutes \
                     FROM sessions s JOIN members m ON m.id = s.member_id \
                     JOIN accounts a ON a.id = s.account_id \
                     WHERE s.token_hash = $1 AND s.ended_at IS NULL",
                    sql::SESSION_COLUMNS
                );
                let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(sql::map_err)?
                else {
                    return Ok(None);
                };
                let g = sql::map_err;
                Ok(Some(AuthRecord {
                    session: Self::session_from_row(&row)?,
                    csrf_token: row.try_get("csrf_token").map_err(g)?,
                    member_name: row.try_get("member_name").map_err(g)?,
                    member_email: row.try_get("member_email").map_err(g)?,
                    primary: row.try_get("is_primary").map_err(g)?,
                    permissions: sql::permissions(row.try_get::<&str, _>("permissions").map_err(g)?),
                    disabled: row.try_get("disabled").map_err(g)?,
                    agent_idle_timeout_minutes: row
                        .try_get("agent_idle_timeout_minutes")
                        .map_err(g)?,
                    max_session_lifetime_minutes: row
                        .try_get("max_session_lifetime_minutes")
                        .map_err(g)?,
                }))
            }

            async fn touch_session(&self, session_id: &str, at: Millis) -> StoreResult<bool> {
                let r = sqlx::query(
                    // Never moves back (another instance may have recorded a later instant),
                    // yet still reports the session live.
                    "UPDATE sessions SET last_seen_at = \
                     CASE WHEN last_seen_at < $1 THEN $1 ELSE last_seen_at END \
                     WHERE id = $2 AND ended_at IS NULL",
                )
                .bind(at)
                .bind(session_id)
                .execute(&self.pool)
                .await
                .map_err(sql::map_err)?;
                Ok(r.rows_affected() > 0)
            }

            async fn ended_session_reason(
                &self,
                account_id: &str,
                token_hash: &str,
            ) -> StoreResult<Option<EndReason>> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT end_reason FROM sessions WHERE account_id = $1 AND token_hash = $2",
                )
                .bind(account_id)
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(sql::map_err)?;
                Ok(match row {
                    Some(r) => sql::reason(r.try_get("end_reason").map_err(sql::map_err)?),
                    None => None,
                })
            }

            async fn session(&self, account_id: &str, session_id: &str) -> StoreResult<Session> {
                let sql = format!(
                    "SELECT {} FROM sessions s WHERE s.account_id = $1 AND s.id = $2",
                    sql::SESSION_COLUMNS
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(account_id)
                    .bind(session_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                Self::session_from_row(&row)
            }

            async fn active_sessions(
                &self,
                account_id: &str,
                member_ids: &[String],
                active_after: Millis,
            ) -> StoreResult<Vec<Session>> {
                if member_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut args = sql::Args::default();
                let sql = format!(
                    "SELECT {} FROM sessions s WHERE s.account_id = {} AND s.ended_at IS NULL \
                     AND s.last_seen_at >= {} AND s.member_id IN ({}) ORDER BY s.started_at, s.id",
                    sql::SESSION_COLUMNS,
                    args.text(account_id),
                    args.int(active_after),
                    args.list($backend, member_ids)
                );
                let rows = Self::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                rows.iter().map(Self::session_from_row).collect()
            }

            async fn end_session(
                &self,
                account_id: &str,
                session_id: &str,
                reason: EndReason,
                by: Option<&str>,
                at: Millis,
            ) -> StoreResult<Option<EndedSession>> {
                let row = sqlx::query(
                    "UPDATE sessions SET ended_at = $1, end_reason = $2, ended_by = $3 \
                     WHERE account_id = $4 AND id = $5 AND ended_at IS NULL \
                     RETURNING id, account_id, member_id, member_kind",
                )
                .bind(at)
                .bind(reason.as_str())
                .bind(by)
                .bind(account_id)
                .bind(session_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(sql::map_err)?;
                row.map(|r| Self::ended_from_row(&r, reason)).transpose()
            }

            async fn end_member_sessions(
                &self,
                account_id: &str,
                kind: MemberKind,
                member_ids: &[String],
                reason: EndReason,
                by: Option<&str>,
                at: Millis,
            ) -> StoreResult<Vec<EndedSession>> {
                use sqlx::Row;
                if member_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin_write().await?;
                let mut args = sql::Args::default();
                let sql = format!(
                    "SELECT id FROM members WHERE account_id = {} AND kind = {} AND id IN ({})",
                    args.text(account_id),
                    args.text(kind.as_str()),
                    args.list($backend, member_ids)
                );
                let found: std::collections::HashSet<String> =
                    Self::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(sql::map_err)?
                        .iter()
                        .map(|r| r.try_get::<String, _>("id"))
                        .collect::<Result<_, _>>()
                        .map_err(sql::map_err)?;
                let mut unknown: Vec<String> = member_ids
                    .iter()
                    .filter(|id| !found.contains(*id))
                    .cloned()
                    .collect();
                if !unknown.is_empty() {
                    unknown.dedup();
                    return Err(StoreError::UnknownIds(unknown));
                }
                let mut args = sql::Args::default();
                let sql = format!(
                    "UPDATE sessions SET ended_at = {}, end_reason = {}, ended_by = {} \
                     WHERE account_id = {} AND ended_at IS NULL AND member_id IN ({}) \
                     RETURNING id, account_id, member_id, member_kind",
                    args.int(at),
                    args.text(reason.as_str()),
                    match by {
                        Some(b) => args.text(b),
                        None => "NULL".to_string(),
                    },
                    args.text(account_id),
                    args.list($backend, member_ids)
                );
                let rows = Self::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(sql::map_err)?;
                tx.commit().await.map_err(sql::map_err)?;
                rows.iter()
                    .map(|r| Self::ended_from_row(r, reason))
                    .collect()
            }

            async fn expire_sessions(&self, now: Millis) -> StoreResult<Vec<EndedSession>> {
                use sqlx::Row;
                // One range scan of the live-sessions index per rule and account, rather than
                // one statement whose OR'd, correlated conditions would read every live session.
                let minute = crate::domain::time::MINUTE;
                let admin_cutoff =
                    now - crate::domain::session::ADMIN_IDLE_TIMEOUT_MINUTES * minute;
                let mut ended = self
                    .expire_where("last_seen_at < $2 AND member_kind = 'admin'", now, admin_cutoff, None)
                    .await?;
                let accounts = sqlx::query(
                    "SELECT id, agent_idle_timeout_minutes, max_session_lifetime_minutes \
                     FROM accounts",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(sql::map_err)?;
                for a in accounts {
                    let id: String = a.try_get("id").map_err(sql::map_err)?;
                    let idle: i64 = a.try_get("agent_idle_timeout_minutes").map_err(sql::map_err)?;
                    let lifetime: Option<i64> =
                        a.try_get("max_session_lifetime_minutes").map_err(sql::map_err)?;
                    let idle_rule = "last_seen_at < $2 AND account_id = $3 AND member_kind = 'agent'";
                    ended.extend(
                        self.expire_where(idle_rule, now, now - idle * minute, Some(&id))
                            .await?,
                    );
                    if let Some(max) = lifetime {
                        let lifetime_rule = "started_at < $2 AND account_id = $3 AND member_kind = 'agent'";
                        ended.extend(
                            self.expire_where(lifetime_rule, now, now - max * minute, Some(&id))
                                .await?,
                        );
                    }
                }
                Ok(ended)
            }

            async fn insert_audit(&self, e: &AuditEntry) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO audit_log (id, account_id, at, kind, actor, target, ip, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&e.id)
                .bind(&e.account_id)
                .bind(e.at)
                .bind(&e.kind)
                .bind(&e.actor)
                .bind(&e.target)
                .bind(&e.ip)
                .bind(&e.detail)
                .execute(&self.pool)
                .await
                .map_err(sql::map_err)?;
                Ok(())
            }

            async fn insert_audits(&self, entries: &[AuditEntry]) -> StoreResult<()> {
                // All rows as one JSON parameter: one statement text whatever the count (see
                // `Args::list`), and every row or none.
                if entries.is_empty() {
                    return Ok(());
                }
                let rows: Vec<serde_json::Value> = entries
                    .iter()
                    .map(|e| {
                        serde_json::json!([
                            e.id, e.account_id, e.at, e.kind, e.actor, e.target, e.ip, e.detail
                        ])
                    })
                    .collect();
                let json = serde_json::Value::Array(rows).to_string();
                sqlx::query(sql::insert_audits_sql($backend))
                    .bind(json)
                    .execute(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                Ok(())
            }

            async fn list_audit(
                &self,
                account_id: &str,
                q: &AuditQuery,
            ) -> StoreResult<(Vec<AuditEntry>, i64)> {
                use sqlx::Row;
                let mut args = sql::Args::default();
                let mut wh = vec![format!("account_id = {}", args.text(account_id))];
                if !q.persons.is_empty() {
                    let list = args.list($backend, &q.persons);
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
                let total: i64 = Self::bind_all(
                    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM audit_log WHERE {wh}"))),
                    &args,
                )
                .fetch_one(&self.pool)
                .await
                .map_err(sql::map_err)?
                .try_get("n")
                .map_err(sql::map_err)?;
                let limit = args.int(q.limit);
                let offset = args.int(q.offset);
                let sql = format!(
                    "SELECT * FROM audit_log WHERE {wh} ORDER BY at DESC, id DESC \
                     LIMIT {limit} OFFSET {offset}"
                );
                let rows = Self::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(sql::map_err)?;
                let g = sql::map_err;
                let items = rows
                    .iter()
                    .map(|r| {
                        Ok(AuditEntry {
                            id: r.try_get("id").map_err(g)?,
                            account_id: r.try_get("account_id").map_err(g)?,
                            at: r.try_get("at").map_err(g)?,
                            kind: r.try_get("kind").map_err(g)?,
                            actor: r.try_get("actor").map_err(g)?,
                            target: r.try_get("target").map_err(g)?,
                            ip: r.try_get("ip").map_err(g)?,
                            detail: r.try_get("detail").map_err(g)?,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok((items, total))
            }
        }
    };
}

pub(super) use impl_sql_store;
