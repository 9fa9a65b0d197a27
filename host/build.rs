//! Builds the example plugin in `guest-examples/rust` for wasm32-wasip2 and
//! tells the host crate where it is (`FTP_HOST_EXAMPLE_PLUGIN`), so `ftp-host
//! demo` and the tests run a plugin built from source.

use std::path::PathBuf;

fn main() {
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
