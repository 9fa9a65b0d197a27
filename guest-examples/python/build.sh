#!/usr/bin/env bash
# Builds the Python plugin into build/ftp-python.wasm with componentize-py.
# The toolchain lives in .venv (scripts/install-guest-toolchains.sh creates it).
set -euo pipefail
cd "$(dirname "$0")"

COMPONENTIZE_PY_VERSION=0.25.1
tool=.venv/bin/componentize-py
if [[ ! -x $tool ]] || [[ $($tool --version 2>/dev/null) != "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
    echo "error: componentize-py $COMPONENTIZE_PY_VERSION is missing from $PWD/.venv" >&2
    echo "  install it with: scripts/install-guest-toolchains.sh python" >&2
    echo "  or by hand:      python3 -m venv .venv && .venv/bin/pip install componentize-py==$COMPONENTIZE_PY_VERSION" >&2
    exit 1
fi

mkdir -p build
# -d: the WIT package, -w: the world; `app` is app.py in this folder, and
# naas_ftp comes from guest-libs/python (-p: both are on the Python path).
# The interfaces naas_ftp uses get fixed Python module names (by default a
# name is qualified only when it clashes, and wasi:filesystem/types does clash
# with naas:ftp/types): see guest-libs/python/naas_ftp/_bindings.py.
# The naas:ftp version, from the WIT itself: the flags follow a WIT bump.
WIT_VERSION=$(sed -n 's/^package naas:ftp@\(.*\);$/\1/p' ../../wit/ftp.wit)
WASI_VERSION=0.2.12
$tool -q -d ../../wit -w plugin \
    --import-interface-name naas:ftp/client@$WIT_VERSION=ftp_client \
    --import-interface-name naas:ftp/types@$WIT_VERSION=ftp_types \
    --import-interface-name wasi:filesystem/types@$WASI_VERSION=wasi_filesystem \
    --import-interface-name wasi:filesystem/preopens@$WASI_VERSION=wasi_preopens \
    --import-interface-name wasi:io/streams@$WASI_VERSION=wasi_streams \
    componentize app -p . -p ../../guest-libs/python -o build/ftp-python.wasm
echo "$PWD/build/ftp-python.wasm"
