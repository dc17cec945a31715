//! Password policy: length bounds without truncation.

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least 12 characters")]
    TooShort,
    #[error("password must be at most 128 characters")]
    TooLong,
    #[error("password is one of the most commonly used passwords; choose another")]
    TooCommon,
}

/// The most common passwords (data/README.md says where the list comes from).
static COMMON: &str = include_str!("../../data/common-passwords.txt");

fn common_set() -> &'static std::collections::HashSet<&'static str> {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| {
        COMMON
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// Whether a password is on the common-passwords list (compared lower-cased).
pub fn is_common(password: &str) -> bool {
    common_set().contains(password.to_lowercase().as_str())
}

/// Checks a new password. Counted in characters, not bytes, so non-ASCII passphrases are not
/// penalised; nothing is ever truncated.
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else if n > MAX_PASSWORD_CHARS {
        Err(PasswordError::TooLong)
    } else if is_common(password) {
        Err(PasswordError::TooCommon)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforces_bounds() {
        assert_eq!(check_new_password("short"), Err(PasswordError::TooShort));
        assert_eq!(check_new_password(&"x".repeat(12)), Ok(()));
        assert_eq!(check_new_password(&"é".repeat(128)), Ok(()));
        assert_eq!(
            check_new_password(&"x".repeat(129)),
            Err(PasswordError::TooLong)
        );
    }

    #[test]
    fn refuses_common_passwords() {
        assert!(common_set().len() >= 10_000);
        assert!(is_common("123456"));
        assert_eq!(
            check_new_password("1q2w3e4r5t6y"),
            Err(PasswordError::TooCommon)
        );
        assert_eq!(
            check_new_password("Qwertyuiop123"),
            Err(PasswordError::TooCommon)
        );
        assert_eq!(check_new_password("violet-harbor-lantern"), Ok(()));
    }
}
