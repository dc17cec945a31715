//! The Webhooks part of the Security section: endpoints added (the secret shown once),
//! listed and deleted, their delivery log, and "send again". Sending is `delivery`.

use crate::domain::audit::AuditKind;
use crate::domain::policy::Actor;
use crate::domain::webhook::{self, EventFilter};
use crate::ids::{new_id, random_bytes};
use crate::store::{StoreError, WebhookDelivery, WebhookEndpoint};

use super::{Service, ServiceError, ServiceResult};

/// Endpoints per account: enough for every integration, few enough that each change's outbox
/// rows stay a handful.
pub const MAX_ENDPOINTS: usize = 20;

/// How many deliveries the log shows, newest first.
pub const LOG_LIMIT: i64 = 100;

/// A new endpoint, with the secret its owner sees this once.
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

impl Service {
    fn require_security(&self, actor: &Actor) -> ServiceResult<()> {
        if actor.can_change_security() {
            Ok(())
        } else {
            Err(ServiceError::needs(
                crate::domain::member::Permission::Security,
            ))
        }
    }

    /// Whether targets on loopback and private ranges are allowed (`--webhook-allow-private`).
    pub fn set_webhook_allow_private(&self, allow: bool) {
        self.webhook_allow_private
            .store(allow, std::sync::atomic::Ordering::Relaxed);
    }

    fn webhook_allows_private(&self) -> bool {
        self.webhook_allow_private
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id))]
    pub async fn create_webhook(
        &self,
        actor: &Actor,
        url: &str,
        events: &[String],
    ) -> ServiceResult<CreatedWebhook> {
        self.require_security(actor)?;
        let parsed = webhook::check_url(url).map_err(|m| ServiceError::invalid("url", m))?;
        let filter = EventFilter::parse(events).map_err(|m| ServiceError::invalid("events", m))?;
        if !self.webhook_allows_private() {
            let host = parsed.host_str().unwrap_or_default();
            let port = parsed.port_or_known_default().unwrap_or(443);
            super::delivery::resolve_public(host, port)
                .await
                .map_err(|m| ServiceError::invalid("url", format!("url is refused: {m}")))?;
        }
        if self.store.webhooks(&actor.account_id).await?.len() >= MAX_ENDPOINTS {
            return Err(ServiceError::invalid(
                "url",
                format!("an account has at most {MAX_ENDPOINTS} webhook endpoints"),
            ));
        }
        let secret = webhook::secret_from_bytes(&random_bytes(32));
        let endpoint = WebhookEndpoint {
            id: new_id("wh"),
            account_id: actor.account_id.clone(),
            url: parsed.to_string(),
            events: filter.to_db(),
            secret: secret.clone(),
            disabled_reason: None,
            created_at: self.now(),
            created_by: Some(actor.member_id.clone()),
        };
        self.store.insert_webhook(&endpoint).await?;
        self.audit_by(
            actor,
            AuditKind::WebhookCreated,
            None,
            format!(
                "webhook {} to {} for {}",
                endpoint.id,
                endpoint.url,
                filter.names().join(", ")
            ),
        )
        .await;
        Ok(CreatedWebhook { endpoint, secret })
    }

    pub async fn webhooks(&self, actor: &Actor) -> ServiceResult<Vec<WebhookEndpoint>> {
        self.require_security(actor)?;
        Ok(self.store.webhooks(&actor.account_id).await?)
    }

    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, id = %id))]
    pub async fn delete_webhook(&self, actor: &Actor, id: &str) -> ServiceResult<()> {
        self.require_security(actor)?;
        let endpoint = self.store.webhook(&actor.account_id, id).await?;
        self.store.delete_webhook(&actor.account_id, id).await?;
        self.audit_by(
            actor,
            AuditKind::WebhookDeleted,
            None,
            format!("webhook {} to {}", endpoint.id, endpoint.url),
        )
        .await;
        Ok(())
    }

    /// An endpoint and its latest deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        actor: &Actor,
        id: &str,
    ) -> ServiceResult<(WebhookEndpoint, Vec<WebhookDelivery>)> {
        self.require_security(actor)?;
        let endpoint = self.store.webhook(&actor.account_id, id).await?;
        let log = self
            .store
            .webhook_deliveries(&actor.account_id, id, LOG_LIMIT)
            .await?;
        Ok((endpoint, log))
    }

    /// "Send again": the delivery goes back in the queue with a fresh schedule. Refused for
    /// an endpoint turned off by a 410 answer: the worker sends nothing to it, so the delivery
    /// would wait for ever. Turning it back on is deleting and adding it, a decision about
    /// the receiver, not about one delivery.
    #[tracing::instrument(skip_all, fields(account = %actor.account_id, actor = %actor.member_id, id = %id, delivery = %delivery_id))]
    pub async fn retry_webhook_delivery(
        &self,
        actor: &Actor,
        id: &str,
        delivery_id: &str,
    ) -> ServiceResult<WebhookDelivery> {
        self.require_security(actor)?;
        let endpoint = self.store.webhook(&actor.account_id, id).await?;
        if endpoint.disabled_reason.is_some() {
            return Err(ServiceError::WebhookEndpointOff);
        }
        match self
            .store
            .retry_delivery(&actor.account_id, id, delivery_id, self.now())
            .await
        {
            // The store queues nothing for an endpoint that is off: one turned off since the
            // read above is told apart from an unknown delivery.
            Err(StoreError::NotFound) => {
                let endpoint = self.store.webhook(&actor.account_id, id).await?;
                Err(match endpoint.disabled_reason {
                    Some(_) => ServiceError::WebhookEndpointOff,
                    None => ServiceError::NotFound,
                })
            }
            other => Ok(other?),
        }
    }
}
