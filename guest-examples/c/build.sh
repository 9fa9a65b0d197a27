#!/usr/bin/env bash
# Builds the C plugin into build/ftp-c.wasm:
#   1. tool/ (a small Rust program, built once) writes the wit-bindgen C
#      bindings for the `plugin` world into build/gen/;
#   2. clang compiles app.c + ftp_helpers.c + sha256.c + the bindings for wasm32-wasi
#      (wasi-libc, WASI preview 1) as a reactor: no main, `run` is the export;
#   3. tool/ wraps that core module into a component with the preview 1 ->
#      WASI 0.2 reactor adapter.
# Debian packages: clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc
# (scripts/install-guest-toolchains.sh installs them).
set -euo pipefail
cd "$(dirname "$0")"

missing() {
    echo "error: $1 is missing" >&2
    echo "  install it with: scripts/install-guest-toolchains.sh c   (or: $2)" >&2
    exit 1
}
CC=${CC:-clang-19}
command -v "$CC" >/dev/null || missing "$CC" "apt-get install clang-19"
command -v wasm-ld-19 >/dev/null || command -v wasm-ld >/dev/null || missing "wasm-ld (lld)" "apt-get install lld-19"
[[ -f /usr/include/wasm32-wasi/stdio.h ]] || missing "the wasi-libc sysroot" "apt-get install wasi-libc"
compgen -G "/usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a" >/dev/null ||
    missing "the wasm32 compiler runtime" "apt-get install libclang-rt-19-dev-wasm32"
command -v cargo >/dev/null || missing "cargo (for tool/)" "https://rustup.rs"

# --locked: Cargo.lock pins wit-bindgen-c, wit-component and the adapter.
cargo build --release --locked --quiet --manifest-path tool/Cargo.toml --target-dir tool/target
tool=tool/target/release/c-guest-tool

mkdir -p build/gen
$tool bindings ../../wit plugin build/gen
"$CC" --target=wasm32-wasi -mexec-model=reactor -O2 -s -Wall -Wextra -Wno-unused-parameter \
    -Ibuild/gen -I. app.c ftp_helpers.c sha256.c build/gen/plugin.c build/gen/plugin_component_type.o \
    -Wl,--export=cabi_realloc -o build/ftp-c.core.wasm
$tool component build/ftp-c.core.wasm build/ftp-c.wasm
echo "$PWD/build/ftp-c.wasm"
