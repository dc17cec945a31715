//! The vocabulary of signing in: the methods that prove who someone is (a session records
//! those it was opened with) and what a sign-in's pending server-side challenge is for.

use std::fmt;
use std::str::FromStr;

/// One way of proving who someone is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Password,
    /// A code of an authenticator app.
    Totp,
    /// A passkey (WebAuthn).
    Webauthn,
    RecoveryCode,
    /// The company's identity provider vouched for the person (OpenID Connect).
    Sso,
    /// The identity provider says it asked for a second factor (its ID token's `amr`).
    Mfa,
}

impl AuthMethod {
    /// Every method, in the order lists of them are written.
    pub const ALL: [AuthMethod; 6] = [
        AuthMethod::Password,
        AuthMethod::Totp,
        AuthMethod::Webauthn,
        AuthMethod::RecoveryCode,
        AuthMethod::Sso,
        AuthMethod::Mfa,
    ];

    /// The name API.md and the database use.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::Totp => "totp",
            AuthMethod::Webauthn => "webauthn",
            AuthMethod::RecoveryCode => "recovery_code",
            AuthMethod::Sso => "sso",
            AuthMethod::Mfa => "mfa",
        }
    }

    /// In words, as pages show it.
    pub fn label(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::Totp => "authenticator app",
            AuthMethod::Webauthn => "passkey",
            AuthMethod::RecoveryCode => "recovery code",
            AuthMethod::Sso => "single sign-on",
            AuthMethod::Mfa => "the identity provider's second factor",
        }
    }

    fn bit(self) -> u8 {
        match self {
            AuthMethod::Password => 1,
            AuthMethod::Totp => 2,
            AuthMethod::Webauthn => 4,
            AuthMethod::RecoveryCode => 8,
            AuthMethod::Sso => 16,
            AuthMethod::Mfa => 32,
        }
    }
}

impl FromStr for AuthMethod {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        AuthMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or(())
    }
}

/// A set of methods: those a session was opened with, or a person's second factors. Always
/// listed in the order of [`AuthMethod::ALL`] (the password first), so it reads and stores
/// the same whatever order it was built in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthMethods(u8);

impl AuthMethods {
    pub fn none() -> Self {
        Self(0)
    }

    pub fn password() -> Self {
        Self::none().with(AuthMethod::Password)
    }

    #[must_use]
    pub fn with(self, m: AuthMethod) -> Self {
        Self(self.0 | m.bit())
    }

    pub fn contains(self, m: AuthMethod) -> bool {
        self.0 & m.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Opened by the password and nothing else: the one case where the account's rule that
    /// a second factor is required can still apply.
    pub fn password_only(self) -> bool {
        self == Self::password()
    }

    /// Opened through the identity provider with no second factor that Deskward or the
    /// provider vouches for: like [`Self::password_only`], the account's rule that a second
    /// factor is required still applies.
    pub fn single_factor(self) -> bool {
        self.password_only() || self == Self::none().with(AuthMethod::Sso)
    }

    pub fn iter(self) -> impl Iterator<Item = AuthMethod> {
        AuthMethod::ALL
            .into_iter()
            .filter(move |m| self.contains(*m))
    }

    /// As the database stores it: the names joined by commas (`password,totp`).
    pub fn to_db(self) -> String {
        self.to_string()
    }

    /// Read back from the database; a name this version does not know (a newer one wrote it)
    /// is left out rather than failing the read of the session.
    pub fn from_db(text: &str) -> Self {
        text.split(',')
            .filter_map(|m| m.trim().parse().ok())
            .fold(Self::none(), Self::with)
    }

    /// In words: "password + authenticator app".
    pub fn label(self) -> String {
        self.iter()
            .map(AuthMethod::label)
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

impl FromIterator<AuthMethod> for AuthMethods {
    fn from_iter<I: IntoIterator<Item = AuthMethod>>(iter: I) -> Self {
        iter.into_iter().fold(Self::none(), Self::with)
    }
}

impl fmt::Display for AuthMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(m.as_str())?;
        }
        Ok(())
    }
}

/// A list of names in JSON (`["password", "totp"]`), as API.md shows it.
impl serde::Serialize for AuthMethods {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(AuthMethod::as_str))
    }
}

/// What a pending sign-in challenge is for: each step takes only its own kind, so a challenge
/// given for one step can never complete another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// The password opened both accounts of a linked pair: which one.
    ChooseAccount,
    /// The password was right; a second factor completes the sign-in.
    SecondStep,
    /// A passkey being registered: the ceremony's state.
    PasskeyRegister,
    /// A passkey answering the second step: the ceremony's state.
    PasskeyAuth,
}

impl ChallengePurpose {
    pub const ALL: [ChallengePurpose; 4] = [
        ChallengePurpose::ChooseAccount,
        ChallengePurpose::SecondStep,
        ChallengePurpose::PasskeyRegister,
        ChallengePurpose::PasskeyAuth,
    ];

    /// As stored. These are the names earlier versions wrote, so challenges pending across
    /// an upgrade still complete.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengePurpose::ChooseAccount => "choose",
            ChallengePurpose::SecondStep => "mfa",
            ChallengePurpose::PasskeyRegister => "passkey-register",
            ChallengePurpose::PasskeyAuth => "passkey-auth",
        }
    }
}

impl FromStr for ChallengePurpose {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        ChallengePurpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_store_and_read_back_in_one_order() {
        let m = AuthMethods::none()
            .with(AuthMethod::Totp)
            .with(AuthMethod::Password);
        assert_eq!(m.to_db(), "password,totp");
        assert_eq!(AuthMethods::from_db("password,totp"), m);
        assert_eq!(AuthMethods::from_db("totp,password"), m);
        assert_eq!(AuthMethods::password().to_db(), "password");
        assert_eq!(AuthMethods::none().to_db(), "");
        assert!(AuthMethods::from_db("").is_empty());
        for m in AuthMethod::ALL {
            let one = AuthMethods::none().with(m);
            assert_eq!(AuthMethods::from_db(&one.to_db()), one);
            assert_eq!(m.as_str().parse::<AuthMethod>(), Ok(m));
        }
    }

    #[test]
    fn unknown_methods_are_left_out() {
        assert_eq!(
            AuthMethods::from_db("password,carrier-pigeon"),
            AuthMethods::password()
        );
    }

    #[test]
    fn only_the_password_alone_is_password_only() {
        assert!(AuthMethods::password().password_only());
        assert!(
            !AuthMethods::password()
                .with(AuthMethod::Webauthn)
                .password_only()
        );
        assert!(!AuthMethods::none().password_only());
    }

    #[test]
    fn methods_are_a_json_list_and_words() {
        let m = AuthMethods::password().with(AuthMethod::RecoveryCode);
        assert_eq!(
            serde_json::to_value(m).unwrap(),
            serde_json::json!(["password", "recovery_code"])
        );
        assert_eq!(m.label(), "password + recovery code");
        assert_eq!(
            AuthMethods::password().with(AuthMethod::Totp).label(),
            "password + authenticator app"
        );
        assert_eq!(
            AuthMethods::password().with(AuthMethod::Webauthn).label(),
            "password + passkey"
        );
    }

    #[test]
    fn purposes_keep_their_stored_names() {
        let names: Vec<_> = ChallengePurpose::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, ["choose", "mfa", "passkey-register", "passkey-auth"]);
        for p in ChallengePurpose::ALL {
            assert_eq!(p.as_str().parse::<ChallengePurpose>(), Ok(p));
        }
        assert!("choose_account".parse::<ChallengePurpose>().is_err());
    }
}
