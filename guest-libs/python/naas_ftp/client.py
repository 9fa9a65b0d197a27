"""The `Ftp` session object and `connect` / `connect_profile`.

Bulk data never passes through Python: `get` and `send` hand the host a file
in a granted directory (`download.save-to`, `upload.send-from`) and the host
moves the whole file between it and the FTP connection in one call, so a
plugin downloads a file of any size in the memory it had before.
"""

from __future__ import annotations

import io
import posixpath
from typing import Any, Callable, TypeVar

from . import local as _local
from .entries import Entry, from_datetime, to_datetime
from .errors import FtpError, FtpInvalidInput, FtpIo, FtpLocalError, FtpUnsupported, from_wit
from .options import Connection, classic, timeout_ms

T = TypeVar("T")

#: Suffix of the temporary file `get` writes before renaming it into place.
PART_SUFFIX = ".naas-ftp-part"
#: Buffer size of the file-like objects of `Ftp.open`.
_OPEN_BUFFER = 64 * 1024


# Imported now, not when first needed: componentize-py packs the modules a
# plugin has imported by the time it is snapshotted, so a lazy import would
# find nothing at run time. Outside a component only the pure parts work.
try:
    from . import _bindings as _BINDINGS
except ImportError as e:
    _BINDINGS = None
    _BINDINGS_MISSING = e


def _b() -> Any:
    if _BINDINGS is None:
        raise _BINDINGS_MISSING
    return _BINDINGS


def _call(fn: Callable[..., T], *args: Any) -> T:
    """Call a WIT function; a failed `result` becomes the typed exception."""
    b = _b()
    try:
        return fn(*args)
    except b.Err as e:
        raise from_wit(e.value) from None


def _drop(resource: Any) -> None:
    """Release a WIT resource now (componentize-py resources are context
    managers; `__exit__` drops them)."""
    if resource is not None:
        resource.__exit__(None, None, None)


def _local_error(e: Any, what: str) -> FtpLocalError:
    """A `wasi:filesystem` error code -> FtpLocalError naming `what`."""
    code = getattr(e.value, "name", str(e.value)).lower().replace("_", "-")
    return FtpLocalError(f"{what}: {code}", code)


def _stream_failure(e: Any) -> str:
    value = e.value
    inner = getattr(value, "value", None)
    if inner is not None and hasattr(inner, "to_debug_string"):
        return inner.to_debug_string()
    return type(value).__name__


_PREOPENS: list | None = None


def granted_dirs() -> list[str]:
    """The guest paths of the directories the operator granted, in order."""
    return [name for _, name in _preopens()]


def _preopens() -> list:
    global _PREOPENS
    if _PREOPENS is None:
        _PREOPENS = list(_b().wasi_preopens.get_directories())
    return _PREOPENS


def connect(
    user: str,
    passwd: str,
    host: str | None = None,
    port: int | None = None,
    secure: bool = False,
    force_prot: bool = False,
    timeout: float | None = None,
) -> "Ftp":
    """Connect and log in, as the classic driver did. See `naas_ftp.options`
    for how `host`, `port` and `secure` choose plain FTP, explicit or
    implicit FTPS. The server must be granted by the operator's policy, else
    `FtpDenied` (nothing is sent)."""
    return _connect(user, passwd, classic(host, port, secure, force_prot, timeout))


def open_session(
    host: str,
    user: str,
    password: str,
    *,
    port: int | None = None,
    security: str = "none",
    force_prot: bool = False,
    timeout: float | None = None,
) -> "Ftp":
    """Connect with the WIT's `connect-options` spelled out, for when the
    classic rule does not fit (say explicit FTPS on port 990): `security` is
    `"none"`, `"explicit"` or `"implicit"`."""
    if security not in ("none", "explicit", "implicit"):
        raise FtpInvalidInput(f"bad security {security!r}: none, explicit or implicit")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 0xFFFF):
        raise FtpInvalidInput(f"bad port {port!r}: expected 1-65535")
    return _connect(user, password, Connection(host, port, security, bool(force_prot), timeout_ms(timeout)))


def _connect(user: str, passwd: str, c: Connection) -> "Ftp":
    t = _b().ftp_types
    options = t.ConnectOptions(
        host=c.host,
        port=c.port,
        user=user,
        password=passwd,
        security=t.Security[c.security.upper()],
        force_prot=c.force_prot,
        timeout_ms=c.timeout_ms,
    )
    return Ftp(_call(_b().ftp_client.connect, options))


def connect_profile(name: str) -> "Ftp":
    """Connect to a server the operator configured by name: the host supplies
    the address, security and credentials; the plugin never sees them."""
    return Ftp(_call(_b().ftp_client.connect_profile, name))


class Ftp:
    """A logged-in FTP session. Use it as a context manager (`with
    connect(...) as ftp:`) to log out and close the connection at the end."""

    def __init__(self, session: Any):
        self._session = session
        self._local_dir: str | None = None

    # -- the classic three -------------------------------------------------

    def get(self, path: str, dest_path: str | None = None) -> str:
        """Download the remote `path` into the local directory, under its base
        name (or to `dest_path`, relative to the local directory or absolute
        within a granted one). Streams: the bytes go from the network to the
        file inside the host. Written to a temporary name and renamed into
        place, so a failed download leaves no partial file. Returns the local
        path written."""
        return self.download(path, dest_path)[0]

    def download(self, path: str, dest_path: str | None = None) -> tuple[str, int]:
        """Like `get`; returns `(local path, bytes)`."""
        name = dest_path if dest_path is not None else posixpath.basename(path.rstrip("/"))
        if not name:
            raise FtpInvalidInput(f"no file name in {path!r}: give dest_path")
        directory, preopen, inside = self._locate(name)
        parent, base = posixpath.split(inside)
        if base in ("", "."):
            raise FtpInvalidInput(f"local path {name!r} is a directory: give a file name")
        tmp = posixpath.join(parent, f".{base}{PART_SUFFIX}")
        fs = _b().wasi_filesystem
        download = _call(self._session.open_get, path, 0)
        try:
            try:
                file = directory.open_at(
                    fs.PathFlags(0),
                    tmp,
                    fs.OpenFlags.CREATE | fs.OpenFlags.TRUNCATE,
                    fs.DescriptorFlags.WRITE,
                )
            except _b().Err as e:
                raise _local_error(e, f"cannot create {_local.display(preopen, tmp)}") from None
            with file:
                failure = _moved(download.save_to, file)
            # Only the server's final reply says the whole file arrived (a
            # failed move is its verdict too, as the same typed error).
            done, download = download, None
            received = _call(_b().ftp_client.Download.finish, done)
            if failure is not None:
                raise failure
            try:
                directory.rename_at(tmp, directory, inside)
            except _b().Err as e:
                raise _local_error(e, f"cannot rename into {_local.display(preopen, inside)}") from None
        except BaseException:
            _drop(download)
            try:
                directory.unlink_file_at(tmp)
            except Exception:
                pass  # not created, or already gone
            raise
        return _local.display(preopen, inside), received

    def send(self, path: str, dest_path: str | None = None) -> int:
        """Upload the local file `path` (relative to the local directory, or
        absolute within a granted one) to the remote `dest_path` (default: its
        base name, in the remote current directory), replacing it. Streams.
        Returns the number of bytes the server acknowledged."""
        dest = dest_path if dest_path is not None else posixpath.basename(path.rstrip("/"))
        if not dest:
            raise FtpInvalidInput(f"no file name in {path!r}: give dest_path")
        directory, preopen, inside = self._locate(path)
        b = _b()
        fs = b.wasi_filesystem
        try:
            file = directory.open_at(fs.PathFlags.SYMLINK_FOLLOW, inside, fs.OpenFlags(0), fs.DescriptorFlags.READ)
        except b.Err as e:
            raise _local_error(e, f"cannot open {_local.display(preopen, inside)}") from None
        with file:
            upload = _call(self._session.open_send, dest, b.ftp_client.SendMode_Replace())
            try:
                failure = _moved(upload.send_from, file)
                if failure is not None:
                    # Not finished: dropping the upload aborts it, so a
                    # replacement never puts part of the file in place.
                    raise failure
                done, upload = upload, None
                sent = _call(b.ftp_client.Upload.finish, done)
            except BaseException:
                _drop(upload)
                raise
        return sent

    def list_directory(self, path: str | None = None) -> list[str]:
        """The names in a remote directory (`NLST`), the current one when
        `path` is None."""
        return _call(self._session.list_directory, path)

    # -- more of the session --------------------------------------------------

    @property
    def local_dir(self) -> str:
        """The local directory: where `get` saves and relative `send` paths
        start. Default: the first directory the operator granted."""
        if self._local_dir is not None:
            return self._local_dir
        dirs = granted_dirs()
        if not dirs:
            raise FtpLocalError("no local directory: the operator granted none", "no-entry")
        return dirs[0]

    @local_dir.setter
    def local_dir(self, path: str) -> None:
        _local.resolve(path, granted_dirs(), None)  # must be inside a grant
        self._local_dir = path

    def open(self, path: str, mode: str = "rb", offset: int = 0, encoding: str = "utf-8") -> Any:
        """A file-like object streaming the remote `path`: `"rb"`/`"r"` read
        it from `offset`, `"wb"`/`"w"` replace it, `"ab"`/`"a"` append to it.
        Closing it (or leaving the `with` block) completes the transfer and
        raises the server's verdict as a typed error. One transfer at a time
        per session."""
        b = _b()
        binary = mode.endswith("b")
        kind = mode.rstrip("b")
        if kind == "r":
            raw: io.RawIOBase = _Reader(_call(self._session.open_get, path, offset))
            buffered: Any = io.BufferedReader(raw, _OPEN_BUFFER)
        elif kind in ("w", "a"):
            send_mode = b.ftp_client.SendMode_Replace() if kind == "w" else b.ftp_client.SendMode_Append()
            if offset:
                send_mode = b.ftp_client.SendMode_ResumeAt(offset)
            raw = _Writer(_call(self._session.open_send, path, send_mode))
            buffered = io.BufferedWriter(raw, _OPEN_BUFFER)
        else:
            raise FtpInvalidInput(f"bad mode {mode!r}: r, rb, w, wb, a or ab")
        return buffered if binary else io.TextIOWrapper(buffered, encoding=encoding)

    def read_bytes(self, path: str) -> bytes:
        """The whole remote file, in memory (capped by the operator's
        in-memory limit: `FtpTooLarge` above it; use `get` or `open`)."""
        return _call(self._session.get, path)

    def write_bytes(self, path: str, data: bytes) -> int:
        """Replace the remote file with `data` (in memory, capped as above)."""
        return _call(self._session.send, path, bytes(data))

    def size(self, path: str) -> int:
        return _call(self._session.size, path)

    def pwd(self) -> str:
        return _call(self._session.pwd)

    def cwd(self, path: str) -> None:
        _call(self._session.cwd, path)

    # naas:ftp 0.2.0: structured listings and file management. On a host
    # with 0.1.0 bindings they raise FtpUnsupported.

    def list(self, path: str | None = None) -> list[Entry]:
        """Entries with kind, size and time (`MLSD`, else `LIST` parsed)."""
        return [_entry(e) for e in self._v2("list", path)]

    def stat(self, path: str) -> Entry:
        return _entry(self._v2("stat", path))

    def mkdir(self, path: str, parents: bool = False) -> None:
        self._v2("mkdir", path, parents)

    def rmdir(self, path: str) -> None:
        self._v2("rmdir", path)

    def delete(self, path: str) -> None:
        self._v2("delete", path)

    def rename(self, from_path: str, to_path: str) -> None:
        self._v2("rename", from_path, to_path)

    def modified(self, path: str) -> Any:
        """The last modification time, an aware UTC datetime (`MDTM`)."""
        t = self._v2("modified", path)
        return to_datetime(t.seconds, t.nanoseconds)

    def set_modified(self, path: str, when: Any) -> None:
        """Set the modification time (`MFMT`): an aware datetime or seconds
        since the epoch. `FtpUnsupported` where the server has no MFMT."""
        seconds, nanos = from_datetime(when)
        self._v2("set_modified", path, _b().ftp_types.Datetime(seconds=seconds, nanoseconds=nanos))

    def features(self) -> list[str]:
        return self._v2("features")

    def _v2(self, name: str, *args: Any) -> Any:
        method = getattr(self._session, name, None)
        if method is None:
            raise FtpUnsupported(f"{name} needs naas:ftp 0.2.0; this plugin was built against an older WIT")
        return _call(method, *args)

    # -- closing ------------------------------------------------------------

    def quit(self) -> None:
        """Log out (`QUIT`) and close the connection."""
        try:
            _call(self._session.quit)
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection without waiting for the server's goodbye."""
        session, self._session = self._session, None
        _drop(session)

    def __enter__(self) -> "Ftp":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._session is None:
            return
        if exc_type is None:
            self.quit()
        else:
            self.close()  # do not hide the first error behind QUIT's

    def _locate(self, path: str) -> tuple[Any, str, str]:
        """(directory descriptor, its guest path, path inside it)."""
        preopens = _preopens()
        index, inside = _local.resolve(path, [name for _, name in preopens], self._local_dir)
        descriptor, name = preopens[index]
        return descriptor, name, inside


def _moved(move: Callable[[Any, int], int], file: Any) -> FtpError | None:
    """Have the host move the whole file (`save_to` or `send_from` of a
    transfer, from offset 0). None when it did, else the typed error, which
    the transfer's `finish` reports too."""
    try:
        move(file, 0)
        return None
    except _b().Err as e:
        return from_wit(e.value)


def _entry(e: Any) -> Entry:
    modified = e.modified
    return Entry(
        name=e.name,
        kind=e.kind.name.lower(),
        size=e.size,
        modified=None if modified is None else to_datetime(modified.seconds, modified.nanoseconds),
        permissions=e.permissions,
        target=e.target,
    )


class _Reader(io.RawIOBase):
    """A download as a raw readable file; `close` finishes it."""

    def __init__(self, download: Any):
        self._download = download
        self._body = _call(download.body)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._body is None:
            return 0
        b = _b()
        try:
            data = self._body.blocking_read(len(buffer))
        except b.Err as e:
            if isinstance(e.value, b.wasi_streams.StreamError_Closed):
                return 0
            raise FtpIo(f"download failed: {_stream_failure(e)}") from None
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        body, self._body = self._body, None
        _drop(body)
        download, self._download = self._download, None
        if download is not None:
            _call(_b().ftp_client.Download.finish, download)


class _Writer(io.RawIOBase):
    """An upload as a raw writable file; `close` finishes it."""

    def __init__(self, upload: Any):
        self._upload = upload
        self._body = _call(upload.body)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        b = _b()
        view = memoryview(data)
        try:
            permit = self._body.check_write()
            while permit == 0:
                self._body.blocking_flush()  # waits until the host took it all
                permit = self._body.check_write()
            n = min(permit, len(view))
            self._body.write(bytes(view[:n]))
        except b.Err as e:
            raise FtpIo(f"upload failed: {_stream_failure(e)}") from None
        return n

    def close(self) -> None:
        if self.closed:
            return
        super().close()  # flushes nothing: BufferedWriter flushed into write()
        body, self._body = self._body, None
        try:
            if body is not None:
                body.blocking_flush()
        except _b().Err as e:
            _drop(body)
            raise FtpIo(f"upload failed: {_stream_failure(e)}") from None
        _drop(body)
        upload, self._upload = self._upload, None
        if upload is not None:
            _call(_b().ftp_client.Upload.finish, upload)


__all__ = ["Ftp", "connect", "connect_profile", "granted_dirs", "open_session"]
