//! Forward auth's signed identity on the web side: the `Remote-Assertion` header a verify
//! answer carries (its audience is the origin of the request the proxy asks about) and the
//! JWKS apps check it with, `{prefix}/.well-known/jwks.json`.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::service::Principal;
use crate::service::assertion::Identity;

use super::{AppState, return_to};

/// The header's name.
pub const HEADER: HeaderName = HeaderName::from_static("remote-assertion");

/// Adds `Remote-Assertion` to a verify endpoint's 200. `aud` is the origin of the original
/// request as a trusted proxy described it, else the origin this request was made on.
pub async fn attach(
    state: &AppState,
    parts: &Parts,
    p: &Principal,
    groups: &[&'static str],
    original: Option<Url>,
    res: &mut Response,
) {
    let aud = match original {
        Some(u) => u.origin().ascii_serialization(),
        None => match return_to::own_origin(parts, state) {
            Some(o) => o.ascii_serialization(),
            // No origin to name: no token an app could check its audience of.
            None => return,
        },
    };
    let Some(sid) = p.actor.session_id.as_deref() else {
        return;
    };
    let id = Identity {
        account_id: &p.actor.account_id,
        sub: &p.actor.member_id,
        email: &p.email,
        name: &p.name,
        groups,
        sid,
    };
    if let Some(token) = state.svc.assertion(&id, &aud).await
        && let Ok(v) = HeaderValue::from_str(&token)
    {
        res.headers_mut().insert(HEADER, v);
    }
}

/// The keys `Remote-Assertion` is signed with, as a JWK Set (RFC 7517): OKP, Ed25519, each
/// with its `kid`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct JwksJson {
    keys: Vec<JwkJson>,
}

/// One public key.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct JwkJson {
    /// `OKP`
    kty: String,
    /// `Ed25519`
    crv: String,
    /// The public key, base64url.
    x: String,
    kid: String,
    /// `EdDSA`
    alg: String,
    /// `sig`
    #[serde(rename = "use")]
    r#use: String,
}

/// `GET {prefix}/.well-known/jwks.json` (also `{prefix}/api/v1/verify/jwks.json`): the public
/// key of every key whose tokens may still be valid, and of the next one before it signs.
#[utoipa::path(get, path = "/verify/jwks.json", tag = "forward auth",
    operation_id = "verify_jwks",
    security(()),
    responses(
        (status = 200, description = "The JWK Set `Remote-Assertion` is checked with; also \
            served at `{prefix}/.well-known/jwks.json`. Keys rotate daily: the next key is \
            listed 15 minutes before it signs, a retired one until its last token expired.",
            body = JwksJson),
    ))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let keys = state
        .svc
        .assertion_jwks()
        .await
        .into_iter()
        .map(|(kid, x)| JwkJson {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x,
            kid,
            alg: "EdDSA".into(),
            r#use: "sig".into(),
        })
        .collect();
    let mut res = axum::Json(JwksJson { keys }).into_response();
    // Short enough that a new key (listed 15 minutes before it signs) is always fetched in
    // time; a verifier that meets an unknown `kid` fetches again anyway.
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}
