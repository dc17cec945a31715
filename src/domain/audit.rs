//! What the audit log records: the kinds of entries, and the one shape of the entry written
//! when a session ends (whoever ends it, the store writes it with the ending).

use std::fmt;
use std::str::FromStr;

use super::ClientIp;
use super::session::EndReason;

/// The kind of an audit entry, as stored and as the audit filters name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    SignIn,
    SignInFailed,
    SignInRefused,
    SignOut,
    SessionEnded,
    SessionExpired,
    MemberCreated,
    MemberUpdated,
    MemberDisabled,
    MemberEnabled,
    PasswordChanged,
    PermissionsChanged,
    SettingsChanged,
    AccountCreated,
    SessionIpChanged,
    SessionDeviceChanged,
    MfaAdded,
    MfaRemoved,
    MfaReset,
    RecoveryCodeUsed,
    MfaFailed,
    WebhookCreated,
    WebhookDeleted,
    PasswordResetRequested,
    PasswordReset,
    MailFailed,
    InvitationSent,
    InvitationAccepted,
    /// A person used the "This wasn't me" link of a sign-in alert.
    SigninAlertUsed,
    /// A sign-in through the identity provider that signed nobody in, with the reason.
    SsoFailed,
    /// A back-channel logout token from the identity provider that was refused.
    SsoLogoutRefused,
}

impl AuditKind {
    /// Every kind, in the order the audit page offers them.
    pub const ALL: [AuditKind; 31] = [
        AuditKind::SignIn,
        AuditKind::SignInFailed,
        AuditKind::SignInRefused,
        AuditKind::SignOut,
        AuditKind::SessionEnded,
        AuditKind::SessionExpired,
        AuditKind::MemberCreated,
        AuditKind::MemberUpdated,
        AuditKind::MemberDisabled,
        AuditKind::MemberEnabled,
        AuditKind::PasswordChanged,
        AuditKind::PermissionsChanged,
        AuditKind::SettingsChanged,
        AuditKind::AccountCreated,
        AuditKind::SessionIpChanged,
        AuditKind::SessionDeviceChanged,
        AuditKind::MfaAdded,
        AuditKind::MfaRemoved,
        AuditKind::MfaReset,
        AuditKind::RecoveryCodeUsed,
        AuditKind::MfaFailed,
        AuditKind::WebhookCreated,
        AuditKind::WebhookDeleted,
        AuditKind::PasswordResetRequested,
        AuditKind::PasswordReset,
        AuditKind::MailFailed,
        AuditKind::InvitationSent,
        AuditKind::InvitationAccepted,
        AuditKind::SigninAlertUsed,
        AuditKind::SsoFailed,
        AuditKind::SsoLogoutRefused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::SignIn => "signin",
            AuditKind::SignInFailed => "signin.failed",
            AuditKind::SignInRefused => "signin.refused",
            AuditKind::SignOut => "signout",
            AuditKind::SessionEnded => "session.ended",
            AuditKind::SessionExpired => "session.expired",
            AuditKind::MemberCreated => "member.created",
            AuditKind::MemberUpdated => "member.updated",
            AuditKind::MemberDisabled => "member.disabled",
            AuditKind::MemberEnabled => "member.enabled",
            AuditKind::PasswordChanged => "password.changed",
            AuditKind::PermissionsChanged => "permissions.changed",
            AuditKind::SettingsChanged => "settings.changed",
            AuditKind::AccountCreated => "account.created",
            AuditKind::SessionIpChanged => "session.ip_changed",
            AuditKind::SessionDeviceChanged => "session.device_changed",
            AuditKind::MfaAdded => "mfa.added",
            AuditKind::MfaRemoved => "mfa.removed",
            AuditKind::MfaReset => "mfa.reset",
            AuditKind::RecoveryCodeUsed => "mfa.recovery_code_used",
            AuditKind::MfaFailed => "signin.mfa_failed",
            AuditKind::WebhookCreated => "webhook.created",
            AuditKind::WebhookDeleted => "webhook.deleted",
            AuditKind::PasswordResetRequested => "password.reset_requested",
            AuditKind::PasswordReset => "password.reset",
            AuditKind::MailFailed => "mail.failed",
            AuditKind::InvitationSent => "invitation.sent",
            AuditKind::InvitationAccepted => "invitation.accepted",
            AuditKind::SigninAlertUsed => "signin_alert.used",
            AuditKind::SsoFailed => "sso.failed",
            AuditKind::SsoLogoutRefused => "sso.logout_refused",
        }
    }

    /// What people read on the audit page (the API keeps the codes).
    pub fn label(self) -> &'static str {
        match self {
            AuditKind::SignIn => "Signed in",
            AuditKind::SignInFailed => "Sign-in failed",
            AuditKind::SignInRefused => "Sign-in refused",
            AuditKind::SignOut => "Signed out",
            AuditKind::SessionEnded => "Session ended",
            AuditKind::SessionExpired => "Session expired",
            AuditKind::MemberCreated => "Person added",
            AuditKind::MemberUpdated => "Person changed",
            AuditKind::MemberDisabled => "Account disabled",
            AuditKind::MemberEnabled => "Account enabled",
            AuditKind::PasswordChanged => "Password changed",
            AuditKind::PermissionsChanged => "Permissions changed",
            AuditKind::SettingsChanged => "Security settings changed",
            AuditKind::AccountCreated => "Account created",
            AuditKind::SessionIpChanged => "Session's IP address changed",
            AuditKind::SessionDeviceChanged => "Session's device changed",
            AuditKind::MfaAdded => "Two-factor sign-in set up",
            AuditKind::MfaRemoved => "Two-factor sign-in removed",
            AuditKind::MfaReset => "Two-factor sign-in reset",
            AuditKind::RecoveryCodeUsed => "Recovery code used",
            AuditKind::MfaFailed => "Second sign-in step failed",
            AuditKind::WebhookCreated => "Webhook added",
            AuditKind::WebhookDeleted => "Webhook deleted",
            AuditKind::PasswordResetRequested => "Password reset asked for",
            AuditKind::PasswordReset => "Password reset by e-mail link",
            AuditKind::MailFailed => "E-mail could not be sent",
            AuditKind::InvitationSent => "Invitation sent",
            AuditKind::InvitationAccepted => "Invitation accepted",
            AuditKind::SigninAlertUsed => "Sign-in reported as not theirs",
            AuditKind::SsoFailed => "Single sign-on failed",
            AuditKind::SsoLogoutRefused => "Identity provider's sign-out refused",
        }
    }

    /// The kind of the entry for a session that ended for `reason`: a sign-out, an expiry,
    /// or (for every other reason) an ending by someone.
    pub fn for_end(reason: EndReason) -> AuditKind {
        match reason {
            EndReason::Logout => AuditKind::SignOut,
            EndReason::Expired => AuditKind::SessionExpired,
            EndReason::EndedByAdmin
            | EndReason::Disabled
            | EndReason::PasswordChanged
            | EndReason::Replaced
            | EndReason::OutsideOfficeNetwork
            | EndReason::MfaReset
            | EndReason::PasswordReset
            | EndReason::EndedByOwner
            | EndReason::IdpLogout => AuditKind::SessionEnded,
        }
    }
}

impl FromStr for AuditKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AuditKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown audit kind \"{s}\""))
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The audit entry of one ended session, without the id, account and time the writer adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEndEntry {
    pub kind: AuditKind,
    pub actor: Option<String>,
    pub target: String,
    pub ip: Option<ClientIp>,
    pub detail: String,
}

/// The one shape of the entry for a session that ended. An expired session was ended by no
/// one from nowhere, so it names neither who asked (`by`) nor the address they asked from.
pub fn session_end_entry(
    session_id: &str,
    member_id: &str,
    reason: EndReason,
    by: Option<&str>,
    ip: Option<ClientIp>,
) -> SessionEndEntry {
    let expired = reason == EndReason::Expired;
    SessionEndEntry {
        kind: AuditKind::for_end(reason),
        actor: if expired {
            None
        } else {
            by.map(str::to_string)
        },
        target: member_id.to_string(),
        ip: if expired { None } else { ip },
        detail: format!("session {session_id} ended ({reason})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> ClientIp {
        ClientIp::from_recorded(text)
    }

    #[test]
    fn kinds_round_trip() {
        for k in AuditKind::ALL {
            assert_eq!(k.as_str().parse::<AuditKind>(), Ok(k));
        }
        assert!("session.killed".parse::<AuditKind>().is_err());
    }

    #[test]
    fn an_ending_is_a_signout_an_expiry_or_an_ending_by_someone() {
        assert_eq!(AuditKind::for_end(EndReason::Logout), AuditKind::SignOut);
        assert_eq!(
            AuditKind::for_end(EndReason::Expired),
            AuditKind::SessionExpired
        );
        for r in [
            EndReason::EndedByAdmin,
            EndReason::Disabled,
            EndReason::PasswordChanged,
        ] {
            assert_eq!(AuditKind::for_end(r), AuditKind::SessionEnded);
        }
    }

    #[test]
    fn session_end_entries_have_one_shape() {
        let e = session_end_entry(
            "se_1",
            "ag_1",
            EndReason::EndedByAdmin,
            Some("ad_1"),
            Some(ip("203.0.113.9")),
        );
        assert_eq!(
            e,
            SessionEndEntry {
                kind: AuditKind::SessionEnded,
                actor: Some("ad_1".into()),
                target: "ag_1".into(),
                ip: Some(ip("203.0.113.9")),
                detail: "session se_1 ended (ended_by_admin)".into(),
            }
        );
        let out = session_end_entry(
            "se_2",
            "ag_1",
            EndReason::Logout,
            None,
            Some(ip("192.0.2.1")),
        );
        assert_eq!(out.kind, AuditKind::SignOut);
        assert_eq!(out.ip, Some(ip("192.0.2.1")));
        assert_eq!(out.detail, "session se_2 ended (logout)");
        // Expired: no one ended it, from nowhere, whatever the caller passed.
        let gone = session_end_entry(
            "se_3",
            "ag_1",
            EndReason::Expired,
            Some("ad_1"),
            Some(ip("203.0.113.9")),
        );
        assert_eq!(
            (gone.kind, gone.actor, gone.ip, gone.detail.as_str()),
            (
                AuditKind::SessionExpired,
                None,
                None,
                "session se_3 ended (expired)"
            )
        );
    }
}
