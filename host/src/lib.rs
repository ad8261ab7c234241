//! Mobieus Server, the host: everything that must be trustworthy.
//!
//! Where things are:
//! - a request is authenticated in [`http::gate`] (tenant → CORS → key → plan → rate limit),
//!   a SCIM request in [`scim::gate`] (tenant → SCIM token → plan → rate limit),
//!   scopes are checked in [`http::scope`], errors rendered in [`http::request_id`];
//! - an event is appended in [`event_log::append`], in the transaction of the write that caused it,
//!   with its webhook deliveries; [`webhooks::worker`] sends them;
//! - host resources are in [`api`]; keys in [`auth`]; the CLI in [`cli`];
//! - SCIM 2.0 (`/scim/v2`, its own tokens) is [`scim`];
//! - every request is logged and counted once in [`http::access_log`]; the operator's
//!   Prometheus metrics are [`metrics`]; backups and restores of a tenant are [`backup`];
//! - the OpenAPI document is built in [`openapi`]; the tenant admin console is [`admin`];
//! - tenants, their files and pools are in the `tenants` crate.

pub mod admin;
pub mod ai;
pub mod api;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod domain;
pub mod error;
pub mod event_log;
pub mod files;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod plugins;
pub mod router;
pub mod schedule;
pub mod scim;
pub mod sealed;
pub mod settings;
pub mod shutdown;
pub mod ssrf;
pub mod state;
pub mod time;
pub mod ui;
pub mod wakeups;
pub mod webhooks;

#[cfg(test)]
mod floors;
