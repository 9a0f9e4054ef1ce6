"""Component output files: size-based rotation, and following them as they grow."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, final

__all__ = ["RotatingLog", "follow", "log_path", "open_private", "tail", "write_out"]

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
MAX_PENDING = 1024 * 1024


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
    """The last ``lines`` lines of a file (all when negative), and where they end."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b"", 0
    if lines < 0:
        return data, len(data)
    kept = data.splitlines(keepends=True)
    return (b"".join(kept[-lines:]) if lines else b""), len(data)


def follow(
    path: Path,
    *,
    offset: int = 0,
    interval: float = 0.2,
    running: Callable[[], bool] = lambda: True,
) -> Iterator[bytes]:
    """Data of ``path`` from ``offset`` on, as it is written, across rotations."""
    file: BinaryIO | None = None
    inode = None
    first = True  # only the file there at the start is read from ``offset``
    try:
        while running():
            if file is None or _rotated(path, inode):
                if file is not None:
                    yield file.read()  # what was written before the rotation
                    file.close()
                file, inode = _reopen(path, offset if first else 0)
                first = False
            data = file.read() if file is not None else b""
            if data:
                yield data
            else:
                time.sleep(interval)
    finally:
        if file is not None:
            file.close()


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
