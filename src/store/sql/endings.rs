//! Ending sessions: one by id, every live session of some people, and the expiry rules of the
//! sweep.

use crate::domain::session::ADMIN_IDLE_TIMEOUT_MINUTES;
use crate::domain::time::{MINUTE, Millis};

/// Last-activity and start cutoffs of one account at one instant: a live session seen before
/// its kind's idle cutoff, or an agent's started before the lifetime cutoff, is expired.
/// Administrators' idle timeout is fixed (`admin_idle_at`); the account's settings (idle
/// timeout, absolute lifetime) govern agents' sessions only.
pub(in crate::store) struct Cutoffs {
    pub agent_idle: Millis,
    pub agent_lifetime: Option<Millis>,
}

impl Cutoffs {
    pub fn at(now: Millis, agent_idle_minutes: i64, max_lifetime_minutes: Option<i64>) -> Self {
        Cutoffs {
            agent_idle: now - agent_idle_minutes * MINUTE,
            agent_lifetime: max_lifetime_minutes.map(|m| now - m * MINUTE),
        }
    }

    /// Administrators' idle cutoff, the same in every account.
    pub fn admin_idle_at(now: Millis) -> Millis {
        now - ADMIN_IDLE_TIMEOUT_MINUTES * MINUTE
    }
}

/// Appends the ending methods (see the chain in `sql/mod.rs`).
macro_rules! methods {
    ([$store:ty, $db:ty, $backend:literal] $rest:tt { $($methods:tt)* } { $($helpers:tt)* }) => {
        $crate::store::sql::next_area! { [$store, $db, $backend] $rest {
            $($methods)*

            async fn end_session(
                &self,
                account_id: &str,
                session_id: &str,
                reason: EndReason,
                by: Option<&str>,
                at: Millis,
            ) -> StoreResult<Option<EndedSession>> {
                let sql = format!(
                    "UPDATE sessions SET ended_at = $1, end_reason = $2, ended_by = $3 \
                     WHERE account_id = $4 AND id = $5 AND ended_at IS NULL RETURNING {}",
                    sql::ENDED_COLUMNS
                );
                Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(at)
                    .bind(reason.as_str())
                    .bind(by)
                    .bind(account_id)
                    .bind(session_id)
                    .fetch_optional(&self.pool)
                    .await?)
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
                if member_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin_write().await?;
                Self::check_people_in(&mut tx, account_id, kind, member_ids).await?;
                let mut args = sql::Args::default();
                let sql = format!(
                    "UPDATE sessions SET ended_at = {}, end_reason = {}, ended_by = {} \
                     WHERE account_id = {} AND ended_at IS NULL AND member_id IN ({}) \
                     RETURNING {}",
                    args.int(at),
                    args.text(reason.as_str()),
                    args.opt_text(by),
                    args.text(account_id),
                    args.list($backend, member_ids),
                    sql::ENDED_COLUMNS
                );
                let ended = Self::dynamic_as(sql, &args).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                Ok(ended)
            }

            async fn expire_sessions(&self, now: Millis) -> StoreResult<Vec<EndedSession>> {
                let mut conn = self.pool.acquire().await?;
                Self::expire_in(&mut conn, now, None).await
            }
        } {
            $($helpers)*

            /// Fails with `UnknownIds` (in the order given, once each) unless every id names
            /// a person of `kind` in the account.
            async fn check_people_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                account_id: &str,
                kind: MemberKind,
                ids: &[String],
            ) -> StoreResult<()> {
                let mut args = sql::Args::default();
                let sql = format!(
                    "SELECT id FROM members WHERE account_id = {} AND kind = {} AND id IN ({})",
                    args.text(account_id),
                    args.text(kind.as_str()),
                    args.list($backend, ids)
                );
                let found: std::collections::HashSet<String> =
                    Self::dynamic_scalar(sql, &args)
                        .fetch_all(&mut *conn)
                        .await?
                        .into_iter()
                        .collect();
                let mut unknown: Vec<String> = Vec::new();
                for id in ids {
                    if !found.contains(id) && !unknown.contains(id) {
                        unknown.push(id.clone());
                    }
                }
                if unknown.is_empty() {
                    Ok(())
                } else {
                    Err(StoreError::UnknownIds(unknown))
                }
            }

            /// Ends, as `expired`, every live session past its timeout or (agents only) its
            /// account's lifetime, in one account or all. One range scan of a live-sessions
            /// index per rule and account, rather than one statement whose OR'd, correlated
            /// conditions would read every live session.
            async fn expire_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                now: Millis,
                account_id: Option<&str>,
            ) -> StoreResult<Vec<EndedSession>> {
                let in_account = if account_id.is_some() { " AND account_id = $3" } else { "" };
                let admin_cut = sql::endings::Cutoffs::admin_idle_at(now);
                let mut ended = Self::expire_where(
                    conn,
                    &format!("last_seen_at < $2 AND member_kind = 'admin'{in_account}"),
                    now,
                    admin_cut,
                    account_id,
                )
                .await?;
                let accounts: Vec<(String, i64, Option<i64>)> = match account_id {
                    Some(id) => sqlx::query_as(
                        "SELECT id, agent_idle_timeout_minutes, max_session_lifetime_minutes \
                         FROM accounts WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?,
                    None => sqlx::query_as(
                        "SELECT id, agent_idle_timeout_minutes, max_session_lifetime_minutes \
                         FROM accounts",
                    )
                    .fetch_all(&mut *conn)
                    .await?,
                };
                for (id, idle, lifetime) in accounts {
                    let cut = sql::endings::Cutoffs::at(now, idle, lifetime);
                    let idle_rule =
                        "last_seen_at < $2 AND account_id = $3 AND member_kind = 'agent'";
                    ended.extend(
                        Self::expire_where(conn, idle_rule, now, cut.agent_idle, Some(&id))
                            .await?,
                    );
                    if let Some(life_cut) = cut.agent_lifetime {
                        let lifetime_rule =
                            "started_at < $2 AND account_id = $3 AND member_kind = 'agent'";
                        ended.extend(
                            Self::expire_where(conn, lifetime_rule, now, life_cut, Some(&id))
                                .await?,
                        );
                    }
                }
                Ok(ended)
            }

            /// Marks expired the live sessions matching `rule`, a condition on `$2` (the
            /// cutoff) and, with an account, `$3`.
            async fn expire_where(
                conn: &mut <$db as sqlx::Database>::Connection,
                rule: &str,
                now: Millis,
                cutoff: Millis,
                account_id: Option<&str>,
            ) -> StoreResult<Vec<EndedSession>> {
                let sql = format!(
                    "UPDATE sessions SET ended_at = $1, end_reason = 'expired' \
                     WHERE ended_at IS NULL AND {rule} RETURNING {}",
                    sql::ENDED_COLUMNS
                );
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).bind(cutoff);
                if let Some(id) = account_id {
                    q = q.bind(id.to_string());
                }
                Ok(q.fetch_all(&mut *conn).await?)
            }
        } }
    };
}
pub(in crate::store) use methods;
