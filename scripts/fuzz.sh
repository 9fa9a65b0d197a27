#!/usr/bin/env bash
# Fuzz the parsers with cargo-fuzz (libFuzzer): the policy file loader
# (`config`), the path normaliser and path rules (`paths`), the server
# allow-list (`allow`), and every other target in fuzz/fuzz_targets/. The
# properties each target checks are in fuzz/src/lib.rs.
#
#   scripts/fuzz.sh [SECONDS]     every target for SECONDS each (default 5)
#   scripts/fuzz.sh --replay      only the stable replay (what CI runs)
#
# Longer runs, locally:
#   scripts/fuzz.sh 300                          # 5 min per target, ~15 min
#   scripts/fuzz.sh 28800                        # overnight: 8 h per target
#   FUZZ_TARGETS=paths FUZZ_JOBS=2 scripts/fuzz.sh 3600
#
# Environment:
#   FUZZ_TARGETS    targets to run (default: every fuzz/fuzz_targets/*.rs)
#   FUZZ_SANITIZER  cargo-fuzz sanitizer: address (default) or none
#   FUZZ_JOBS       libFuzzer worker processes per target (default 1)
#   FUZZ_BUILD_ARGS more `cargo fuzz build/run` flags, e.g. "--codegen-units 16"
#                   or "--dev" for a faster (first) build and slower fuzzing
#
# Cost: the first build compiles the whole host (wasmtime included) with
# coverage instrumentation and one codegen unit per crate (cargo-fuzz's
# release default): ~40 min on a busy 2-core machine (23 min of CPU),
# seconds once built. Installing cargo-fuzz takes ~2 min.
#
# What it needs, installed when missing: cargo-fuzz (`cargo install
# cargo-fuzz --locked`, ~2 min) and a nightly toolchain for AddressSanitizer
# (`rustup toolchain install nightly`), with the wasm32-wasip2 target (the
# host's build script builds the example plugin with the same toolchain).
# Without nightly, libFuzzer still runs on stable with no sanitizer
# (`cargo fuzz run -s none`: its coverage flags are all stable); the
# targets are safe Rust, so the sanitizer matters little. Without
# cargo-fuzz, the same properties are replayed on stable over the seed
# corpus and generated inputs (`scripts/fuzz.sh --replay`, which CI runs as
# part of `cargo test --release --workspace`).
#
# Found inputs go to fuzz/target/corpus/TARGET (kept between runs, not
# committed); a crash leaves its input in fuzz/artifacts/TARGET/, which the
# stable replay test also runs, and makes this script fail. To reproduce:
#   (cd fuzz && cargo +nightly fuzz run TARGET artifacts/TARGET/crash-...)
# Add a seed worth keeping to fuzz/corpus/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--replay" ]; then
    seconds=5
    replay_only=1
else
    seconds="${1:-5}"
    replay_only=0
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS]  (seconds per target, default 5)" >&2
    exit 2
fi
default_targets=$(ls fuzz/fuzz_targets/ | sed -n 's/\.rs$//p' | tr '\n' ' ')
read -r -a targets <<<"${FUZZ_TARGETS:-$default_targets}"
sanitizer="${FUZZ_SANITIZER:-address}"
jobs="${FUZZ_JOBS:-1}"
read -r -a build_args <<<"${FUZZ_BUILD_ARGS:-}"

stable_replay() {
    echo "== stable replay of the fuzz properties (seed corpus + generated inputs)"
    # Scale the generated cases with the time asked for (~20k per 5 s).
    # The main workspace's target dir: the host's dependencies are already built there.
    # fuzz/ is a workspace member: the host's build is shared.
    FUZZ_REPLAY_CASES=$((seconds * 4000)) cargo test --release -p ftp-host-fuzz
}

if [ "$replay_only" = 1 ]; then
    stable_replay
    exit 0
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    started=$SECONDS
    if ! cargo install cargo-fuzz --locked; then
        echo "warning: cannot install cargo-fuzz" >&2
        stable_replay
        exit 0
    fi
    echo "== cargo-fuzz installed in $((SECONDS - started)) s"
fi

toolchain=+nightly
if [ "$sanitizer" != none ]; then
    if ! { cargo +nightly --version || rustup toolchain install nightly --profile minimal; } >/dev/null 2>&1 ||
        ! rustup target add wasm32-wasip2 --toolchain nightly >/dev/null 2>&1; then
        echo "warning: no nightly toolchain (rustup toolchain install nightly failed): fuzzing on stable without a sanitizer" >&2
        sanitizer=none
    fi
fi
if [ "$sanitizer" = none ]; then
    toolchain=+stable
fi

cd fuzz
echo "== building the fuzz targets (cargo $toolchain fuzz build --sanitizer $sanitizer)"
started=$SECONDS
cargo "$toolchain" fuzz build --sanitizer "$sanitizer" "${build_args[@]}"
echo "== built in $((SECONDS - started)) s"

failed=()
for target in "${targets[@]}"; do
    work="target/corpus/$target"
    mkdir -p "$work" "corpus/$target"
    echo "== fuzzing $target for ${seconds}s"
    # New inputs go to the first corpus directory only: the committed seeds stay as they are.
    if ! cargo "$toolchain" fuzz run --sanitizer "$sanitizer" "${build_args[@]}" --jobs "$jobs" "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1; then
        failed+=("$target")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "error: fuzz targets failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "== fuzzing passed: ${targets[*]}, ${seconds}s each"
