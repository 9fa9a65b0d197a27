#!/usr/bin/env bash
# Builds the example plugins in guest-examples/ from source and prints where
# each component is:
#
#   guest-examples/python/build/ftp-python.wasm
#   guest-examples/js/build/ftp-js.wasm
#   guest-examples/c/build/ftp-c.wasm
#
# (The Rust example is built by the host crate's build.rs.)
#
#   scripts/build-guests.sh [--install] [python|js|c ...]
#
# Installs nothing unless --install is given, which first runs
# scripts/install-guest-toolchains.sh for the same languages. Without it, a
# missing toolchain makes that language's build.sh fail with what to install.
# Every language is attempted; the exit status is non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

install=0
languages=()
for arg in "$@"; do
    case $arg in
        --install) install=1 ;;
        python | js | c) languages+=("$arg") ;;
        -h | --help)
            sed -n '2,16s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        *)
            echo "build-guests.sh: unknown argument '$arg' (expected --install, python, js or c)" >&2
            exit 2
            ;;
    esac
done
((${#languages[@]})) || languages=(python js c)

if ((install)); then
    scripts/install-guest-toolchains.sh "${languages[@]}"
fi

failed=()
for language in "${languages[@]}"; do
    echo "== $language"
    start=$SECONDS
    if guest-examples/$language/build.sh; then
        echo "   built in $((SECONDS - start)) s"
    else
        failed+=("$language")
    fi
done

if ((${#failed[@]})); then
    echo "build-guests.sh: failed: ${failed[*]}" >&2
    exit 1
fi
