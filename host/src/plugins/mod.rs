//! Plugins: product surfaces as sandboxed WebAssembly components.
pub mod sandbox;
