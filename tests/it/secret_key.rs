//! The secret key kept outside the database (`--secret-key-file`, `DESKWARD_SECRET_KEY`): a
//! database moved to it no longer holds the authenticator and device-pass secrets, sign-in
//! with an authenticator app works before and after the move and across a restart, and a
//! missing, wrong or malformed key is refused with a message naming it.

use std::sync::Arc;

use reqwest::StatusCode;

use deskward::events::EventBus;
use deskward::service::keys::SecretKey;
use deskward::store::OUTSIDE_KEY_CHECK;

use crate::db::Backend;
use crate::mfa::{code, enroll, password_step, second_step};
use crate::support::{PRIMARY_EMAIL, PRIMARY_PASSWORD, SECOND, TestApp, client_for_base, serve};

backend_tests!(a_database_moved_to_an_outside_key_holds_no_secret_and_signs_in);

const KEY: &str = "9c1f0a7be35d4c2e8f61a0b7d93e4c5f2a8b6d0e1c3f5a7b9d2e4f6a8c0b1d3e";

/// A new instance (fresh caches: a restart) on the test's database and clock, with `key`.
async fn instance(
    app: &TestApp,
    key: Option<&str>,
) -> Result<(Arc<deskward::service::Service>, crate::support::Serving), String> {
    let config = crate::support::server_config();
    let svc = deskward::server::build(
        app.store.clone(),
        Arc::new(app.clock.clone()),
        EventBus::new(),
        &config,
    );
    let key = key.map(|k| SecretKey::from_text(k, "test").unwrap());
    svc.use_secret_key(key).await?;
    let server = serve(svc.clone(), config).await;
    Ok((svc, server))
}

/// Signs the primary administrator in with password and a fresh code; the status.
async fn sign_in_with_code(app: &TestApp, base: &str, secret: &[u8]) -> StatusCode {
    // A step later each time: a code is accepted once.
    app.advance(30 * SECOND);
    let c = client_for_base(base);
    let challenge = password_step(&c, PRIMARY_EMAIL, PRIMARY_PASSWORD).await;
    second_step(&c, &challenge, &code(app, secret, 0))
        .await
        .status
}

async fn a_database_moved_to_an_outside_key_holds_no_secret_and_signs_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.primary_client().await;
    let (secret, _) = enroll(&app, &admin, PRIMARY_PASSWORD).await;
    let before = app.store.sealed_totp_secrets().await.unwrap();
    assert_eq!(before.len(), 1);
    assert!(
        app.store
            .stored_server_secret("mfa-totp")
            .await
            .unwrap()
            .is_some(),
        "without a key the sealing key is in the database"
    );

    // The first start with the key moves the database onto it.
    let (_, first) = instance(&app, Some(KEY)).await.unwrap();
    for name in ["mfa-totp", "device-pass"] {
        assert_eq!(
            app.store.stored_server_secret(name).await.unwrap(),
            None,
            "{name} is no longer in the database"
        );
    }
    let check = app
        .store
        .stored_server_secret(OUTSIDE_KEY_CHECK)
        .await
        .unwrap()
        .expect("the check row");
    assert!(
        !check
            .windows(16)
            .any(|w| KEY.as_bytes().windows(16).any(|k| k == w))
    );
    let after = app.store.sealed_totp_secrets().await.unwrap();
    assert_ne!(after[0].1, before[0].1, "resealed under the key");
    assert_eq!(
        sign_in_with_code(&app, &first.base, &secret).await,
        StatusCode::OK
    );
    drop(first);

    // A restart with the same key signs in with the same app.
    let (_, again) = instance(&app, Some(KEY)).await.unwrap();
    assert_eq!(
        sign_in_with_code(&app, &again.base, &secret).await,
        StatusCode::OK
    );
    // The database alone, or with another key, is refused, and changes nothing.
    let err = instance(&app, None).await.err().expect("no key is refused");
    assert!(err.contains("--secret-key-file"), "{err}");
    let other = "0".repeat(64);
    let err = instance(&app, Some(&other))
        .await
        .err()
        .expect("another key is refused");
    assert!(err.contains("not the one"), "{err}");
    assert_eq!(app.store.sealed_totp_secrets().await.unwrap(), after);
    assert_eq!(
        sign_in_with_code(&app, &again.base, &secret).await,
        StatusCode::OK
    );
}

/// The command line refuses a key it cannot use before it serves: exit 2, naming the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_secret_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let short = dir.path().join("short.key");
    std::fs::write(&short, "too short\n").unwrap();
    let good = dir.path().join("good.key");
    std::fs::write(&good, format!("{KEY}\n")).unwrap();
    let missing = dir.path().join("missing.key");
    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 4] = [
        (
            vec!["--secret-key-file".into(), short.display().to_string()],
            vec![],
            "at least 32 characters",
        ),
        (
            vec!["--secret-key-file".into(), missing.display().to_string()],
            vec![],
            "cannot read",
        ),
        (
            vec![],
            vec![("DESKWARD_SECRET_KEY", "short")],
            "DESKWARD_SECRET_KEY",
        ),
        (
            vec!["--secret-key-file".into(), good.display().to_string()],
            vec![("DESKWARD_SECRET_KEY", KEY)],
            "not both",
        ),
    ];
    for (args, envs, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, err) = crate::support::refused_serve(&url, &args, &envs).await;
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} {envs:?}: {err}");
    }
}
