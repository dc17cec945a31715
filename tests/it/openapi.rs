//! The OpenAPI description: served without sign-in, the same as docs/openapi.json, and
//! describing exactly the routes the API serves (both come from `api::routes`; these tests
//! keep a route from being added any other way).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::db::Backend;
use crate::support::TestApp;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The body of `fn name` in src/web/api/mod.rs, up to its closing brace.
fn function_body(src: &str, name: &str) -> String {
    let start = src
        .find(&format!("pub fn {name}("))
        .unwrap_or_else(|| panic!("api::{name} in src/web/api/mod.rs"));
    let len = src[start..].find("\n}\n").expect("the function's end");
    src[start..start + len].to_string()
}

/// The API's routes are registered in one place, `api::routes`, and only with `routes!`,
/// which registers a handler together with its operation: a plain axum route (or a nested or
/// merged router) there or in `api::router` would serve what the description does not say.
#[test]
fn routes_are_registered_only_with_their_operations() {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/web/api/mod.rs"))
        .expect("read src/web/api/mod.rs");
    let routes = function_body(&src, "routes");
    let registrations = routes.matches(".routes(routes!(").count();
    assert!(registrations >= 20, "read too few registrations: {routes}");
    assert_eq!(
        routes.matches("\n        .").count(),
        registrations,
        "api::routes adds something besides `.routes(routes!(..))`: {routes}"
    );
    let router = function_body(&src, "router");
    for call in [".route(", ".route_service(", ".nest", ".merge("] {
        assert!(!router.contains(call), "api::router adds {call}: {router}");
    }
}

/// Every operation of the description is served: a request without a session reaches its
/// handler (which refuses it, or answers) rather than the API's fallback (404) or a route
/// without that method (405).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed() {
    let doc: Value = serde_json::from_str(&deskward::web::api::openapi::json()).unwrap();
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = app.client();
    let parameter = regex::Regex::new(r"\{[^}]+\}").unwrap();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = parameter.replace_all(path, "x").to_string();
        for m in METHODS {
            if item.get(m).is_none() {
                continue;
            }
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let res = client.send(client.request(method, &concrete)).await;
            assert!(
                res.status != StatusCode::NOT_FOUND && res.status != StatusCode::METHOD_NOT_ALLOWED,
                "{m} {path}: {} {}",
                res.status,
                res.text
            );
            count += 1;
        }
    }
    assert!(count >= 40, "too few operations: {count}");
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
    // Signing in (both steps) and resetting a forgotten password need no session yet.
    let open = [
        "/api/v1/auth/login",
        "/api/v1/auth/login/mfa",
        "/api/v1/auth/login/mfa/passkey-options",
        "/api/v1/auth/password-reset",
        "/api/v1/auth/password-reset/confirm",
        "/api/v1/invitations/accept",
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
