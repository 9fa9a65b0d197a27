#!/usr/bin/env bash
# Builds the JavaScript plugin into build/ftp-js.wasm with ComponentizeJS.
# The toolchain lives in node_modules (scripts/install-guest-toolchains.sh
# runs `npm install --no-save` here; package-lock.json pins every version).
set -euo pipefail
cd "$(dirname "$0")"

COMPONENTIZE_JS_VERSION=0.23.0
PREVIEW2_SHIM_VERSION=0.25.0
cli=node_modules/@bytecodealliance/componentize-js/src/cli.js
if ! command -v node >/dev/null; then
    echo "error: node is missing: install Node.js 20 or later" >&2
    exit 1
fi
versions=$(node -p 'require("./node_modules/@bytecodealliance/componentize-js/package.json").version + " " +
    require("./node_modules/@bytecodealliance/preview2-shim/package.json").version' 2>/dev/null || true)
if [[ ! -f $cli ]] || [[ $versions != "$COMPONENTIZE_JS_VERSION $PREVIEW2_SHIM_VERSION" ]]; then
    echo "error: @bytecodealliance/componentize-js $COMPONENTIZE_JS_VERSION (with preview2-shim $PREVIEW2_SHIM_VERSION) is missing from $PWD/node_modules" >&2
    echo "  install it with: scripts/install-guest-toolchains.sh js   (or: npm install --no-save, in $PWD)" >&2
    exit 1
fi

mkdir -p build
# The world: the project's plugin world plus wasi:cli/stdout (wit/world.wit),
# assembled with the project's WIT packages into build/wit.
rm -rf build/wit
mkdir -p build/wit/deps/naas-ftp build/wit/deps/cli
cp wit/world.wit build/wit/
cp ../../wit/ftp.wit build/wit/deps/naas-ftp/
cp -r ../../wit/deps/. build/wit/deps/
cp wit/cli-stdout.wit build/wit/deps/cli/stdout.wit

# Its own CLI, not `jco componentize` (see shared toolchains notes). Disabling
# `http` and `fetch-event` keeps wasi:http out of the component's imports.
# Run from the repository root: ComponentizeJS lets app.js import files under
# the current directory, and app.js imports guest-libs/js/naas-ftp.js.
root=$(cd ../.. && pwd)
(cd "$root" && node "guest-examples/js/$cli" guest-examples/js/app.js --wit guest-examples/js/build/wit \
    --world-name plugin-with-stdout --disable http fetch-event --out guest-examples/js/build/ftp-js.wasm >/dev/null)
echo "$PWD/build/ftp-js.wasm"
