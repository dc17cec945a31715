//! Domain types and rules of Deskward, free of I/O so they can be unit-tested directly.

pub mod access;
pub mod assertion;
pub mod audit;
pub mod client_ip;
pub mod device;
pub mod email;
pub mod mail;
pub mod member;
pub mod name;
pub mod office;
pub mod password;
pub mod policy;
pub mod session;
pub mod signin;
pub mod sso;
pub mod time;
pub mod totp;
pub mod url_path;
pub mod webhook;
pub mod zone;

pub use client_ip::ClientIp;
pub use email::Email;
pub use member::{AgentStatus, MemberKind, Permission, Permissions};
pub use session::EndReason;
