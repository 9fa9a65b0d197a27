//! Builds the hostile plugin in `guests/hostile` for wasm32-wasip2 and tells
//! the test crate where it is (`HOSTILE_PLUGIN`, read by
//! `harness::hostile_guest`), the way `host/build.rs` builds the example plugin.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    guest_build::build(&manifest.join("guests/hostile"), "ftp_hostile", "HOSTILE_PLUGIN", &manifest.join("../wit"));
}
