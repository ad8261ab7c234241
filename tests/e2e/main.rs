//! End-to-end tests: the real binary, real HTTP, real SQLite files.

mod harness;
mod receiver;

mod admin;
mod ai;
mod auth;
mod browser;
mod capabilities;
mod cli;
mod communities;
mod conventions;
mod durability;
mod files;
mod groups;
mod helpdesk;
mod helpdesk_ai;
mod idempotency;
mod know;
mod learn;
mod learn_xapi;
mod limits;
mod liveness;
mod mail;
mod market;
mod moderation;
mod openapi;
mod operations;
mod paging;
mod plugins;
mod resources;
mod sandbox_limits;
mod scim;
mod webhooks;
