"""Directory entries and times, as Python values (pure; no bindings)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

UTC = _dt.timezone.utc
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:
    """One entry of `Ftp.list()`, or what `Ftp.stat()` found.

    `kind` is `"file"`, `"directory"`, `"symlink"` or `"other"`; `size` and
    `modified` are `None` when the server did not say. `modified` is an aware
    UTC datetime; from a `LIST` line it is approximate (see the WIT docs).
    """

    name: str
    kind: str
    size: int | None = None
    modified: _dt.datetime | None = None
    permissions: str | None = None
    target: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.kind == "directory"

    @property
    def is_file(self) -> bool:
        return self.kind == "file"


def to_datetime(seconds: int, nanoseconds: int) -> _dt.datetime:
    """WIT `datetime` (UTC seconds + nanoseconds) -> aware datetime (to the
    microsecond, Python's resolution)."""
    return EPOCH + _dt.timedelta(seconds=seconds, microseconds=nanoseconds // 1000)


def from_datetime(when: _dt.datetime | float | int) -> tuple[int, int]:
    """An aware datetime, or seconds since the epoch -> `(seconds, nanoseconds)`.
    A naive datetime is refused: FTP times are UTC, a guess would be wrong."""
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            raise ValueError("a naive datetime: give it a time zone (e.g. tzinfo=datetime.timezone.utc)")
        delta = when - EPOCH
        seconds = delta.days * 86400 + delta.seconds
        return seconds, delta.microseconds * 1000
    if isinstance(when, bool) or not isinstance(when, (int, float)):
        raise ValueError(f"bad time {when!r}: expected a datetime or seconds since the epoch")
    seconds = int(when // 1)
    return seconds, int(round((when - seconds) * 1_000_000_000)) % 1_000_000_000


def iso(when: _dt.datetime | None) -> str:
    """`2026-12-01T22:00:00Z`, or `-` for none: the form the examples print."""
    return "-" if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
