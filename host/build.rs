//! Builds the example plugin in `guest-examples/rust` for wasm32-wasip2 and
//! tells the host crate where it is (`FTP_HOST_EXAMPLE_PLUGIN`), so `ftp-host
//! demo` and the tests run a plugin built from source (with the `demo`
//! feature only).

use std::path::PathBuf;

fn main() {
    // Only the `demo` feature (the CLI's `demo`, the tests) needs the example;
    // a library user does not need a wasm toolchain to build the host.
    if std::env::var_os("CARGO_FEATURE_DEMO").is_none() {
        return;
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    // The example is built on the naas-ftp guest library (a path dependency).
    for lib in ["src", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", manifest.join("../guest-libs/rust").join(lib).display());
    }
    guest_build::build(
        &manifest.join("../guest-examples/rust"),
        "ftp_example",
        "FTP_HOST_EXAMPLE_PLUGIN",
        &manifest.join("../wit"),
    );
}
