#!/usr/bin/env bash
# Builds a Python plugin with componentize-py:
#
#   guest-examples/python/build.sh            # this example -> build/ftp-python.wasm
#   guest-examples/python/build.sh APP_DIR    # APP_DIR/app.py -> APP_DIR/build/ftp-NAME.wasm
#                                             # (NAME: APP_DIR's folder name; classic/build.sh
#                                             # builds ../classic this way)
#
# The toolchain lives in this folder's .venv (scripts/install-guest-toolchains.sh
# python creates it); every Python plugin here shares it and the flags below.
set -euo pipefail
app_dir=$(cd "${1:-$(dirname "$0")}" && pwd)
cd "$(dirname "$0")"
[[ -f $app_dir/app.py ]] || {
    echo "error: no app.py in $app_dir" >&2
    exit 1
}
out=$app_dir/build/ftp-$(basename "$app_dir").wasm

COMPONENTIZE_PY_VERSION=0.25.1
tool=$PWD/.venv/bin/componentize-py
if [[ ! -x $tool ]] || [[ $($tool --version 2>/dev/null) != "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
    echo "error: componentize-py $COMPONENTIZE_PY_VERSION is missing from $PWD/.venv" >&2
    echo "  install it with: scripts/install-guest-toolchains.sh python" >&2
    echo "  or by hand:      python3 -m venv .venv && .venv/bin/pip install componentize-py==$COMPONENTIZE_PY_VERSION" >&2
    exit 1
fi

mkdir -p "$app_dir/build"
# -d: the WIT package, -w: the world; `app` is app.py in APP_DIR, and
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
    componentize app -p "$app_dir" -p ../../guest-libs/python -o "$out"
echo "$out"
