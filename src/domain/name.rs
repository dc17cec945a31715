//! Names people give things: display names (of people, accounts, passkeys) and account slugs,
//! which become host labels under `--base-domain`.

/// A display name that breaks the rules; the message names the field as the caller called it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NameError {
    pub field: String,
    pub message: String,
}

impl NameError {
    fn new(field: &str, message: String) -> Self {
        Self {
            field: field.to_string(),
            message,
        }
    }
}

/// The longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest slug: a DNS label.
pub const MAX_SLUG_LEN: usize = 63;

/// A display name: trimmed, 1 to 100 characters, no control characters (they would reach
/// e-mail headers and logs).
pub fn check_name(field: &str, raw: &str) -> Result<String, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::new(field, format!("{field} is required")));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::new(
            field,
            format!("{field} must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::new(
            field,
            format!("{field} must not contain control characters"),
        ));
    }
    Ok(name.to_string())
}

/// A slug as given: it must already be a host label, since it is part of the account's address.
pub fn check_slug(slug: &str) -> Result<String, NameError> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG_LEN
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(slug.to_string())
    } else {
        Err(NameError::new(
            "slug",
            "slug must be 1 to 63 lowercase letters, digits or hyphens, not starting or ending \
             with a hyphen"
                .to_string(),
        ))
    }
}

/// A host-label-safe slug from an account name: "Acme Support" → "acme-support".
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out
        .trim_end_matches('-')
        .chars()
        .take(MAX_SLUG_LEN)
        .collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "helpdesk".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Support!"), "acme-support");
        assert_eq!(slugify("Ünïcode"), "n-code");
        assert_eq!(slugify("***"), "helpdesk");
        assert!(check_slug("acme-2").is_ok());
        assert!(check_slug("Acme").is_err());
        assert!(check_slug("-acme").is_err());
        assert!(check_slug(&"a".repeat(63)).is_ok());
        assert!(check_slug(&"a".repeat(64)).is_err());
    }

    #[test]
    fn names() {
        assert_eq!(check_name("name", "  Ann ").unwrap(), "Ann");
        assert!(check_name("name", " ").is_err());
        assert!(check_name("name", &"x".repeat(100)).is_ok());
        assert!(check_name("name", &"x".repeat(101)).is_err());
        assert!(check_name("name", "a\u{7}b").is_err());
        let e = check_name("your name", "").unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.to_string().as_str()),
            ("your name", "your name is required")
        );
    }
}
