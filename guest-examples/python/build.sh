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
# -d: the WIT package, -w: the world; `app` is app.py in this folder. The FTP
# interfaces get fixed Python module names (wit_world.imports.ftp_client and
# .ftp_types): by default a name is qualified only when it clashes, and
# wasi:filesystem/types does clash with naas:ftp/types.
$tool -q -d ../../wit -w plugin \
    --import-interface-name naas:ftp/client@0.2.0=ftp_client \
    --import-interface-name naas:ftp/types@0.2.0=ftp_types \
    componentize app -o build/ftp-python.wasm
echo "$PWD/build/ftp-python.wasm"
