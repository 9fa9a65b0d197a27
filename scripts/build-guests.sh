#!/usr/bin/env bash
# Builds the example plugins in guest-examples/ from source and prints where
# each component is:
#
#   guest-examples/python/build/ftp-python.wasm
#   guest-examples/js/build/ftp-js.wasm
#   guest-examples/c/build/ftp-c.wasm
#   guest-examples/go/build/ftp-go.wasm
#   guest-examples/classic/build/ftp-classic.wasm  (the classic snippets, Python)
#
# (The Rust example is built by the host crate's build.rs.)
#
#   scripts/build-guests.sh [--install] [python|js|c|go|classic ...]
#
# Default: python, js, c and go (the language matrix, tests/languages.rs);
# `classic` is built when named (tests/classic.rs asks for it).
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
        python | js | c | go | classic) languages+=("$arg") ;;
        -h | --help)
            sed -n '2,21s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        *)
            echo "build-guests.sh: unknown argument '$arg' (expected --install, python, js, c, go or classic)" >&2
            exit 2
            ;;
    esac
done
((${#languages[@]})) || languages=(python js c go)

if ((install)); then
    # The classic plugin is Python: it uses the Python toolchain.
    scripts/install-guest-toolchains.sh $(printf '%s\n' "${languages[@]}" | sed 's/^classic$/python/' | sort -u)
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
