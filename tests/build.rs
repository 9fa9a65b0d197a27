//! Builds the hostile plugin in `guests/hostile` for wasm32-wasip2 and tells
//! the test crate where it is (`HOSTILE_PLUGIN`, read by
//! `harness::hostile_guest`), the way `host/build.rs` builds the example plugin.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let guest = manifest.join("guests/hostile");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target_dir = out.join("hostile-target");
    println!("cargo:rerun-if-changed={}", guest.join("src").display());
    println!("cargo:rerun-if-changed={}", guest.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", guest.join("Cargo.lock").display());
    println!("cargo:rerun-if-changed={}", manifest.join("../wit").display());

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(guest.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&guest);
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
    let status = cmd.status().expect("cannot run cargo to build the hostile test plugin");
    if !status.success() {
        panic!(
            "building the hostile test plugin in {} failed.\n\
             If the error above says the wasm32-wasip2 target is missing, install it with:\n    \
             rustup target add wasm32-wasip2",
            guest.display()
        );
    }
    let wasm = target_dir.join("wasm32-wasip2/release/ftp_hostile.wasm");
    assert!(wasm.exists(), "the hostile plugin was built but {} is missing", wasm.display());
    println!("cargo:rustc-env=HOSTILE_PLUGIN={}", wasm.display());
}
