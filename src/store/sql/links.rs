//! Single-use links sent by e-mail (invitations, password resets, sign-in alerts): one table
//! each, one shape, and the one mechanism that writes, checks and spends them. Spending is one
//! conditional `UPDATE` (unused, not expired, of the account), so of two tabs that confirm the
//! same link at once exactly one gets it.

use async_trait::async_trait;

use crate::domain::time::Millis;
use crate::store::sql::{self, SqlStore, query, query_as, query_scalar};
use crate::store::{LinkStore, PasswordLink, StoreResult, UsedLink};

/// The table of each kind of link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum Links {
    Invitations,
    PasswordResets,
    SigninAlerts,
}

impl Links {
    fn table(self) -> &'static str {
        match self {
            Links::Invitations => "invitations",
            Links::PasswordResets => "password_resets",
            Links::SigninAlerts => "signin_alerts",
        }
    }
}

impl PasswordLink {
    fn links(self) -> Links {
        match self {
            PasswordLink::Invitation => Links::Invitations,
            PasswordLink::Reset => Links::PasswordResets,
        }
    }

    /// An invitation works only while its person is invited and enabled. A reset link works
    /// for an invited person too (they proved the address as an invitation would, and their
    /// invitation ends with it); a disabled person's shows its form but sets nothing.
    fn invited_only(self) -> bool {
        self == PasswordLink::Invitation
    }
}

/// A new link: the hash of its token, whose it is, and until when it works.
pub(in crate::store) struct NewLink<'a> {
    pub token_hash: &'a str,
    pub account_id: &'a str,
    pub member_id: &'a str,
    /// The session a sign-in alert is about (that table only).
    pub session_id: Option<&'a str>,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// A link that was just spent.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct Spent {
    pub account_id: String,
    pub member_id: String,
    /// A sign-in alert's session; None for the other links.
    pub session_id: Option<String>,
}

/// The condition a link (alias `l`, its token's hash `$1`, account `$2`, the time `$3`) must
/// meet to work.
pub(in crate::store) const USABLE: &str =
    "l.token_hash = $1 AND l.account_id = $2 AND l.used_at IS NULL AND l.expires_at > $3";

impl SqlStore {
    /// Writes a link inside the caller's transaction, for a person of the account who is
    /// enabled; returns whether it was written (false: the person is disabled or unknown).
    pub(in crate::store) async fn insert_link_in(
        tx: &mut sql::Tx,
        links: Links,
        l: &NewLink<'_>,
    ) -> StoreResult<bool> {
        let (column, value) = match l.session_id {
            Some(_) => (", session_id", ", $6"),
            None => ("", ""),
        };
        let mut q = query(format!(
            "INSERT INTO {} (token_hash, account_id, member_id, created_at, expires_at{column}) \
             SELECT $1, $2, $3, $4, $5{value} FROM members \
             WHERE account_id = $2 AND id = $3 AND disabled = FALSE",
            links.table()
        ))
        .bind(l.token_hash)
        .bind(l.account_id)
        .bind(l.member_id)
        .bind(l.created_at)
        .bind(l.expires_at);
        if let Some(session_id) = l.session_id {
            q = q.bind(session_id);
        }
        Ok(q.execute(&mut *tx).await?.rows_affected() > 0)
    }

    /// Spends a link if it works at `now`: one conditional `UPDATE`, so two spends at once
    /// cannot both get it. Dropping the transaction undoes the spend.
    pub(in crate::store) async fn spend_link_in(
        tx: &mut sql::Tx,
        links: Links,
        account_id: &str,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<Spent>> {
        let session = match links {
            Links::SigninAlerts => "session_id",
            Links::Invitations | Links::PasswordResets => "CAST(NULL AS TEXT) AS session_id",
        };
        Ok(query_as(format!(
            "UPDATE {} SET used_at = $3 WHERE token_hash = $1 AND account_id = $2 \
             AND used_at IS NULL AND expires_at > $3 RETURNING account_id, member_id, {session}",
            links.table()
        ))
        .bind(token_hash)
        .bind(account_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?)
    }

    /// Spends every link of a person that still works: a new one replaces them, or what they
    /// were for is done.
    pub(in crate::store) async fn spend_links_of_in(
        tx: &mut sql::Tx,
        links: Links,
        account_id: &str,
        member_id: &str,
        now: Millis,
    ) -> StoreResult<()> {
        query(format!(
            "UPDATE {} SET used_at = $1 WHERE account_id = $2 AND member_id = $3 \
             AND used_at IS NULL",
            links.table()
        ))
        .bind(now)
        .bind(account_id)
        .bind(member_id)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

#[async_trait]
impl LinkStore for SqlStore {
    async fn set_password_with_link(
        &self,
        link: PasswordLink,
        account_id: &str,
        token_hash: &str,
        password_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<UsedLink>> {
        let mut tx = self.begin_write().await?;
        let Some(spent) =
            Self::spend_link_in(&mut tx, link.links(), account_id, token_hash, now).await?
        else {
            return Ok(None);
        };
        // Returning without a commit undoes the spend: the link of a person disabled (or no
        // longer invited) since it was sent stays as it was, and does nothing.
        let rule = if link.invited_only() {
            " AND invited = TRUE"
        } else {
            ""
        };
        let set = query(format!(
            "UPDATE members SET password_hash = $1, invited = FALSE \
             WHERE account_id = $2 AND id = $3 AND disabled = FALSE{rule}"
        ))
        .bind(password_hash)
        .bind(&spent.account_id)
        .bind(&spent.member_id)
        .execute(&mut *tx)
        .await?;
        if set.rows_affected() == 0 {
            return Ok(None);
        }
        // The new password makes the person's other links of the kind useless: whoever holds
        // an older message cannot set the password again.
        Self::spend_links_of_in(
            &mut tx,
            link.links(),
            &spent.account_id,
            &spent.member_id,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(UsedLink {
            account_id: spent.account_id,
            member_id: spent.member_id,
        }))
    }

    async fn password_link_holder(
        &self,
        link: PasswordLink,
        account_id: &str,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<String>> {
        let rule = if link.invited_only() {
            " AND m.invited = TRUE AND m.disabled = FALSE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT l.member_id FROM {} l JOIN members m ON m.id = l.member_id \
             WHERE {USABLE}{rule}",
            link.links().table()
        );
        Ok(query_scalar(sql)
            .bind(token_hash)
            .bind(account_id)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?)
    }
}
