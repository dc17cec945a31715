//! The identity provider as Deskward reaches it: HTTP to it (never following redirects, a
//! provider on a loopback or private address refused after name resolution unless
//! `--sso-allow-private`, the checked addresses pinned for the request), discovery and the
//! JWKS, kept per account until the settings change or an hour passes, and the JWKS fetched
//! again for a key id it does not hold, at most once a second. Both the ID token (through
//! `openidconnect`) and the back-channel logout token (through `jsonwebtoken`) are checked
//! against the same keys.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{HttpRequest, HttpResponse};

use crate::domain::sso;

/// How long one request to the provider may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the provider.
const MAX_BODY: usize = 1024 * 1024;
/// How long discovery is trusted before it is read again.
const METADATA_MAX_AGE: Duration = Duration::from_secs(3600);
/// The JWKS is fetched again for an unknown key id at most this often.
const JWKS_REFETCH_EVERY: Duration = Duration::from_secs(1);

/// Why a request to the provider failed, in words that name the step.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct FetchError(pub String);

/// The provider's signing keys, read for both token kinds.
pub(crate) struct Keys {
    pub core: CoreJsonWebKeySet,
    /// The same keys as `jsonwebtoken` reads them (keys it cannot read are left out).
    pub jwt: Vec<jsonwebtoken::jwk::Jwk>,
    pub fetched: Instant,
}

/// One account's provider, discovered.
pub(crate) struct Provider {
    /// The settings it was discovered for: issuer and when they were saved.
    key: (String, i64),
    discovered: Instant,
    pub metadata: CoreProviderMetadata,
    keys: RwLock<Arc<Keys>>,
    /// Held while the JWKS is fetched again, so that a burst of unknown key ids fetches once.
    refetching: tokio::sync::Mutex<()>,
}

impl Provider {
    pub fn keys(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Every account's provider, and how to reach them.
pub(crate) struct Providers {
    allow_private: AtomicBool,
    /// For providers on private addresses (allowed): no pinning needed.
    shared: reqwest::Client,
    by_account: Mutex<HashMap<String, Arc<Provider>>>,
}

impl Default for Providers {
    fn default() -> Self {
        Self {
            allow_private: AtomicBool::new(false),
            shared: http_client(None).unwrap_or_default(),
            by_account: Mutex::default(),
        }
    }
}

/// A client that never follows redirects, with the timeout; with `pin`, the host resolves
/// only to the addresses already checked.
fn http_client(pin: Option<(&str, &[SocketAddr])>) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .no_proxy()
        .user_agent(concat!("Deskward/", env!("CARGO_PKG_VERSION")));
    if let Some((host, addrs)) = pin {
        b = b.resolve_to_addrs(host, addrs);
    }
    b.build().map_err(|e| e.to_string())
}

impl Providers {
    pub fn set_allow_private(&self, allow: bool) {
        self.allow_private.store(allow, Ordering::Relaxed);
    }

    pub fn allows_private(&self) -> bool {
        self.allow_private.load(Ordering::Relaxed)
    }

    /// The client for a request to `url`: when private addresses are refused, its host is
    /// resolved and checked here, and the request goes to those addresses only.
    async fn client_for(&self, url: &url::Url) -> Result<reqwest::Client, String> {
        if self.allows_private() {
            return Ok(self.shared.clone());
        }
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = super::delivery::resolve_public(&host, port)
            .await
            .map_err(|m| format!("{m} (allowed only with serve --sso-allow-private)"))?;
        http_client(Some((&host, &addrs)))
    }

    /// Checks that the issuer's host resolves to addresses Deskward may reach.
    pub async fn check_reachable(&self, issuer: &url::Url) -> Result<(), String> {
        self.client_for(issuer).await.map(|_| ())
    }

    /// Sends one request of the OpenID Connect flow (the code exchange, userinfo).
    pub async fn send(&self, req: HttpRequest) -> Result<HttpResponse, FetchError> {
        let url = url::Url::parse(&req.uri().to_string())
            .map_err(|e| FetchError(format!("bad provider URL: {e}")))?;
        let client = self.client_for(&url).await.map_err(FetchError)?;
        let (parts, body) = req.into_parts();
        let res = client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| FetchError(describe(&e)))?;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = read_limited(res).await.map_err(FetchError)?;
        let mut out = HttpResponse::new(bytes);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }

    /// A GET whose answer must be 200 with a body.
    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
        let client = self.client_for(&parsed).await?;
        let res = client
            .get(parsed)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| describe(&e))?;
        if res.status().is_redirection() {
            return Err(format!(
                "answered HTTP {} (a redirect, which is not followed)",
                res.status().as_u16()
            ));
        }
        if !res.status().is_success() {
            return Err(format!("answered HTTP {}", res.status().as_u16()));
        }
        read_limited(res).await
    }

    /// Reads the provider's discovery document and JWKS; the error names what failed.
    pub async fn discover(&self, issuer: &str) -> Result<(CoreProviderMetadata, Keys), String> {
        let url = sso::discovery_url(issuer);
        let body = self
            .get(&url)
            .await
            .map_err(|e| format!("the discovery document {url} could not be read: {e}"))?;
        let metadata: CoreProviderMetadata = serde_json::from_slice(&body).map_err(|e| {
            format!("the discovery document {url} is not OpenID Connect provider metadata: {e}")
        })?;
        if metadata.issuer().as_str() != issuer {
            return Err(format!(
                "the discovery document names the issuer {}, not {issuer}: they must match \
                 exactly (check the trailing slash)",
                metadata.issuer().as_str()
            ));
        }
        let keys = self.fetch_keys(&metadata).await?;
        Ok((metadata, keys))
    }

    async fn fetch_keys(&self, metadata: &CoreProviderMetadata) -> Result<Keys, String> {
        let url = metadata.jwks_uri().url().to_string();
        let body = self
            .get(&url)
            .await
            .map_err(|e| format!("the JWKS {url} could not be read: {e}"))?;
        let core: CoreJsonWebKeySet = serde_json::from_slice(&body)
            .map_err(|e| format!("the JWKS {url} is not a JSON Web Key Set: {e}"))?;
        let raw: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("the JWKS {url} is not JSON: {e}"))?;
        let jwt: Vec<jsonwebtoken::jwk::Jwk> = raw
            .get("keys")
            .and_then(|k| k.as_array())
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| serde_json::from_value(k.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if core.keys().is_empty() {
            return Err(format!("the JWKS {url} holds no keys"));
        }
        Ok(Keys {
            core,
            jwt,
            fetched: Instant::now(),
        })
    }

    /// The account's provider, discovered for these settings (issuer, saved at
    /// `updated_at`): from memory while the settings are the same and it is under an hour
    /// old, else read again.
    pub async fn provider(
        &self,
        account_id: &str,
        issuer: &str,
        updated_at: i64,
    ) -> Result<Arc<Provider>, String> {
        let key = (issuer.to_string(), updated_at);
        if let Some(p) = self
            .by_account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(account_id)
            .filter(|p| p.key == key && p.discovered.elapsed() < METADATA_MAX_AGE)
        {
            return Ok(p.clone());
        }
        let (metadata, keys) = self.discover(issuer).await?;
        let p = Arc::new(Provider {
            key,
            discovered: Instant::now(),
            metadata,
            keys: RwLock::new(Arc::new(keys)),
            refetching: tokio::sync::Mutex::new(()),
        });
        self.by_account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account_id.to_string(), p.clone());
        Ok(p)
    }

    /// Fetches the JWKS again because a token names a key it lacks, unless someone fetched
    /// it since `seen` was read. At most once a second: a caller inside that second waits for
    /// it to pass rather than fail a sign-in signed with a key that just rotated in.
    pub async fn refresh_keys(&self, p: &Provider, seen: &Keys) -> Result<Arc<Keys>, String> {
        let _turn = p.refetching.lock().await;
        let now = p.keys();
        if now.fetched > seen.fetched {
            return Ok(now);
        }
        let since = now.fetched.elapsed();
        if since < JWKS_REFETCH_EVERY {
            tokio::time::sleep(JWKS_REFETCH_EVERY - since).await;
        }
        let fresh = Arc::new(self.fetch_keys(&p.metadata).await?);
        *p.keys.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        Ok(fresh)
    }
}

/// `openidconnect`'s HTTP client: requests of the flow go through [`Providers::send`].
pub(crate) struct Http<'a>(pub &'a Providers);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http<'_> {
    type Error = FetchError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, FetchError>> + Send + 'c>,
    >;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.0.send(request))
    }
}

/// A failed request in words: no answer, no connection, or something else.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("no answer within {} s", TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed".to_string()
    }
}

async fn read_limited(res: reqwest::Response) -> Result<Vec<u8>, String> {
    if res.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(format!("the answer is larger than {MAX_BODY} bytes"));
    }
    let bytes = res.bytes().await.map_err(|e| describe(&e))?;
    if bytes.len() > MAX_BODY {
        return Err(format!("the answer is larger than {MAX_BODY} bytes"));
    }
    Ok(bytes.to_vec())
}

/// Verifies a back-channel logout token's signature with the provider's keys and returns its
/// claims (checked by `domain::sso::check_logout_claims`). Refused: no signature (`alg:
/// none` does not even parse), a symmetric algorithm (the keys are the provider's public
/// ones), a key id the JWKS lacks even after fetching it again, a bad signature.
pub(crate) async fn verify_logout_token(
    providers: &Providers,
    p: &Provider,
    token: &str,
) -> Result<serde_json::Value, String> {
    use jsonwebtoken::Algorithm as A;
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| "logout_token is not a signed JWT (alg none is refused)".to_string())?;
    if matches!(header.alg, A::HS256 | A::HS384 | A::HS512) {
        return Err(
            "logout_token is signed with a shared secret; only the provider's keys \
                    are accepted"
                .to_string(),
        );
    }
    let mut keys = p.keys();
    let mut refreshed = false;
    loop {
        let key = pick_key(&keys.jwt, header.kid.as_deref());
        match key {
            Some(jwk) => {
                let decoding = jsonwebtoken::DecodingKey::from_jwk(jwk)
                    .map_err(|_| "the provider's key cannot be read".to_string())?;
                let mut v = jsonwebtoken::Validation::new(header.alg);
                // `domain::sso::check_logout_claims` checks every claim, with the clock.
                v.validate_exp = false;
                v.validate_aud = false;
                v.required_spec_claims.clear();
                return jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &v)
                    .map(|d| d.claims)
                    .map_err(|_| "logout_token's signature does not verify".to_string());
            }
            None if !refreshed => {
                keys = providers.refresh_keys(p, &keys).await?;
                refreshed = true;
            }
            None => {
                return Err(
                    "logout_token is signed with a key the provider does not publish".to_string(),
                );
            }
        }
    }
}

/// The key a token names: by `kid`, else the provider's only key.
fn pick_key<'k>(
    keys: &'k [jsonwebtoken::jwk::Jwk],
    kid: Option<&str>,
) -> Option<&'k jsonwebtoken::jwk::Jwk> {
    match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
}
