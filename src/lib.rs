//! Deskward: team access and session control for a helpdesk.
#![forbid(unsafe_code)]

pub mod access_rules;
pub mod backup;
pub mod clock;
pub mod demo;
pub mod domain;
pub mod events;
pub mod guarded;
pub mod ids;
pub mod relay;
pub mod server;
pub mod service;
pub mod store;
pub mod web;
