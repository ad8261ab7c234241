//! End-to-end tests: the real binary, real HTTP, real SQLite files.

mod harness;
mod receiver;

mod auth;
mod cli;
mod conventions;
mod durability;
mod idempotency;
mod limits;
mod paging;
mod plugins;
mod resources;
mod webhooks;
