#!/usr/bin/env bash
# Installs the real FTP servers that the end-to-end tests run on loopback
# (see tests/src/servers.rs), and the tools the fixture and smoke tests call.
#
#   proftpd  : apt-get install proftpd-basic   -> /usr/sbin/proftpd, modules in /usr/lib/proftpd
#   vsftpd   : conflicts with proftpd (both "Conflicts: ftp-server"), so it is
#              unpacked with `apt-get download` + `dpkg -x` into
#              /opt/ftp-test-servers/vsftpd        -> .../usr/sbin/vsftpd
#   openssl, curl
#   the local system user vsftpd logs in (vsftpd only serves system users):
#              ftptest / ftptest-password, home /home/ftptest
#
# Idempotent and quick when everything is there already. Needs root (Debian/Ubuntu).
# Keep the paths and the user in sync with tests/src/servers.rs.
set -euo pipefail

VSFTPD_DIR=/opt/ftp-test-servers/vsftpd
FTP_USER=ftptest
FTP_PASSWORD=ftptest-password
FTP_HOME=/home/ftptest

if [[ $(id -u) -ne 0 ]]; then
    echo "install-test-servers.sh: must run as root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
apt_update_once() {
    if [[ $APT_UPDATED -eq 0 ]]; then
        echo "+ apt-get update"
        apt-get update -qq
        APT_UPDATED=1
    fi
}

# Is a package installed (dpkg status "install ok installed")?
installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

# apt-get install the given packages that are missing; update the lists first
# if apt does not know one of them, and retry once after an update on failure
# (stale lists give 404s).
apt_install() {
    local missing=() p
    for p in "$@"; do
        installed "$p" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    for p in "${missing[@]}"; do
        if ! apt-cache show "$p" >/dev/null 2>&1; then
            apt_update_once
            break
        fi
    done
    echo "+ apt-get install ${missing[*]}"
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
        [[ $APT_UPDATED -eq 1 ]] && return 1
        apt_update_once
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

# --- tools used by the fixture (openssl: certificates, password hashes) and by the smoke tests (curl)
apt_install openssl curl ca-certificates

# --- proftpd (mod_tls ships with proftpd-core in /usr/lib/proftpd)
apt_install proftpd-basic
if [[ ! -x /usr/sbin/proftpd || ! -e /usr/lib/proftpd/mod_tls.so ]]; then
    echo "proftpd or /usr/lib/proftpd/mod_tls.so missing after install" >&2
    exit 1
fi

# --- vsftpd, unpacked beside proftpd; its runtime libraries from apt
apt_install libwrap0 libcap2 libpam0g libpam-modules libssl3
vsftpd_ok() {
    [[ -x $VSFTPD_DIR/usr/sbin/vsftpd ]] && ! ldd "$VSFTPD_DIR/usr/sbin/vsftpd" | grep -q 'not found'
}
if ! vsftpd_ok; then
    tmp=$(mktemp -d)
    # apt-get download fetches as the _apt user, which must be able to write there.
    if id -u _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
    trap 'rm -rf "$tmp"' EXIT
    echo "+ apt-get download vsftpd"
    if ! (cd "$tmp" && apt-get download -qq vsftpd); then
        apt_update_once
        (cd "$tmp" && apt-get download -qq vsftpd)
    fi
    rm -rf "$VSFTPD_DIR"
    mkdir -p "$VSFTPD_DIR"
    dpkg -x "$tmp"/vsftpd_*.deb "$VSFTPD_DIR"
    dpkg-deb -f "$tmp"/vsftpd_*.deb Version > "$VSFTPD_DIR/VERSION"
    if ! vsftpd_ok; then
        echo "vsftpd unpacked to $VSFTPD_DIR but does not load:" >&2
        ldd "$VSFTPD_DIR/usr/sbin/vsftpd" >&2 || true
        exit 1
    fi
fi

# --- the system user vsftpd serves (PAM: a service with no /etc/pam.d file falls back to "other")
if ! id -u "$FTP_USER" >/dev/null 2>&1; then
    echo "+ useradd $FTP_USER"
    useradd --create-home --home-dir "$FTP_HOME" --shell /usr/sbin/nologin \
        --comment "ftp-host test user" "$FTP_USER"
fi
mkdir -p "$FTP_HOME"
chown "$FTP_USER:" "$FTP_HOME"
chmod 0755 "$FTP_HOME"
# Set the password only when it differs (chpasswd rewrites /etc/shadow): a SHA-512 crypt
# hash with a fixed salt is deterministic, so the stored hash can be compared as a string.
want_hash=$(openssl passwd -6 -salt ftphosttest "$FTP_PASSWORD")
if [[ $(getent shadow "$FTP_USER" | cut -d: -f2) != "$want_hash" ]]; then
    echo "+ chpasswd $FTP_USER"
    echo "$FTP_USER:$want_hash" | chpasswd -e
fi

echo "proftpd: $(command -v proftpd) ($(proftpd -v 2>&1 | head -n1)); modules in /usr/lib/proftpd"
echo "vsftpd:  $VSFTPD_DIR/usr/sbin/vsftpd (version $(cat "$VSFTPD_DIR/VERSION" 2>/dev/null || echo '?'))"
echo "openssl: $(command -v openssl); curl: $(command -v curl)"
echo "vsftpd user: $FTP_USER (home $FTP_HOME)"
