//! People (agents and administrators): inserts, reads with the derived linked account, the
//! Team list with its filters and paging, edits and status.

use async_trait::async_trait;

use crate::domain::member::{AgentStatus, MemberKind, Permissions};
use crate::domain::time::Millis;
use crate::store::sql::links::Links;
use crate::store::sql::{
    self, Dialect, Executor, SqlStore, dynamic, dynamic_as, dynamic_scalar, query, query_as,
    query_scalar,
};
use crate::store::{
    AddressRule, Credentials, LinkedRef, Member, MemberPatch, MemberQuery, NewInvitation,
    NewMember, PeopleStore, SessionFilter, StoreError, StoreResult,
};

/// A person as `MEMBER_COLUMNS` reads them; the linked account needs the person's kind.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct MemberRow {
    id: String,
    account_id: String,
    kind: MemberKind,
    name: String,
    email: String,
    is_primary: bool,
    permissions: Permissions,
    status: AgentStatus,
    status_choice: AgentStatus,
    disabled: bool,
    invited: bool,
    created_at: Millis,
    linked_id: Option<String>,
    linked_name: Option<String>,
    time_zone: Option<String>,
}

impl From<MemberRow> for Member {
    fn from(r: MemberRow) -> Self {
        Member {
            linked: r.linked_id.map(|id| LinkedRef {
                kind: r.kind.other(),
                id,
                name: r.linked_name.unwrap_or_default(),
            }),
            id: r.id,
            account_id: r.account_id,
            kind: r.kind,
            name: r.name,
            email: r.email,
            primary: r.is_primary,
            permissions: r.permissions,
            status: r.status,
            status_choice: r.status_choice,
            disabled: r.disabled,
            invited: r.invited,
            created_at: r.created_at,
            time_zone: r.time_zone,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct CredentialsRow {
    #[sqlx(flatten)]
    member: MemberRow,
    password_hash: String,
}

impl From<CredentialsRow> for Credentials {
    fn from(r: CredentialsRow) -> Self {
        Credentials {
            member: r.member.into(),
            password_hash: r.password_hash,
        }
    }
}

impl SqlStore {
    /// Adds a person, in one transaction with the address locked and checked by `refuses`,
    /// and their webhook event; with `invitation`, as invited, with its link and message.
    pub(in crate::store) async fn add_member(
        &self,
        m: &NewMember,
        refuses: AddressRule<'_>,
        invitation: Option<&NewInvitation>,
    ) -> StoreResult<Member> {
        let mut tx = self.begin_write().await?;
        self.check_address_in(
            &mut tx,
            &m.account_id,
            &[m.email_norm.as_str()],
            None,
            refuses,
        )
        .await?;
        Self::insert_member_in(&mut *tx, m).await?;
        if let Some(invitation) = invitation {
            query("UPDATE members SET invited = TRUE WHERE account_id = $1 AND id = $2")
                .bind(&m.account_id)
                .bind(&m.id)
                .execute(&mut *tx)
                .await?;
            Self::insert_invitation_in(&mut tx, &m.id, invitation).await?;
        }
        let change = sql::outbox::Change::person(
            &m.account_id,
            &m.id,
            crate::domain::webhook::EventType::MemberCreated,
        );
        Self::record_changes_in(&mut tx, self.outbox_now(), &[change]).await?;
        tx.commit().await?;
        self.member(&m.account_id, &m.id).await
    }
}

#[async_trait]
impl PeopleStore for SqlStore {
    async fn insert_member_checked(
        &self,
        m: &NewMember,
        refuses: AddressRule<'_>,
    ) -> StoreResult<Member> {
        self.add_member(m, refuses, None).await
    }

    async fn member(&self, account_id: &str, id: &str) -> StoreResult<Member> {
        let sql = format!(
            "SELECT {} FROM {} WHERE m.account_id = $1 AND m.id = $2",
            sql::MEMBER_COLUMNS,
            sql::MEMBER_FROM
        );
        let row: sql::members::MemberRow = query_as(sql)
            .bind(account_id)
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.into())
    }

    async fn members(&self, account_id: &str, ids: &[String]) -> StoreResult<Vec<Member>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = sql::Args::default();
        let sql = format!(
            "SELECT {} FROM {} WHERE m.account_id = {} AND m.id IN ({}) ORDER BY m.id",
            sql::MEMBER_COLUMNS,
            sql::MEMBER_FROM,
            args.text(account_id),
            args.list(self.dialect(), ids)
        );
        let rows: Vec<sql::members::MemberRow> =
            dynamic_as(sql, &args).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(Member::from).collect())
    }

    async fn credentials_by_email(
        &self,
        account_id: &str,
        email_norm: &str,
    ) -> StoreResult<Vec<Credentials>> {
        let sql = format!(
            "SELECT {}, m.password_hash FROM {} \
             WHERE m.account_id = $1 AND m.email_norm = $2 ORDER BY m.kind",
            sql::MEMBER_COLUMNS,
            sql::MEMBER_FROM
        );
        let rows: Vec<sql::members::CredentialsRow> = query_as(sql)
            .bind(account_id)
            .bind(email_norm)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Credentials::from).collect())
    }

    async fn password_hash(&self, account_id: &str, id: &str) -> StoreResult<String> {
        Ok(
            query_scalar("SELECT password_hash FROM members WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn list_members(
        &self,
        account_id: &str,
        q: &MemberQuery,
    ) -> StoreResult<(Vec<Member>, i64)> {
        let mut args = sql::Args::default();
        let mut wh = vec![
            format!("m.account_id = {}", args.text(account_id)),
            format!("m.kind = {}", args.text(q.kind.as_str())),
        ];
        if let Some(filter) = q.session {
            let after = args.int(q.active_after);
            wh.push(match filter {
                // `live_seen_at` is the latest activity of the person's live sessions,
                // kept by triggers (migration 20261204000001): one comparison on the
                // list's own index instead of probing each person's sessions, and a
                // person counts once however many sessions they have.
                SessionFilter::Active => format!("m.live_seen_at >= {after}"),
                SessionFilter::None => {
                    format!("(m.live_seen_at IS NULL OR m.live_seen_at < {after})")
                }
                // Few sessions carry the mark: one probe of the partial index that
                // holds only them. `LIMIT 1` keeps SQLite (3.51) from rewriting the
                // EXISTS into a join with the sessions (`existsToJoin` skips subqueries
                // with a LIMIT), where OFFSET would skip one of a person's sessions at a
                // time instead of one person; PostgreSQL drops it.
                SessionFilter::OutsideOffice => format!(
                    "EXISTS (SELECT 1 FROM sessions s WHERE s.member_id = m.id \
                     AND s.ended_at IS NULL AND s.outside_office = TRUE \
                     AND s.last_seen_at >= {after} LIMIT 1)"
                ),
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
        let count_sql = format!("SELECT COUNT(*) FROM members m WHERE {wh}");
        let total: i64 = dynamic_scalar(count_sql, &args)
            .fetch_one(&self.pool)
            .await?;
        let limit = args.int(q.limit);
        let offset = args.int(q.offset);
        let page_sql = format!(
            "SELECT {} FROM {} WHERE {wh} ORDER BY m.name_norm{}, m.id \
             LIMIT {limit} OFFSET {offset}",
            sql::MEMBER_COLUMNS,
            sql::MEMBER_FROM,
            sql::byte_order(self.dialect())
        );
        let rows: Vec<sql::members::MemberRow> =
            dynamic_as(page_sql, &args).fetch_all(&self.pool).await?;
        Ok((rows.into_iter().map(Member::from).collect(), total))
    }

    async fn update_member_checked(
        &self,
        account_id: &str,
        id: &str,
        patch: &MemberPatch,
        refuses: AddressRule<'_>,
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
            // A password set for an invited person (an administrator's "set a password
            // now" after all) ends the invitation; its links then find nobody invited.
            sets.push("invited = FALSE".to_string());
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
            let mut tx = self.begin_write().await?;
            // The addresses this write puts someone on, or sets a password on: the new one,
            // and for a password the one they have.
            let mut addresses: Vec<String> = Vec::new();
            if let Some((_, norm)) = &patch.email {
                addresses.push(norm.clone());
            }
            if patch.password_hash.is_some() {
                let current: Option<String> = query_scalar(
                    "SELECT email_norm FROM members WHERE account_id = $1 AND id = $2",
                )
                .bind(account_id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                addresses.extend(current);
            }
            if !addresses.is_empty() {
                let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
                self.check_address_in(&mut tx, account_id, &addresses, Some(id), refuses)
                    .await?;
            }
            let r = dynamic(sql, &args).execute(&mut *tx).await?;
            if r.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            if patch.email.is_some() {
                // A link sent to the old address must not open an account now under another
                // one: the person stays invited, and a resend goes to the new address.
                let now = self.outbox_now();
                Self::spend_links_of_in(&mut tx, Links::Invitations, account_id, id, now).await?;
            }
            // A password change alone is no news to a receiver.
            let event = if patch.disabled == Some(true) {
                Some(crate::domain::webhook::EventType::MemberDisabled)
            } else if patch.name.is_some()
                || patch.email.is_some()
                || patch.permissions.is_some()
                || patch.disabled.is_some()
            {
                Some(crate::domain::webhook::EventType::MemberUpdated)
            } else {
                None
            };
            if let Some(event) = event {
                let change = sql::outbox::Change::person(account_id, id, event);
                Self::record_changes_in(&mut tx, self.outbox_now(), &[change]).await?;
            }
            tx.commit().await?;
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
        let mut tx = self.begin_write().await?;
        let before: Option<AgentStatus> = query_scalar(
            "SELECT status FROM members WHERE account_id = $1 AND id = $2 AND kind = 'agent'",
        )
        .bind(account_id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = before else {
            return Err(StoreError::NotFound);
        };
        query(
            "UPDATE members SET status = $1, status_choice = COALESCE($2, status_choice) \
             WHERE account_id = $3 AND id = $4 AND kind = 'agent'",
        )
        .bind(status.as_str())
        .bind(choice.map(|c| c.as_str()))
        .bind(account_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if before != status {
            let change = sql::outbox::Change::person(
                account_id,
                id,
                crate::domain::webhook::EventType::PresenceChanged,
            );
            Self::record_changes_in(&mut tx, self.outbox_now(), &[change]).await?;
        }
        tx.commit().await?;
        self.member(account_id, id).await
    }

    async fn set_time_zone(
        &self,
        account_id: &str,
        id: &str,
        time_zone: Option<&str>,
    ) -> StoreResult<Member> {
        let mut tx = self.begin_write().await?;
        let changed = query("UPDATE members SET time_zone = $1 WHERE account_id = $2 AND id = $3")
            .bind(time_zone)
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        self.member(account_id, id).await
    }
}

impl SqlStore {
    /// Locks each address for the rest of the transaction and refuses
    /// ([`StoreError::AddressRefused`]) when anyone on one of them but `except` is refused by
    /// `refuses`. SQLite: `BEGIN IMMEDIATE` already holds the database's write lock.
    /// PostgreSQL: an advisory lock per address, taken in one order, which every write of an
    /// address takes, so the holders read here cannot change before this write commits.
    pub(super) async fn check_address_in(
        &self,
        tx: &mut sql::WriteTx,
        account_id: &str,
        addresses: &[&str],
        except: Option<&str>,
        refuses: AddressRule<'_>,
    ) -> StoreResult<()> {
        if self.dialect() == Dialect::Postgres {
            let keys: Vec<String> = addresses
                .iter()
                .map(|a| format!("address {account_id} {a}"))
                .collect();
            for lock in sql::throttling::advisory_locks(&keys) {
                query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        let sql = format!(
            "SELECT {} FROM {} WHERE m.account_id = $1 AND m.email_norm = $2",
            sql::MEMBER_COLUMNS,
            sql::MEMBER_FROM
        );
        for address in addresses {
            let rows: Vec<MemberRow> = query_as(sql.clone())
                .bind(account_id)
                .bind(*address)
                .fetch_all(&mut **tx)
                .await?;
            let refused = rows
                .into_iter()
                .map(Member::from)
                .any(|m| Some(m.id.as_str()) != except && refuses(&m));
            if refused {
                return Err(StoreError::AddressRefused);
            }
        }
        Ok(())
    }

    pub(super) async fn insert_member_in(
        executor: impl Executor<'_>,
        m: &NewMember,
    ) -> StoreResult<()> {
        query(
            "INSERT INTO members (id, account_id, kind, name, name_norm, email, \
             email_norm, password_hash, is_primary, permissions, created_at) \
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
        .await?;
        Ok(())
    }
}
