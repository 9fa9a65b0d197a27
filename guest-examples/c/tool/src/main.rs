//! Build helper for the C guest, in place of the `wit-bindgen` and `wasm-tools`
//! CLIs (each takes minutes to `cargo install`):
//!
//! ```text
//! c-guest-tool bindings WIT_DIR WORLD OUT_DIR   # like `wit-bindgen c WIT_DIR --world WORLD --out-dir OUT_DIR`
//! c-guest-tool component CORE_WASM OUT_WASM     # like `wasm-tools component new CORE_WASM
//!                                               #   --adapt wasi_snapshot_preview1=<reactor adapter> -o OUT_WASM`
//! ```

use anyhow::{bail, Context, Result};
use std::path::Path;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_bindgen_core::{wit_parser::Resolve, Files};
use wit_component::ComponentEncoder;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["bindings", wit, world, out] => bindings(Path::new(wit), world, Path::new(out)),
        ["component", core, out] => component(Path::new(core), Path::new(out)),
        _ => bail!(
            "usage: c-guest-tool bindings WIT_DIR WORLD OUT_DIR\n       c-guest-tool component CORE_WASM OUT_WASM"
        ),
    }
}

/// Writes `<world>.h`, `<world>.c` and `<world>_component_type.o` into `out`.
fn bindings(wit: &Path, world: &str, out: &Path) -> Result<()> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_path(wit)?;
    let world = resolve.select_world(&[package], Some(world))?;
    let mut files = Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Wraps a core module that uses WASI preview 1 (wasi-libc) into a component,
/// translating its preview 1 imports to WASI 0.2 with the reactor adapter.
fn component(core: &Path, out: &Path) -> Result<()> {
    let module = std::fs::read(core).with_context(|| format!("cannot read {}", core.display()))?;
    let component = ComponentEncoder::default()
        .module(&module)?
        .adapter(WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)?
        .validate(true)
        .encode()?;
    std::fs::write(out, component).with_context(|| format!("cannot write {}", out.display()))
}
