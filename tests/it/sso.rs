//! Single sign-on against a real OpenID provider (oidc-provider, `support::oidc`): the whole
//! code flow with PKCE to a session holding `sso`; replayed, tampered and cross-browser
//! callbacks sign nobody in; unverified, unknown and disabled people get a page saying why;
//! agents made on first sign-in only for allowed domains; linked accounts choose; the provider's
//! key rotation and its absence; `required` per role; saving the settings.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::db::Backend;
use crate::support::oidc::{CLIENT_ID, CLIENT_SECRET, Provider, Registration, User};
use crate::support::{Client, PASSWORD, PRIMARY_EMAIL, PRIMARY_PASSWORD, Response, TestApp};

backend_tests!(
    the_full_flow_opens_a_session_with_sso,
    the_providers_second_factor_counts_as_mfa,
    e_mail_from_userinfo_only_is_enough,
    replayed_and_tampered_callbacks_sign_nobody_in,
    a_callback_in_another_browser_signs_nobody_in,
    an_unverified_e_mail_signs_nobody_in,
    unknown_e_mails_become_agents_only_where_allowed,
    a_disabled_account_is_refused,
    linked_accounts_choose,
    the_provider_rotates_its_keys,
    the_provider_down_gets_a_clear_page_and_passwords_still_work,
    required_refuses_passwords_but_the_primary_keeps_one,
    turning_required_on_ends_nobody,
    saving_names_what_failed_and_keeps_the_settings,
    a_private_issuer_needs_the_flag,
    only_the_primary_changes_the_admins_field,
);

pub(crate) const ANN_SUB: &str = "ann-at-provider";
pub(crate) const ANN_EMAIL: &str = "ann@acme.test";
pub(crate) const BUTTON: &str = "Acme Login";

/// Milliseconds since the epoch now: the provider signs with the real time, so the test's
/// clock starts there.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Deskward (allowed to use a loopback provider) with the agent Ann, and a provider that knows
/// Ann plus `users`; single sign-on is configured (allowed for both roles, acme.test allowed,
/// no agents created).
pub(crate) async fn setup(backend: Backend, users: &[User]) -> (TestApp, Provider) {
    setup_with(backend, users, false).await
}

pub(crate) async fn setup_with(
    backend: Backend,
    users: &[User],
    claims_in_userinfo_only: bool,
) -> (TestApp, Provider) {
    let app = TestApp::spawn(backend).await;
    crate::support::oidc::allow_private_issuer(&app.svc);
    app.clock.set(now_ms());
    app.add_agent("Ann Agent", ANN_EMAIL).await;
    let mut all = vec![User::verified(ANN_SUB, ANN_EMAIL, "Ann Agent")];
    all.extend_from_slice(users);
    let provider = Provider::start_with(
        &Registration::for_deskward(&app.base),
        &all,
        claims_in_userinfo_only,
    )
    .await;
    let admin = app.primary_client().await;
    let res = save_sso(&admin, settings(&provider)).await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "saving the SSO settings: {}",
        res.text
    );
    (app, provider)
}

/// The settings that point at `provider`.
pub(crate) fn settings(provider: &Provider) -> Value {
    json!({
        "issuer": provider.issuer(),
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "button_label": BUTTON,
        "agents": "allowed",
        "admins": "allowed",
        "allowed_domains": ["acme.test"],
        "create_agents": false,
    })
}

pub(crate) async fn save_sso(admin: &Client, sso: Value) -> Response {
    admin
        .put_json("/api/v1/settings/security", &json!({ "sso": sso }))
        .await
}

async fn stored_sso(admin: &Client) -> Value {
    admin
        .get("/api/v1/settings/security")
        .await
        .expect_status(StatusCode::OK)
        .json()["sso"]
        .clone()
}

/// `GET /sso/start?rd=…` in `c`: the provider's authorization URL it redirects to.
pub(crate) async fn start(c: &Client, rd: &str) -> String {
    let res = c.get(&format!("/sso/start?rd={}", urlencode(rd))).await;
    assert!(
        res.status.is_redirection(),
        "/sso/start answered {}: {}",
        res.status,
        res.text
    );
    res.header("location").expect("Location").to_string()
}

pub(crate) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Follows an absolute URL (the provider's way back) in `c`.
pub(crate) async fn follow(c: &Client, url: &str) -> Response {
    c.send(c.raw.get(url)).await
}

/// The provider's way back to Deskward for `login`, started in `c`.
pub(crate) async fn callback_url(c: &Client, provider: &Provider, login: &str) -> String {
    let auth = start(c, "/").await;
    provider.browser().sign_in(&auth, login).await
}

/// The whole flow in `c` for `login`: the callback's answer.
pub(crate) async fn sso_sign_in(c: &Client, provider: &Provider, login: &str) -> Response {
    let back = callback_url(c, provider, login).await;
    follow(c, &back).await
}

/// Why the last sign-ins through the provider failed, from the audit log (for messages).
pub(crate) async fn why_failed(app: &TestApp) -> String {
    audit_kinds(app, "sso.failed")
        .await
        .iter()
        .map(|e| e["detail"].to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Signs `login` in through the provider in a new client and checks a session opened.
pub(crate) async fn signed_in_with_sso(app: &TestApp, provider: &Provider, login: &str) -> Client {
    let c = app.client();
    let res = sso_sign_in(&c, provider, login).await;
    assert!(
        res.status.is_redirection(),
        "the callback answered {} ({})",
        res.status,
        why_failed(app).await
    );
    c.me().await.expect_status(StatusCode::OK);
    c
}

/// Nobody is signed in in `c`.
async fn signed_out(c: &Client) {
    c.me()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthenticated");
}

fn has_session_cookie(res: &Response) -> bool {
    res.set_cookies().iter().any(|c| {
        c.starts_with("deskward_session=") && !c.starts_with("deskward_session=;")
            || c.contains("_deskward_session=") && !c.contains("_deskward_session=;")
    })
}

async fn audit_kinds(app: &TestApp, kind: &str) -> Vec<Value> {
    let admin = app.primary_client().await;
    admin
        .get(&format!("/api/v1/audit?kind={kind}&per_page=200"))
        .await
        .expect_status(StatusCode::OK)
        .json()["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The answer is a page that refused: no session, and it says something about `words`.
fn refused_page(res: &Response, words: &[&str]) {
    assert!(
        !has_session_cookie(res),
        "a session cookie came with the refusal: {:?}",
        res.set_cookies()
    );
    let text = res.text.to_lowercase();
    for w in words {
        assert!(
            text.contains(&w.to_lowercase()),
            "the page ({}) does not say {w:?}: {}",
            res.status,
            res.text
        );
    }
}

async fn the_full_flow_opens_a_session_with_sso(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;

    // The sign-in page offers the button, and it leads to /sso/start.
    let page = app
        .client()
        .get("/login")
        .await
        .expect_status(StatusCode::OK);
    assert!(
        page.text.contains(&format!("Sign in with {BUTTON}")),
        "{}",
        page.text
    );
    assert!(page.text.contains("/sso/start"), "{}", page.text);

    let c = app.client();
    let rd = app.url("/me/sessions");
    let auth = start(&c, &rd).await;
    // Authorization code flow with PKCE S256, state and nonce, at the provider's endpoint.
    let url: url::Url = auth.parse().unwrap();
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert!(auth.starts_with(provider.issuer()), "{auth}");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["scope"].split(' ').any(|s| s == "openid"), "{auth}");
    assert!(q["scope"].split(' ').any(|s| s == "email"), "{auth}");
    assert!(!q["state"].is_empty() && !q["nonce"].is_empty(), "{auth}");
    assert_eq!(q["redirect_uri"], app.url("/sso/callback"));

    let back = provider.browser().sign_in(&auth, ANN_EMAIL).await;
    assert!(back.starts_with(&app.url("/sso/callback?")), "{back}");
    let res = follow(&c, &back).await;
    assert!(
        res.status.is_redirection(),
        "{}: {}",
        res.status,
        why_failed(&app).await
    );
    assert_eq!(res.header("location"), Some(rd.as_str()), "back to rd");
    assert!(has_session_cookie(&res), "{:?}", res.set_cookies());

    let me = c.me().await.expect_status(StatusCode::OK).json();
    assert_eq!(me["user"]["email"], ANN_EMAIL);
    assert_eq!(me["user"]["kind"], "agent");
    let methods = me["session"]["auth_methods"].as_array().unwrap();
    assert!(methods.contains(&json!("sso")), "{methods:?}");
    assert!(!methods.contains(&json!("password")), "{methods:?}");
    assert!(!methods.contains(&json!("mfa")), "{methods:?}");
    let mine = c.get("/api/v1/me/sessions").await.json();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert!(
        mine["items"][0]["auth_methods"]
            .as_array()
            .unwrap()
            .contains(&json!("sso"))
    );

    // An rd elsewhere is ignored, as for /login?rd=.
    let c2 = app.client();
    let auth = start(&c2, "https://evil.example/steal").await;
    let back = provider.browser().sign_in(&auth, ANN_EMAIL).await;
    let res = follow(&c2, &back).await;
    assert!(res.status.is_redirection(), "{}: {}", res.status, res.text);
    let to = res.header("location").unwrap_or_default();
    assert!(!to.contains("evil.example"), "went to {to}");
    c2.me().await.expect_status(StatusCode::OK);
}

async fn the_providers_second_factor_counts_as_mfa(backend: Backend) {
    let bo = User::verified("bo-sub", "bo@acme.test", "Bo Agent").with_amr(&["pwd", "otp", "mfa"]);
    let (app, provider) = setup(backend, &[bo]).await;
    app.add_agent("Bo Agent", "bo@acme.test").await;
    let c = signed_in_with_sso(&app, &provider, "bo@acme.test").await;
    let me = c.me().await.json();
    let methods = me["session"]["auth_methods"].as_array().unwrap();
    assert!(methods.contains(&json!("sso")), "{methods:?}");
    assert!(methods.contains(&json!("mfa")), "{methods:?}");
}

async fn e_mail_from_userinfo_only_is_enough(backend: Backend) {
    // The ID token carries only `sub`: the e-mail and its verification come from userinfo.
    let (app, provider) = setup_with(backend, &[], true).await;
    let c = signed_in_with_sso(&app, &provider, ANN_EMAIL).await;
    assert_eq!(c.me().await.json()["user"]["email"], ANN_EMAIL);
}

async fn replayed_and_tampered_callbacks_sign_nobody_in(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;

    // A tampered state: nobody.
    let c = app.client();
    let back = callback_url(&c, &provider, ANN_EMAIL).await;
    let tampered = back.replacen("state=", "state=x", 1);
    let res = follow(&c, &tampered).await;
    assert!(!has_session_cookie(&res), "{:?}", res.set_cookies());
    signed_out(&c).await;

    // A tampered code: nobody.
    let c = app.client();
    let back = callback_url(&c, &provider, ANN_EMAIL).await;
    let tampered = back.replacen("code=", "code=x", 1);
    let res = follow(&c, &tampered).await;
    assert!(!has_session_cookie(&res), "{:?}", res.set_cookies());
    signed_out(&c).await;

    // The real callback once; the same callback again opens no second session.
    let c = app.client();
    let back = callback_url(&c, &provider, ANN_EMAIL).await;
    let res = follow(&c, &back).await;
    assert!(has_session_cookie(&res), "{}: {}", res.status, res.text);
    let again = app.client();
    let res = follow(&again, &back).await;
    assert!(!has_session_cookie(&res), "{:?}", res.set_cookies());
    signed_out(&again).await;
    let res = follow(&c, &back).await;
    assert!(
        !has_session_cookie(&res),
        "replayed in the same browser: {:?}",
        res.set_cookies()
    );
    let mine = c.get("/api/v1/me/sessions").await.json();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1, "{mine}");

    // An error from the provider (the person cancelled) is a page, not a session.
    let c = app.client();
    let auth = start(&c, "/").await;
    let url: url::Url = auth.parse().unwrap();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let res = follow(
        &c,
        &app.url(&format!(
            "/sso/callback?error=access_denied&state={}",
            urlencode(&state)
        )),
    )
    .await;
    assert!(
        res.status.is_client_error() || res.status.is_success(),
        "{}",
        res.status
    );
    refused_page(&res, &[]);
    signed_out(&c).await;
}

async fn a_callback_in_another_browser_signs_nobody_in(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    let victim = app.client();
    let back = callback_url(&victim, &provider, ANN_EMAIL).await;
    // Someone else's browser opens the link: the state is not theirs.
    let other = app.client();
    let res = follow(&other, &back).await;
    refused_page(&res, &[]);
    signed_out(&other).await;
    signed_out(&victim).await;
    let admin = app.primary_client().await;
    let agents = admin.get("/api/v1/agents?session=active").await.json();
    assert_eq!(agents["total"], 0, "{agents}");
}

async fn an_unverified_e_mail_signs_nobody_in(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    provider
        .set_users(&[User::unverified(ANN_SUB, ANN_EMAIL, "Ann Agent")])
        .await;
    let c = app.client();
    let res = sso_sign_in(&c, &provider, ANN_EMAIL).await;
    refused_page(&res, &["verified"]);
    signed_out(&c).await;
    let failed = audit_kinds(&app, "sso.failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].to_string().to_lowercase().contains("verified"),
        "{}",
        failed[0]
    );
}

async fn unknown_e_mails_become_agents_only_where_allowed(backend: Backend) {
    let (app, provider) = setup(
        backend,
        &[
            User::verified("new-sub", "new@acme.test", "Nia New"),
            User::verified("sub-sub", "sub@eu.acme.test", "Sid Subdomain"),
            User::verified("out-sub", "out@other.test", "Oz Outside"),
        ],
    )
    .await;
    let admin = app.primary_client().await;

    // Agent creation off: the page says nobody has that address.
    let c = app.client();
    let res = sso_sign_in(&c, &provider, "new@acme.test").await;
    refused_page(&res, &["nobody", "e-mail address"]);
    signed_out(&c).await;
    let agents = admin.get("/api/v1/agents?q=new@acme.test").await.json();
    assert_eq!(agents["total"], 0, "{agents}");

    // On: an allowed domain makes a new agent, signed in at once.
    save_sso(&admin, json!({"create_agents": true}))
        .await
        .expect_status(StatusCode::OK);
    let c = signed_in_with_sso(&app, &provider, "new@acme.test").await;
    let me = c.me().await.json();
    assert_eq!(me["user"]["kind"], "agent");
    assert_eq!(me["user"]["email"], "new@acme.test");
    assert_eq!(me["user"]["name"], "Nia New");

    // A subdomain of an allowed domain, and another domain: nobody is created.
    for who in ["sub@eu.acme.test", "out@other.test"] {
        let c = app.client();
        let res = sso_sign_in(&c, &provider, who).await;
        refused_page(&res, &["nobody", "e-mail address"]);
        signed_out(&c).await;
        let agents = admin.get(&format!("/api/v1/agents?q={who}")).await.json();
        assert_eq!(agents["total"], 0, "{who}: {agents}");
    }

    // No allowed domain at all: nobody is created.
    save_sso(&admin, json!({"allowed_domains": []}))
        .await
        .expect_status(StatusCode::OK);
    provider
        .set_users(&[User::verified("late-sub", "late@acme.test", "Lou Late")])
        .await;
    let c = app.client();
    let res = sso_sign_in(&c, &provider, "late@acme.test").await;
    refused_page(&res, &["nobody", "e-mail address"]);
    signed_out(&c).await;
    assert!(!audit_kinds(&app, "sso.failed").await.is_empty());
}

async fn a_disabled_account_is_refused(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    let admin = app.primary_client().await;
    let ann = admin.get("/api/v1/agents?q=ann@acme.test").await.json();
    let id = ann["items"][0]["id"].as_str().unwrap().to_string();
    admin
        .patch_json(&format!("/api/v1/agents/{id}"), &json!({"disabled": true}))
        .await
        .expect_status(StatusCode::OK);
    let c = app.client();
    let res = sso_sign_in(&c, &provider, ANN_EMAIL).await;
    refused_page(&res, &["disabled"]);
    signed_out(&c).await;
}

/// The first form of a page: its action and its hidden fields.
fn first_form(html: &str) -> (String, Vec<(String, String)>) {
    let form = regex::Regex::new(r#"(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>"#)
        .unwrap()
        .captures(html)
        .unwrap_or_else(|| panic!("no form on the page: {html}"));
    let hidden = regex::Regex::new(r#"<input[^>]*type="hidden"[^>]*>"#).unwrap();
    let name = regex::Regex::new(r#"name="([^"]*)""#).unwrap();
    let value = regex::Regex::new(r#"value="([^"]*)""#).unwrap();
    let fields = hidden
        .find_iter(&form[2])
        .filter_map(|m| {
            let n = name.captures(m.as_str())?[1].to_string();
            let v = value
                .captures(m.as_str())
                .map(|c| c[1].replace("&amp;", "&").replace("&#x2F;", "/"))
                .unwrap_or_default();
            Some((n, v))
        })
        .collect();
    (form[1].replace("&amp;", "&"), fields)
}

async fn linked_accounts_choose(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    let admin_ann = app.add_admin("Ann Admin", ANN_EMAIL, &["audit"]).await;
    let c = app.client();
    let res = sso_sign_in(&c, &provider, ANN_EMAIL).await;
    // The chooser, before any session.
    let res = if res.status.is_redirection() && !has_session_cookie(&res) {
        let to = res.header("location").unwrap().to_string();
        let to = if to.starts_with('/') {
            app.url(&to)
        } else {
            to
        };
        follow(&c, &to).await
    } else {
        res
    };
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert!(!has_session_cookie(&res));
    assert!(res.text.contains("Sign in as agent"), "{}", res.text);
    assert!(
        res.text.contains("Sign in as administrator"),
        "{}",
        res.text
    );
    signed_out(&c).await;

    let (action, mut fields) = first_form(&res.text);
    fields.push(("as".to_string(), "admin".to_string()));
    let action = if action.starts_with('/') {
        app.url(&action)
    } else {
        action
    };
    let chosen = c.send(c.raw.post(&action).form(&fields)).await;
    assert!(
        chosen.status.is_redirection(),
        "{}: {}",
        chosen.status,
        chosen.text
    );
    let me = c.me().await.expect_status(StatusCode::OK).json();
    assert_eq!(me["user"]["id"], admin_ann.id.as_str());
    assert!(
        me["session"]["auth_methods"]
            .as_array()
            .unwrap()
            .contains(&json!("sso"))
    );
    // The choice is spent: the same form again signs nobody else in.
    let other = app.client();
    let again = other.send(other.raw.post(&action).form(&fields)).await;
    assert!(!has_session_cookie(&again), "{:?}", again.set_cookies());
}

async fn the_provider_rotates_its_keys(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    signed_in_with_sso(&app, &provider, ANN_EMAIL).await;
    // The next ID token is signed with a key Deskward has never seen: it fetches the JWKS again.
    provider.rotate_keys().await;
    signed_in_with_sso(&app, &provider, ANN_EMAIL).await;
    provider.rotate_keys().await;
    signed_in_with_sso(&app, &provider, ANN_EMAIL).await;
}

async fn the_provider_down_gets_a_clear_page_and_passwords_still_work(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    let c = app.client();
    let back = callback_url(&c, &provider, ANN_EMAIL).await;
    provider.down().await;
    let res = follow(&c, &back).await;
    assert_ne!(
        res.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        res.text
    );
    refused_page(&res, &["provider"]);
    assert!(
        res.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "{:?}",
        res.headers
    );
    signed_out(&c).await;
    let failed = audit_kinds(&app, "sso.failed").await;
    assert!(!failed.is_empty());

    // Passwords still work for a role where single sign-on is only allowed.
    app.client()
        .login(ANN_EMAIL, PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    // The sign-in page still loads; starting single sign-on says what is wrong.
    app.client()
        .get("/login")
        .await
        .expect_status(StatusCode::OK);
    let res = app.client().get("/sso/start?rd=%2F").await;
    assert_ne!(
        res.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        res.text
    );

    provider.up().await;
    signed_in_with_sso(&app, &provider, ANN_EMAIL).await;
}

async fn required_refuses_passwords_but_the_primary_keeps_one(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    app.add_admin("Sue Sub", "sue@acme.test", &["audit"]).await;
    let admin = app.primary_client().await;
    save_sso(&admin, json!({"agents": "required", "admins": "required"}))
        .await
        .expect_status(StatusCode::OK);

    let res = app.client().login(ANN_EMAIL, PASSWORD).await;
    let msg = res.expect_error(StatusCode::UNAUTHORIZED, "sso_required");
    assert!(
        msg.contains(BUTTON) || msg.to_lowercase().contains("single sign-on"),
        "{msg}"
    );
    app.client()
        .login("sue@acme.test", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "sso_required");
    // The primary administrator keeps the password as the way back in.
    app.client()
        .login(PRIMARY_EMAIL, PRIMARY_PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    // The page shows the button instead.
    let c = app.client();
    let page = c
        .post_form("/login", &[("email", ANN_EMAIL), ("password", PASSWORD)])
        .await;
    assert!(!has_session_cookie(&page));
    let page = if page.status.is_redirection() {
        let to = page.header("location").unwrap().to_string();
        let to = if to.starts_with('/') {
            app.url(&to)
        } else {
            to
        };
        follow(&c, &to).await
    } else {
        page
    };
    assert!(
        page.text.contains(&format!("Sign in with {BUTTON}")),
        "{}",
        page.text
    );
    signed_out(&c).await;
    // And the provider is the way in.
    signed_in_with_sso(&app, &provider, ANN_EMAIL).await;
}

async fn turning_required_on_ends_nobody(backend: Backend) {
    let (app, _provider) = setup(backend, &[]).await;
    let ann = app.signed_in(ANN_EMAIL, PASSWORD).await;
    let admin = app.primary_client().await;
    save_sso(&admin, json!({"agents": "required"}))
        .await
        .expect_status(StatusCode::OK);
    ann.me().await.expect_status(StatusCode::OK);
    app.sweep().await;
    ann.me().await.expect_status(StatusCode::OK);
    // Their next sign-in goes through the provider.
    app.client()
        .login(ANN_EMAIL, PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "sso_required");
}

async fn saving_names_what_failed_and_keeps_the_settings(backend: Backend) {
    let (app, provider) = setup(backend, &[]).await;
    let admin = app.primary_client().await;
    let before = stored_sso(&admin).await;
    assert_eq!(before["issuer"], provider.issuer());
    assert_eq!(before["button_label"], BUTTON);
    assert!(
        before.get("client_secret").is_none_or(Value::is_null),
        "the secret came back: {before}"
    );
    let all = admin.get("/api/v1/settings/security").await.text;
    assert!(!all.contains(CLIENT_SECRET), "the secret came back: {all}");

    // No discovery document there (Deskward itself answers 404).
    let res = save_sso(
        &admin,
        json!({"issuer": app.base, "button_label": "Changed"}),
    )
    .await;
    let msg = res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(
        msg.contains("issuer") || msg.contains("openid-configuration"),
        "{msg}"
    );
    assert_eq!(stored_sso(&admin).await, before, "nothing saved");

    // The provider unreachable while saving.
    provider.down().await;
    let res = save_sso(&admin, json!({"button_label": "Changed"})).await;
    let msg = res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(!msg.is_empty());
    assert_eq!(stored_sso(&admin).await, before, "nothing saved");
    provider.up().await;

    // Bad values are named.
    for (body, field) in [
        (json!({"agents": "sometimes"}), "agents"),
        (
            json!({"allowed_domains": ["not a domain"]}),
            "allowed_domains",
        ),
        (json!({"issuer": "ftp://example.com"}), "issuer"),
    ] {
        let res = save_sso(&admin, body.clone()).await;
        let msg = res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
        assert!(msg.contains(field), "{body}: {msg}");
        assert_eq!(stored_sso(&admin).await, before, "{body}: nothing saved");
    }

    // A PUT without the secret keeps it: sign-in still works.
    save_sso(&admin, json!({"button_label": "Changed"}))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(stored_sso(&admin).await["button_label"], "Changed");
    signed_in_with_sso(&app, &provider, ANN_EMAIL).await;

    // The Security page shows the URIs to register.
    let page = admin
        .get("/security/sso")
        .await
        .expect_status(StatusCode::OK);
    assert!(
        page.text.contains(&app.url("/sso/callback")),
        "{}",
        page.text
    );
    assert!(
        page.text.contains(&app.url("/sso/backchannel-logout")),
        "{}",
        page.text
    );
    assert!(!page.text.contains(CLIENT_SECRET));
}

async fn a_private_issuer_needs_the_flag(backend: Backend) {
    // Without --sso-allow-private, a loopback issuer is refused.
    let app = TestApp::spawn(backend).await;
    app.clock.set(now_ms());
    let provider = Provider::start(&Registration::for_deskward(&app.base), &[]).await;
    let admin = app.primary_client().await;
    let before = stored_sso(&admin).await;
    let res = save_sso(&admin, settings(&provider)).await;
    let msg = res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert!(msg.contains("issuer"), "{msg}");
    assert!(
        msg.contains("private") || msg.contains("loopback"),
        "the message does not say why: {msg}"
    );
    assert_eq!(stored_sso(&admin).await, before);
    // A name that resolves to loopback is checked after resolution.
    let by_name = settings(&provider);
    let mut by_name = by_name.as_object().unwrap().clone();
    by_name.insert(
        "issuer".into(),
        json!(provider.issuer().replace("127.0.0.1", "localhost")),
    );
    let res = save_sso(&admin, Value::Object(by_name)).await;
    res.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input");
    assert_eq!(stored_sso(&admin).await, before);
}

async fn only_the_primary_changes_the_admins_field(backend: Backend) {
    let (app, _provider) = setup(backend, &[]).await;
    app.add_admin("Sam Security", "sam@acme.test", &["security"])
        .await;
    let sam = app.signed_in("sam@acme.test", PASSWORD).await;
    let before = stored_sso(&sam).await;
    save_sso(&sam, json!({"admins": "required"}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(stored_sso(&sam).await, before);
    save_sso(&sam, json!({"agents": "required", "admins": "off"}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        stored_sso(&sam).await,
        before,
        "nothing of a refused PUT is saved"
    );
    save_sso(&sam, json!({"agents": "required"}))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(stored_sso(&sam).await["agents"], "required");

    // Without the security permission: 403 for the whole section.
    app.add_admin("Ava Audit", "ava@acme.test", &["audit"])
        .await;
    let ava = app.signed_in("ava@acme.test", PASSWORD).await;
    ava.put_json(
        "/api/v1/settings/security",
        &json!({"sso": {"button_label": "Nope"}}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
}
