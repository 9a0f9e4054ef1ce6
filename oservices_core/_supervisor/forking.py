"""Forking a helper process from a running program, without taking its state along.

The Administrator forks its template from its own process when it can: the
template then starts with every module the caller imported already, instead
of paying a fresh interpreter's imports. A fork copies more than modules, so
the child lets go of what is the parent's: its sockets and pipes, its
buffered standard streams, its signal handlers. ``multiprocessing``'s fork start
method takes the same precautions (flushing the streams, single-threaded
callers only).
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import time
from collections.abc import Collection
from typing import TextIO

__all__ = ["Forked", "flush_streams", "let_go", "single_threaded"]

_INHERITED: list[TextIO | None] = []  # the parent's streams: never flushed nor finalized here


def single_threaded() -> bool:
    """Whether this process has one thread, so a fork copies no lock another holds."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # pragma: no cover - no /proc: threads cannot be counted
        return False


def flush_streams() -> None:
    """Flush the standard streams before a fork, or the child could write them again."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or replaced stream
            stream.flush()


def let_go(keep: Collection[int], drop: Collection[int] = ()) -> None:
    """In a forked child: stdin, ``drop``, and every socket and pipe but ``keep``, on /dev/null.

    Holding them would keep the caller's listening ports bound and hide the
    end of its pipes and socket pairs from their readers. Files stay open: a
    coverage data file, say, must go on working. Pointing a descriptor at
    /dev/null rather than closing it keeps its number taken, so an inherited
    object that closes its descriptor later cannot close a new file's.
    """
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd in keep or fd in (1, 2, null):
            continue
        if fd == 0 or fd in drop or _is_channel(fd):
            os.dup2(null, fd, inheritable=fd == 0)
    os.close(null)
    _fresh_streams()


def _is_channel(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:  # the listing's own descriptor, closed since
        return False
    return stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode)


def _fresh_streams() -> None:
    # The parent's stream objects may be a test runner's capture, and hold the
    # parent's unwritten buffers: the child writes to its own descriptors.
    _INHERITED.extend((sys.stdin, sys.stdout, sys.stderr))
    sys.stdin = open(0, encoding="locale", closefd=False)  # noqa: SIM115 - lives as long as the process
    sys.stdout = open(1, "w", encoding="locale", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="locale", errors="backslashreplace",  # noqa: SIM115
                      closefd=False, buffering=1)


class Forked:
    """A child made by ``os.fork``, waited for like a ``subprocess.Popen``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self, flags: int = os.WNOHANG) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:  # reaped elsewhere: its status is lost
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            return self.poll(0) or 0
        deadline = time.monotonic() + timeout
        while (code := self.poll()) is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.005)
        return code
