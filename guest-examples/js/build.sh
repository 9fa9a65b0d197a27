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
# The naas:ftp version, from the WIT itself: the world and the library's
# import specifiers (`naas:ftp/client@X`) follow a WIT bump.
WIT_VERSION=$(sed -n 's/^package naas:ftp@\(.*\);$/\1/p' ../../wit/ftp.wit)

# The world: the project's plugin world plus wasi:cli/stdout (wit/world.wit),
# assembled with the project's WIT packages into build/wit.
rm -rf build/wit build/src
mkdir -p build/wit/deps/naas-ftp build/wit/deps/cli
sed "s/naas:ftp\/plugin@[0-9.]*/naas:ftp\/plugin@$WIT_VERSION/" wit/world.wit >build/wit/world.wit
cp ../../wit/ftp.wit build/wit/deps/naas-ftp/
cp -r ../../wit/deps/. build/wit/deps/
cp wit/cli-stdout.wit build/wit/deps/cli/stdout.wit

# The sources, staged in build/src as they sit in the repository (app.js
# imports ../../guest-libs/js/naas-ftp.js), with the library's naas:ftp
# import specifiers set to this WIT's version. ComponentizeJS reads imports
# only under its working directory, so it runs from build/src.
mkdir -p build/src/guest-examples/js build/src/guest-libs/js
cp app.js build/src/guest-examples/js/
for f in ../../guest-libs/js/*.js; do
    sed "s/'naas:ftp\/\([a-z-]*\)@[0-9.]*'/'naas:ftp\/\1@$WIT_VERSION'/; s/^export const WIT_VERSION = '[0-9.]*';/export const WIT_VERSION = '$WIT_VERSION';/" \
        "$f" >"build/src/guest-libs/js/$(basename "$f")"
done

# Its own CLI, not `jco componentize` (see shared toolchains notes). Disabling
# `http` and `fetch-event` keeps wasi:http out of the component's imports.
out=$PWD/build/ftp-js.wasm
(cd build/src && node "../../$cli" guest-examples/js/app.js --wit ../wit \
    --world-name plugin-with-stdout --disable http fetch-event --out "$out" >/dev/null)
echo "$out"
