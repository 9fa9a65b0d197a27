#!/usr/bin/env bash
# Builds the classic-snippets plugin into build/ftp-classic.wasm: the Python
# example's build (same componentize-py, same .venv, same flags) with this
# folder's app.py. Toolchain: scripts/install-guest-toolchains.sh python.
set -euo pipefail
here=$(dirname "$0")
exec "$here/../python/build.sh" "$here"
