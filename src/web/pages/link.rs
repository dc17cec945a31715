//! What the pages reached from a single-use link sent by e-mail share (`/invite/{token}`,
//! `/reset/{token}`): the new password typed twice, checked, then set through the link, and
//! what became of it.

use std::future::Future;

use crate::domain::password;
use crate::service::{ServiceError, ServiceResult};

use super::{FieldErrors, FormData};

/// What became of a new password posted to a link's page.
pub(super) enum Submitted<T> {
    /// Set: what the service answered.
    Set(T),
    /// The link is unknown, used or expired: the page says so.
    Expired,
    /// The form again, with what is wrong in it; the link still works.
    Refused(FieldErrors),
}

/// Reads `password` and its confirmation from the form, checks them, and sets the password
/// with `set` once they pass. Any other error of the service is the caller's.
pub(super) async fn submit_password<T, Fut>(
    form: &FormData,
    set: impl FnOnce(String) -> Fut,
) -> Result<Submitted<T>, ServiceError>
where
    Fut: Future<Output = ServiceResult<T>>,
{
    let new = form.text("password");
    let mut errors = FieldErrors::new();
    errors.check("password", password::check_new_password(&new));
    if errors.is_empty() && form.text("confirm") != new {
        errors.add(
            "confirm",
            "the two passwords differ; type the same one twice",
        );
    }
    if errors.is_empty() {
        match set(new).await {
            Ok(done) => return Ok(Submitted::Set(done)),
            Err(ServiceError::LinkExpired) => return Ok(Submitted::Expired),
            Err(e) => errors.absorb(e, |f| f)?,
        }
    }
    Ok(Submitted::Refused(errors))
}
