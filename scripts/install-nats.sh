#!/usr/bin/env bash
# Installs NATS (Debian package nats-server, 2.9.10 on bookworm) for the
# fleet tests (tests/fleet.rs starts its own `nats-server -js` on loopback,
# see tests/src/nats.rs) and for trying `ftp-host worker` by hand.
# Idempotent and quick when it is there already. Needs root (Debian/Ubuntu).
# The package's postinst starts no daemon in containers; nothing here does either.
set -euo pipefail

if [[ -x /usr/sbin/nats-server ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "install-nats.sh: must run as root (apt-get install nats-server)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends nats-server >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y --no-install-recommends nats-server
}
/usr/sbin/nats-server --version
