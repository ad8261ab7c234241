//! The host's imports as the SDK calls them: in a component, the contract's imports; in a
//! native build (a plugin's `cargo test`), the in-memory host of [`crate::testing`].

#[cfg(target_family = "wasm")]
pub use crate::bindings::mobieus::plugin::{
    ai, clock, config, db, events, files, log, mail, random, secrets, surfaces, timers, users,
};
#[cfg(not(target_family = "wasm"))]
pub use crate::testing::fake::{
    ai, clock, config, db, events, files, log, mail, random, secrets, surfaces, timers, users,
};
