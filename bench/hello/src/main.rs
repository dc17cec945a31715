//! The upper bound: a bare axum 0.8 server answering `GET /` with "hello".
//! Usage: hello [--bind 127.0.0.1:PORT]

use axum::{Router, routing::get};

#[tokio::main]
async fn main() {
    let mut bind = "127.0.0.1:18081".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bind" => bind = args.next().expect("--bind needs an address"),
            other => panic!("unknown argument {other}"),
        }
    }
    let app = Router::new().route("/", get(|| async { "hello" }));
    let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
    println!("hello listening on http://{bind}/");
    axum::serve(listener, app).await.expect("serve");
}
