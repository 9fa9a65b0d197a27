//! Embeds the Go support package that the generated bindings import
//! (`go.bytecodealliance.org/pkg/wit/...`). wit-bindgen-go ships its source
//! in the crate (`src/pkg`), so the Go build needs no module proxy: the tool
//! writes it next to the bindings and points `go.mod` at it with `replace`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--manifest-path"])
        .arg(manifest.join("Cargo.toml"))
        .output()
        .expect("cannot run cargo metadata");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "wit-bindgen-go")
        .expect("wit-bindgen-go is a dependency");
    let crate_dir = Path::new(package["manifest_path"].as_str().unwrap()).parent().unwrap().to_path_buf();
    let pkg = crate_dir.join("src/pkg");

    // go.mod and the Go sources of wit/{runtime,types,async} (with their
    // empty.s, which lets `//go:linkname` bodies stay empty).
    let mut files = vec![PathBuf::from("go.mod"), PathBuf::from("LICENSE")];
    for dir in ["wit/runtime", "wit/types", "wit/async"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(pkg.join(dir))
            .unwrap_or_else(|e| panic!("{}: {e}", pkg.join(dir).display()))
            .map(|e| e.unwrap().path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("go" | "s")))
            .map(|p| Path::new(dir).join(p.file_name().unwrap()))
            .collect();
        names.sort();
        files.extend(names);
    }
    let mut code = String::from(
        "/// The Go support package: (path inside it, contents).\npub const GO_PKG: &[(&str, &[u8])] = &[\n",
    );
    for file in &files {
        let full = pkg.join(file);
        println!("cargo:rerun-if-changed={}", full.display());
        code.push_str(&format!("    ({:?}, include_bytes!({:?})),\n", file.to_str().unwrap(), full.to_str().unwrap()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("go_pkg.rs");
    std::fs::write(out, code).unwrap();
    println!("cargo:rerun-if-changed=Cargo.lock");
}
