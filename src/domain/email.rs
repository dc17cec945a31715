//! E-mail addresses: trimmed on input, compared case-insensitively, validated for shape.

use std::fmt;

pub const MAX_EMAIL_LEN: usize = 254;

/// A validated e-mail address as the person typed it (trimmed), with its normalized form used
/// for uniqueness and for detecting linked accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    normalized: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("e-mail is required")]
    Empty,
    #[error("e-mail is longer than 254 characters")]
    TooLong,
    #[error("e-mail must look like name@example.com")]
    Malformed,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let display = raw.trim();
        if display.is_empty() {
            return Err(EmailError::Empty);
        }
        if display.chars().count() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = display.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let domain_ok = !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '<' && c != '>');
        if !domain_ok || !local_ok {
            return Err(EmailError::Malformed);
        }
        Ok(Self {
            display: display.to_string(),
            normalized: normalize(display),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// The comparison key of an address: two addresses are the same person's when these are equal.
pub fn normalize(raw: &str) -> String {
    raw.trim().to_lowercase()
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_normalizes() {
        let e = Email::parse("  Ann.Lee@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Ann.Lee@Example.COM");
        assert_eq!(e.normalized(), "ann.lee@example.com");
    }

    #[test]
    fn rejects_bad_shapes() {
        assert_eq!(Email::parse("  "), Err(EmailError::Empty));
        for bad in [
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "a@b..com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }
}
