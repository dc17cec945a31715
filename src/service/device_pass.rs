//! The known-device pass: a cookie that lets its holder past their address's sign-in limit,
//! for that one person only, so a flood of guesses from elsewhere cannot lock an owner out.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::time::{DAY, Millis};

use super::{Service, ServiceError, ServiceResult};

/// How long a known-device pass is honoured after the last sign-in that issued it.
pub const DEVICE_PASS_TTL: Millis = 90 * DAY;

impl Service {
    /// A pass for this browser and person: `expiry.person.mac`, where the MAC (HMAC-SHA256
    /// under a secret every instance shares) covers the account, the person's id, their
    /// e-mail and the expiry. Bound to the person, not the address: linked accounts share
    /// the address, and one's pass must not lift the other's limit.
    pub(crate) async fn device_pass(
        &self,
        account_id: &str,
        member_id: &str,
        email_norm: &str,
    ) -> ServiceResult<String> {
        let expires = self.now() + DEVICE_PASS_TTL;
        let mac = self
            .device_mac(account_id, member_id, email_norm, expires)
            .await?;
        Ok(format!("{expires}.{member_id}.{mac}"))
    }

    /// The person a valid, unexpired pass for this account and e-mail was issued to (and,
    /// with `only`, only if it is that person).
    pub(crate) async fn device_pass_holder(
        &self,
        pass: Option<&str>,
        account_id: &str,
        email_norm: &str,
        only: Option<&str>,
    ) -> Option<String> {
        let mut parts = pass?.splitn(3, '.');
        let (expires, member_id, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let expires = expires.parse::<Millis>().ok()?;
        if expires <= self.now() || only.is_some_and(|o| o != member_id) {
            return None;
        }
        match self
            .device_mac(account_id, member_id, email_norm, expires)
            .await
        {
            Ok(expected) => {
                crate::ids::constant_time_eq(mac, &expected).then(|| member_id.to_string())
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not check a known-device pass");
                None
            }
        }
    }

    async fn device_mac(
        &self,
        account_id: &str,
        member_id: &str,
        email_norm: &str,
        expires: Millis,
    ) -> ServiceResult<String> {
        let secret = self.secret("device-pass").await?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret)
            .map_err(|e| ServiceError::Internal(format!("device pass key: {e}")))?;
        mac.update(format!("{account_id}\n{member_id}\n{email_norm}\n{expires}").as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}
