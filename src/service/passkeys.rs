//! Passkeys (WebAuthn, with `webauthn-rs`) as a second factor: several per person, each named
//! and removable; registering or removing one needs the current password. The ceremonies'
//! state waits server-side in the sign-in challenge store, never in the browser. The relying
//! party is the origin the request came to (its host is the RP ID).

use url::Url;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Uuid, Webauthn, WebauthnBuilder,
};

use crate::domain::ClientIp;
use crate::domain::audit::AuditKind;
use crate::domain::name::check_name;
use crate::domain::policy::Actor;
use crate::domain::signin::{AuthMethod, ChallengePurpose};
use crate::store::{Challenge, Member, PasskeyRecord};

use super::mfa::{SECOND_STEP_TTL, SecondFactor};
use super::{Service, ServiceError, ServiceResult, new_id, random_hex, token_hash};

/// A browser's answer to the sign-in ceremony, and the origin it was made on.
pub struct PasskeyAnswer {
    pub credential: PublicKeyCredential,
    pub origin: Url,
}

fn webauthn(origin: &Url) -> ServiceResult<Webauthn> {
    let bad = |e: String| ServiceError::invalid("origin", format!("passkeys: {e}"));
    // WebAuthn scopes a passkey to a domain name and browsers refuse an IP address as one;
    // webauthn-rs would only say its configuration was invalid.
    if let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = origin.host() {
        return Err(ServiceError::invalid(
            "origin",
            format!(
                "Passkeys need a host name: this page's origin is an IP address ({}). \
                 Open Deskward at a name that points to this server — on this computer \
                 http://localhost{}, otherwise its DNS name over HTTPS — and add the passkey \
                 there.",
                origin.host_str().unwrap_or_default(),
                origin.port().map(|p| format!(":{p}")).unwrap_or_default()
            ),
        ));
    }
    let rp_id = origin
        .host_str()
        .ok_or_else(|| bad("the site has no host name".to_string()))?;
    WebauthnBuilder::new(rp_id, origin)
        .map_err(|e| bad(e.to_string()))?
        .rp_name("Deskward")
        .build()
        .map_err(|e| bad(e.to_string()))
}

/// The WebAuthn user handle of a person: stable, derived from their id, revealing nothing.
fn user_handle(member_id: &str) -> Uuid {
    let h = hex::decode(token_hash(&format!("webauthn-user:{member_id}"))).unwrap_or_default();
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    Uuid::from_bytes(b)
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("passkey: {e}"))
}

fn read_passkey(r: &PasskeyRecord) -> ServiceResult<Passkey> {
    serde_json::from_str(&r.credential).map_err(internal)
}

impl Service {
    /// Starts registering a passkey: the options for `navigator.credentials.create`, and the
    /// id of the registration to finish with.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id))]
    pub async fn start_passkey(
        &self,
        actor: &Actor,
        password: String,
        origin: &Url,
    ) -> ServiceResult<(String, serde_json::Value)> {
        self.check_own_password(actor, password, "password").await?;
        let w = webauthn(origin)?;
        let me = self
            .store
            .member(&actor.account_id, &actor.member_id)
            .await?;
        let existing = self.store.passkeys(&me.id).await?;
        if existing.len() >= 20 {
            return Err(ServiceError::invalid(
                "passkeys",
                "at most 20 passkeys; remove one first",
            ));
        }
        let exclude = existing
            .iter()
            .map(read_passkey)
            .map(|p| p.map(|p| p.cred_id().clone()))
            .collect::<ServiceResult<Vec<_>>>()?;
        let (options, state) = w
            .start_passkey_registration(user_handle(&me.id), &me.email, &me.name, Some(exclude))
            .map_err(internal)?;
        let id = random_hex(32);
        let now = self.now();
        self.store
            .insert_challenge(&Challenge {
                id_hash: token_hash(&id),
                account_id: actor.account_id.clone(),
                purpose: ChallengePurpose::PasskeyRegister,
                member_ids: vec![me.id.clone()],
                ip: actor.ip,
                user_agent: String::new(),
                data: serde_json::to_string(&state).map_err(internal)?,
                created_at: now,
                expires_at: now + SECOND_STEP_TTL,
                failures: 0,
            })
            .await?;
        Ok((id, serde_json::to_value(options).map_err(internal)?))
    }

    /// Finishes registering a passkey under a name.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id))]
    pub async fn finish_passkey(
        &self,
        actor: &Actor,
        registration: &str,
        name: &str,
        credential: &RegisterPublicKeyCredential,
        origin: &Url,
    ) -> ServiceResult<PasskeyRecord> {
        let name = check_name("name", name)?;
        let c = self
            .store
            .take_challenge(&token_hash(registration), self.now())
            .await?
            .filter(|c| {
                c.purpose == ChallengePurpose::PasskeyRegister
                    && c.member_ids == [actor.member_id.clone()]
            })
            .ok_or_else(|| {
                ServiceError::invalid("registration", "registration expired; start again")
            })?;
        let state: PasskeyRegistration = serde_json::from_str(&c.data).map_err(internal)?;
        let passkey = webauthn(origin)?
            .finish_passkey_registration(credential, &state)
            .map_err(|e| {
                ServiceError::invalid("credential", format!("the passkey was not accepted: {e}"))
            })?;
        let record = PasskeyRecord {
            id: new_id("pk"),
            member_id: actor.member_id.clone(),
            account_id: actor.account_id.clone(),
            name: name.clone(),
            credential: serde_json::to_string(&passkey).map_err(internal)?,
            created_at: self.now(),
            last_used_at: None,
        };
        self.store.insert_passkey(&record).await?;
        self.audit_by(
            actor,
            AuditKind::MfaAdded,
            Some(&actor.member_id),
            format!("passkey \"{name}\" added"),
        )
        .await;
        self.forget_person(&actor.account_id, &actor.member_id, actor.kind)
            .await;
        Ok(record)
    }

    pub async fn passkeys(&self, actor: &Actor) -> ServiceResult<Vec<PasskeyRecord>> {
        Ok(self.store.passkeys(&actor.member_id).await?)
    }

    /// Removes one of the caller's passkeys; needs the current password.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, id = %id))]
    pub async fn remove_passkey(
        &self,
        actor: &Actor,
        id: &str,
        password: String,
    ) -> ServiceResult<()> {
        let known = self.store.passkeys(&actor.member_id).await?;
        let Some(p) = known.iter().find(|p| p.id == id) else {
            return Err(ServiceError::NotFound);
        };
        self.check_own_password(actor, password, "password").await?;
        if !self.store.remove_passkey(&actor.member_id, id).await? {
            return Err(ServiceError::NotFound);
        }
        self.audit_by(
            actor,
            AuditKind::MfaRemoved,
            Some(&actor.member_id),
            format!("passkey \"{}\" removed", p.name),
        )
        .await;
        self.forget_person(&actor.account_id, &actor.member_id, actor.kind)
            .await;
        Ok(())
    }

    /// The options for `navigator.credentials.get` in the second step of a sign-in.
    pub async fn passkey_options(
        &self,
        account_id: &str,
        challenge: &str,
        ip: ClientIp,
        origin: &Url,
    ) -> ServiceResult<serde_json::Value> {
        let c = self
            .store
            .challenge(&token_hash(challenge), self.now())
            .await?
            .filter(|c| {
                c.purpose == ChallengePurpose::SecondStep
                    && c.account_id == account_id
                    && c.ip == ip
            })
            .ok_or(ServiceError::InvalidCredentials)?;
        let member_id = c
            .member_ids
            .first()
            .ok_or(ServiceError::InvalidCredentials)?;
        let keys = self
            .store
            .passkeys(member_id)
            .await?
            .iter()
            .map(read_passkey)
            .collect::<ServiceResult<Vec<_>>>()?;
        if keys.is_empty() {
            return Err(ServiceError::invalid(
                "challenge",
                "no passkey to sign in with",
            ));
        }
        let (options, state) = webauthn(origin)?
            .start_passkey_authentication(&keys)
            .map_err(internal)?;
        let now = self.now();
        // Asking again replaces the ceremony in progress.
        let id_hash = token_hash(&format!("webauthn:{challenge}"));
        let _ = self.store.take_challenge(&id_hash, now).await?;
        self.store
            .insert_challenge(&Challenge {
                id_hash,
                account_id: account_id.to_string(),
                purpose: ChallengePurpose::PasskeyAuth,
                member_ids: c.member_ids.clone(),
                ip,
                user_agent: String::new(),
                data: serde_json::to_string(&state).map_err(internal)?,
                created_at: now,
                expires_at: c.expires_at,
                failures: 0,
            })
            .await?;
        serde_json::to_value(options).map_err(internal)
    }

    /// Checks a passkey's answer in the second step; `None` when it does not prove the person.
    pub(crate) async fn check_passkey(
        &self,
        member: &Member,
        challenge: &str,
        answer: &PasskeyAnswer,
    ) -> ServiceResult<Option<SecondFactor>> {
        let now = self.now();
        let Some(c) = self
            .store
            .take_challenge(&token_hash(&format!("webauthn:{challenge}")), now)
            .await?
            .filter(|c| {
                c.purpose == ChallengePurpose::PasskeyAuth && c.member_ids == [member.id.clone()]
            })
        else {
            return Ok(None);
        };
        let state: PasskeyAuthentication = serde_json::from_str(&c.data).map_err(internal)?;
        let Ok(result) =
            webauthn(&answer.origin)?.finish_passkey_authentication(&answer.credential, &state)
        else {
            return Ok(None);
        };
        // The key that answered must still be one of the person's (not removed meanwhile).
        for r in self.store.passkeys(&member.id).await? {
            let mut key = read_passkey(&r)?;
            if key.cred_id() == result.cred_id() {
                key.update_credential(&result);
                let json = serde_json::to_string(&key).map_err(internal)?;
                self.store.passkey_used(&r.id, &json, now).await?;
                return Ok(Some(SecondFactor {
                    method: AuthMethod::Webauthn,
                    recovery_codes_left: None,
                }));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(origin: &str) -> String {
        match webauthn(&Url::parse(origin).unwrap()) {
            Err(ServiceError::Invalid { message, .. }) => message,
            Err(e) => panic!("{origin}: {e:?}"),
            Ok(_) => panic!("{origin} accepted"),
        }
    }

    #[test]
    fn an_ip_address_origin_is_refused_in_words_that_say_what_to_do() {
        let said = refusal("http://127.0.0.1:8080");
        assert!(said.starts_with("Passkeys need a host name"), "{said}");
        assert!(said.contains("(127.0.0.1)"), "{said}");
        assert!(said.contains("http://localhost:8080"), "{said}");
        let said = refusal("https://[2001:db8::1]");
        assert!(said.contains("([2001:db8::1])"), "{said}");
        assert!(said.contains("http://localhost,"), "{said}");
        assert!(webauthn(&Url::parse("http://localhost:8080").unwrap()).is_ok());
        assert!(webauthn(&Url::parse("https://desk.example.com").unwrap()).is_ok());
    }
}
