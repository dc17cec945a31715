//! Forward auth's signed identity: `Remote-Assertion`, a short-lived EdDSA (Ed25519) JWT the
//! verify endpoints hand the proxy for the app, the keys that sign it (in the database, shared
//! by every instance, private halves sealed under a server secret like authenticator secrets)
//! and their JWKS. Keys rotate on `domain::assertion`'s schedule from a background tick, with
//! no restart. A token is signed once per session and audience and handed out again until half
//! its life has passed, so a verify that finds one costs a map lookup, not a signature.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::domain::assertion::{self, Slot};
use crate::events::Event;
use crate::store::AssertionKey;

use super::{Service, ServiceError, ServiceResult, mfa};

/// The server secret the private keys are sealed under (derived from `--secret-key-file` when
/// one is given, see `keys.rs`).
const SEALING_SECRET: &str = "assertion-key";
/// Tokens kept at most; past it the oldest half-lives are dropped first, then everything (a
/// dropped token is only signed again).
const MAX_CACHED: usize = 50_000;
/// PKCS#8 v1 of an Ed25519 private key: this header, then the 32-byte seed (RFC 8410).
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Who a token names: what the verify endpoints also send as `Remote-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity<'a> {
    pub account_id: &'a str,
    pub sub: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub groups: &'a [&'static str],
    pub sid: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    email: &'a str,
    name: &'a str,
    groups: &'a [&'static str],
    sid: &'a str,
    iat: i64,
    exp: i64,
}

/// A loaded key: its place in the schedule, its id and public half, and (when it could be
/// opened) what signs with it.
struct LoadedKey {
    slot: Slot,
    kid: String,
    signer: Option<EncodingKey>,
}

/// The keys as last read from the database, with the JWKS made from them.
#[derive(Default)]
struct KeyRing {
    keys: Vec<LoadedKey>,
    /// Every stored key, published or not yet retired, for the schedule.
    slots: Vec<Slot>,
    /// `kid` → public `x`, of every stored key.
    public: Vec<(String, String)>,
}

/// A token handed out, with what it says, so a changed name or role is never served from
/// the cache.
struct Cached {
    aud: String,
    kid: String,
    iat: i64,
    sub: String,
    email: String,
    name: String,
    groups: Vec<&'static str>,
    token: Arc<str>,
}

impl Cached {
    fn serves(&self, id: &Identity<'_>, aud: &str, kid: &str, now_secs: i64) -> bool {
        assertion::reusable(self.iat, now_secs)
            && self.aud == aud
            && self.kid == kid
            && self.sub == id.sub
            && self.email == id.email
            && self.name == id.name
            && self.groups == id.groups
    }
}

/// The service's part: the key ring and the token cache.
#[derive(Default)]
pub struct Assertions {
    ring: RwLock<Arc<KeyRing>>,
    /// By session id; one entry per audience the session was verified for.
    tokens: RwLock<HashMap<String, Vec<Cached>>>,
}

impl Assertions {
    /// Drops the tokens of a session that ended (and everything on a resync).
    pub(crate) fn apply(&self, event: &Event) {
        match event {
            Event::SessionEnded { session_id, .. } => {
                let mut t = self.tokens.write().unwrap_or_else(|e| e.into_inner());
                t.remove(session_id);
            }
            Event::Resync => self
                .tokens
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .clear(),
            _ => {}
        }
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl KeyRing {
    fn signing(&self, now: i64) -> Option<&LoadedKey> {
        let slot = assertion::signing(&self.slots, now)?;
        self.keys
            .iter()
            .find(|k| k.slot == slot)
            .filter(|k| k.signer.is_some())
    }
}

/// A fresh Ed25519 key: (seed, public key).
fn new_keypair() -> ServiceResult<(Vec<u8>, Vec<u8>)> {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let seed = crate::ids::random_bytes(32);
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
        .map_err(|e| ServiceError::Internal(format!("assertion key: {e}")))?;
    Ok((seed, pair.public_key().as_ref().to_vec()))
}

/// The public key (base64url) of a seed. Sealing has no integrity check of its own (a seed
/// opened under the wrong secret comes out as other bytes, not as an error): a seed is used
/// only when it gives back the public key stored beside it.
fn public_of(seed: &[u8]) -> Option<String> {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let pair = Ed25519KeyPair::from_seed_unchecked(seed).ok()?;
    Some(URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()))
}

fn signer_of(seed: &[u8]) -> Option<EncodingKey> {
    if seed.len() != 32 {
        return None;
    }
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(seed);
    Some(EncodingKey::from_ed_der(&der))
}

/// The label a key's seed is sealed with: the key's own id, so one sealed seed cannot be
/// passed off as another's.
fn seal_label(kid: &str) -> String {
    format!("assertion-key\n{kid}")
}

impl Service {
    /// `Remote-Assertion` for `id`, for the app at origin `aud`: the cached token while it is
    /// reusable, else a new one. `None` when no key can sign yet (the database is down at
    /// the first start): the verify answer goes out without it rather than failing.
    pub async fn assertion(&self, id: &Identity<'_>, aud: &str) -> Option<Arc<str>> {
        let now = self.now();
        let now_secs = now.div_euclid(1000);
        let mut ring = self.assertions.ring();
        // No key to sign with in memory (the first tick has not run, or it is replacing a key
        // it could not open): read the keys now. Otherwise the tick keeps them, and the check
        // never waits on the database for them.
        if ring.signing(now).is_none() {
            if let Err(e) = self.rotate_assertion_keys().await {
                tracing::warn!(error = %e, "no key to sign Remote-Assertion with");
                return None;
            }
            ring = self.assertions.ring();
        }
        let key = ring.signing(now)?;
        {
            let tokens = self
                .assertions
                .tokens
                .read()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(hit) = tokens
                .get(id.sid)
                .and_then(|v| v.iter().find(|c| c.serves(id, aud, &key.kid, now_secs)))
            {
                return Some(hit.token.clone());
            }
        }
        let iss = self.assertion_issuer(id.account_id).await;
        let claims = Claims {
            iss: &iss,
            aud,
            sub: id.sub,
            email: id.email,
            name: id.name,
            groups: id.groups,
            sid: id.sid,
            iat: now_secs,
            exp: now_secs + assertion::TOKEN_TTL_SECS,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let signer = key.signer.as_ref()?;
        let token: Arc<str> = match jsonwebtoken::encode(&header, &claims, signer) {
            Ok(t) => t.into(),
            Err(e) => {
                tracing::warn!(error = %e, "signing Remote-Assertion failed");
                return None;
            }
        };
        let entry = Cached {
            aud: aud.to_string(),
            kid: key.kid.clone(),
            iat: now_secs,
            sub: id.sub.to_string(),
            email: id.email.to_string(),
            name: id.name.to_string(),
            groups: id.groups.to_vec(),
            token: token.clone(),
        };
        let mut tokens = self
            .assertions
            .tokens
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= MAX_CACHED && !tokens.contains_key(id.sid) {
            tokens.retain(|_, v| {
                v.retain(|c| assertion::reusable(c.iat, now_secs));
                !v.is_empty()
            });
            if tokens.len() >= MAX_CACHED {
                tokens.clear();
            }
        }
        let list = tokens.entry(id.sid.to_string()).or_default();
        list.retain(|c| c.aud != aud && assertion::reusable(c.iat, now_secs));
        list.push(entry);
        Some(token)
    }

    /// `iss`: the public URL (`--public-url`, else the address served on, with the prefix),
    /// on the account's own host under `--base-domain`; what e-mail links start with.
    async fn assertion_issuer(&self, account_id: &str) -> String {
        let per_account = self
            .mail_links
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|l| l.per_account_host);
        let slug = if per_account {
            match self.store.account(account_id).await {
                Ok(a) => a.slug,
                Err(_) => String::new(),
            }
        } else {
            String::new()
        };
        self.link(&slug, "")
    }

    /// What the JWKS lists: (`kid`, public key as base64url) of every key whose tokens may
    /// be valid now or that signs next. Reads the keys first if none are loaded.
    pub async fn assertion_jwks(&self) -> Vec<(String, String)> {
        if self.assertions.ring().slots.is_empty()
            && let Err(e) = self.rotate_assertion_keys().await
        {
            tracing::warn!(error = %e, "cannot read the Remote-Assertion keys");
        }
        let ring = self.assertions.ring();
        let now = self.now();
        ring.slots
            .iter()
            .zip(ring.public.iter())
            .filter(|(slot, _)| assertion::published(**slot, &ring.slots, now))
            .map(|(_, key)| key.clone())
            .collect()
    }

    /// One turn of the keys' schedule: makes the key that is due (another instance may make
    /// it first: then that one is used), deletes those none of whose tokens can be valid any
    /// more, and reloads the rest. Run at start and on every tick by each instance.
    pub async fn rotate_assertion_keys(&self) -> ServiceResult<()> {
        let now = self.now();
        let stored = self.store.assertion_keys().await?;
        let slots: Vec<Slot> = stored.iter().map(slot_of).collect();
        let stored = match assertion::due(&slots, now) {
            Some(next) => {
                self.add_assertion_key(next).await?;
                self.store.assertion_keys().await?
            }
            None => stored,
        };
        self.load_assertion_keys(stored, now).await?;
        let ring = self.assertions.ring();
        if ring.signing(now).is_none()
            && let Some(newest) = ring.slots.iter().map(|s| s.generation).max()
            && assertion::signing(&ring.slots, now).is_some()
        {
            // The key whose turn it is cannot be opened here (sealed under a secret this
            // database has since moved away from): a new one signs from now, rather than
            // none for the rest of the turn. Verifiers fetch the JWKS again for its `kid`.
            self.add_assertion_key(Slot {
                generation: newest + 1,
                signs_from: now,
            })
            .await?;
            let stored = self.store.assertion_keys().await?;
            self.load_assertion_keys(stored, now).await?;
        }
        Ok(())
    }

    /// Writes a new key for `slot`; another instance may have written that generation first.
    async fn add_assertion_key(&self, slot: Slot) -> ServiceResult<()> {
        let kid = crate::ids::new_id("ak");
        let (seed, public) = new_keypair()?;
        let secret = self.secret(SEALING_SECRET).await?;
        let sealed = mfa::seal_under(&secret, &seal_label(&kid), &seed)?;
        let won = self
            .store
            .add_assertion_key(&AssertionKey {
                kid: kid.clone(),
                generation: slot.generation,
                signs_from: slot.signs_from,
                public_key: URL_SAFE_NO_PAD.encode(public),
                private_key: sealed,
                created_at: self.now(),
            })
            .await?;
        if won {
            tracing::info!(
                kid,
                generation = slot.generation,
                signs_from = slot.signs_from,
                "new Remote-Assertion key"
            );
        }
        Ok(())
    }

    /// Deletes the keys none of whose tokens can be valid at `now` and puts the rest in
    /// memory, opening those not open yet.
    async fn load_assertion_keys(
        &self,
        mut stored: Vec<AssertionKey>,
        now: i64,
    ) -> ServiceResult<()> {
        let slots: Vec<Slot> = stored.iter().map(slot_of).collect();
        // Keys older than the oldest still published can go: none of their tokens is valid.
        if let Some(oldest) = slots
            .iter()
            .filter(|s| assertion::published(**s, &slots, now))
            .map(|s| s.generation)
            .min()
            && slots.iter().any(|s| s.generation < oldest)
        {
            self.store.delete_assertion_keys_below(oldest).await?;
            stored.retain(|k| k.generation >= oldest);
        }
        let secret = self.secret(SEALING_SECRET).await?;
        let current = self.assertions.ring();
        let mut ring = KeyRing::default();
        for k in stored {
            // Keys already open are not opened again.
            let signer = match current.keys.iter().find(|l| l.kid == k.kid) {
                Some(l) => l.signer.clone(),
                None => mfa::open_under(&secret, &seal_label(&k.kid), &k.private_key)
                    .ok()
                    .filter(|seed| public_of(seed).is_some_and(|p| p == k.public_key))
                    .and_then(|seed| signer_of(&seed)),
            };
            if signer.is_none() {
                // Sealed under another secret: published while its tokens may live, never
                // used to sign.
                tracing::warn!(kid = k.kid, "a Remote-Assertion key cannot be opened");
            }
            let slot = slot_of(&k);
            ring.slots.push(slot);
            ring.public.push((k.kid.clone(), k.public_key));
            ring.keys.push(LoadedKey {
                slot,
                kid: k.kid,
                signer,
            });
        }
        *self
            .assertions
            .ring
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
        Ok(())
    }
}

fn slot_of(k: &AssertionKey) -> Slot {
    Slot {
        generation: k.generation,
        signs_from: k.signs_from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_signs_what_its_public_key_verifies() {
        let (seed, public) = new_keypair().unwrap();
        let signer = signer_of(&seed).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let token = jsonwebtoken::encode(&header, &serde_json::json!({"sub": "x"}), &signer)
            .expect("signs");
        let key = jsonwebtoken::DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(&public))
            .unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v.validate_aud = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &v).expect("verifies");
        assert_eq!(data.claims["sub"], "x");
        assert_eq!(data.header.kid.as_deref(), Some("k1"));
        assert!(signer_of(&seed[..31]).is_none());
        assert_eq!(public_of(&seed), Some(URL_SAFE_NO_PAD.encode(&public)));
        let mut other = seed.clone();
        other[0] ^= 1;
        assert_ne!(public_of(&other), Some(URL_SAFE_NO_PAD.encode(&public)));
    }
}
