//! Deskward's black-box tests, in one binary: the store conformance suite, HTTP-level
//! integration tests against the real server on port 0, and browser tests in headless
//! Chromium. Every database-backed test runs on SQLite and on PostgreSQL.

#[macro_use]
mod db;
mod support;

mod api_auth;
mod api_auth_expiry;
mod api_auth_signin;
mod api_events;
mod api_profiles;
mod api_security;
mod api_team;
mod api_team_endings;
mod api_team_permissions;
mod browser;
mod browser_a11y;
mod browser_agents;
mod browser_filters;
mod browser_forms;
mod browser_issue13;
mod browser_live;
mod browser_mfa;
mod browser_passkeys;
mod browser_people;
mod browser_policies;
mod browser_team;
mod conformance;
mod conformance_audit;
mod conformance_endings;
mod conformance_expiry;
mod conformance_paging;
mod conformance_people;
mod conformance_policies;
mod conformance_sessions;
mod conformance_signin_state;
mod conformance_team_list;
mod conformance_throttling;
mod conformance_webhook_order;
mod conformance_webhooks;
mod faults;
mod forms;
mod forward_auth;
mod hardening;
mod identity_rules;
mod lost_connection;
mod metrics;
mod metrics_shape;
mod mfa;
mod multi_instance;
mod openapi;
mod operations;
mod path_prefix;
mod permissions;
mod policies;
mod pool_limits;
mod proxies;
mod proxy_blocks;
mod schemathesis;
mod secret_key;
mod sign_in_rd;
mod signin;
mod team_pages;
mod throttling;
mod webhooks;
mod webhooks_fairness;
