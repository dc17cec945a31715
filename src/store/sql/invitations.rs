//! Invitations: the invited person, their links and the message, each change one transaction.

use async_trait::async_trait;

use crate::store::sql::links::{Links, NewLink};
use crate::store::sql::{self, SqlStore, query};
use crate::store::{AddressRule, InvitationStore, Member, NewInvitation, NewMember, StoreResult};

impl SqlStore {
    /// Writes a link and its message inside the caller's transaction.
    pub(in crate::store) async fn insert_invitation_in(
        tx: &mut sql::Tx,
        member_id: &str,
        i: &NewInvitation,
    ) -> StoreResult<()> {
        let link = NewLink {
            token_hash: &i.token_hash,
            account_id: &i.mail.account_id,
            member_id,
            session_id: None,
            created_at: i.now,
            expires_at: i.expires_at,
        };
        Self::insert_link_in(tx, Links::Invitations, &link).await?;
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
        self.add_member(m, refuses, Some(invitation)).await
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
        Self::spend_links_of_in(
            &mut tx,
            Links::Invitations,
            account_id,
            member_id,
            invitation.now,
        )
        .await?;
        Self::insert_invitation_in(&mut tx, member_id, invitation).await?;
        tx.commit().await?;
        Ok(true)
    }
}
