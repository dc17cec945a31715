//! Field errors of a page form, shared by every form: all invalid fields are reported at once,
//! each message next to its field (the input carries `aria-invalid` and `aria-describedby`
//! pointing at it: `templates/fields.html`), with one line at the top of the page saying how
//! many need fixing.
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

    pub fn get(&self, field: impl AsRef<str>) -> Option<&str> {
        let field = field.as_ref();
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

    /// The id of `field`'s message element, which its input's `aria-describedby` names
    /// (the macros of `templates/fields.html` put both on the page).
    pub fn id(&self, field: impl AsRef<str>) -> String {
        let safe: String = field
            .as_ref()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        format!("{safe}-error")
    }

    /// The key of `field` in one of several forms of the same kind on a page (one per `id`).
    pub fn key(&self, field: &str, id: impl AsRef<str>) -> String {
        format!("{field}-{}", id.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use askama::Template;

    use super::*;

    /// A field as the page templates write it, with the macros they use.
    #[derive(Template)]
    #[template(
        source = "{% import \"fields.html\" as f %}<input name=\"{{ name }}\"{{ f::attrs(errors, name) }}>\
                  {{ f::message(errors, name) }}<fieldset{{ f::described(errors, \"group\") }}>\
                  {{ f::message(errors, errors.key(\"passkey\", id)) }}",
        ext = "html"
    )]
    struct Field<'a> {
        errors: &'a FieldErrors,
        name: &'a str,
        id: String,
    }

    fn field(errors: &FieldErrors, name: &str) -> String {
        Field {
            errors,
            name,
            id: "pk_1".to_string(),
        }
        .render()
        .unwrap()
    }

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
            field(&e, "name"),
            r#"<input name="name" aria-invalid="true" aria-describedby="name-error"><p class="field-error" id="name-error">Name is required.</p><fieldset>"#
        );
        assert_eq!(field(&e, "email"), r#"<input name="email"><fieldset>"#);
    }

    #[test]
    fn messages_are_escaped_and_service_errors_land_on_their_field() {
        let mut e = FieldErrors::new();
        e.add("url", "url is not a valid URL: \"<x>\"");
        assert!(field(&e, "url").contains(
            r#"<p class="field-error" id="url-error">Url is not a valid URL: &#34;&#60;x&#62;&#34;.</p>"#
        ));
        let taken = ServiceError::invalid("email", "this e-mail address is already used");
        assert!(e.absorb(taken, |f| f).is_ok());
        assert_eq!(e.get("email"), Some("This e-mail address is already used."));
        assert!(e.absorb(ServiceError::NotFound, |f| f).is_err());
        e.add("group", "choose one");
        e.add("passkey-pk_1", "current password is incorrect");
        assert!(field(&e, "x").ends_with(
            r#"<fieldset aria-describedby="group-error"><p class="field-error" id="passkey-pk-1-error">Current password is incorrect.</p>"#
        ));
    }
}
