//! Session rules: why sessions end, how long they live idle, how often activity is recorded.

use std::fmt;
use std::str::FromStr;

use super::member::MemberKind;
use super::time::{MINUTE, Millis};

/// Administrators are signed out after 72 hours without activity; this is not configurable.
pub const ADMIN_IDLE_TIMEOUT_MINUTES: i64 = 72 * 60;
/// Agents' default, changeable per account in the Security section.
pub const DEFAULT_AGENT_IDLE_TIMEOUT_MINUTES: i64 = 72 * 60;
pub const MIN_AGENT_IDLE_TIMEOUT_MINUTES: i64 = 5;
pub const MAX_AGENT_IDLE_TIMEOUT_MINUTES: i64 = 90 * 24 * 60;
/// Live sessions one person may hold, whatever the account's policy: each costs memory on
/// every instance, so a person signing in again and again replaces their oldest session.
pub const MAX_SESSIONS_PER_PERSON: usize = 100;
/// Last activity is written at most this often per session, keeping the hot path read-only.
pub const TOUCH_INTERVAL: Millis = MINUTE;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Logout,
    Expired,
    EndedByAdmin,
    Disabled,
    PasswordChanged,
    /// A newer sign-in of the same person took its place (a cap on sessions per person).
    Replaced,
    /// The office-network policy (enforce) saw a request from outside every office network.
    OutsideOfficeNetwork,
    /// An administrator reset the person's second factor.
    MfaReset,
    /// The person set a new password through a reset link sent by e-mail.
    PasswordReset,
    /// The person said a sign-in was not theirs ("This wasn't me" in a sign-in alert).
    EndedByOwner,
    /// The company's identity provider said the person signed out there or was switched off
    /// (OpenID Connect Back-Channel Logout).
    IdpLogout,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::Expired => "expired",
            EndReason::EndedByAdmin => "ended_by_admin",
            EndReason::Disabled => "disabled",
            EndReason::PasswordChanged => "password_changed",
            EndReason::Replaced => "replaced",
            EndReason::OutsideOfficeNetwork => "outside_office_network",
            EndReason::MfaReset => "mfa_reset",
            EndReason::PasswordReset => "password_reset",
            EndReason::EndedByOwner => "ended_by_owner",
            EndReason::IdpLogout => "idp_logout",
        }
    }

    /// What the signed-out person is told on the sign-in page.
    pub fn message(self) -> &'static str {
        match self {
            EndReason::Logout => "You have signed out.",
            EndReason::Expired => {
                "Your session expired after a period of inactivity. Please sign in again."
            }
            EndReason::EndedByAdmin => {
                "Your session was ended by an administrator. Please sign in again."
            }
            EndReason::Disabled => "Your account has been disabled by an administrator.",
            EndReason::PasswordChanged => {
                "Your password was changed. Please sign in with the new one."
            }
            EndReason::Replaced => {
                "You were signed out here because your account signed in elsewhere and only a \
                 limited number of sessions may be open at once."
            }
            EndReason::OutsideOfficeNetwork => {
                "You were signed out because your connection comes from outside the office \
                 networks, and your account may only be used from the office."
            }
            EndReason::MfaReset => {
                "An administrator reset your two-factor sign-in. Please sign in and set it up \
                 again."
            }
            EndReason::PasswordReset => {
                "Your password was reset with a link sent to your e-mail. Please sign in with \
                 the new one."
            }
            EndReason::EndedByOwner => {
                "This session was ended from the sign-in alert sent to your e-mail. If it was \
                 you, please sign in again."
            }
            EndReason::IdpLogout => {
                "You were signed out by your company's identity provider (a sign-out there, or \
                 your account was switched off). Please sign in again."
            }
        }
    }
}

impl FromStr for EndReason {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "logout" => EndReason::Logout,
            "expired" => EndReason::Expired,
            "ended_by_admin" => EndReason::EndedByAdmin,
            "disabled" => EndReason::Disabled,
            "password_changed" => EndReason::PasswordChanged,
            "replaced" => EndReason::Replaced,
            "outside_office_network" => EndReason::OutsideOfficeNetwork,
            "mfa_reset" => EndReason::MfaReset,
            "password_reset" => EndReason::PasswordReset,
            "ended_by_owner" => EndReason::EndedByOwner,
            "idp_logout" => EndReason::IdpLogout,
            _ => return Err(()),
        })
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The idle timeout that applies to a person of this kind, given the account's agent setting.
pub fn idle_timeout_minutes(kind: MemberKind, agent_setting_minutes: i64) -> i64 {
    match kind {
        MemberKind::Admin => ADMIN_IDLE_TIMEOUT_MINUTES,
        MemberKind::Agent => agent_setting_minutes,
    }
}

/// Timing facts of one live session, enough to decide whether it may still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub started_at: Millis,
    pub last_seen_at: Millis,
    pub idle_timeout_minutes: i64,
    /// The account's absolute lifetime, when one is set.
    pub max_lifetime_minutes: Option<i64>,
}

impl Liveness {
    /// A session is expired once it has been idle for longer than its timeout, or (when the
    /// account sets one) has lived longer than the absolute lifetime.
    pub fn is_expired(&self, now: Millis) -> bool {
        let idle = now - self.last_seen_at > self.idle_timeout_minutes * MINUTE;
        let too_old = self
            .max_lifetime_minutes
            .is_some_and(|m| now - self.started_at > m * MINUTE);
        idle || too_old
    }

    /// When the session ends if nothing more happens, and whether activity can still move
    /// that (the idle timeout) or not (an agent's absolute lifetime comes first).
    pub fn deadline(&self) -> Deadline {
        let idle = self.last_seen_at + self.idle_timeout_minutes * MINUTE;
        match self
            .max_lifetime_minutes
            .map(|m| self.started_at + m * MINUTE)
        {
            Some(end) if end <= idle => Deadline {
                at: end,
                extendable: false,
            },
            _ => Deadline {
                at: idle,
                extendable: true,
            },
        }
    }

    /// Whether this request should record activity: only when the stored value is stale by
    /// a minute, so at most one write per session per minute.
    pub fn needs_touch(&self, now: Millis) -> bool {
        now - self.last_seen_at >= TOUCH_INTERVAL
    }
}

/// How long before a session's deadline its open tabs are warned, so that a person who is
/// there can stay signed in (guard.js; WCAG 2.2.1 asks for at least 20 seconds).
pub const EXPIRY_WARNING: Millis = MINUTE;

/// When a live session ends unless something happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub at: Millis,
    /// Activity moves it (the idle timeout); false for the absolute lifetime.
    pub extendable: bool,
}

impl Deadline {
    /// Whether tabs should be warned at `now`: within [`EXPIRY_WARNING`] of the deadline.
    pub fn warn(&self, now: Millis) -> bool {
        now >= self.at - EXPIRY_WARNING
    }
}

/// Validates an agent idle timeout setting.
pub fn check_agent_timeout(minutes: i64) -> Result<(), String> {
    if (MIN_AGENT_IDLE_TIMEOUT_MINUTES..=MAX_AGENT_IDLE_TIMEOUT_MINUTES).contains(&minutes) {
        Ok(())
    } else {
        Err(format!(
            "agent_idle_timeout_minutes must be between {MIN_AGENT_IDLE_TIMEOUT_MINUTES} (5 minutes) and {MAX_AGENT_IDLE_TIMEOUT_MINUTES} (90 days), got {minutes}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::HOUR;

    #[test]
    fn admins_have_a_fixed_timeout() {
        assert_eq!(idle_timeout_minutes(MemberKind::Admin, 10), 72 * 60);
        assert_eq!(idle_timeout_minutes(MemberKind::Agent, 10), 10);
    }

    #[test]
    fn expiry_is_idle_time_beyond_the_timeout() {
        let l = Liveness {
            started_at: 0,
            last_seen_at: 0,
            idle_timeout_minutes: 72 * 60,
            max_lifetime_minutes: None,
        };
        assert!(!l.is_expired(72 * HOUR));
        assert!(l.is_expired(72 * HOUR + 1));
        let capped = Liveness {
            last_seen_at: 10 * HOUR,
            max_lifetime_minutes: Some(8 * 60),
            ..l
        };
        assert!(capped.is_expired(10 * HOUR));
    }

    #[test]
    fn touches_at_most_once_a_minute() {
        let l = Liveness {
            started_at: 0,
            last_seen_at: 1000,
            idle_timeout_minutes: 5,
            max_lifetime_minutes: None,
        };
        assert!(!l.needs_touch(1000 + MINUTE - 1));
        assert!(l.needs_touch(1000 + MINUTE));
    }

    #[test]
    fn the_deadline_is_the_earlier_of_idle_and_lifetime() {
        let l = Liveness {
            started_at: 0,
            last_seen_at: 10 * MINUTE,
            idle_timeout_minutes: 5,
            max_lifetime_minutes: None,
        };
        let idle = Deadline {
            at: 15 * MINUTE,
            extendable: true,
        };
        assert_eq!(l.deadline(), idle);
        assert!(!idle.warn(14 * MINUTE - 1));
        assert!(idle.warn(14 * MINUTE));
        let capped = Liveness {
            max_lifetime_minutes: Some(12),
            ..l
        };
        assert_eq!(
            capped.deadline(),
            Deadline {
                at: 12 * MINUTE,
                extendable: false
            }
        );
        let later_cap = Liveness {
            max_lifetime_minutes: Some(60),
            ..l
        };
        assert_eq!(later_cap.deadline(), idle);
    }

    #[test]
    fn agent_timeout_bounds() {
        assert!(check_agent_timeout(5).is_ok());
        assert!(check_agent_timeout(129_600).is_ok());
        assert!(check_agent_timeout(4).is_err());
        assert!(check_agent_timeout(129_601).is_err());
    }

    #[test]
    fn reasons_round_trip() {
        for r in [
            EndReason::Logout,
            EndReason::Expired,
            EndReason::EndedByAdmin,
            EndReason::Disabled,
            EndReason::PasswordChanged,
            EndReason::Replaced,
            EndReason::OutsideOfficeNetwork,
            EndReason::MfaReset,
            EndReason::PasswordReset,
            EndReason::EndedByOwner,
        ] {
            assert_eq!(r.as_str().parse::<EndReason>(), Ok(r));
        }
    }
}
