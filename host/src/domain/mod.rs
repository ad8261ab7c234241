//! The domain: what the host's own resources are and how they are read and changed, below HTTP.
//! Handlers (`crate::api`), the console, the CLI and plugin capabilities all call these; none of
//! them is called from here. Each function takes the connection or write it works in, so it runs
//! in the caller's transaction (and its event commits with it).

pub mod groups;
pub mod posts;
pub mod users;
pub mod validate;
