//! The secret key kept outside the database (`--secret-key-file`, `DESKWARD_SECRET_KEY`): the
//! server secrets (the TOTP sealing key, the device-pass key) are derived from it, so a copy
//! of the database alone does not hold them. Without it they are random rows of
//! `server_secrets`, as before; see docs/operations.md.

use std::sync::Arc;

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::store::OUTSIDE_KEY_CHECK;

use super::{Service, mfa};

/// The fewest characters a key may have: 32 random bytes written as hex are 64.
pub const MIN_KEY_CHARS: usize = 32;

/// The server secrets the key replaces. Moving to a key reseals what the first and third seal
/// (authenticator secrets, single sign-on client secrets) and drops the second (known-device
/// passes issued before stop counting).
const DERIVED: [&str; 3] = ["mfa-totp", "device-pass", super::sso::SEALING_SECRET];

/// A secret key given from outside the database.
#[derive(Clone)]
pub struct SecretKey(Arc<[u8]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// The key as written in the file or the variable (surrounding white space ignored); `what`
    /// names where it came from in the error.
    pub fn from_text(text: &str, what: &str) -> Result<SecretKey, String> {
        let key = text.trim();
        if key.chars().count() < MIN_KEY_CHARS {
            return Err(format!(
                "{what}: the secret key must be at least {MIN_KEY_CHARS} characters (for \
                 example the output of `openssl rand -hex 32`); it has {}",
                key.chars().count()
            ));
        }
        if key.chars().any(char::is_control) {
            return Err(format!(
                "{what}: the secret key must be one line without control characters"
            ));
        }
        Ok(SecretKey(key.as_bytes().into()))
    }

    fn mac(&self, label: &str) -> Vec<u8> {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(b"deskward\n");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The server secret `name`, derived.
    pub(crate) fn derive(&self, name: &str) -> Arc<[u8]> {
        self.mac(&format!("secret\n{name}")).into()
    }

    /// What the database keeps to recognise the key.
    fn check(&self) -> Vec<u8> {
        self.mac("check")
    }
}

impl Service {
    /// Puts the server secrets under `key`, or checks that the database needs none; called
    /// once at start, before serving. The first start with a key reseals every stored
    /// authenticator secret under it and deletes the stored secrets it replaces, in one
    /// transaction. Refused: a key that differs from the one the database was moved to, and no
    /// key for a database that was moved to one.
    pub async fn use_secret_key(&self, key: Option<SecretKey>) -> Result<(), String> {
        let db_err = |e: crate::store::StoreError| format!("cannot read the server secrets: {e}");
        for _ in 0..2 {
            let check = self
                .store
                .stored_server_secret(OUTSIDE_KEY_CHECK)
                .await
                .map_err(db_err)?;
            let key = match (key.clone(), check) {
                (None, None) => return Ok(()),
                (None, Some(_)) => {
                    return Err("this database's authenticator and device-pass secrets are \
                         derived from a secret key kept outside it: start with the same \
                         --secret-key-file (or DESKWARD_SECRET_KEY)"
                        .to_string());
                }
                (Some(key), Some(check)) => {
                    if !crate::ids::constant_time_eq(&hex::encode(check), &hex::encode(key.check()))
                    {
                        return Err("the secret key (--secret-key-file or DESKWARD_SECRET_KEY) \
                             is not the one this database was moved to: authenticator secrets \
                             would not open with it"
                            .to_string());
                    }
                    key
                }
                (Some(key), None) => {
                    if !self.move_to_key(&key).await? {
                        // Another instance moved it first: check against its key.
                        continue;
                    }
                    key
                }
            };
            self.install_key(key);
            return Ok(());
        }
        Err("the server secrets changed while starting; start again".to_string())
    }

    /// The first start with a key: reseals and retires. `false` if another instance did it.
    async fn move_to_key(&self, key: &SecretKey) -> Result<bool, String> {
        let db_err = |e: crate::store::StoreError| format!("cannot move the server secrets: {e}");
        let sealed = self.store.sealed_totp_secrets().await.map_err(db_err)?;
        let old = self
            .store
            .stored_server_secret(DERIVED[0])
            .await
            .map_err(db_err)?;
        let mut resealed = Vec::with_capacity(sealed.len());
        if !sealed.is_empty() {
            let old = old.ok_or("authenticator secrets are stored but their key is missing")?;
            let new = key.derive(DERIVED[0]);
            for (member_id, text) in sealed {
                let plain = mfa::open_under(&old, &member_id, &text)
                    .map_err(|e| format!("authenticator secret of {member_id}: {e}"))?;
                let again = mfa::seal_under(&new, &member_id, &plain)
                    .map_err(|e| format!("authenticator secret of {member_id}: {e}"))?;
                resealed.push((member_id, text, again));
            }
        }
        let sealed_sso = self.store.sealed_sso_secrets().await.map_err(db_err)?;
        let mut resealed_sso = Vec::with_capacity(sealed_sso.len());
        if !sealed_sso.is_empty() {
            let old = self
                .store
                .stored_server_secret(DERIVED[2])
                .await
                .map_err(db_err)?
                .ok_or("single sign-on client secrets are stored but their key is missing")?;
            let new = key.derive(DERIVED[2]);
            for (account_id, text) in sealed_sso {
                let label = super::sso::seal_label(&account_id);
                let plain = super::sso::open_long(&old, &label, &text)
                    .map_err(|e| format!("client secret of {account_id}: {e}"))?;
                let again = super::sso::seal_long(&new, &label, &plain)
                    .map_err(|e| format!("client secret of {account_id}: {e}"))?;
                resealed_sso.push((account_id, text, again));
            }
        }
        let moved = self
            .store
            .adopt_outside_key(&key.check(), &resealed, &resealed_sso, &DERIVED)
            .await
            .map_err(db_err)?;
        if moved {
            tracing::info!(
                resealed = resealed.len(),
                "server secrets moved to the secret key outside the database"
            );
        }
        Ok(moved)
    }

    fn install_key(&self, key: SecretKey) {
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        secrets.clear();
        for name in DERIVED {
            secrets.insert(name.to_string(), key.derive(name));
        }
        drop(secrets);
        let _ = self.outside_key.set(key);
    }
}
