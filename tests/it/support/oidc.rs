//! A real OpenID provider for the single sign-on tests: the npm package `oidc-provider` run by
//! `tests/oidc/provider.mjs` on loopback, with one client (Deskward), back-channel logout and
//! its own sign-in page; and a browser stand-in that signs in on that page.
//!
//! scripts/test.sh installs the pinned package into `target/oidc-provider` and exports
//! `DESKWARD_OIDC_PROVIDER_DIR`; without it a test fails saying how to get it, it never skips.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::{Value, json};

/// The client secret every test registers: long enough for any provider's rules.
pub const CLIENT_SECRET: &str = "deskward-test-client-secret-0123456789";
pub const CLIENT_ID: &str = "deskward-test";

/// Where Deskward is registered at the provider.
pub struct Registration {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub backchannel_logout_uri: String,
}

impl Registration {
    /// Deskward served at `base` (its public URL), as API.md says to register it.
    pub fn for_deskward(base: &str) -> Registration {
        Registration {
            client_id: CLIENT_ID.to_string(),
            client_secret: CLIENT_SECRET.to_string(),
            redirect_uri: format!("{base}/sso/callback"),
            backchannel_logout_uri: format!("{base}/sso/backchannel-logout"),
        }
    }
}

/// A person known to the provider; they sign in with their e-mail and [`User::PASSWORD`].
#[derive(Clone, Debug)]
pub struct User {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    /// What the ID token's `amr` says, when anything.
    pub amr: Option<Vec<String>>,
}

impl User {
    pub const PASSWORD: &'static str = "provider password";

    pub fn verified(sub: &str, email: &str, name: &str) -> User {
        User {
            sub: sub.to_string(),
            email: email.to_string(),
            email_verified: true,
            name: name.to_string(),
            amr: None,
        }
    }

    pub fn unverified(sub: &str, email: &str, name: &str) -> User {
        User {
            email_verified: false,
            ..User::verified(sub, email, name)
        }
    }

    /// The same person, whom the provider asked for a second factor.
    pub fn with_amr(mut self, amr: &[&str]) -> User {
        self.amr = Some(amr.iter().map(|s| s.to_string()).collect());
        self
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "sub": self.sub,
            "email": self.email,
            "email_verified": self.email_verified,
            "name": self.name,
            "password": User::PASSWORD,
        });
        if let Some(amr) = &self.amr {
            v["amr"] = json!(amr);
        }
        v
    }
}

/// The kinds of logout token the provider's control port mints (see provider.mjs).
#[derive(Clone, Copy, Debug)]
pub enum LogoutToken {
    /// Signed with the published key, every claim right.
    Good,
    /// Signed with a key that is not published, under the published key's `kid`.
    Forged,
    /// `alg: none`, no signature.
    AlgNone,
    WrongAud,
    WrongIss,
    NoEvents,
    WithNonce,
    /// Issued an hour ago.
    OldIat,
}

impl LogoutToken {
    fn variant(self) -> &'static str {
        match self {
            LogoutToken::Good => "good",
            LogoutToken::Forged => "forged",
            LogoutToken::AlgNone => "none",
            LogoutToken::WrongAud => "wrong_aud",
            LogoutToken::WrongIss => "wrong_iss",
            LogoutToken::NoEvents => "no_events",
            LogoutToken::WithNonce => "nonce",
            LogoutToken::OldIat => "old_iat",
        }
    }
}

/// `serve --sso-allow-private`: the tests' provider listens on loopback.
pub fn allow_private_issuer(svc: &deskward::service::Service) {
    svc.set_sso_allow_private(true);
}

/// The provider's directory (holding `node_modules/oidc-provider`).
pub fn provider_dir() -> PathBuf {
    let dir = std::env::var_os("DESKWARD_OIDC_PROVIDER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/oidc-provider"));
    if !dir
        .join("node_modules/oidc-provider/package.json")
        .is_file()
    {
        panic!(
            "the single sign-on tests need oidc-provider in {} (DESKWARD_OIDC_PROVIDER_DIR); \
             scripts/test.sh installs it (npm install --prefix target/oidc-provider \
             oidc-provider@9.13.3)",
            dir.display()
        );
    }
    dir
}

/// A running provider; killed when dropped.
pub struct Provider {
    child: Child,
    issuer: String,
    control: String,
    http: reqwest::Client,
    _config: tempfile::TempDir,
}

impl Provider {
    /// Starts the provider with Deskward registered as `reg` and these people.
    pub async fn start(reg: &Registration, users: &[User]) -> Provider {
        Self::start_with(reg, users, false).await
    }

    /// As [`Provider::start`]; with `claims_in_userinfo_only` the ID token carries no e-mail,
    /// which then comes from the userinfo endpoint only (as with many providers).
    pub async fn start_with(
        reg: &Registration,
        users: &[User],
        claims_in_userinfo_only: bool,
    ) -> Provider {
        let dir = provider_dir();
        let config = tempfile::tempdir().expect("a directory for the provider's configuration");
        let file = config.path().join("provider.json");
        let body = json!({
            "client": {
                "client_id": reg.client_id,
                "client_secret": reg.client_secret,
                "redirect_uri": reg.redirect_uri,
                "backchannel_logout_uri": reg.backchannel_logout_uri,
            },
            "users": users.iter().map(User::to_json).collect::<Vec<_>>(),
            "claims_in_userinfo_only": claims_in_userinfo_only,
        });
        std::fs::write(&file, body.to_string()).expect("write the provider's configuration");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc/provider.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .arg(&file)
            .env("DESKWARD_OIDC_PROVIDER_DIR", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "start node {} ({e}): is Node.js installed?",
                    script.display()
                )
            });
        let (issuer, control) = announced(&mut child).await;
        Provider {
            child,
            issuer,
            control,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("build HTTP client"),
            _config: config,
        }
    }

    /// `http://127.0.0.1:port`, as its discovery document names it.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> String {
        let res = self
            .http
            .request(method, format!("{}{path}", self.control))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("the provider's control port, {path}: {e}"));
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert_eq!(status, StatusCode::OK, "the provider's {path}: {text}");
        text
    }

    /// A new signing key replaces the published one.
    pub async fn rotate_keys(&self) -> String {
        let v: Value =
            serde_json::from_str(&self.call(reqwest::Method::POST, "/rotate", json!({})).await)
                .unwrap();
        v["kid"].as_str().unwrap().to_string()
    }

    /// From now on the provider's port resets every connection (its port stays held, so nobody
    /// else can take it).
    pub async fn down(&self) {
        self.call(reqwest::Method::POST, "/down", json!({})).await;
    }

    pub async fn up(&self) {
        self.call(reqwest::Method::POST, "/up", json!({})).await;
    }

    /// Replaces the people the provider knows.
    pub async fn set_users(&self, users: &[User]) {
        let list: Vec<Value> = users.iter().map(User::to_json).collect();
        self.call(reqwest::Method::PUT, "/users", json!(list)).await;
    }

    /// A logout token for `sub` (and `sid`) of this kind, for the test to post itself.
    pub async fn logout_token(&self, sub: &str, sid: Option<&str>, kind: LogoutToken) -> String {
        self.call(
            reqwest::Method::POST,
            "/logout-token",
            json!({"sub": sub, "sid": sid, "variant": kind.variant()}),
        )
        .await
    }

    /// The provider sends a good logout token for `sub` to the registered back-channel URI,
    /// as it does when IT switches someone off; returns the status Deskward answered.
    pub async fn backchannel_logout(&self, sub: &str) -> u16 {
        let v: Value = serde_json::from_str(
            &self
                .call(
                    reqwest::Method::POST,
                    "/backchannel-logout",
                    json!({"sub": sub}),
                )
                .await,
        )
        .unwrap();
        v["status"].as_u64().unwrap() as u16
    }

    /// What the provider's own sign-out sent to back-channel URIs: `[{sub, sid, ok, error?}]`.
    pub async fn backchannel_log(&self) -> Vec<Value> {
        let text = self
            .http
            .get(format!("{}/backchannel-log", self.control))
            .send()
            .await
            .expect("the provider's control port")
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// A browser of its own at the provider: its cookies are the provider's session.
    pub fn browser(&self) -> ProviderBrowser {
        ProviderBrowser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("build HTTP client"),
            issuer: self.issuer.clone(),
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        crate::support::kill_group(&mut self.child);
    }
}

/// Reads `issuer URL control URL` from the provider's stdout, then keeps draining it.
async fn announced(child: &mut Child) -> (String, String) {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut words = line.split_whitespace();
            if let (Some("issuer"), Some(issuer), Some("control"), Some(control)) =
                (words.next(), words.next(), words.next(), words.next())
                && let Some(tx) = tx.take()
            {
                let _ = tx.send((issuer.to_string(), control.to_string()));
            }
        }
    });
    match tokio::time::timeout(Duration::from_secs(30), rx).await {
        Ok(Ok(v)) => v,
        _ => {
            let exited = child.try_wait();
            crate::support::kill_group(child);
            panic!("the OpenID provider did not start (exited: {exited:?}); see its stderr above")
        }
    }
}

/// A browser at the provider: follows its redirects, fills its sign-in page.
pub struct ProviderBrowser {
    http: reqwest::Client,
    issuer: String,
}

impl ProviderBrowser {
    /// Opens the authorization URL Deskward's `/sso/start` redirected to, signs in as `login`
    /// when the provider asks, and returns the URL the provider sends the browser back to
    /// (Deskward's callback with `code` and `state`, or with `error`).
    pub async fn sign_in(&self, authorization_url: &str, login: &str) -> String {
        let mut url: Url = authorization_url
            .parse()
            .unwrap_or_else(|e| panic!("authorization URL {authorization_url:?}: {e}"));
        assert!(
            url.as_str().starts_with(&self.issuer),
            "Deskward sent the browser to {url}, not to the provider {}",
            self.issuer
        );
        for _ in 0..10 {
            let res = self
                .http
                .get(url.clone())
                .send()
                .await
                .expect("GET at the provider");
            let status = res.status();
            if status.is_redirection() {
                let next = location(&url, &res);
                if !next.as_str().starts_with(&self.issuer) {
                    return next.to_string();
                }
                url = next;
                continue;
            }
            let text = res.text().await.unwrap_or_default();
            assert_eq!(status, StatusCode::OK, "the provider at {url}: {text}");
            assert!(
                url.path().starts_with("/interaction/"),
                "the provider answered {url} with a page that is not its sign-in page: {text}"
            );
            let res = self
                .http
                .post(url.clone())
                .form(&[("login", login), ("password", User::PASSWORD)])
                .send()
                .await
                .expect("POST the provider's sign-in form");
            if !res.status().is_redirection() {
                let status = res.status();
                let text = res.text().await.unwrap_or_default();
                panic!("signing in as {login} at the provider: {status} {text}");
            }
            let next = location(&url, &res);
            if !next.as_str().starts_with(&self.issuer) {
                return next.to_string();
            }
            url = next;
        }
        panic!("the provider kept redirecting from {authorization_url}");
    }

    /// Signs out at the provider through its own page ("Yes, sign me out"): the provider then
    /// sends a back-channel logout (with this session's `sid`) to every client signed in.
    pub async fn sign_out(&self) {
        let page = self
            .http
            .get(format!("{}/session/end", self.issuer))
            .send()
            .await
            .expect("GET the provider's sign-out page")
            .text()
            .await
            .unwrap();
        let xsrf = regex::Regex::new(r#"name="xsrf" value="([^"]+)""#)
            .unwrap()
            .captures(&page)
            .unwrap_or_else(|| panic!("no xsrf field on the provider's sign-out page: {page}"))[1]
            .to_string();
        let res = self
            .http
            .post(format!("{}/session/end/confirm", self.issuer))
            .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
            .send()
            .await
            .expect("POST the provider's sign-out form");
        assert!(
            res.status().is_redirection(),
            "the provider's sign-out answered {}",
            res.status()
        );
    }
}

fn location(base: &Url, res: &reqwest::Response) -> Url {
    let loc = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{} from {base} without Location", res.status()));
    base.join(loc)
        .unwrap_or_else(|e| panic!("Location {loc:?}: {e}"))
}

/// The first test of the harness itself: the provider starts and serves discovery and JWKS.
#[tokio::test]
async fn the_provider_serves_discovery_and_signs_in() {
    let reg = Registration::for_deskward("http://127.0.0.1:9");
    let provider = Provider::start(&reg, &[User::verified("u1", "ann@acme.test", "Ann")]).await;
    let http = reqwest::Client::new();
    let discovery: Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            provider.issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], provider.issuer());
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    let jwks: Value = http
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_string();

    // A code flow with PKCE through its sign-in page comes back to the redirect URI.
    let mut auth: Url = discovery["authorization_endpoint"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    auth.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("redirect_uri", &reg.redirect_uri)
        .append_pair("state", "s1")
        .append_pair("nonce", "n1")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    let back = provider
        .browser()
        .sign_in(auth.as_str(), "ann@acme.test")
        .await;
    assert!(back.starts_with(&reg.redirect_uri), "{back}");
    assert!(
        back.contains("code=") && back.contains("state=s1"),
        "{back}"
    );

    // Rotation publishes another key; down resets connections, up serves again.
    let new_kid = provider.rotate_keys().await;
    assert_ne!(new_kid, kid);
    let jwks: Value = http
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], new_kid);
    provider.down().await;
    assert!(
        http.get(jwks_uri).send().await.is_err(),
        "answered while down"
    );
    provider.up().await;
    assert!(
        http.get(jwks_uri)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
}
