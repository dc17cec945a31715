//! Sign-in throttling as the use cases apply it: an attempt is reserved for the person (account
//! and e-mail) and for the address before any password or code is checked, and forgiven once
//! it proves right. The limits themselves are `limiter`; the counts live in the database.

use std::net::IpAddr;

use crate::domain::ClientIp;
use crate::store::{FailureWindow, Member};

use super::{Service, ServiceError, ServiceResult, limiter, token_hash};

impl Service {
    /// Reserves an attempt of a sign-in step for the person (account and e-mail) and the
    /// address; returns the throttling keys (the person's first) and the attempt. When the
    /// address's limit refuses it and `holder` (the person a valid known-device pass was
    /// issued to) is given, the limit is lifted for that one person: the answer says so
    /// ([`Lifted`]), and the caller may then open nobody else.
    pub(crate) async fn reserve_signin(
        &self,
        account_id: &str,
        email_norm: &str,
        ip: ClientIp,
        holder: Option<String>,
    ) -> ServiceResult<(Vec<String>, String, Option<Lifted>)> {
        let keys = throttle_keys(account_id, email_norm, ip);
        match self.reserve_attempt(&keys, false).await {
            Ok(attempt) => Ok((keys, attempt, None)),
            Err(ServiceError::RateLimited { retry_after_secs }) if holder.is_some() => {
                let attempt = self.reserve_attempt(&keys, true).await?;
                let lifted = holder.map(|holder| Lifted {
                    holder,
                    retry_after_secs,
                });
                Ok((keys, attempt, lifted))
            }
            Err(e) => Err(e),
        }
    }

    /// Counts an attempt for the person and the address before any password is checked, or
    /// refuses it (429) when either has failed too often lately. With a valid known-device
    /// pass the person's own limit does not apply (their address's still does): a flood
    /// against their e-mail from elsewhere cannot lock them out.
    pub(crate) async fn reserve_attempt(
        &self,
        keys: &[String],
        known_device: bool,
    ) -> ServiceResult<String> {
        let person = (!known_device).then_some(limiter::PER_ACCOUNT);
        self.reserve_limited(keys, &[person, Some(limiter::PER_IP)])
            .await
    }

    /// Reserves one attempt under every key (throttling's counts: `ThrottleStore`), each
    /// limited by its `limits` (none: counted, not limited), or refuses it (429) with the
    /// longest wait any key's limit asks for. Returns the attempt, for `forgive`.
    pub(crate) async fn reserve_limited(
        &self,
        keys: &[String],
        limits: &[Option<limiter::Limits>],
    ) -> ServiceResult<String> {
        let now = self.now();
        let wait = |windows: &[FailureWindow]| {
            windows
                .iter()
                .zip(limits)
                .filter_map(|(w, l)| l.and_then(|l| limiter::wait_secs(*w, l, now)))
                .max()
        };
        let allow = |windows: &[FailureWindow]| wait(windows).is_none();
        match self
            .store
            .reserve_signin_attempt(keys, now - limiter::WINDOW, now, &allow)
            .await?
        {
            Ok(attempt) => Ok(attempt),
            Err(windows) => Err(ServiceError::RateLimited {
                retry_after_secs: wait(&windows).unwrap_or(1),
            }),
        }
    }

    /// Takes back an attempt reserved for something that did not happen after all.
    pub(crate) async fn forgive(&self, attempt: &str) {
        if let Err(e) = self.store.forgive_signin_attempt(attempt).await {
            tracing::warn!(error = %e, "could not take back a reserved attempt");
        }
    }

    /// The password was right: the reserved attempt was no failure, and, when `clear` (the
    /// person is the only one on their address, see [`sole_holder`]), the address's earlier
    /// failures are forgiven.
    pub(crate) async fn forgive_attempt(&self, attempt: &str, person_key: &str, clear: bool) {
        self.forgive(attempt).await;
        if !clear {
            return;
        }
        if let Err(e) = self.store.clear_signin_failures(person_key).await {
            tracing::warn!(error = %e, "could not clear failed sign-ins");
        }
    }
}

/// A sign-in past the address's limit, let through for the one person a known-device pass
/// was issued to.
pub(crate) struct Lifted {
    pub holder: String,
    /// What the limit answered, for anyone else.
    pub retry_after_secs: u64,
}

/// Whether a success may forgive the address's earlier failures: only when nobody else holds
/// the address. The count is per address (it must not tell known addresses from unknown
/// ones), so with linked accounts the failures may have been guesses at the twin, which one
/// account's sign-in must not wipe.
pub(crate) fn sole_holder(m: &Member) -> bool {
    m.linked.is_none()
}

/// The sign-in throttling keys of an attempt: the person (account and e-mail) and the
/// address. Hashed: the throttling table holds no e-mail or address in the clear.
pub(crate) fn throttle_keys(account_id: &str, email_norm: &str, ip: ClientIp) -> Vec<String> {
    vec![
        token_hash(&format!("account:{account_id}:{email_norm}")),
        token_hash(&format!("ip:{}", address_key(ip))),
    ]
}

/// What an address is counted as: itself for IPv4, its /64 for IPv6 (one subscriber usually
/// holds a whole /64 and can pick any address in it, so counting single addresses would
/// throttle nobody). Unknown addresses all count as one, `unknown` (as the address is written:
/// the keys are stored, so their text never changes).
pub(crate) fn address_key(ip: ClientIp) -> String {
    match ip.ip() {
        Some(IpAddr::V6(v6)) => {
            ipnet::Ipv6Net::new(v6, 64).map_or_else(|_| v6.to_string(), |n| n.trunc().to_string())
        }
        _ => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address_key(text: &str) -> String {
        super::address_key(ClientIp::from_recorded(text))
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            address_key("2001:db8:1:2::")
        );
        assert_ne!(
            address_key("2001:db8:1:3::1"),
            address_key("2001:db8:1:2::1")
        );
        assert_eq!(address_key("203.0.113.9"), "203.0.113.9");
        assert_eq!(super::address_key(ClientIp::UNKNOWN), "unknown");
    }

    /// The keys are rows in the database: their text is what it was when addresses travelled
    /// as text, `unknown` included.
    #[test]
    fn throttling_keys_keep_their_stored_text() {
        let keys = |ip| throttle_keys("ac_1", "ana@example.com", ip);
        assert_eq!(
            keys(ClientIp::UNKNOWN),
            [
                token_hash("account:ac_1:ana@example.com"),
                token_hash("ip:unknown")
            ]
        );
        assert_eq!(
            keys(ClientIp::from_recorded("203.0.113.9"))[1],
            token_hash("ip:203.0.113.9")
        );
        assert_eq!(
            keys(ClientIp::from_recorded("2001:db8:1:2:aaaa::1"))[1],
            token_hash("ip:2001:db8:1:2::/64")
        );
    }
}
