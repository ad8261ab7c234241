//! Host-side bindings of the plugin contract (`wit/plugin.wit`).
wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
});

pub use mobieus::plugin::types;
