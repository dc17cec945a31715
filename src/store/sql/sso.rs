//! Single sign-on: the provider settings, pending sign-ins and used logout tokens.

use async_trait::async_trait;

use crate::domain::time::Millis;
use crate::store::sql::{SqlStore, query, query_as};
use crate::store::{SsoSettingsRow, SsoState, SsoStore, StoreResult};

type SettingsTuple = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    bool,
    i64,
);

#[async_trait]
impl SsoStore for SqlStore {
    async fn sso_settings(&self, account_id: &str) -> StoreResult<Option<SsoSettingsRow>> {
        let row: Option<SettingsTuple> = query_as(
            "SELECT account_id, issuer, client_id, client_secret, button_label, agents, admins, \
             allowed_domains, create_agents, updated_at FROM sso_settings WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| SsoSettingsRow {
            account_id: r.0,
            issuer: r.1,
            client_id: r.2,
            client_secret: r.3,
            button_label: r.4,
            agents: r.5,
            admins: r.6,
            allowed_domains: r
                .7
                .lines()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect(),
            create_agents: r.8,
            updated_at: r.9,
        }))
    }

    async fn put_sso_settings(&self, r: &SsoSettingsRow) -> StoreResult<()> {
        query(
            "INSERT INTO sso_settings (account_id, issuer, client_id, client_secret, \
             button_label, agents, admins, allowed_domains, create_agents, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (account_id) DO UPDATE SET issuer = excluded.issuer, \
             client_id = excluded.client_id, client_secret = excluded.client_secret, \
             button_label = excluded.button_label, agents = excluded.agents, \
             admins = excluded.admins, allowed_domains = excluded.allowed_domains, \
             create_agents = excluded.create_agents, updated_at = excluded.updated_at",
        )
        .bind(&r.account_id)
        .bind(&r.issuer)
        .bind(&r.client_id)
        .bind(&r.client_secret)
        .bind(&r.button_label)
        .bind(&r.agents)
        .bind(&r.admins)
        .bind(r.allowed_domains.join("\n"))
        .bind(r.create_agents)
        .bind(r.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_sso_state(&self, s: &SsoState) -> StoreResult<()> {
        query(
            "INSERT INTO sso_states (state_hash, account_id, binding_hash, nonce, \
             pkce_verifier, rd, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.state_hash)
        .bind(&s.account_id)
        .bind(&s.binding_hash)
        .bind(&s.nonce)
        .bind(&s.pkce_verifier)
        .bind(&s.rd)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_sso_state(
        &self,
        account_id: &str,
        state_hash: &str,
        binding_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<SsoState>> {
        let row: Option<(String, String, String, String, String, String, i64, i64)> = query_as(
            "DELETE FROM sso_states WHERE state_hash = $1 AND account_id = $2 \
             AND binding_hash = $3 AND expires_at > $4 \
             RETURNING state_hash, account_id, binding_hash, nonce, pkce_verifier, rd, \
             created_at, expires_at",
        )
        .bind(state_hash)
        .bind(account_id)
        .bind(binding_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| SsoState {
            state_hash: r.0,
            account_id: r.1,
            binding_hash: r.2,
            nonce: r.3,
            pkce_verifier: r.4,
            rd: r.5,
            created_at: r.6,
            expires_at: r.7,
        }))
    }

    async fn remember_logout_jti(
        &self,
        account_id: &str,
        jti: &str,
        expires_at: Millis,
    ) -> StoreResult<bool> {
        let r = query(
            "INSERT INTO sso_logout_jtis (account_id, jti, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id, jti) DO NOTHING",
        )
        .bind(account_id)
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn prune_sso(&self, now: Millis) -> StoreResult<u64> {
        let states = query("DELETE FROM sso_states WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let jtis = query("DELETE FROM sso_logout_jtis WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(states.rows_affected() + jtis.rows_affected())
    }
}
