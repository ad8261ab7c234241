//! Host-side bindings of the plugin contract (`wit/plugin.wit`).
wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
});

pub use self::mobieus::plugin::types;
