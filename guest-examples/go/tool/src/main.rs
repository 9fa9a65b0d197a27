//! Build helper for the Go guest, in place of the `wit-bindgen` and
//! `wasm-tools` CLIs (each takes minutes to `cargo install`):
//!
//! ```text
//! go-guest-tool bindings WIT_DIR WORLD OUT_DIR  # like `wit-bindgen go WIT_DIR --world WORLD --out-dir OUT_DIR`,
//!                                               #   plus the Go support package in OUT_DIR/go-pkg
//! go-guest-tool component WIT_DIR WORLD CORE_WASM OUT_WASM
//!                                               # like `wasm-tools component embed` + `wasm-tools component new
//!                                               #   --adapt wasi_snapshot_preview1=<reactor adapter>`
//! ```

use anyhow::{bail, Context, Result};
use std::path::Path;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_bindgen_core::{wit_parser::Resolve, Files};
use wit_component::{ComponentEncoder, StringEncoding};

include!(concat!(env!("OUT_DIR"), "/go_pkg.rs"));

/// The module path the generated bindings import the support package by.
const GO_PKG_MODULE: &str = "go.bytecodealliance.org/pkg";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["bindings", wit, world, out] => bindings(Path::new(wit), world, Path::new(out)),
        ["component", wit, world, core, out] => component(Path::new(wit), world, Path::new(core), Path::new(out)),
        _ => bail!(
            "usage: go-guest-tool bindings WIT_DIR WORLD OUT_DIR\n       go-guest-tool component WIT_DIR WORLD CORE_WASM OUT_WASM"
        ),
    }
}

fn write(path: &Path, contents: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes the Go module `wit_component` (go.mod, `wit_exports.go` with the
/// `//go:wasmexport` entry points, one package per WIT interface) into `out`,
/// and the support package into `out/go-pkg`, which go.mod uses in place of
/// the remote module (so `go build` needs no module proxy).
fn bindings(wit: &Path, world: &str, out: &Path) -> Result<()> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_path(wit)?;
    let world = resolve.select_world(&[package], Some(world))?;
    let mut files = Files::default();
    wit_bindgen_go::Opts::default().build().generate(&mut resolve, world, &mut files)?;
    for (name, contents) in files.iter() {
        if name == "go.mod" {
            let mut go_mod = String::from_utf8(contents.to_vec())?;
            go_mod.push_str(&format!("\nreplace {GO_PKG_MODULE} => ./go-pkg\n"));
            write(&out.join(name), go_mod.as_bytes())?;
        } else {
            write(&out.join(name), contents)?;
        }
    }
    for (name, contents) in GO_PKG {
        write(&out.join("go-pkg").join(name), contents)?;
    }
    Ok(())
}

/// Embeds the world's component type into a core module built by standard Go
/// (`GOOS=wasip1`, WASI preview 1) and wraps it into a component, translating
/// its preview 1 imports to WASI 0.2 with the reactor adapter.
fn component(wit: &Path, world: &str, core: &Path, out: &Path) -> Result<()> {
    let mut module = std::fs::read(core).with_context(|| format!("cannot read {}", core.display()))?;
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_path(wit)?;
    let world = resolve.select_world(&[package], Some(world))?;
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8, false)?;
    let component = ComponentEncoder::default()
        .module(&module)?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)?
        .validate(true)
        .encode()?;
    write(out, &component)
}
