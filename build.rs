//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the migrations at
//! compile time but cannot tell cargo to watch the folder for new files (the sqlx-recommended
//! build script).
#![forbid(unsafe_code)]

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
