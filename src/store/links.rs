//! Single-use links sent by e-mail that set a password (an invitation's, a reset's): only the
//! token's SHA-256 is kept; a link works once, until it expires, for the account it was made in.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::time::Millis;

/// Which kind of link sets the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordLink {
    /// An invitation: works while its person is still invited and enabled, and ends the
    /// invited state.
    Invitation,
    /// A password reset (also made by a sign-in alert's "This wasn't me").
    Reset,
}

/// A link that set a password: whose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedLink {
    pub account_id: String,
    pub member_id: String,
}

/// Setting a password through a link.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// One conditional UPDATE spends the link if it is the account's, unused and not expired
    /// at `now` (so of two confirmations at once exactly one gets the person); in the same
    /// transaction the password hash is set, the invited state ends and the person's other
    /// links of that kind are spent. `None`, and nothing changed, for an unknown, used or
    /// expired token, or a person disabled (or, for an invitation, no longer invited).
    async fn set_password_with_link(
        &self,
        link: PasswordLink,
        account_id: &str,
        token_hash: &str,
        password_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<UsedLink>>;
    /// The person a link of the account is for, if it is unused and not expired at `now`
    /// (an invitation: and its person still invited and enabled).
    async fn password_link_holder(
        &self,
        link: PasswordLink,
        account_id: &str,
        token_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<String>>;
}
