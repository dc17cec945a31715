//! Single sign-on with the company's identity provider (OpenID Connect): who may or must use
//! it, which settings are acceptable, which provider address may be reached, why a sign-in
//! through it signed nobody in, and the claims a back-channel logout token must carry. No I/O:
//! fetching, signatures and storage are the service's.

use std::fmt;
use std::str::FromStr;

use super::member::MemberKind;

/// How one role signs in with the identity provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SsoRole {
    /// Password only (the button is not offered to them).
    #[default]
    Off,
    /// The provider or the password.
    Allowed,
    /// The provider only: a password sign-in is refused (the primary administrator excepted).
    Required,
}

impl SsoRole {
    pub fn as_str(self) -> &'static str {
        match self {
            SsoRole::Off => "off",
            SsoRole::Allowed => "allowed",
            SsoRole::Required => "required",
        }
    }

    /// In words, as the Security page offers it.
    pub fn label(self) -> &'static str {
        match self {
            SsoRole::Off => "Off: password only",
            SsoRole::Allowed => "Allowed: the provider or a password",
            SsoRole::Required => "Required: the provider only",
        }
    }
}

impl FromStr for SsoRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(SsoRole::Off),
            "allowed" => Ok(SsoRole::Allowed),
            "required" => Ok(SsoRole::Required),
            other => Err(format!(
                "\"{other}\" is not a policy: use \"off\", \"allowed\" or \"required\""
            )),
        }
    }
}

impl fmt::Display for SsoRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Each role's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SsoRoles {
    pub agents: SsoRole,
    pub admins: SsoRole,
}

impl SsoRoles {
    pub fn for_kind(self, kind: MemberKind) -> SsoRole {
        match kind {
            MemberKind::Agent => self.agents,
            MemberKind::Admin => self.admins,
        }
    }

    /// Whether this person may sign in with the provider.
    pub fn may_use(self, kind: MemberKind) -> bool {
        self.for_kind(kind) != SsoRole::Off
    }

    /// Whether a password sign-in is refused for this person: their role requires the
    /// provider, and they are not the primary administrator, who always keeps the password as
    /// the way back in (a provider that is down or misconfigured must not lock out everyone).
    pub fn password_refused(self, kind: MemberKind, primary: bool) -> bool {
        !primary && self.for_kind(kind) == SsoRole::Required
    }

    /// Whether the sign-in page offers the button at all.
    pub fn any(self) -> bool {
        self.agents != SsoRole::Off || self.admins != SsoRole::Off
    }
}

/// The longest button label.
pub const MAX_LABEL_CHARS: usize = 60;
/// Allowed domains at most.
pub const MAX_DOMAINS: usize = 50;
/// The longest issuer, client id or secret.
pub const MAX_FIELD_CHARS: usize = 2000;

/// The issuer as given: an absolute `https` URL (or `http` when private addresses are allowed,
/// for a provider on this host or the LAN), without query or fragment. Returned without a
/// trailing slash only if it had none: the issuer must match the provider's `iss` exactly.
pub fn check_issuer(text: &str, allow_http: bool) -> Result<url::Url, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(
            "issuer is required: the provider's URL, such as https://accounts.google.com".into(),
        );
    }
    if text.chars().count() > MAX_FIELD_CHARS {
        return Err(format!(
            "issuer is longer than {MAX_FIELD_CHARS} characters"
        ));
    }
    let url = url::Url::parse(text).map_err(|e| format!("issuer is not a URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(
                "issuer must use https (plain http only with serve --sso-allow-private)".into(),
            );
        }
        other => return Err(format!("issuer must be an https URL, not {other}:")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("issuer has no host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("issuer must have no query (?) or fragment (#)".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("issuer must not carry a user name or password".into());
    }
    Ok(url)
}

/// The discovery document's URL for an issuer (OpenID Connect Discovery 1.0, section 4).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// The allowed domains as typed (one a line or separated by commas or spaces): lower case,
/// each checked, duplicates dropped, in the order given.
pub fn check_domains<S: AsRef<str>>(list: &[S]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for raw in list {
        let d = raw
            .as_ref()
            .trim()
            .trim_start_matches('@')
            .to_ascii_lowercase();
        if d.is_empty() {
            continue;
        }
        let labels_ok = d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
        if !labels_ok || !d.contains('.') || d.len() > 253 {
            return Err(format!(
                "allowed_domains: \"{}\" is not a domain name such as example.com",
                raw.as_ref().trim()
            ));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.len() > MAX_DOMAINS {
        return Err(format!("allowed_domains: at most {MAX_DOMAINS} domains"));
    }
    Ok(out)
}

/// Whether an e-mail address's domain is one of `allowed` exactly: a subdomain is another
/// organisation's until it is listed itself.
pub fn domain_allowed(email_norm: &str, allowed: &[String]) -> bool {
    email_norm
        .rsplit_once('@')
        .is_some_and(|(_, d)| allowed.iter().any(|a| a == d))
}

/// The button's words after "Sign in with": given, or "single sign-on".
pub fn check_label(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.chars().count() > MAX_LABEL_CHARS {
        return Err(format!(
            "button_label is longer than {MAX_LABEL_CHARS} characters"
        ));
    }
    if t.chars().any(char::is_control) {
        return Err("button_label must be one line".into());
    }
    Ok(if t.is_empty() {
        "single sign-on".to_string()
    } else {
        t.to_string()
    })
}

/// Whether the provider's `amr` (RFC 8176 values) says a second factor was asked for.
pub fn amr_has_second_factor<S: AsRef<str>>(amr: &[S]) -> bool {
    amr.iter()
        .any(|m| matches!(m.as_ref(), "mfa" | "otp" | "sms" | "hwk"))
}

/// Why a sign-in through the provider signed nobody in: each has the words the page shows and
/// the reason the audit entry (`sso.failed`) records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoFailure {
    /// The account has no provider set up, or nobody may use it.
    NotSetUp,
    /// `state` unknown, used, expired, or started in another browser.
    BadState,
    /// The provider sent back an error (the person cancelled, or it refused).
    ProviderError,
    /// The provider could not be reached, or answered nonsense.
    ProviderUnreachable,
    /// The code exchange or the ID token failed its checks.
    TokenRefused,
    /// The provider does not vouch for the e-mail address.
    UnverifiedEmail,
    /// Nobody in the account has that address, and none is created for it.
    UnknownPerson,
    /// The person's account is disabled.
    AccountDisabled,
    /// The person's role signs in with a password only.
    RoleOff,
}

impl SsoFailure {
    /// The reason as the audit entry records it.
    pub fn as_str(self) -> &'static str {
        match self {
            SsoFailure::NotSetUp => "not_set_up",
            SsoFailure::BadState => "bad_state",
            SsoFailure::ProviderError => "provider_error",
            SsoFailure::ProviderUnreachable => "provider_unreachable",
            SsoFailure::TokenRefused => "token_refused",
            SsoFailure::UnverifiedEmail => "unverified_email",
            SsoFailure::UnknownPerson => "unknown_person",
            SsoFailure::AccountDisabled => "account_disabled",
            SsoFailure::RoleOff => "role_off",
        }
    }

    /// What the page says, in words.
    pub fn message(self) -> &'static str {
        match self {
            SsoFailure::NotSetUp => {
                "Single sign-on is not set up for this account. Sign in with your e-mail and \
                 password."
            }
            SsoFailure::BadState => {
                "This sign-in link has expired, was already used, or was started in another \
                 browser. Nobody was signed in: start again from the sign-in page."
            }
            SsoFailure::ProviderError => {
                "The identity provider did not sign you in (it was cancelled or refused \
                 there). Nobody was signed in: try again from the sign-in page."
            }
            SsoFailure::ProviderUnreachable => {
                "The identity provider cannot be reached right now, so nobody was signed in. \
                 Try again in a few minutes, or sign in with your password if your role \
                 allows it."
            }
            SsoFailure::TokenRefused => {
                "The identity provider's answer did not pass Deskward's checks, so nobody was \
                 signed in. Try again; if it keeps happening, tell your administrator."
            }
            SsoFailure::UnverifiedEmail => {
                "The identity provider does not confirm that your e-mail address is verified, \
                 so nobody was signed in. Verify the address with your provider, or ask your \
                 administrator."
            }
            SsoFailure::UnknownPerson => {
                "Nobody in this helpdesk has the e-mail address your identity provider gave, so \
                 nobody was signed in. Ask an administrator to add you."
            }
            SsoFailure::AccountDisabled => {
                "Your account has been disabled by an administrator, so nobody was signed in."
            }
            SsoFailure::RoleOff => {
                "Your role signs in with a password, not with the identity provider. Sign in \
                 with your e-mail and password."
            }
        }
    }
}

/// Whom a back-channel logout token names: the provider's session (`sid`), the subject
/// (`sub`), or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutSubject {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub jti: String,
    /// The token's `iat`, seconds.
    pub iat: i64,
}

/// The `events` member a logout token must carry (Back-Channel Logout 1.0, section 2.4).
pub const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How far a logout token's `iat` may be from now, seconds: a token older than this is
/// refused, so a `jti` needs remembering only this long.
pub const LOGOUT_TOKEN_MAX_AGE_SECS: i64 = 300;

/// The claims of a logout token whose signature has been checked (Back-Channel Logout 1.0,
/// section 2.6, steps 3 to 6): `iss` the issuer, `aud` including the client id, `iat` within
/// [`LOGOUT_TOKEN_MAX_AGE_SECS`] of `now_secs`, the back-channel `events` member, no
/// `nonce`, a `jti`, and `sid` or `sub`. The error names the first check that failed.
pub fn check_logout_claims(
    claims: &serde_json::Value,
    issuer: &str,
    client_id: &str,
    now_secs: i64,
) -> Result<LogoutSubject, String> {
    let obj = claims
        .as_object()
        .ok_or_else(|| "the token's claims are not a JSON object".to_string())?;
    let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_string);
    if text("iss").as_deref() != Some(issuer) {
        return Err("iss is not the configured issuer".into());
    }
    let aud_ok = match obj.get("aud") {
        Some(serde_json::Value::String(a)) => a == client_id,
        Some(serde_json::Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err("aud does not name this client".into());
    }
    let iat = obj
        .get("iat")
        .and_then(|v| v.as_i64())
        .ok_or_else(|| "iat is missing".to_string())?;
    if (now_secs - iat).abs() > LOGOUT_TOKEN_MAX_AGE_SECS {
        return Err("iat is more than five minutes away from now".into());
    }
    if let Some(exp) = obj.get("exp").and_then(|v| v.as_i64())
        && exp < now_secs
    {
        return Err("the token has expired (exp)".into());
    }
    let has_event = obj
        .get("events")
        .and_then(|e| e.as_object())
        .and_then(|e| e.get(BACKCHANNEL_EVENT))
        .is_some_and(|v| v.is_object());
    if !has_event {
        return Err("the back-channel logout events claim is missing".into());
    }
    if obj.contains_key("nonce") {
        return Err("a logout token must not carry a nonce".into());
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| "jti is missing".to_string())?;
    let sid = text("sid").filter(|s| !s.is_empty());
    let sub = text("sub").filter(|s| !s.is_empty());
    if sid.is_none() && sub.is_none() {
        return Err("the token names neither sid nor sub".into());
    }
    Ok(LogoutSubject { sid, sub, jti, iat })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISS: &str = "https://idp.example.com";
    const NOW: i64 = 1_800_000_000;

    fn good() -> serde_json::Value {
        json!({
            "iss": ISS,
            "aud": "deskward",
            "iat": NOW - 10,
            "jti": "j1",
            "sid": "s1",
            "events": {BACKCHANNEL_EVENT: {}},
        })
    }

    fn with(f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> serde_json::Value {
        let mut v = good();
        f(v.as_object_mut().unwrap());
        v
    }

    #[test]
    fn a_good_logout_token_names_its_session() {
        let s = check_logout_claims(&good(), ISS, "deskward", NOW).unwrap();
        assert_eq!(s.sid.as_deref(), Some("s1"));
        assert_eq!(s.sub, None);
        assert_eq!(s.jti, "j1");
        let arr = with(|o| {
            o.insert("aud".into(), json!(["other", "deskward"]));
        });
        assert!(check_logout_claims(&arr, ISS, "deskward", NOW).is_ok());
        let by_sub = with(|o| {
            o.remove("sid");
            o.insert("sub".into(), json!("u1"));
        });
        let s = check_logout_claims(&by_sub, ISS, "deskward", NOW).unwrap();
        assert_eq!((s.sid, s.sub.as_deref()), (None, Some("u1")));
    }

    #[test]
    fn each_bad_claim_is_refused_and_named() {
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (
                with(|o| {
                    o.insert("iss".into(), json!("https://evil"));
                }),
                "iss",
            ),
            (
                with(|o| {
                    o.remove("iss");
                }),
                "iss",
            ),
            (
                with(|o| {
                    o.insert("aud".into(), json!("other"));
                }),
                "aud",
            ),
            (
                with(|o| {
                    o.insert("aud".into(), json!(["other"]));
                }),
                "aud",
            ),
            (
                with(|o| {
                    o.remove("iat");
                }),
                "iat",
            ),
            (
                with(|o| {
                    o.insert("iat".into(), json!(NOW - 301));
                }),
                "iat",
            ),
            (
                with(|o| {
                    o.insert("iat".into(), json!(NOW + 301));
                }),
                "iat",
            ),
            (
                with(|o| {
                    o.insert("exp".into(), json!(NOW - 1));
                }),
                "exp",
            ),
            (
                with(|o| {
                    o.remove("events");
                }),
                "events",
            ),
            (
                with(|o| {
                    o.insert("events".into(), json!({"other": {}}));
                }),
                "events",
            ),
            (
                with(|o| {
                    o.insert("events".into(), json!({BACKCHANNEL_EVENT: "x"}));
                }),
                "events",
            ),
            (
                with(|o| {
                    o.insert("nonce".into(), json!("n"));
                }),
                "nonce",
            ),
            (
                with(|o| {
                    o.remove("jti");
                }),
                "jti",
            ),
            (
                with(|o| {
                    o.remove("sid");
                }),
                "neither sid nor sub",
            ),
        ];
        for (claims, named) in cases {
            let e = check_logout_claims(&claims, ISS, "deskward", NOW).unwrap_err();
            assert!(e.contains(named), "{claims} → {e}");
        }
        assert!(check_logout_claims(&json!([1]), ISS, "deskward", NOW).is_err());
    }

    #[test]
    fn required_refuses_the_password_except_for_the_primary() {
        let roles = SsoRoles {
            agents: SsoRole::Required,
            admins: SsoRole::Allowed,
        };
        assert!(roles.password_refused(MemberKind::Agent, false));
        assert!(!roles.password_refused(MemberKind::Admin, false));
        let admins_required = SsoRoles {
            agents: SsoRole::Off,
            admins: SsoRole::Required,
        };
        assert!(admins_required.password_refused(MemberKind::Admin, false));
        assert!(!admins_required.password_refused(MemberKind::Admin, true));
        assert!(!admins_required.may_use(MemberKind::Agent));
        assert!(admins_required.any());
        assert!(!SsoRoles::default().any());
    }

    #[test]
    fn issuers_must_be_https_unless_private_is_allowed() {
        assert!(check_issuer("https://accounts.google.com", false).is_ok());
        assert!(check_issuer("http://127.0.0.1:9000", false).is_err());
        assert!(check_issuer("http://127.0.0.1:9000", true).is_ok());
        assert!(check_issuer("ftp://x.example", true).is_err());
        assert!(check_issuer("https://x.example/?a=1", false).is_err());
        assert!(check_issuer("https://u:p@x.example", false).is_err());
        assert!(check_issuer("", false).is_err());
        assert!(check_issuer("not a url", false).is_err());
        assert_eq!(
            discovery_url("https://x.example/realms/a/"),
            "https://x.example/realms/a/.well-known/openid-configuration"
        );
    }

    #[test]
    fn domains_are_exact() {
        let d = check_domains(&["Example.com", " @corp.example.org ", "example.com", ""]).unwrap();
        assert_eq!(d, vec!["example.com", "corp.example.org"]);
        assert!(domain_allowed("ann@example.com", &d));
        assert!(!domain_allowed("ann@sub.example.com", &d));
        assert!(!domain_allowed("ann@example.com.evil", &d));
        assert!(check_domains(&["no_underscores.com"]).is_err());
        assert!(check_domains(&["localhost"]).is_err());
        assert!(check_domains(&["-x.com"]).is_err());
    }

    #[test]
    fn second_factor_from_amr_and_labels() {
        assert!(amr_has_second_factor(&["pwd", "mfa"]));
        assert!(amr_has_second_factor(&["otp"]));
        assert!(!amr_has_second_factor(&["pwd"]));
        assert!(!amr_has_second_factor::<&str>(&[]));
        assert_eq!(check_label("  ").unwrap(), "single sign-on");
        assert_eq!(check_label("Okta").unwrap(), "Okta");
        assert!(check_label(&"x".repeat(61)).is_err());
        assert!("sometimes".parse::<SsoRole>().is_err());
        assert_eq!("required".parse::<SsoRole>(), Ok(SsoRole::Required));
    }
}
