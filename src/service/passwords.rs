//! Password hashing with argon2id (OWASP parameters), always off the async runtime.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use super::ServiceError;

/// At most one argon2 computation per core at a time: each takes 19 MiB and a core for tens of
/// milliseconds, so a burst of sign-ins queues here instead of starving the runtime's workers
/// and filling memory.
fn permits() -> &'static tokio::sync::Semaphore {
    static SEM: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SEM.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.max(1))
    })
}

/// Hashes a password. argon2's default parameters are OWASP's: m=19456 KiB, t=2, p=1.
pub async fn hash(password: String) -> Result<String, ServiceError> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|_| ServiceError::Internal("hashing closed".to_string()))?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ServiceError::Internal(format!("hashing failed: {e}")))
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("hashing task failed: {e}")))?
}

/// Checks a password against a stored PHC string. `None` means "no such person": a dummy hash
/// is verified instead so unknown e-mails take as long as wrong passwords.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, ServiceError> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|_| ServiceError::Internal("hashing closed".to_string()))?;
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| ServiceError::Internal(format!("stored hash unreadable: {e}")))?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && stored != DUMMY_HASH)
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("verify task failed: {e}")))?
}

/// An argon2id hash with the production parameters of a password nobody knows.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9oWBe6eodHTb+1wlwE7V5vAkWbbtKh0aPcbOM7JfuWY";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_dummy_never_matches() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse battery".into(), Some(h)).await.unwrap());
        assert!(!verify("anything at all".into(), None).await.unwrap());
    }
}
