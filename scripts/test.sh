#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, then
# runs every test (unit, CLI, doc, end to end against real FTP servers).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null 2>&1 || {
    echo "error: cannot install the wasm32-wasip2 Rust target (rustup target add wasm32-wasip2)" >&2
    exit 1
}
# Formatting and lints first: they fail in seconds, the suite in minutes.
cargo fmt --all --check || {
    echo "error: the code is not formatted: run 'cargo fmt --all'" >&2
    exit 1
}
cargo clippy --release --workspace --all-targets -- -D warnings
# The library as an embedder takes it: no CLI, demo server or fleet.
cargo clippy --release -p ftp-host --no-default-features --lib -- -D warnings

# Real FTP servers (proftpd, vsftpd) for the end-to-end tests.
bash scripts/install-test-servers.sh
# nats-server for the fleet tests; guest toolchains (Python, JS, C, Go).
bash scripts/install-nats.sh
bash scripts/install-guest-toolchains.sh
# The guest libraries' own unit tests.
(cd guest-libs/python && python3 -m unittest discover -s tests)
node --test guest-libs/js/test/
# No backtraces: a failing test's own message stays the last thing it prints
# (a CI log that keeps only the head and tail of the output then still shows
# it). Run one test with RUST_BACKTRACE=1 to see where it panicked.
RUST_BACKTRACE=0 cargo test --release --workspace
