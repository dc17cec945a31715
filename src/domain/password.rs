//! Password policy: length bounds without truncation.

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least 12 characters")]
    TooShort,
    #[error("password must be at most 128 characters")]
    TooLong,
}

/// Checks a new password. Counted in characters, not bytes, so non-ASCII passphrases are not
/// penalised; nothing is ever truncated.
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else if n > MAX_PASSWORD_CHARS {
        Err(PasswordError::TooLong)
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
        assert_eq!(check_new_password(&"x".repeat(129)), Err(PasswordError::TooLong));
    }
}
