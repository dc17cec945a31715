//! Setting a password through a single-use link sent by e-mail (an invitation's or a reset's),
//! and checking such a link before its page asks for the password: the checks every use makes
//! (the password's rules and length, the token's shape) and the one store call that spends the
//! link and sets the password together.

use crate::domain::mail::TOKEN_BYTES;
use crate::domain::password::{self, MAX_PASSWORD_CHARS};
use crate::store::{Member, PasswordLink};

use super::{Service, ServiceError, ServiceResult, passwords, token_hash};

/// Tokens in links are hex: anything else (or longer) is no token of ours.
pub(crate) fn plausible_token(token: &str) -> bool {
    token.len() == TOKEN_BYTES * 2 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Service {
    /// Sets the password of the person a link is for, spending the link: returns that person.
    /// A password the rules refuse is [`ServiceError::Invalid`] and leaves the link as it
    /// was; an unknown, used or expired token is [`ServiceError::LinkExpired`] and changes
    /// nothing. Of two uses at once, one gets the person.
    pub(super) async fn set_password_with_link(
        &self,
        link: PasswordLink,
        account_id: &str,
        token: &str,
        new_password: String,
    ) -> ServiceResult<Member> {
        password::check_new_password(&new_password)
            .map_err(|e| ServiceError::invalid("password", e.to_string()))?;
        if new_password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(ServiceError::invalid("password", "password is too long"));
        }
        let token = token.trim();
        if !plausible_token(token) {
            return Err(ServiceError::LinkExpired);
        }
        let hash = passwords::hash(new_password).await?;
        let Some(used) = self
            .store
            .set_password_with_link(link, account_id, &token_hash(token), &hash, self.now())
            .await?
        else {
            return Err(ServiceError::LinkExpired);
        };
        Ok(self.store.member(&used.account_id, &used.member_id).await?)
    }

    /// Whether a link still works, for the page that asks for the password (which says at
    /// once when the link is spent).
    pub async fn password_link_usable(
        &self,
        link: PasswordLink,
        account_id: &str,
        token: &str,
    ) -> ServiceResult<bool> {
        let token = token.trim();
        if !plausible_token(token) {
            return Ok(false);
        }
        Ok(self
            .store
            .password_link_holder(link, account_id, &token_hash(token), self.now())
            .await?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_have_one_shape() {
        assert!(super::plausible_token(&"ab".repeat(32)));
        assert!(!super::plausible_token(&"ab".repeat(31)));
        assert!(!super::plausible_token(&"zz".repeat(32)));
        assert!(!super::plausible_token(&"a".repeat(10_000)));
    }
}
