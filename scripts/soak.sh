#!/usr/bin/env bash
# The soak: 1,000 sequential plugin runs in ONE host process against the
# embedded FTP server (connect, list, get a small file, send), RSS measured
# after 100 warm-up runs and at the end (fails above +10%), then 64 plugins
# at once. About 2.5 minutes on a 2-core machine: the embedded server takes
# ~45 ms per data transfer (see BENCHMARKS.md, "the 40 ms question").
#
#   scripts/soak.sh                      the full soak
#   scripts/soak.sh --runs 200 --warmup 50 --concurrent 32    any soak option
#
# The soak's report is appended to BENCHMARKS.md under "## Soak" (created if
# missing; other sections are never touched), with the command that produced
# it. Exits with the soak's status: non-zero if memory grew, descriptors
# leaked or a run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null 2>&1 || {
    echo "error: cannot install the wasm32-wasip2 Rust target (rustup target add wasm32-wasip2)" >&2
    exit 1
}
args=("$@")
if [ ${#args[@]} -eq 0 ]; then
    args=(--runs 1000 --warmup 100 --concurrent 64)
fi
cargo build --release -p ftp-host-e2e --bin soak
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
"${CARGO_TARGET_DIR:-target}/release/soak" "${args[@]}" | tee "$report" || status=$?

block=$(mktemp)
trap 'rm -f "$report" "$block"' EXIT
{
    echo
    echo "### $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ -n "$(git status --porcelain 2>/dev/null)" ] && echo ' (with local changes)')"
    echo
    echo "Command: \`scripts/soak.sh ${args[*]}\` (runs \`cargo run --release -p ftp-host-e2e --bin soak -- ${args[*]}\`); exit status $status."
    echo
    cat "$report"
} >"$block"

out=BENCHMARKS.md
touch "$out"
if grep -q '^## Soak[[:space:]]*$' "$out"; then
    # Insert at the end of the Soak section: before the next `## ` heading, or at the end.
    awk -v block="$block" '
        function emit() { while ((getline line < block) > 0) print line; close(block); done = 1 }
        /^## / && in_soak && !done { emit(); print ""; in_soak = 0 }
        /^## Soak[[:space:]]*$/ { in_soak = 1 }
        { print }
        END { if (!done) emit() }
    ' "$out" >"$out.tmp"
    mv "$out.tmp" "$out"
else
    { echo; echo "## Soak"; cat "$block"; } >>"$out"
fi
echo "appended the soak report to $out" >&2
exit "$status"
