//! The tenant store.
//!
//! A tenant is a community: a slug, a plan and two SQLite files of its own, `live.db` for live data
//! and `sandbox.db` for what test keys touch. Nothing in this crate knows about HTTP; the host asks it
//! for a [`TenantDb`] and runs its queries there, so no code path can reach another tenant's file.
//!
//! - [`registry`]: the small list of tenants (`registry.db`), cached and revalidated cheaply.
//! - [`pools`]: connection pools per (tenant, environment), opened lazily and closed when idle.
//! - [`db`]: one tenant database: a pool for reads, one serialised writer for transactions.
//! - [`migrations`]: versioned SQL applied once per file, recorded in `_migrations`.

pub mod db;
pub mod error;
pub mod migrations;
pub mod model;
pub mod pools;
pub mod registry;
pub mod store;

pub use db::{CommitHook, DbId, TenantDb};
pub use error::{Error, Result};
pub use model::{Env, Plan, Slug, Tenant};
pub use pools::{PoolConfig, Pools};
pub use registry::Registry;
pub use store::Store;
