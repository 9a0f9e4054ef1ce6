"""Atomic file writes: a temporary file beside the target, fsync, then rename.

The temporary file's name says who wrote it, ``.NAME.oservices-HOST-PID-RANDOM.tmp``:
a writer killed between creating and renaming it leaves it behind, and the next
write into that directory removes it once no process of that pid runs on this
host. A live writer's file is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]

_TEMP = re.compile(r"\..*\.oservices-(?P<host>[A-Za-z0-9-]*)-(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp")


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The file is created with ``mode`` from the start (never wider, even for a moment),
    and a failure at any step leaves the previous file untouched. A symbolic link is
    written through: it stays, and the file it points to is replaced.
    """
    target = Path(os.path.realpath(path))  # the rename must happen where the file really is
    host = _host()
    _remove_stale(target.parent, host)
    prefix = f".{target.name[:100]}.oservices-{host}-{os.getpid()}-"
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_directory(target.parent)


def _host() -> str:
    # Part of a file name: pids are only comparable on the host (container) that made them.
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32]


def _remove_stale(directory: Path, host: str) -> None:
    """Remove the temporary files that writers of this host left when they died."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return  # mkstemp will say what is wrong with the directory
    for entry in entries:
        match = _TEMP.fullmatch(entry.name)
        if match is None or match["host"] != host or _alive(int(match["pid"])):
            continue
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            os.unlink(entry.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or not a pid): leave its file alone
    return True


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
