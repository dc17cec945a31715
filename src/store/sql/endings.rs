//! Ending sessions: `end_sessions`, one transaction with its audit rows for every way a session
//! ends, and the expiry rules of the sweep.

use crate::domain::audit::session_end_entry;
use crate::domain::member::MemberKind;
use crate::domain::session::ADMIN_IDLE_TIMEOUT_MINUTES;
use crate::domain::time::{MINUTE, Millis};
use crate::ids::new_ordered_id;
use crate::store::sql::{self, Dialect, SqlStore, Tx, dynamic_as, query_as, query_scalar};
use crate::store::{AuditEntry, EndSessions, Ended, EndedSession, StoreError, StoreResult, Which};

/// Last-activity and start cutoffs of one account at one instant: a live session seen before
/// its kind's idle cutoff, or an agent's started before the lifetime cutoff, is expired.
/// Administrators' idle timeout is fixed; the account's settings (idle timeout, absolute
/// lifetime) govern agents' sessions only.
pub(in crate::store) struct Cutoffs {
    pub admin_idle: Millis,
    pub agent_idle: Millis,
    pub agent_lifetime: Option<Millis>,
}

impl Cutoffs {
    pub fn at(now: Millis, agent_idle_minutes: i64, max_lifetime_minutes: Option<i64>) -> Self {
        Cutoffs {
            admin_idle: Self::admin_idle_at(now),
            agent_idle: now - agent_idle_minutes * MINUTE,
            agent_lifetime: max_lifetime_minutes.map(|m| now - m * MINUTE),
        }
    }

    /// Administrators' idle cutoff, the same in every account.
    pub fn admin_idle_at(now: Millis) -> Millis {
        now - ADMIN_IDLE_TIMEOUT_MINUTES * MINUTE
    }

    /// The condition "already expired" over the session columns of table alias `t`, the
    /// cutoffs bound in `args`.
    pub fn sql(&self, t: &str, args: &mut super::Args) -> String {
        let mut cond = format!(
            "({t}.last_seen_at < CASE {t}.member_kind WHEN 'admin' THEN {} ELSE {} END",
            args.int(self.admin_idle),
            args.int(self.agent_idle)
        );
        if let Some(life) = self.agent_lifetime {
            cond += &format!(
                " OR ({t}.member_kind = 'agent' AND {t}.started_at < {})",
                args.int(life)
            );
        }
        cond.push(')');
        cond
    }
}

/// The audit rows of these endings, in the one shape of `domain::audit::session_end_entry`.
pub(in crate::store) fn audit_rows(ended: &[EndedSession], req: &EndSessions) -> Vec<AuditEntry> {
    ended
        .iter()
        .map(|e| {
            let a = session_end_entry(&e.id, &e.member_id, e.reason, req.by.as_deref(), req.ip);
            AuditEntry {
                id: new_ordered_id("au", req.at),
                account_id: e.account_id.clone(),
                at: req.at,
                kind: a.kind.as_str().to_string(),
                actor: a.actor,
                target: Some(a.target),
                ip: a.ip,
                detail: a.detail,
                count: 1,
            }
        })
        .collect()
}

impl SqlStore {
    /// [`SessionStore::end_sessions`].
    pub(super) async fn end(&self, req: &EndSessions) -> StoreResult<Ended> {
        if req.account_id.is_none() && req.which != Which::Expired {
            return Err(StoreError::Other(
                "end_sessions: account_id is required except for Which::Expired".to_string(),
            ));
        }
        if let Which::People { ids, .. } = &req.which
            && ids.is_empty()
        {
            return Ok(Ended::default());
        }
        let mut tx = self.begin_write().await?;
        let ended = Self::end_sessions_in(&mut tx, req).await?;
        Self::record_changes_in(&mut tx, self.outbox_now(), &changes(&ended)).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// The ending itself, inside the caller's transaction: every way sessions end
    /// (`end_sessions`, and the cap of `start_session`) goes through here, so each writes the
    /// same audit rows and sets the same agents Offline. The webhook outbox rows are the
    /// caller's to write ([`changes`]), after its own.
    pub(super) async fn end_sessions_in(conn: &mut Tx, req: &EndSessions) -> StoreResult<Ended> {
        let ended = match req.account_id.as_deref() {
            None => Self::expire_in(conn, req.at, None).await?,
            Some(account_id) => Self::end_selected_in(conn, account_id, req).await?,
        };
        let entries = sql::endings::audit_rows(&ended, req);
        Self::insert_audits_in(&mut *conn, &entries).await?;
        let offline = Self::set_offline_in(conn, &ended).await?;
        Ok(Ended {
            sessions: ended,
            offline,
        })
    }
}

/// The webhook changes of an ending: each session's ending before its agent's change of
/// presence, as they happen.
pub(in crate::store) fn changes(ended: &Ended) -> Vec<sql::outbox::Change> {
    ended
        .sessions
        .iter()
        .map(|e| sql::outbox::Change::session(&e.account_id, &e.member_id, &e.id, true))
        .chain(ended.offline.iter().map(|(account_id, member_id)| {
            sql::outbox::Change::person(
                account_id,
                member_id,
                crate::domain::webhook::EventType::PresenceChanged,
            )
        }))
        .collect()
}

impl SqlStore {
    /// Sets Offline the agents among the people of `ended` who are Online (their own
    /// choice untouched); returns them (account id, member id). One statement per
    /// account and thousand people, however many sessions ended.
    async fn set_offline_in(
        conn: &mut Tx,
        ended: &[EndedSession],
    ) -> StoreResult<Vec<(String, String)>> {
        let mut agents: std::collections::BTreeMap<&str, Vec<String>> =
            std::collections::BTreeMap::new();
        for e in ended.iter().filter(|e| e.member_kind == MemberKind::Agent) {
            agents
                .entry(e.account_id.as_str())
                .or_default()
                .push(e.member_id.clone());
        }
        let mut offline = Vec::new();
        for (account_id, mut ids) in agents {
            ids.sort_unstable();
            ids.dedup();
            // No lock to take first on PostgreSQL: the live_seen_at trigger of the
            // sessions' UPDATE locked every one of these people, in id order, in this
            // transaction.
            for chunk in ids.chunks(1000) {
                let mut args = sql::Args::default();
                let sql = format!(
                    "UPDATE members SET status = 'offline' WHERE account_id = {} \
                     AND kind = 'agent' AND status = 'online' AND id IN ({}) \
                     RETURNING id",
                    args.text(account_id),
                    args.list(conn.dialect(), chunk)
                );
                let changed: Vec<(String,)> = dynamic_as(sql, &args).fetch_all(&mut *conn).await?;
                offline.extend(
                    changed
                        .into_iter()
                        .map(|(id,)| (account_id.to_string(), id)),
                );
            }
        }
        Ok(offline)
    }

    /// Fails with `UnknownIds` (in the order given, once each) unless every id names
    /// a person of `kind` in the account.
    async fn check_people_in(
        conn: &mut Tx,
        account_id: &str,
        kind: MemberKind,
        ids: &[String],
    ) -> StoreResult<()> {
        // By primary key, account and kind compared here: with them in the statement
        // SQLite walks the account's whole list index instead.
        let mut args = sql::Args::default();
        let sql = format!(
            "SELECT id, account_id, kind FROM members WHERE id IN ({})",
            args.list(conn.dialect(), ids)
        );
        let found: std::collections::HashSet<String> =
            dynamic_as::<(String, String, String)>(sql, &args)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .filter(|(_, account, k)| account == account_id && k == kind.as_str())
                .map(|(id, _, _)| id)
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

    /// Ends the sessions `which` selects in one account; those already past their
    /// timeout (or, for agents, their lifetime) end as `expired`, by no one.
    async fn end_selected_in(
        conn: &mut Tx,
        account_id: &str,
        req: &EndSessions,
    ) -> StoreResult<Vec<EndedSession>> {
        let which = &req.which;
        let settings: Option<(i64, Option<i64>)> = query_as(
            "SELECT agent_idle_timeout_minutes, max_session_lifetime_minutes \
             FROM accounts WHERE id = $1",
        )
        .bind(account_id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Which::People { kind, ids } = which {
            Self::check_people_in(conn, account_id, *kind, ids).await?;
        }
        let Some((idle, lifetime)) = settings else {
            return Ok(Vec::new());
        };
        let cutoffs = sql::endings::Cutoffs::at(req.at, idle, lifetime);
        let mut args = sql::Args::default();
        let at = args.int(req.at);
        let account = args.text(account_id);
        let expired = cutoffs.sql("sessions", &mut args);
        let reason = args.text(req.reason.as_str());
        let by = args.opt_text(req.by.as_deref());
        let selected = match which {
            Which::Session(id) => format!("id = {}", args.text(id.as_str())),
            Which::People { ids, .. } => {
                format!("member_id IN ({})", args.list(conn.dialect(), ids))
            }
            Which::PersonExcept { member_id, keep } => {
                let member = format!("member_id = {}", args.text(member_id.as_str()));
                match keep {
                    Some(keep) => {
                        format!("{member} AND id <> {}", args.text(keep.as_str()))
                    }
                    None => member,
                }
            }
            Which::AllButNewest { member_id, keep } => {
                // Expired sessions take no place among those kept: they end too.
                let member = args.text(member_id.as_str());
                let still_live = cutoffs.sql("k", &mut args);
                format!(
                    "member_id = {member} AND id NOT IN (SELECT k.id FROM sessions k \
                     WHERE k.account_id = {account} AND k.member_id = {member} \
                     AND k.ended_at IS NULL AND NOT {still_live} \
                     ORDER BY k.started_at DESC, k.id DESC LIMIT {})",
                    args.int(i64::try_from(*keep).unwrap_or(i64::MAX))
                )
            }
            // The sweep's rules, in this account.
            Which::Expired => return Self::expire_in(conn, req.at, Some(account_id)).await,
            Which::Sso { sid, sub } => match (sid, sub) {
                (Some(sid), Some(sub)) => format!(
                    "sso_sid = {} AND sso_sub = {}",
                    args.text(sid.as_str()),
                    args.text(sub.as_str())
                ),
                (Some(sid), None) => format!("sso_sid = {}", args.text(sid.as_str())),
                (None, Some(sub)) => format!("sso_sub = {}", args.text(sub.as_str())),
                (None, None) => return Ok(Vec::new()),
            },
        };
        // SQLite, without statistics, picks the index of every session by person and
        // start and reads each person's whole history to find the few live ones (a
        // third of a bulk ending's time); the live index holds only those.
        let table = if conn.dialect() == Dialect::Sqlite
            && !matches!(which, Which::Session(_) | Which::Sso { .. })
        {
            "sessions INDEXED BY sessions_live_by_member"
        } else {
            "sessions"
        };
        let sql = format!(
            "UPDATE {table} SET ended_at = {at}, \
             end_reason = CASE WHEN {expired} THEN 'expired' ELSE {reason} END, \
             ended_by = CASE WHEN {expired} THEN NULL ELSE {by} END \
             WHERE account_id = {account} AND ended_at IS NULL AND {selected} \
             RETURNING {}",
            sql::ENDED_COLUMNS
        );
        Ok(dynamic_as(sql, &args).fetch_all(&mut *conn).await?)
    }

    /// Ends, as `expired`, every live session past its timeout or (agents only) its
    /// account's lifetime, in one account or all. One range scan of a live-sessions
    /// index per rule (and, for the lifetime, per account that sets one), rather than
    /// one statement whose OR'd, correlated conditions would read every live session.
    async fn expire_in(
        conn: &mut Tx,
        now: Millis,
        account_id: Option<&str>,
    ) -> StoreResult<Vec<EndedSession>> {
        let in_account = if account_id.is_some() {
            " AND account_id = $3"
        } else {
            ""
        };
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
            Some(id) => {
                query_as(
                    "SELECT id, agent_idle_timeout_minutes, max_session_lifetime_minutes \
                 FROM accounts WHERE id = $1",
                )
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
            }
            None => {
                // Every account in one statement: one range scan of the live sessions
                // idle past the shortest agent timeout of any account, each then held
                // to its own account's. One statement per account made a pass grow with
                // the number of accounts (about 1 s for 1,000 on PostgreSQL).
                let shortest: Option<i64> =
                    query_scalar("SELECT MIN(agent_idle_timeout_minutes) FROM accounts")
                        .fetch_one(&mut *conn)
                        .await?;
                if let Some(minutes) = shortest {
                    let idle_rule = format!(
                        "last_seen_at < $2 AND member_kind = 'agent' AND last_seen_at < $1 - \
                         (SELECT a.agent_idle_timeout_minutes FROM accounts a \
                         WHERE a.id = sessions.account_id) * {MINUTE}",
                        MINUTE = crate::domain::time::MINUTE
                    );
                    ended.extend(
                        Self::expire_where(
                            conn,
                            &idle_rule,
                            now,
                            now - minutes * crate::domain::time::MINUTE,
                            None,
                        )
                        .await?,
                    );
                }
                // The absolute lifetime, only in the accounts that set one.
                let with_lifetime: Vec<(String, i64, Option<i64>)> = query_as(
                    "SELECT id, agent_idle_timeout_minutes, max_session_lifetime_minutes \
                     FROM accounts WHERE max_session_lifetime_minutes IS NOT NULL",
                )
                .fetch_all(&mut *conn)
                .await?;
                for (id, idle, lifetime) in with_lifetime {
                    let cut = sql::endings::Cutoffs::at(now, idle, lifetime);
                    if let Some(life_cut) = cut.agent_lifetime {
                        let lifetime_rule =
                            "started_at < $2 AND account_id = $3 AND member_kind = 'agent'";
                        ended.extend(
                            Self::expire_where(conn, lifetime_rule, now, life_cut, Some(&id))
                                .await?,
                        );
                    }
                }
                Vec::new()
            }
        };
        for (id, idle, lifetime) in accounts {
            let cut = sql::endings::Cutoffs::at(now, idle, lifetime);
            let idle_rule = "last_seen_at < $2 AND account_id = $3 AND member_kind = 'agent'";
            ended
                .extend(Self::expire_where(conn, idle_rule, now, cut.agent_idle, Some(&id)).await?);
            if let Some(life_cut) = cut.agent_lifetime {
                let lifetime_rule = "started_at < $2 AND account_id = $3 AND member_kind = 'agent'";
                ended.extend(
                    Self::expire_where(conn, lifetime_rule, now, life_cut, Some(&id)).await?,
                );
            }
        }
        Ok(ended)
    }

    /// Marks expired the live sessions matching `rule`, a condition on `$2` (the
    /// cutoff) and, with an account, `$3`.
    async fn expire_where(
        conn: &mut Tx,
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
        let mut q = query_as(sql).bind(now).bind(cutoff);
        if let Some(id) = account_id {
            q = q.bind(id.to_string());
        }
        Ok(q.fetch_all(&mut *conn).await?)
    }
}
