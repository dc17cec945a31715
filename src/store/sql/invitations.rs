//! Invitations: the invited person, their links and the message, each change one transaction.

use async_trait::async_trait;

use crate::domain::time::Millis;
use crate::domain::webhook::EventType;
use crate::store::sql::{self, SqlStore, query, query_as, query_scalar};
use crate::store::{
    AcceptedInvitation, AddressRule, InvitationStore, Member, NewInvitation, NewMember,
    PeopleStore, StoreResult,
};

impl SqlStore {
    /// Writes a link and its message inside the caller's transaction.
    async fn insert_invitation_in(
        tx: &mut sql::WriteTx,
        member_id: &str,
        i: &NewInvitation,
    ) -> StoreResult<()> {
        query(
            "INSERT INTO invitations (token_hash, account_id, member_id, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&i.token_hash)
        .bind(&i.mail.account_id)
        .bind(member_id)
        .bind(i.now)
        .bind(i.expires_at)
        .execute(&mut **tx)
        .await?;
        Self::queue_mail_in(tx, &i.mail, i.now).await
    }
}

#[async_trait]
impl InvitationStore for SqlStore {
    async fn insert_invited_member(
        &self,
        m: &NewMember,
        refuses: AddressRule<'_>,
        invitation: &NewInvitation,
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
        query("UPDATE members SET invited = TRUE WHERE account_id = $1 AND id = $2")
            .bind(&m.account_id)
            .bind(&m.id)
            .execute(&mut *tx)
            .await?;
        Self::insert_invitation_in(&mut tx, &m.id, invitation).await?;
        let change = sql::outbox::Change::person(&m.account_id, &m.id, EventType::MemberCreated);
        Self::record_changes_in(&mut tx, self.outbox_now(), &[change]).await?;
        tx.commit().await?;
        self.member(&m.account_id, &m.id).await
    }

    async fn renew_invitation(
        &self,
        account_id: &str,
        member_id: &str,
        invitation: &NewInvitation,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // A write to the person's row: on PostgreSQL it locks the row, so an acceptance
        // (which writes it too) cannot interleave with the renewal.
        let still = query(
            "UPDATE members SET invited = TRUE WHERE account_id = $1 AND id = $2 \
             AND invited = TRUE AND disabled = FALSE",
        )
        .bind(account_id)
        .bind(member_id)
        .execute(&mut *tx)
        .await?;
        if still.rows_affected() == 0 {
            return Ok(false);
        }
        query(
            "UPDATE invitations SET used_at = $1 \
             WHERE account_id = $2 AND member_id = $3 AND used_at IS NULL",
        )
        .bind(invitation.now)
        .bind(account_id)
        .bind(member_id)
        .execute(&mut *tx)
        .await?;
        Self::insert_invitation_in(&mut tx, member_id, invitation).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn accept_invitation(
        &self,
        account_id: &str,
        token_hash: &str,
        password_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<AcceptedInvitation>> {
        let mut tx = self.begin_write().await?;
        let used: Option<(String, String)> = query_as(
            "UPDATE invitations SET used_at = $1 \
             WHERE token_hash = $2 AND account_id = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING account_id, member_id",
        )
        .bind(now)
        .bind(token_hash)
        .bind(account_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((account_id, member_id)) = used else {
            return Ok(None);
        };
        // Dropping the transaction undoes the link's use: a disabled person's link stays
        // as it was.
        let r = query(
            "UPDATE members SET password_hash = $1, invited = FALSE \
             WHERE account_id = $2 AND id = $3 AND invited = TRUE AND disabled = FALSE",
        )
        .bind(password_hash)
        .bind(&account_id)
        .bind(&member_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        query(
            "UPDATE invitations SET used_at = $1 \
             WHERE account_id = $2 AND member_id = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&account_id)
        .bind(&member_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(AcceptedInvitation {
            account_id,
            member_id,
        }))
    }

    async fn usable_invitation(
        &self,
        account_id: &str,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<String>> {
        Ok(query_scalar(
            "SELECT i.member_id FROM invitations i JOIN members m ON m.id = i.member_id \
             WHERE i.token_hash = $1 AND i.account_id = $2 AND i.used_at IS NULL \
             AND i.expires_at > $3 AND m.invited = TRUE AND m.disabled = FALSE",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }
}
