//! Builds the example plugin in `guest-examples/rust` for wasm32-wasip2 and
//! tells the host crate where it is (`FTP_HOST_EXAMPLE_PLUGIN`), so `ftp-host
//! demo` and the tests run a plugin built from source.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let guest = manifest.join("../guest-examples/rust");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target_dir = out.join("guest-target");
    println!("cargo:rerun-if-changed={}", guest.join("src").display());
    println!("cargo:rerun-if-changed={}", guest.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", manifest.join("../wit").display());
    // The example's library (a path dependency).
    println!("cargo:rerun-if-changed={}", manifest.join("../guest-libs/rust/src").display());
    println!("cargo:rerun-if-changed={}", manifest.join("../guest-libs/rust/Cargo.toml").display());

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
    let status = cmd.status().expect("cannot run cargo to build the example plugin");
    if !status.success() {
        panic!(
            "building the example plugin in {} failed.\n\
             If the error above says the wasm32-wasip2 target is missing, install it with:\n    \
             rustup target add wasm32-wasip2",
            guest.display()
        );
    }
    let wasm = target_dir.join("wasm32-wasip2/release/ftp_example.wasm");
    assert!(wasm.exists(), "the example plugin was built but {} is missing", wasm.display());
    println!("cargo:rustc-env=FTP_HOST_EXAMPLE_PLUGIN={}", wasm.display());
}
