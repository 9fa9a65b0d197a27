"""The classic `connect(user, passwd, host, port, secure, force_prot, timeout)`
call, turned into the host's connection settings.

The rule (the classic driver's, made explicit):

* `host` is a name or address, optionally with a port (`ftp.example.com:2121`,
  `[::1]:21`), or a URL: `ftp://HOST[:PORT]`, or `ftps://HOST[:PORT]`, which
  means implicit FTPS (as in curl and most clients).
* `secure=False`: plain FTP, port 21 unless given.
* `secure=True`: FTPS. With no port, port 990 and implicit FTPS (the classic
  driver's default, `port=990`). With port 990, implicit FTPS. With any other
  port, explicit FTPS (`AUTH TLS`), e.g. `port=21, secure=True`.
* An `ftps://` URL is implicit FTPS on its port (990 by default), whatever
  `secure` says.
* `force_prot=True` asks for encrypted data connections (`PBSZ 0` + `PROT P`);
  it needs TLS, so with plain FTP it is an `FtpInvalidInput` error. (The host
  protects data connections under TLS anyway.)
* `timeout` is in seconds, like `ftplib`: the deadline of each network
  operation (`None`: the host's default, 30 s).

A port given both in `host` and as `port` must agree.

Pure Python: unit-tested outside a component.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import FtpInvalidInput

#: The port of implicit FTPS (RFC 4217 section 7 lists it as `ftps`).
IMPLICIT_PORT = 990
#: The largest `timeout` the WIT can carry (u32 milliseconds).
MAX_TIMEOUT_MS = 0xFFFF_FFFF


@dataclass(frozen=True)
class Connection:
    """What `connect` asks the host for (`connect-options` without the
    credentials)."""

    host: str
    port: int | None
    security: str  # "none", "explicit" or "implicit"
    force_prot: bool
    timeout_ms: int | None


def split_host(host: str) -> tuple[str | None, str, int | None]:
    """`(scheme, host, port)` from `host`: scheme `ftp`, `ftps` or None."""
    if not isinstance(host, str) or not host.strip():
        raise FtpInvalidInput("connect needs a host, e.g. host=\"ftp.example.com\"")
    text = host.strip()
    scheme = None
    if "://" in text:
        scheme, text = text.split("://", 1)
        scheme = scheme.lower()
        if scheme not in ("ftp", "ftps"):
            raise FtpInvalidInput(f"unsupported URL scheme in host {host!r}: use ftp:// or ftps://")
        if "@" in text:
            raise FtpInvalidInput(f"host {host!r} holds credentials: pass them as user and passwd")
        text = text.rstrip("/")
        if "/" in text:
            raise FtpInvalidInput(f"host {host!r} holds a path: connect to the server, then use paths in calls")
    port = None
    if text.startswith("["):  # [v6] or [v6]:port
        end = text.find("]")
        if end < 0:
            raise FtpInvalidInput(f"host {host!r}: missing ']'")
        name, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise FtpInvalidInput(f"host {host!r}: junk after ']'")
            port = parse_port(rest[1:], host)
    elif text.count(":") == 1:
        name, port_text = text.split(":")
        port = parse_port(port_text, host)
    else:
        name = text  # a name, an IPv4 address, or a bare IPv6 address
    if not name:
        raise FtpInvalidInput(f"host {host!r} has no server name")
    return scheme, name, port


def parse_port(text: str, context: object) -> int:
    if not text.isdigit() or not 0 < int(text) <= 0xFFFF:
        raise FtpInvalidInput(f"bad port {text!r} in {context!r}: expected 1-65535")
    return int(text)


def classic(
    host: str | None,
    port: int | None = None,
    secure: bool = False,
    force_prot: bool = False,
    timeout: float | None = None,
) -> Connection:
    """The connection the classic arguments describe (see the module doc)."""
    if host is None:
        raise FtpInvalidInput(
            "connect needs a host, e.g. connect(user, passwd, host=\"ftp.example.com\"); "
            "to use a server the operator configured, call connect_profile(name)"
        )
    scheme, name, host_port = split_host(host)
    if port is not None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 0xFFFF:
            raise FtpInvalidInput(f"bad port {port!r}: expected 1-65535")
        if host_port is not None and host_port != port:
            raise FtpInvalidInput(f"two ports: {host_port} in host {host!r} and port={port}")
    port = port if port is not None else host_port

    if scheme == "ftps":
        security = "implicit"
        port = port if port is not None else IMPLICIT_PORT
    elif secure:
        if port is None:
            port = IMPLICIT_PORT
        security = "implicit" if port == IMPLICIT_PORT else "explicit"
    else:
        security = "none"
    if force_prot and security == "none":
        raise FtpInvalidInput("force_prot=True needs FTPS: add secure=True (plain FTP has no TLS to protect with)")
    return Connection(name, port, security, bool(force_prot), timeout_ms(timeout))


def timeout_ms(timeout: float | None) -> int | None:
    """Seconds (as `ftplib` takes them) to whole milliseconds, at least 1."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise FtpInvalidInput(f"bad timeout {timeout!r}: expected a number of seconds above 0")
    return min(max(1, round(timeout * 1000)), MAX_TIMEOUT_MS)
