//! Plugins: product surfaces as sandboxed WebAssembly components.
//!
//! - [`runtime`]: wasmtime — compile once, link once, a fresh instance per call, limits.
//! - [`state`] and [`imports`]: what a call carries and the capabilities it is given.
//! - [`sandbox`]: the SQLite authorizer and bounds a plugin's SQL runs under.
//! - [`tables`]: which tables a plugin owns, for the manifest check and the sandbox alike.
//! - [`read_pool`]: the threads plugin GETs run on, a share per plugin.
//! - [`cursors`]: plugin list cursors, sealed by the host like its own.
//! - [`headers`]: which request and answer headers cross the sandbox.
//! - [`bindings`]: the contract, one module per version kept in `wit/`; [`capabilities`]: what a
//!   plugin declares beyond 1.0, and is refused when it did not.
//! - [`asks`]: questions for the AI provider, answered outside the call, which then runs again.
//! - [`reaction`]: `on-event` and `on-timer` calls after a commit; [`timers`]: their worker.

pub mod asks;
pub mod bindings;
pub mod capabilities;
pub mod cursors;
pub mod dispatch;
pub mod events;
pub mod headers;
pub mod imports;
pub mod limits;
pub mod manifest;
pub mod migrate;
pub mod reaction;
pub mod read_pool;
pub mod registry;
pub mod routes;
pub mod runtime;
pub mod sandbox;
pub mod shared_cache;
pub mod state;
pub mod surfaces;
pub mod tables;
pub mod timers;
