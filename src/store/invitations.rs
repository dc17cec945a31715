//! Invitations: a person added without a password, their single-use links (only the token's
//! hash kept) and the message carrying the link, each written in one transaction.

use async_trait::async_trait;

use super::{AddressRule, Member, NewMail, NewMember, StoreResult};
use crate::domain::time::Millis;

/// One invitation link and the message that carries it.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    /// SHA-256 of the link's token.
    pub token_hash: String,
    pub expires_at: Millis,
    pub mail: NewMail,
    pub now: Millis,
}

/// People added by invitation, and their links.
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Adds `m` as invited (no password opens the account), with its link and the message,
    /// in one transaction with the address locked and checked by `refuses` as
    /// `PeopleStore::insert_member_checked` does. `m.password_hash` should be one no password
    /// matches.
    async fn insert_invited_member(
        &self,
        m: &NewMember,
        refuses: AddressRule<'_>,
        invitation: &NewInvitation,
    ) -> StoreResult<Member>;
    /// Sends a person who is still invited (and enabled) a new link: their earlier links stop
    /// working, the new one and its message are written, all in one transaction. `false`
    /// (nothing written) when the person is not invited any more or is disabled.
    async fn renew_invitation(
        &self,
        account_id: &str,
        member_id: &str,
        invitation: &NewInvitation,
    ) -> StoreResult<bool>;
}
