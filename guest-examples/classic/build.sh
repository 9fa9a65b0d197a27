#!/usr/bin/env bash
# Builds the classic-snippets plugin into build/ftp-classic.wasm with
# componentize-py, sharing guest-examples/python's toolchain (.venv there;
# scripts/install-guest-toolchains.sh python creates it).
set -euo pipefail
cd "$(dirname "$0")"

COMPONENTIZE_PY_VERSION=0.25.1
tool=../python/.venv/bin/componentize-py
if [[ ! -x $tool ]] || [[ $($tool --version 2>/dev/null) != "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
    echo "error: componentize-py $COMPONENTIZE_PY_VERSION is missing from $(cd ../python && pwd)/.venv" >&2
    echo "  install it with: scripts/install-guest-toolchains.sh python" >&2
    exit 1
fi

mkdir -p build
# The same bindings names as the Python example: naas_ftp imports them
# (guest-libs/python/naas_ftp/_bindings.py).
# The naas:ftp version, from the WIT itself: the flags follow a WIT bump.
WIT_VERSION=$(sed -n 's/^package naas:ftp@\(.*\);$/\1/p' ../../wit/ftp.wit)
WASI_VERSION=0.2.12
$tool -q -d ../../wit -w plugin \
    --import-interface-name naas:ftp/client@$WIT_VERSION=ftp_client \
    --import-interface-name naas:ftp/types@$WIT_VERSION=ftp_types \
    --import-interface-name wasi:filesystem/types@$WASI_VERSION=wasi_filesystem \
    --import-interface-name wasi:filesystem/preopens@$WASI_VERSION=wasi_preopens \
    --import-interface-name wasi:io/streams@$WASI_VERSION=wasi_streams \
    componentize app -p . -p ../../guest-libs/python -o build/ftp-classic.wasm
echo "$PWD/build/ftp-classic.wasm"
