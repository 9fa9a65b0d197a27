#!/usr/bin/env bash
# The ftp-host benchmark (crate bench/, binary ftp-host-bench), one command:
# installs the FTP servers and client tools if missing, builds in release mode,
# and runs every section against proftpd and vsftpd (and the embedded server as
# a reference) on loopback, with the guest (in-process and as a whole
# `ftp-host run`), native suppaftp, curl and lftp interleaved, writing
# BENCHMARKS.md at the workspace root.
#
#   scripts/bench.sh            full run: 1 GiB files, medians of 3, 1,000 start-ups
#                               (~25-30 minutes of measuring on 2 cores, plus the build)
#   scripts/bench.sh --quick    a run to try things: 128 MiB, one run each (a few
#                               minutes), written to target/bench/BENCHMARKS.quick.md
#
# Any other ftp-host-bench option is passed through (`ftp-host-bench --help`), e.g.
#   scripts/bench.sh --only transfers --servers vsftpd-plain --clients host,native --runs 5
#   scripts/bench.sh --size 256M --out /tmp/bench.md
# Only the full default run replaces BENCHMARKS.md; other selections go to
# target/bench/BENCHMARKS.partial.md unless --out says otherwise.
#
# On a VM whose balloon reports free pages to the hypervisor, the run pauses that
# reporting (/sys/module/page_reporting, restored at the end): otherwise a random round
# pays the hypervisor's page faults. --keep-page-reporting leaves it on.
#
# Ctrl-C (or SIGTERM) stops the run cleanly: it kills the FTP servers and every other
# process the run started, removes its files from the tmpfs and restores page reporting.
#
# Client and server share the cores by default. To give the FTP servers a CPU of their own,
# as when they run on another machine (bench/ANALYSIS-2026-12-04-own-core.md):
#   scripts/bench.sh --only transfers --pin-server 1 --out /tmp/own-core.md
# Without it, a missed speed ratio that neither the server nor the machine explains is
# measured again after the transfer section with the servers on a core of their own
# (the report's "second look"); --no-second-look skips that.
#
# To profile the measured cases, run each one under a wrapper ({n} numbers them, {case}
# names the client, direction and mode, e.g. b-download-tls; each direction starts with
# an untimed native transfer, so the numbers alone do not say whose record is whose):
#   FTP_HOST_BENCH_WRAPPER='perf record -e cpu-clock -g -o /tmp/case-{n}-{case}.data' scripts/bench.sh ...
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-wasip2 >/dev/null 2>&1 || {
    echo "error: cannot install the wasm32-wasip2 Rust target (rustup target add wasm32-wasip2)" >&2
    exit 1
}
# proftpd (and vsftpd, openssl, curl) for the real-server fixture of tests/src/servers.rs;
# lftp, perf, hyperfine.
bash scripts/install-test-servers.sh
bash scripts/install-bench-tools.sh
# nats-server for the fleet section.
bash scripts/install-nats.sh
# `ftp-host` itself too: the whole-process client runs it from beside ftp-host-bench.
cargo build --release -p ftp-host-bench -p ftp-host --bins
# The report quotes the command that produced it.
export FTP_HOST_BENCH_COMMAND="scripts/bench.sh${*:+ $*}"
exec "${CARGO_TARGET_DIR:-target}/release/ftp-host-bench" "$@"
