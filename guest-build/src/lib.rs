//! Used by the build scripts of `host` (the example plugin) and `tests`
//! (the hostile plugin): build a Rust guest crate for wasm32-wasip2 from
//! source and hand its path to the crate being built as an env variable.

use std::path::Path;
use std::process::Command;

/// Build the guest crate in `guest` (its package builds `{artifact}.wasm`)
/// and emit `cargo:rustc-env={env}=PATH`. Rebuilds when the guest's
/// sources, manifest or lock file, or the WIT in `wit`, change.
pub fn build(guest: &Path, artifact: &str, env: &str, wit: &Path) {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("run from a build script"));
    let target_dir = out.join(format!("{artifact}-target"));
    for watched in [guest.join("src"), guest.join("Cargo.toml"), guest.join("Cargo.lock"), wit.to_path_buf()] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(guest.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(guest);
    // The outer build's flags are for the host target, not for wasm.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo to build a guest plugin");
    if !status.success() {
        panic!(
            "building the guest plugin in {} failed.\n\
             If the error above says the wasm32-wasip2 target is missing, install it with:\n    \
             rustup target add wasm32-wasip2",
            guest.display()
        );
    }
    let wasm = target_dir.join(format!("wasm32-wasip2/release/{artifact}.wasm"));
    assert!(wasm.exists(), "the guest plugin was built but {} is missing", wasm.display());
    println!("cargo:rustc-env={env}={}", wasm.display());
}
