"""Component output files: one stamped record per line, size-based rotation, and following
them as they grow.

Each line a component writes is kept as one *record*: the time the Administrator
read it, as a fixed-width RFC 3339 UTC stamp, then a space, then the line's bytes
as they came (invalid UTF-8 included), then a newline::

    2026-12-02T11:05:01.123456Z hello
    2026-12-02T11:05:01.623456Z+a line still waiting for its end after half a second
    2026-12-02T11:05:02.000000Z  and its end

A ``+`` instead of the space marks a *fragment*: bytes with no newline yet,
written out because they waited :data:`PARTIAL_SECONDS` or grew past
:data:`PARTIAL_BYTES`; the next record of the file continues them. Being fixed
width and in UTC, stamps sort as bytes, so files are merged by time without
parsing a date. :func:`displayable` gives a file's bytes back as the component
wrote them; a line that is not a record (a file from an older version) is kept
as it is.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple, final

__all__ = [
    "PARTIAL_BYTES",
    "PARTIAL_SECONDS",
    "STAMP_WIDTH",
    "Followed",
    "Lines",
    "Record",
    "RotatingLog",
    "displayable",
    "follow",
    "is_records",
    "log_path",
    "open_private",
    "records",
    "stamp",
    "tail",
    "write_out",
]

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
MAX_PENDING = 1024 * 1024
STAMP_WIDTH = 27  # len("2026-12-02T11:05:01.123456Z")
PARTIAL_SECONDS = 0.5  # a line without its newline waits this long, then goes out as a fragment
PARTIAL_BYTES = 64 * 1024  # or until it is this long
_WHOLE, _FRAGMENT = b" ", b"+"
_STAMP = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
_STAMP_RE = re.compile(_STAMP)
# A record at the start of a line: its stamp, and a fragment's bytes with their newline.
_RECORD_HEAD = re.compile(rb"(?m)^" + _STAMP + rb"(?: |\+([^\n]*)\n)")


def stamp(ns: int | None = None) -> bytes:
    """The stamp of ``ns`` nanoseconds since the epoch (default: now), as bytes."""
    seconds, rest = divmod(time.time_ns() if ns is None else ns, 1_000_000_000)
    day_time = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return b"%s.%06dZ" % (day_time.encode("ascii"), rest // 1000)


class Record(NamedTuple):
    """One line of a component's output: its stamp (``b""`` if none), its bytes, and
    whether a newline ended it (``False``: a fragment, continued by the next record)."""

    stamp: bytes
    text: bytes
    whole: bool


def records(data: bytes, previous: bytes = b"") -> list[Record]:
    """The records of complete lines of a file (``data`` ends with a newline, or its last,
    incomplete line is left out). A line that is not a record takes the stamp before it."""
    found = []
    lines = data.split(b"\n")
    del lines[-1]
    for line in lines:
        mark = line[STAMP_WIDTH : STAMP_WIDTH + 1]
        if mark in (_WHOLE, _FRAGMENT) and _STAMP_RE.fullmatch(line, 0, STAMP_WIDTH):
            previous = line[:STAMP_WIDTH]
            found.append(Record(previous, line[STAMP_WIDTH + 1 :], mark == _WHOLE))
        else:
            found.append(Record(previous, line, True))
    return found


def is_records(path: Path) -> bool:
    """Whether ``path`` starts with a record: a component's output file, of this version."""
    try:
        with path.open("rb") as file:
            head = file.read(STAMP_WIDTH + 1)
    except OSError:
        return False
    stamped = _STAMP_RE.fullmatch(head, 0, STAMP_WIDTH) is not None
    return stamped and head[STAMP_WIDTH:] in (_WHOLE, _FRAGMENT)


def displayable(data: bytes) -> bytes:
    """A file's bytes as the component wrote them: stamps taken out, fragments joined."""

    def text(match: re.Match[bytes]) -> bytes:
        fragment = match.group(1)
        return b"" if fragment is None else fragment

    return _RECORD_HEAD.sub(text, data)


@final
class Lines:
    """A component's output cut into records as it is read.

    :meth:`feed` returns the records of the complete lines; the rest waits in
    :attr:`partial` until its newline comes, or :meth:`flush` writes it as a
    fragment (the Administrator calls it after :data:`PARTIAL_SECONDS`, and at
    the end of the output). Lines longer than :data:`PARTIAL_BYTES` go out in
    fragments of about that size. A whole read is stamped at once.
    """

    __slots__ = ("partial",)

    def __init__(self) -> None:
        self.partial = bytearray()

    def feed(self, data: bytes, now: bytes) -> bytes:
        """The records of the lines ``data`` completes, stamped ``now``."""
        head, newline, rest = data.rpartition(b"\n")
        out = b""
        if newline:
            self.partial += head
            lines = (b"\n" + now + _WHOLE).join(self.partial.split(b"\n"))
            out = now + _WHOLE + lines + b"\n"
            self.partial[:] = rest
        else:
            self.partial += rest
        if len(self.partial) >= PARTIAL_BYTES:
            out += self.flush(now)
        return out

    def flush(self, now: bytes) -> bytes:
        """What waits for its newline, as a fragment record (``b""`` when nothing waits)."""
        if not self.partial:
            return b""
        out = now + _FRAGMENT + bytes(self.partial) + b"\n"
        self.partial.clear()
        return out


def log_path(log_dir: Path, name: str) -> Path:
    """Where a component's standard output and error go."""
    return log_dir / f"{name}.log"


@final
class RotatingLog:
    """An append-only file that moves to ``.1`` (``.2``...) when it reaches ``max_bytes``.

    A write that fails (a full disk, an I/O error, a file-size limit) is no
    reason to lose the component: the data waits in memory, up to
    ``MAX_PENDING`` bytes (the oldest is dropped beyond that, and counted), and
    goes out with the next write or :meth:`retry`. ``errors`` counts failed
    writes, ``error`` says what the last one met while it lasts.
    """

    __slots__ = (
        "_file", "_size", "backups", "dropped", "error", "errors", "max_bytes", "path", "pending"
    )

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._file: BinaryIO | None = None
        self._size = 0
        self.pending = bytearray()
        self.errors = 0
        self.dropped = 0
        self.error = ""

    def write(self, data: bytes) -> bool:
        """Append ``data`` after what is pending; whether everything is on disk now."""
        self.pending += data
        if len(self.pending) > MAX_PENDING:
            excess = len(self.pending) - MAX_PENDING
            # To the end of that line: what is kept starts with a whole record.
            end = self.pending.find(b"\n", excess - 1)
            excess = excess if end < 0 else end + 1
            del self.pending[:excess]
            self.dropped += excess
        return self.retry()

    def retry(self) -> bool:
        """Write what is pending; whether everything is on disk now."""
        if not self.pending:
            return True
        try:
            self._write()
        except OSError as exc:
            self.errors += 1
            self.error = exc.strerror or str(exc)
            self.close()  # reopened, and the size read again, at the next try
            return False
        self.error = ""
        return True

    def _write(self) -> None:
        """Write what is pending, unbuffered: what reached the file leaves ``pending``."""
        if self._file is None:
            self._open()
        if self._size and self._size + len(self.pending) > self.max_bytes:
            self._rotate()
        assert self._file is not None
        while self.pending:
            written = os.write(self._file.fileno(), self.pending)
            del self.pending[:written]
            self._size += written

    def close(self) -> None:
        """Close the file; the next write opens it again."""
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):  # what it still held is pending, and retried
                file.close()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open_private(self.path)
        fd = self._file.fileno()
        self._size = os.fstat(fd).st_size

    def _rotate(self) -> None:
        self.close()
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.backups:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._open()


def open_private(path: Path) -> BinaryIO:
    """Open ``path`` to append, readable by its owner only from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # made by an older version, or under another umask
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "ab")


def tail(path: Path, lines: int) -> tuple[bytes, int]:
    """The last ``lines`` lines of a file as the component wrote them (all when negative,
    no stamps), and where the file ends."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b"", 0
    shown = displayable(data)
    if lines < 0:
        return shown, len(data)
    kept = shown.splitlines(keepends=True)
    return (b"".join(kept[-lines:]) if lines else b""), len(data)


@final
class Followed:
    """A file read from ``offset`` on as it grows, across rotations, a complete line at a
    time: :meth:`read` never waits."""

    __slots__ = ("_file", "_first", "_inode", "_offset", "_rest", "path")

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path = path
        self._offset = offset
        self._first = True  # only the file there at the start is read from ``offset``
        self._file: BinaryIO | None = None
        self._inode: int | None = None
        self._rest = b""  # an incomplete last line, until its end is written

    def read(self) -> bytes:
        """The complete lines written since the last read (``b""`` if none)."""
        chunks = [self._rest]
        if self._file is None or _rotated(self.path, self._inode):
            if self._file is not None:
                chunks.append(self._file.read())  # what was written before the rotation
                self._file.close()
            self._file, self._inode = _reopen(self.path, self._offset if self._first else 0)
            self._first = False
        if self._file is not None:
            chunks.append(self._file.read())
        head, newline, self._rest = b"".join(chunks).rpartition(b"\n")
        return head + newline

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


def follow(
    path: Path,
    *,
    offset: int = 0,
    interval: float = 0.2,
    running: Callable[[], bool] = lambda: True,
) -> Iterator[bytes]:
    """Complete lines of ``path`` from ``offset`` on, as they are written, across rotations."""
    followed = Followed(path, offset)
    try:
        while running():
            data = followed.read()
            if data:
                yield data
            else:
                time.sleep(interval)
    finally:
        followed.close()


def _reopen(path: Path, offset: int) -> tuple[BinaryIO | None, int | None]:
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return None, None
    size = os.fstat(file.fileno()).st_size
    file.seek(offset if offset <= size else 0)  # smaller: rotated meanwhile, read it all
    return file, os.fstat(file.fileno()).st_ino


def _rotated(path: Path, inode: int | None) -> bool:
    try:
        return path.stat().st_ino != inode
    except FileNotFoundError:
        return False


def write_out(data: bytes) -> None:
    """Bytes to standard output, as they come."""
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
