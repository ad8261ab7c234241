//! Host-side bindings of the plugin contract, one module per version kept in `wit/`.
//!
//! The host implements the newest version's imports only: wasmtime's linker is semver-aware, so a
//! component importing `mobieus:plugin/db@1.0.0` is linked to `db@1.1.0`, which only added to it.
//! What differs between versions is the world's exports, so each older version gets bindings for
//! its exports alone, with every interface mapped onto the newest one's types.

/// `mobieus:plugin@1.1.0`, the contract the host implements.
pub mod v1_1 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit/since_v1.1.0",
        // The imports that stop their call: a question for the AI provider, and a surface GET
        // from a write, are answered outside the call, which then runs again (`plugins::asks`).
        imports: {
            "mobieus:plugin/ai.complete": trappable,
            "mobieus:plugin/surfaces.get": trappable,
        },
    });
}

/// `mobieus:plugin@1.0.0`, frozen: its exports, over 1.1's types (unchanged since).
pub mod v1_0 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit/since_v1.0.0",
        with: {
            "mobieus:plugin/types": super::v1_1::mobieus::plugin::types,
            "mobieus:plugin/db": super::v1_1::mobieus::plugin::db,
            "mobieus:plugin/events": super::v1_1::mobieus::plugin::events,
            "mobieus:plugin/log": super::v1_1::mobieus::plugin::log,
            "mobieus:plugin/clock": super::v1_1::mobieus::plugin::clock,
            "mobieus:plugin/random": super::v1_1::mobieus::plugin::random,
            "mobieus:plugin/config": super::v1_1::mobieus::plugin::config,
            "mobieus:plugin/users": super::v1_1::mobieus::plugin::users,
        },
    });
}

pub use self::v1_1::mobieus::plugin::types;
pub use self::v1_1::mobieus::plugin::{
    ai, clock, config, db, events, files, log, mail, random, secrets, surfaces, timers, users,
};

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// A released version is frozen: components built against it rely on every byte's meaning.
    /// Change the newest version instead (adding, with `@since`).
    #[test]
    fn released_contracts_are_frozen() {
        let v1_0 = include_bytes!("../../../wit/since_v1.0.0/plugin.wit");
        assert_eq!(
            format!("{:x}", Sha256::digest(v1_0)),
            "10dd30300cb528c296928f470e3b8549317f379d96484e04055b9e2efacc4168"
        );
    }
}
