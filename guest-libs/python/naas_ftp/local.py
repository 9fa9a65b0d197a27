"""Where a local path is: which granted directory (WASI preopen) holds it,
and the path inside it.

A plugin sees only the directories its operator granted (`ftp-host run
--dir HOST_DIR::GUEST_DIR`). "Local" in naas_ftp means the first of them, or
the one chosen with `Ftp.local_dir`. A relative local path is taken inside
that directory; an absolute one must be inside some granted directory (the
one with the longest matching prefix). `..` never climbs out of a grant.

Pure Python: unit-tested outside a component.
"""

from __future__ import annotations

import posixpath

from .errors import FtpLocalError


def parts(path: str) -> tuple[bool, list[str]]:
    """`(absolute, components)`, with `.` dropped and `..` applied; climbing
    above the start is an error."""
    absolute = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                raise FtpLocalError(f"local path {path!r} climbs above its directory", "not-permitted")
            out.pop()
        else:
            out.append(part)
    return absolute, out


def resolve(path: str, preopens: list[str], local_dir: str | None) -> tuple[int, str]:
    """`(index into preopens, path inside it)` for the local `path`.

    `local_dir` is where relative paths start (default: the first preopen).
    The path inside is `.` when `path` is the granted directory itself.
    """
    if not preopens:
        raise FtpLocalError(
            "no local directory: the operator granted none (ftp-host run --dir HOST_DIR::/local)", "no-entry"
        )
    if not isinstance(path, str) or not path:
        raise FtpLocalError(f"bad local path {path!r}", "invalid")
    if "\0" in path:
        raise FtpLocalError(f"local path {path!r} contains NUL", "invalid")
    start = local_dir if local_dir is not None else preopens[0]
    full = path if path.startswith("/") else posixpath.join(start, path)
    absolute, wanted = parts(full)
    best: tuple[int, int] | None = None  # (length of the match, index)
    for index, name in enumerate(preopens):
        root_absolute, root = parts(name)
        if root_absolute == absolute and wanted[: len(root)] == root:
            if best is None or len(root) > best[0]:
                best = (len(root), index)
    if best is None:
        granted = ", ".join(preopens)
        raise FtpLocalError(f"local path {path!r} is outside the granted directories ({granted})", "not-permitted")
    length, index = best
    inside = "/".join(wanted[length:]) or "."
    return index, inside


def display(preopen: str, inside: str) -> str:
    """The guest path of `inside` in the preopen named `preopen`."""
    return preopen if inside == "." else posixpath.join(preopen, inside)
