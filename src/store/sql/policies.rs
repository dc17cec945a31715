//! Session policies: one row per account that changed them (the limit of sessions per person,
//! office networks, the network policy per role); no row reads as the defaults.

/// Appends the session-policy methods (see the chain in `sql/mod.rs`).
macro_rules! methods {
    ([$store:ty, $db:ty, $backend:literal] $rest:tt { $($methods:tt)* } { $($helpers:tt)* }) => {
        $crate::store::sql::next_area! { [$store, $db, $backend] $rest {
            $($methods)*

            async fn session_policy(&self, account_id: &str) -> StoreResult<SessionPolicyRecord> {
                let row: Option<SessionPolicyRecord> = sqlx::query_as(
                    "SELECT max_sessions_per_person, office_networks, agents_network_policy, \
                     admins_network_policy FROM session_policies WHERE account_id = $1",
                )
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.unwrap_or_default())
            }

            async fn set_session_policy(
                &self,
                account_id: &str,
                p: &SessionPolicyRecord,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO session_policies (account_id, max_sessions_per_person, \
                     office_networks, agents_network_policy, admins_network_policy) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (account_id) DO UPDATE SET \
                     max_sessions_per_person = excluded.max_sessions_per_person, \
                     office_networks = excluded.office_networks, \
                     agents_network_policy = excluded.agents_network_policy, \
                     admins_network_policy = excluded.admins_network_policy",
                )
                .bind(account_id)
                .bind(p.max_sessions_per_person)
                .bind(&p.office_networks)
                .bind(&p.agents_network_policy)
                .bind(&p.admins_network_policy)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn touch_session_seen(&self, t: &SessionSeen) -> StoreResult<bool> {
                // Activity never moves back (another instance may have recorded a later
                // instant); a change of address or device keeps the moment it was first seen.
                let r = sqlx::query(
                    "UPDATE sessions SET                      last_seen_at = CASE WHEN last_seen_at < $1 THEN $1 ELSE last_seen_at END,                      ip_changed_at = CASE WHEN COALESCE(last_ip, ip) <> $2 THEN $1                      ELSE ip_changed_at END,                      device_changed_at = CASE WHEN COALESCE(last_user_agent, user_agent) <> $3                      THEN $1 ELSE device_changed_at END,                      last_ip = $2, last_user_agent = $3, outside_office = $4                      WHERE id = $5 AND ended_at IS NULL",
                )
                .bind(t.at)
                .bind(&t.ip)
                .bind(&t.user_agent)
                .bind(t.outside_office)
                .bind(&t.session_id)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn live_session_addresses(
                &self,
                account_id: &str,
            ) -> StoreResult<Vec<(String, MemberKind, String, String, String)>> {
                Ok(sqlx::query_as(
                    "SELECT id, member_kind, member_id, ip, COALESCE(last_ip, ip)                      FROM sessions WHERE account_id = $1 AND ended_at IS NULL",
                )
                .bind(account_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn set_outside_office(
                &self,
                account_id: &str,
                outside: &[String],
            ) -> StoreResult<()> {
                let mut args = sql::Args::default();
                let sql = format!(
                    "UPDATE sessions SET outside_office = (id IN ({})) \
                     WHERE account_id = {} AND ended_at IS NULL",
                    args.list($backend, outside),
                    args.text(account_id)
                );
                Self::dynamic(sql, &args).execute(&self.pool).await?;
                Ok(())
            }
        } { $($helpers)* } }
    };
}
pub(in crate::store) use methods;
