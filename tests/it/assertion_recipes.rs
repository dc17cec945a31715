//! The `Remote-Assertion` recipes of docs/reverse-proxy.md run as written — Python with PyJWT,
//! Ruby with ruby-jwt and RbNaCl, Node with jose — their issuer and audience filled in, against
//! a running Deskward whose clock is the system's (the libraries check `exp` against their
//! own): its token accepted with the person's id, e-mail and groups; a tampered token, an
//! expired one and one made for another app refused, each for that reason.
//!
//! Ruby comes from the Debian packages `ruby`, `ruby-jwt` and `ruby-rbnacl`, jose from npm into
//! `target/jose` (`DESKWARD_JOSE_DIR` may point elsewhere); scripts/test.sh installs both. With
//! CI=true a missing one fails the test instead of skipping it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use deskward::clock::{Clock, SystemClock};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::assertion::tampered;
use crate::db::Backend;
use crate::forward_auth::{FORWARD_AUTH, PREFIX, guarded_with};
use crate::support::{
    Client, PASSWORD, Serving, TestApp, client_for_base, serve_listener, test_python,
};

/// The app behind the proxy; a token for any other origin is another app's.
const APP_ORIGIN: &str = "http://help.example.test";
const OTHER_ORIGIN: &str = "http://wiki.example.test";
/// The issuer and audience the guide's recipes name, replaced by the running ones.
const GUIDE_ISSUER: &str = "\"https://desk.example.com/deskward\"";
const GUIDE_AUDIENCE: &str = "\"https://desk.example.com\"";

/// The guide's code block `name`, with its issuer and audience replaced.
fn recipe(name: &str, issuer: &str) -> String {
    let block =
        deskward::guarded::block(&crate::proxies::guide(), name).unwrap_or_else(|e| panic!("{e}"));
    // The issuer first: the audience's text is the start of it.
    for from in [GUIDE_ISSUER, GUIDE_AUDIENCE] {
        assert!(
            block.contains(from),
            "the guide's {name} block no longer contains {from}"
        );
    }
    block
        .replace(GUIDE_ISSUER, &format!("\"{issuer}\""))
        .replace(GUIDE_AUDIENCE, &format!("\"{APP_ORIGIN}\""))
}

/// Tokens as the proxy hands them to an app, and the person they name.
struct Tokens {
    /// Fresh, for `APP_ORIGIN`.
    valid: String,
    /// `valid` with its claims changed, the signature kept.
    tampered: String,
    /// For `APP_ORIGIN`, expired a minute ago.
    expired: String,
    /// Fresh, for `OTHER_ORIGIN`.
    other_app: String,
    id: String,
    issuer: String,
    // Kept serving while the recipes fetch the keys.
    _instance: Serving,
    _app: TestApp,
}

impl Tokens {
    fn all(&self) -> Vec<&str> {
        vec![
            self.valid.as_str(),
            self.tampered.as_str(),
            self.expired.as_str(),
            self.other_app.as_str(),
        ]
    }

    /// The recipe accepted the valid token with the person's details and refused the other
    /// three with the errors `refusals` (tampered, expired, other app's) name.
    fn check(&self, lang: &str, verdicts: &[Value], refusals: [&str; 3]) {
        assert_eq!(verdicts.len(), 4, "{lang}: {verdicts:?}");
        assert_eq!(verdicts[0]["ok"], true, "{lang}: {verdicts:?}");
        assert_eq!(verdicts[0]["id"], self.id.as_str(), "{lang}");
        assert_eq!(verdicts[0]["email"], "zoe@acme.test", "{lang}");
        assert_eq!(verdicts[0]["groups"], json!(["agent"]), "{lang}");
        for (v, want) in verdicts[1..].iter().zip(refusals) {
            assert_eq!(v["ok"], false, "{lang}: accepted: {verdicts:?}");
            assert_eq!(v["error"], want, "{lang}: {verdicts:?}");
        }
    }
}

/// One check as Caddy asks it, for a page of `origin`; the token of its 200.
async fn token_for(c: &Client, origin: &str) -> String {
    let (proto, host) = origin.split_once("://").unwrap();
    let rb = c
        .request(Method::GET, FORWARD_AUTH)
        .header("X-Forwarded-Proto", proto)
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", "/tickets/7")
        .header("X-Forwarded-Method", "GET");
    let r = c.send(rb).await.expect_status(StatusCode::OK);
    r.header("remote-assertion")
        .unwrap_or_else(|| panic!("no Remote-Assertion: {:?}", r.headers))
        .to_string()
}

/// A Deskward whose public URL is where it really listens (the recipes fetch the keys from
/// the issuer), on the system's time, and the four tokens.
async fn tokens(backend: Backend) -> Tokens {
    let app = guarded_with(backend, |_| {}).await;
    let zoe = app.add_agent("Zoë O'Brien", "zoe@acme.test").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let issuer = format!("http://{}{PREFIX}", listener.local_addr().unwrap());
    let mut config = crate::support::server_config();
    config.web.path_prefix = PREFIX.to_string();
    config.web.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.mail.public_url = Some(issuer.parse().unwrap());
    config.mail.transport =
        deskward::service::mailer::Transport::Files(app.mail_dir.path().to_path_buf());
    let svc = deskward::server::build(
        app.store.clone(),
        Arc::new(app.clock.clone()),
        deskward::events::EventBus::new(),
        &config,
    );
    let instance = serve_listener(svc, config, listener);
    let c = client_for_base(&issuer);

    // Two minutes ago: a token that expired a minute ago.
    app.clock.set(SystemClock.now() - 120_000);
    c.login("zoe@acme.test", PASSWORD)
        .await
        .expect_status(StatusCode::OK);
    let expired = token_for(&c, APP_ORIGIN).await;
    // Now: fresh tokens (past half the first one's life, so signed anew).
    app.clock.set(SystemClock.now());
    let valid = token_for(&c, APP_ORIGIN).await;
    assert_ne!(valid, expired);
    let other_app = token_for(&c, OTHER_ORIGIN).await;
    Tokens {
        tampered: tampered(&valid),
        valid,
        expired,
        other_app,
        id: zoe.id.as_str().to_string(),
        issuer,
        _instance: instance,
        _app: app,
    }
}

/// A program's verdicts: it prints one JSON array.
fn run(mut cmd: std::process::Command, lang: &str) -> Vec<Value> {
    // Loopback only, never through a proxy the environment names (Net::HTTP and urllib
    // follow `http_proxy`).
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run the {lang} recipe: {e}"));
    assert!(
        out.status.success(),
        "the {lang} recipe failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the {lang} recipe's answer ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Fails under CI, skips elsewhere: a tool the test needs is missing.
fn missing(msg: String) -> Option<PathBuf> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// `ruby`, when it loads ruby-jwt and RbNaCl.
fn ruby() -> Option<PathBuf> {
    let works = std::process::Command::new("ruby")
        .args(["-e", "require 'jwt'; require 'rbnacl'"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(PathBuf::from("ruby"));
    }
    missing(
        "ruby with ruby-jwt and RbNaCl is missing: apt-get install ruby ruby-jwt ruby-rbnacl \
         (scripts/test.sh does)"
            .to_string(),
    )
}

/// The folder whose `node_modules` holds jose, when `node` is there too.
fn jose_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DESKWARD_JOSE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/jose"));
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if node && dir.join("node_modules/jose/package.json").is_file() {
        return Some(dir);
    }
    missing(format!(
        "node, or jose in {}/node_modules, is missing: scripts/test.sh installs it \
         (npm install --prefix target/jose jose@VERSION), or set DESKWARD_JOSE_DIR",
        dir.display()
    ))
}

const PYTHON_DRIVER: &str = r#"
import json as _json, sys as _sys
_out = []
for _t in _json.loads(_sys.argv[1]):
    try:
        _sub, _email, _groups = deskward_identity({"Remote-Assertion": _t})
        _out.append({"ok": True, "id": _sub, "email": _email, "groups": _groups})
    except Exception as _e:
        _out.append({"ok": False, "error": type(_e).__name__, "message": str(_e)})
print(_json.dumps(_out))
"#;

const RUBY_DRIVER: &str = r#"
out = JSON.parse(ARGV[0]).map do |t|
  id, email, groups = Deskward.identity({ "HTTP_REMOTE_ASSERTION" => t })
  { ok: true, id: id, email: email, groups: groups }
rescue StandardError => e
  { ok: false, error: e.class.name, message: e.message }
end
puts JSON.generate(out)
"#;

const NODE_DRIVER: &str = r#"
import { deskwardIdentity } from "./recipe.mjs";
const out = [];
for (const t of JSON.parse(process.argv[2])) {
  // Express's req.get: a header by name, in any case.
  const req = { get: (name) => (name.toLowerCase() === "remote-assertion" ? t : undefined) };
  try {
    const { id, email, groups } = await deskwardIdentity(req);
    out.push({ ok: true, id, email, groups });
  } catch (e) {
    out.push({ ok: false, error: e.code ?? e.name, message: String(e.message) });
  }
}
console.log(JSON.stringify(out));
"#;

async fn the_python_recipe_checks_the_assertion(backend: Backend) {
    let python = test_python("jwt").expect("PyJWT in the test environment");
    let t = tokens(backend).await;
    let program = format!("{}\n{PYTHON_DRIVER}", recipe("assertion-python", &t.issuer));
    let mut cmd = std::process::Command::new(python);
    cmd.args(["-c", &program, &json!(t.all()).to_string()]);
    let v = run(cmd, "Python");
    t.check(
        "Python",
        &v,
        [
            "InvalidSignatureError",
            "ExpiredSignatureError",
            "InvalidAudienceError",
        ],
    );
}

async fn the_ruby_recipe_checks_the_assertion(backend: Backend) {
    let Some(ruby) = ruby() else { return };
    let t = tokens(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recipe.rb");
    let program = format!("{}\n{RUBY_DRIVER}", recipe("assertion-ruby", &t.issuer));
    std::fs::write(&file, program).unwrap();
    let mut cmd = std::process::Command::new(ruby);
    cmd.arg(&file).arg(json!(t.all()).to_string());
    let v = run(cmd, "Ruby");
    t.check(
        "Ruby",
        &v,
        [
            "JWT::VerificationError",
            "JWT::ExpiredSignature",
            "JWT::InvalidAudError",
        ],
    );
}

async fn the_node_recipe_checks_the_assertion(backend: Backend) {
    let Some(jose) = jose_dir() else { return };
    let t = tokens(backend).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recipe.mjs"),
        recipe("assertion-node", &t.issuer),
    )
    .unwrap();
    std::fs::write(dir.path().join("driver.mjs"), NODE_DRIVER).unwrap();
    // Node resolves `import "jose"` from the importing file's folder upwards.
    std::os::unix::fs::symlink(jose.join("node_modules"), dir.path().join("node_modules")).unwrap();
    let mut cmd = std::process::Command::new("node");
    cmd.arg(dir.path().join("driver.mjs"))
        .arg(json!(t.all()).to_string());
    let v = run(cmd, "Node");
    t.check(
        "Node",
        &v,
        [
            "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
            "ERR_JWT_EXPIRED",
            "ERR_JWT_CLAIM_VALIDATION_FAILED",
        ],
    );
}

backend_tests!(
    the_python_recipe_checks_the_assertion,
    the_ruby_recipe_checks_the_assertion,
    the_node_recipe_checks_the_assertion,
);
