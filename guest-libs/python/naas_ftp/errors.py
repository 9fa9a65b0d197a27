"""The exceptions of naas_ftp: one class per case of the WIT `error` variant.

Every failed call raises a subclass of `FtpError` carrying the host's message
(which names the server and, where there is one, the path). The classes that
have an obvious built-in counterpart also derive from it, so code written for
files keeps working: `except FileNotFoundError` catches `FtpNotFound`,
`except PermissionError` catches `FtpDenied` and `FtpPermission`,
`except TimeoutError` catches `FtpTimeout`, `except ConnectionError` catches
`FtpConnect`.

Pure Python: no WIT bindings needed, so it is unit-tested outside a component.
"""

from __future__ import annotations


class FtpError(Exception):
    """Base class. `kind` is the WIT error case (`not-found`, `auth`, ...),
    `message` the text the host gave."""

    kind = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def describe(self) -> str:
        """`KIND: message`, the form the example plugins report."""
        return f"{self.kind}: {self.message}"


class FtpDenied(FtpError, PermissionError):
    """The operator's policy does not allow this server, port, path or
    operation. Retrying will not help."""

    kind = "denied"


class FtpConnect(FtpError, ConnectionError):
    """The server could not be reached, or the session was lost."""

    kind = "connect"


class FtpTls(FtpError):
    """TLS failed: refused `AUTH TLS`, untrusted certificate, handshake."""

    kind = "tls"


class FtpAuth(FtpError):
    """The server rejected the user name or password."""

    kind = "auth"


class FtpNotFound(FtpError, FileNotFoundError):
    """The remote file or directory does not exist."""

    kind = "not-found"


class FtpPermission(FtpError, PermissionError):
    """The server refused the operation on this path for this user."""

    kind = "permission"


class FtpTimeout(FtpError, TimeoutError):
    """The operation did not finish within its deadline."""

    kind = "timeout"


class FtpProtocol(FtpError):
    """The server answered with an unexpected reply; `code` is its
    three-digit reply code (0 when it could not be parsed)."""

    kind = "protocol"

    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code

    def describe(self) -> str:
        return f"protocol: {self.code} {self.message}"


class FtpInvalidInput(FtpError, ValueError):
    """An argument is invalid (empty host, CR/LF/NUL in a path, a closed
    session, a second transfer while one is open, ...)."""

    kind = "invalid-input"


class FtpTooLarge(FtpError):
    """A size limit set by the operator was reached."""

    kind = "too-large"


class FtpIo(FtpError):
    """Any other I/O failure while moving data."""

    kind = "io"


class FtpUnsupported(FtpError):
    """The server (or the host's WIT version) does not implement this
    command: fall back to something else."""

    kind = "unsupported"


class FtpLocalError(FtpError, OSError):
    """A problem on the local side: no granted directory, a local file
    missing or not writable. `code` is the `wasi:filesystem` error code
    name (`no-entry`, `access`, ...), or `None`."""

    kind = "local"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


# WIT case (kebab-case) -> class. `protocol` carries a record, handled apart.
BY_KIND: dict[str, type[FtpError]] = {
    cls.kind: cls
    for cls in (
        FtpDenied,
        FtpConnect,
        FtpTls,
        FtpAuth,
        FtpNotFound,
        FtpPermission,
        FtpTimeout,
        FtpProtocol,
        FtpInvalidInput,
        FtpTooLarge,
        FtpIo,
        FtpUnsupported,
    )
}


def kind_of_binding_class(name: str) -> str:
    """`Error_NotFound` (componentize-py's class for a variant case) ->
    `not-found`."""
    case = name.removeprefix("Error_")
    out = []
    for i, ch in enumerate(case):
        if ch.isupper() and i:
            out.append("-")
        out.append(ch.lower())
    return "".join(out)


def from_wit(error: object) -> FtpError:
    """The exception for a WIT `error` value as componentize-py hands it over
    (a dataclass `Error_<Case>` with a `value`)."""
    kind = kind_of_binding_class(type(error).__name__)
    value = getattr(error, "value", None)
    if kind == "protocol":
        return FtpProtocol(str(getattr(value, "message", value)), int(getattr(value, "code", 0)))
    cls = BY_KIND.get(kind)
    if cls is None:
        # A case added to the WIT after this library: still an FtpError.
        err = FtpError(str(value))
        err.kind = kind
        return err
    return cls(str(value))
