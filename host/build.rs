//! Builds the plugins with cargo itself, so a newcomer never runs a separate step:
//!
//! - `plugins/` (first-party surfaces) is built for wasm32-wasip2 and embedded in the binary;
//! - `tests/plugins/` (the hostile and other test plugins) and `examples/guestbook/` are built for
//!   the end-to-end tests, which find them through `MOBIEUS_TEST_PLUGINS_DIR` and
//!   `MOBIEUS_GUESTBOOK_WASM`.
//!
//! Each is its own workspace with its own target directory under the host's, so the nested cargo
//! never waits on the outer one's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_owned();
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"))
        .join("wasm-plugins");
    for watched in [
        "sdk",
        "wit",
        "plugins",
        "tests/plugins",
        "examples/guestbook",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let embedded = build(&root.join("plugins"), &target_dir.join("first-party"));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut code = String::from(
        "/// First-party plugins, built from `plugins/`.\npub const EMBEDDED: &[(&str, &[u8])] = &[\n",
    );
    for wasm in &embedded {
        let name = wasm.file_stem().unwrap().to_string_lossy();
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            wasm.display().to_string()
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("embedded_plugins.rs"), code).unwrap();

    let tests = build(&root.join("tests/plugins"), &target_dir.join("tests"));
    if let Some(dir) = tests.first().and_then(|p| p.parent()) {
        println!("cargo:rustc-env=MOBIEUS_TEST_PLUGINS_DIR={}", dir.display());
    }
    if let Some(guestbook) = build(
        &root.join("examples/guestbook"),
        &target_dir.join("guestbook"),
    )
    .first()
    {
        println!(
            "cargo:rustc-env=MOBIEUS_GUESTBOOK_WASM={}",
            guestbook.display()
        );
    }
}

/// Builds the workspace at `dir` (if it has members) in release for wasm32-wasip2; returns the
/// components it produced.
fn build(dir: &Path, target_dir: &Path) -> Vec<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return vec![];
    };
    if text.contains("members = []") {
        return vec![];
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // A clean environment: the outer build's flags, profile and target must not leak in.
    let mut command = Command::new(cargo);
    command.env_clear();
    for keep in [
        "PATH",
        "HOME",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "CARGO_MAKEFLAGS",
        "TMPDIR",
    ] {
        if let Ok(v) = std::env::var(keep) {
            command.env(keep, v);
        }
    }
    // From the workspace's own directory, so its `.cargo/config.toml` applies.
    let status = command
        .current_dir(dir)
        .args(["build", "--release", "--target", TARGET, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .status()
        .expect("run cargo for the plugins");
    assert!(
        status.success(),
        "building {} for {TARGET} failed (is the target installed? rust-toolchain.toml lists it)",
        dir.display()
    );
    let release = target_dir.join(TARGET).join("release");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&release)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}
