//! Field errors of a page form, shared by every form: all invalid fields are reported at once,
//! each message next to its field (the input carries `aria-invalid` and `aria-describedby`
//! pointing at it), with one line at the top of the page saying how many need fixing.
//!
//! Pages check every field with the same rules the service applies (`check`), then call the
//! service, which stays the authority: what it still refuses (a taken e-mail, a wrong current
//! password) lands on its field too (`absorb`).

use std::fmt::Display;

use crate::service::ServiceError;

use super::capitalize;

/// What is wrong with a form, by field key (usually the input's name; a page with several
/// forms uses distinct keys). The first problem found for a field is the one shown.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(String, String)>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `message` (a sentence, capitalised here) for `field`, unless it has one.
    pub fn add(&mut self, field: &str, message: impl AsRef<str>) {
        if self.get(field).is_none() {
            self.0
                .push((field.to_string(), capitalize(message.as_ref())));
        }
    }

    /// The value of a check, or `None` with its error recorded for `field`.
    pub fn check<T, E: Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    /// A refusal of the service about one field becomes that field's error: `field_of` turns
    /// the service's field name into the form's key. Any other error is handed back.
    pub fn absorb(
        &mut self,
        e: ServiceError,
        field_of: impl Fn(&str) -> &str,
    ) -> Result<(), ServiceError> {
        match e {
            ServiceError::Invalid { field, message } => {
                self.add(field_of(&field), message);
                Ok(())
            }
            other => Err(other),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// The line at the top of the page (`Layout::error`), or `None` when all is well.
    pub fn summary(&self) -> Option<String> {
        match self.0.len() {
            0 => None,
            1 => Some("Please correct the field marked below.".to_string()),
            n => Some(format!("Please correct the {n} fields marked below.")),
        }
    }

    /// The attributes of an input (without a leading space issue: it starts with one), empty
    /// for a valid field. Field keys are the templates' own literals, so nothing here needs
    /// escaping.
    pub fn attrs(&self, field: &str) -> String {
        match self.get(field) {
            Some(_) => format!(
                r#" aria-invalid="true" aria-describedby="{}""#,
                id_of(field)
            ),
            None => String::new(),
        }
    }

    /// For a group of inputs (a fieldset): points it at its message; `aria-invalid` is for
    /// the inputs themselves.
    pub fn described(&self, field: &str) -> String {
        match self.get(field) {
            Some(_) => format!(r#" aria-describedby="{}""#, id_of(field)),
            None => String::new(),
        }
    }

    /// `attrs` for one of several forms of the same kind on a page (one per `id`).
    pub fn attrs_in(&self, field: &str, id: &str) -> String {
        self.attrs(&format!("{field}-{id}"))
    }

    /// The message element placed right after the field, empty for a valid field.
    pub fn message(&self, field: &str) -> String {
        match self.get(field) {
            Some(m) => format!(
                r#"<p class="field-error" id="{}">{}</p>"#,
                id_of(field),
                escape(m)
            ),
            None => String::new(),
        }
    }

    /// `message` for one of several forms of the same kind on a page.
    pub fn message_in(&self, field: &str, id: &str) -> String {
        self.message(&format!("{field}-{id}"))
    }
}

/// The id of a field's message element.
fn id_of(field: &str) -> String {
    let safe: String = field
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{safe}-error")
}

/// Messages may quote what the person typed.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_field_and_the_first_problem_of_each() {
        let mut e = FieldErrors::new();
        assert_eq!(e.summary(), None);
        assert_eq!(
            e.check::<i64, _>("amount", "x".parse::<i64>().map_err(|_| "not a number")),
            None
        );
        e.add("amount", "a second problem");
        e.add("name", "name is required");
        assert_eq!(e.get("amount"), Some("Not a number."));
        assert_eq!(e.get("name"), Some("Name is required."));
        assert_eq!(
            e.summary().as_deref(),
            Some("Please correct the 2 fields marked below.")
        );
        assert_eq!(
            e.attrs("name"),
            r#" aria-invalid="true" aria-describedby="name-error""#
        );
        assert_eq!(e.attrs("email"), "");
        assert_eq!(e.message("email"), "");
    }

    #[test]
    fn messages_are_escaped_and_service_errors_land_on_their_field() {
        let mut e = FieldErrors::new();
        e.add("url", "url is not a valid URL: \"<x>\"");
        assert_eq!(
            e.message("url"),
            r#"<p class="field-error" id="url-error">Url is not a valid URL: &quot;&lt;x&gt;&quot;.</p>"#
        );
        let taken = ServiceError::invalid("email", "this e-mail address is already used");
        assert!(e.absorb(taken, |f| f).is_ok());
        assert_eq!(e.get("email"), Some("This e-mail address is already used."));
        assert!(e.absorb(ServiceError::NotFound, |f| f).is_err());
        e.add("passkey-pk_1", "current password is incorrect");
        assert!(
            e.message_in("passkey", "pk_1")
                .contains(r#"id="passkey-pk-1-error""#)
        );
    }
}
