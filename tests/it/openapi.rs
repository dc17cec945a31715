//! The OpenAPI description: served without sign-in, the same as docs/openapi.json, and
//! documenting every route of the API router (a route added without its operation fails here).

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::db::Backend;
use crate::support::TestApp;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(METHOD, /api/v1/path)` of every route `api::router` declares, read from its source: axum
/// cannot list a router's routes, and this is the one place routes are added.
fn router_routes() -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/api/mod.rs"))
        .expect("read src/web/api/mod.rs");
    let body = src
        .split("pub fn router()")
        .nth(1)
        .expect("api::router in src/web/api/mod.rs");
    let body = body.split(".fallback(").next().unwrap();
    let mut routes = BTreeSet::new();
    for chunk in body.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).expect("a route's path literal");
        let handlers = &chunk[chunk.find(',').expect("a route's handlers")..];
        let mut found = 0;
        for m in METHODS {
            let call = format!("{m}(");
            let mut at = 0;
            while let Some(i) = handlers[at..].find(&call) {
                let start = at + i;
                let before = handlers[..start].chars().next_back();
                // `get(` as a method router, not `team::get(` or `forget(`.
                if before.is_some_and(|c| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                    routes.insert((m.to_uppercase(), format!("/api/v1{path}")));
                    found += 1;
                }
                at = start + call.len();
            }
        }
        assert!(found > 0, "no method found for route {path}");
    }
    routes
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                ops.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[test]
fn every_api_route_is_documented_and_nothing_else() {
    let doc: Value = serde_json::from_str(&deskward::web::api::openapi::json()).unwrap();
    let routes = router_routes();
    assert!(routes.len() >= 20, "read too few routes: {routes:?}");
    let ops = documented(&doc);
    let undocumented: Vec<_> = routes.difference(&ops).collect();
    let unrouted: Vec<_> = ops.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes without an operation in src/web/api/openapi.rs: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "operations without a route: {unrouted:?}"
    );
}

/// Every operation describes its failures with the error shape, and every one that needs a
/// session says so (cookie, and the CSRF header when it changes state).
#[test]
fn operations_describe_errors_and_authentication() {
    let doc: Value = serde_json::from_str(&deskward::web::api::openapi::json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["csrf"]["in"], "header");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-Token");
    // Signing in (both steps) needs no session yet.
    let open = [
        "/api/v1/auth/login",
        "/api/v1/auth/login/mfa",
        "/api/v1/auth/login/mfa/passkey-options",
        "/api/v1/openapi.json",
    ];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for (status, r) in responses {
                if status.starts_with('4') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
            if open.contains(&path.as_str()) {
                continue;
            }
            assert!(
                responses.contains_key("401"),
                "{method} {path} documents 401"
            );
            let security = op["security"].to_string();
            assert!(security.contains("session"), "{method} {path}: {security}");
            if method != "get" {
                assert!(security.contains("csrf"), "{method} {path}: {security}");
                assert!(
                    responses.contains_key("403"),
                    "{method} {path} documents 403"
                );
            }
        }
    }
}

#[test]
fn docs_openapi_json_is_up_to_date() {
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"))
        .expect("docs/openapi.json");
    assert!(
        file == deskward::web::api::openapi::json(),
        "docs/openapi.json is stale: run `cargo run -- openapi --out docs/openapi.json`"
    );
}

/// Served by the binary without sign-in, the same text as the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_description_is_served_without_sign_in() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let res = app.client().get("/api/v1/openapi.json").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("application/json"));
    let served = res.json();
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(served, file);
}

/// The served description names where its paths start: `/` at the root, the
/// path prefix under `--path-prefix`, so a client generated from it calls Deskward and not
/// the app behind the same proxy. Apart from `servers`, it is the same document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_description_names_the_path_prefix_as_its_server() {
    use crate::forward_auth::{PREFIX, desk, guarded};
    let root = TestApp::spawn(Backend::Sqlite).await;
    let at_root = root
        .client()
        .get("/api/v1/openapi.json")
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        at_root["servers"],
        serde_json::json!([{"url": "/"}]),
        "{at_root}"
    );
    let app = guarded(Backend::Sqlite).await;
    let mut under = desk(&app)
        .get("/api/v1/openapi.json")
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_eq!(
        under["servers"],
        serde_json::json!([{"url": PREFIX}]),
        "{under}"
    );
    // A client joins the server and a path: that is where Deskward answers.
    let me = format!(
        "{}{}",
        under["servers"][0]["url"].as_str().unwrap(),
        "/api/v1/me"
    );
    let res = app.client().get(&me).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{me}: {}", res.text);
    under["servers"] = at_root["servers"].clone();
    assert_eq!(under, at_root);
}
