//! The comparison peer: what a Rust developer would build instead of Deskward's session layer.
//! A minimal axum app with `tower-sessions` and its SQLite store (`tower-sessions-sqlx-store`).
//!
//!   POST /login  puts a user id into the session (sets the cookie)
//!   GET  /me     200 with a signed-in session, 401 otherwise
//!   GET  /verify the same check as a forward-auth endpoint: 200 with `Remote-User` and an
//!                empty body, 401 otherwise (Deskward's `/api/v1/verify/auth-request`)
//!
//! Usage: peer --database PATH [--bind 127.0.0.1:PORT] [--always-save]
//!
//! `--always-save` turns on `with_always_save(true)`: the session (and its expiry) is written
//! back on every request, which is what a sliding inactivity expiry like Deskward's needs.
//! The SQLite file is opened like Deskward opens its own: WAL, synchronous=NORMAL, 8 connections.

use std::str::FromStr;
use std::time::Duration;

use axum::{
    Router,
    http::StatusCode,
    response::IntoResponse,
    routing::{get, post},
};
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::{
    SqliteStore,
    sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

const USER_KEY: &str = "user_id";

async fn login(session: Session) -> impl IntoResponse {
    // A fresh id on sign-in, as one should (session fixation).
    if session.cycle_id().await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    match session.insert(USER_KEY, "user-1").await {
        Ok(()) => (StatusCode::OK, "signed in").into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn me(session: Session) -> impl IntoResponse {
    match session.get::<String>(USER_KEY).await {
        Ok(Some(user)) => (StatusCode::OK, user).into_response(),
        Ok(None) => StatusCode::UNAUTHORIZED.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn verify(session: Session) -> impl IntoResponse {
    match session.get::<String>(USER_KEY).await {
        Ok(Some(user)) => (StatusCode::OK, [("remote-user", user)]).into_response(),
        Ok(None) => StatusCode::UNAUTHORIZED.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[tokio::main]
async fn main() {
    let mut bind = "127.0.0.1:18082".to_string();
    let mut database = "peer.db".to_string();
    let mut always_save = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bind" => bind = args.next().expect("--bind needs an address"),
            "--database" => database = args.next().expect("--database needs a path"),
            "--always-save" => always_save = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{database}"))
        .expect("database path")
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .expect("open database");
    let store = SqliteStore::new(pool);
    store.migrate().await.expect("migrate");
    let layer = SessionManagerLayer::new(store)
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(72)))
        .with_always_save(always_save);
    let app = Router::new()
        .route("/login", post(login))
        .route("/me", get(me))
        .route("/verify", get(verify))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
    println!("peer listening on http://{bind}/ (always_save={always_save})");
    axum::serve(listener, app).await.expect("serve");
}
