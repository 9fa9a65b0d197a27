#!/usr/bin/env bash
# Installs the tools the benchmark (scripts/bench.sh) runs beside the FTP
# servers of scripts/install-test-servers.sh: lftp and curl (clients it
# compares against), linux-perf (perf stat / perf record for the analysis)
# and hyperfine (timing whole commands by hand).
#
# Idempotent and quick when everything is there already. Needs root (Debian/Ubuntu).
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "install-bench-tools.sh: must run as root" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

missing=()
for p in lftp curl linux-perf hyperfine; do
    installed "$p" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "+ apt-get install ${missing[*]}"
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
        # Stale package lists give 404s: update once and retry.
        echo "+ apt-get update"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi

for tool in lftp curl perf hyperfine; do
    command -v "$tool" >/dev/null || { echo "install-bench-tools.sh: $tool missing after install" >&2; exit 1; }
done
echo "lftp: $(lftp --version | head -n1)"
echo "curl: $(curl --version | head -n1)"
echo "perf: $(perf --version 2>&1 | head -n1)"
echo "hyperfine: $(hyperfine --version)"
