//! Deskward: team access and session control for a helpdesk.
#![forbid(unsafe_code)]

pub mod clock;
pub mod domain;
pub mod events;
pub mod service;
pub mod store;
