"""Small Linux process primitives: prctl flags, signals to groups, unix socket paths.

Everything degrades to a no-op where the kernel does not offer it, so the
rest of the Administrator reads the same on every POSIX system.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import socket
import subprocess
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oservices_core._supervisor.forking import Forked

__all__ = [
    "connects",
    "group_alive",
    "kept_name",
    "kill_group",
    "listener_owned",
    "pgid_of",
    "process_state",
    "process_tree",
    "raise_nofile_limit",
    "reset_signals",
    "set_name",
    "set_nofile_limit",
    "set_parent_death_signal",
    "set_subreaper",
    "unix_address",
    "wait_exit",
]

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_MAX_NAME = 15  # the kernel keeps 16 bytes of a process's name, the NUL included
_PR_SET_CHILD_SUBREAPER = 36
_MAX_SUN_PATH = 107  # sockaddr_un.sun_path is 108 bytes with the trailing NUL


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to load
        return None


def _prctl(option: int, value: int | ctypes.c_char_p) -> bool:
    libc = _libc()
    prctl = getattr(libc, "prctl", None)
    return prctl is not None and prctl(option, value, 0, 0, 0) == 0


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux)."""
    return _prctl(_PR_SET_PDEATHSIG, sig)


def set_name(name: str) -> bool:
    """Name this process as ``ps -o comm`` and ``top`` show it (Linux; cut to 15 bytes)."""
    return _prctl(_PR_SET_NAME, ctypes.c_char_p(os.fsencode(name)[:_MAX_NAME]))


def kept_name(name: str) -> str:
    """The name :func:`set_name` leaves, as ``/proc/PID/stat`` shows it."""
    return os.fsencode(name)[:_MAX_NAME].decode(errors="replace")


def set_subreaper() -> bool:
    """Adopt this process's orphaned descendants instead of init (Linux)."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def reset_signals() -> None:
    """Default dispositions and an empty mask: a child must not inherit its parent's."""
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def kill_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a reused id owned by someone else
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process (zombies included, until reaped) is left in the group."""
    return kill_group(pgid, 0)


def unix_address(path: Path) -> tuple[str, int | None]:
    """An address for ``path`` that fits ``sun_path``, and a directory fd to close after.

    Deep temporary directories exceed the 107 bytes a unix socket path may have;
    ``/proc/self/fd/N/name`` reaches the same file through an open directory.
    """
    text = os.fsencode(path)
    if len(text) <= _MAX_SUN_PATH or not Path("/proc/self/fd").is_dir():
        return str(path), None
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{path.name}", fd


def connect_unix(path: Path, timeout: float | None = None) -> socket.socket:
    """A connected stream socket to the unix socket at ``path``."""
    address, fd = unix_address(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    finally:
        if fd is not None:
            os.close(fd)
    return sock


def wait_exit(process: subprocess.Popen[bytes] | Forked, timeout: float) -> None:
    """Wait for ``process`` to exit; woken by the kernel, not by polling, where it can."""
    with contextlib.suppress(AttributeError, OSError):
        fd = os.pidfd_open(process.pid)
        try:
            select.select([fd], [], [], timeout)
        finally:
            os.close(fd)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)


def connects(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def pgid_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def raise_nofile_limit() -> int | None:
    """Raise this process's descriptor limit to its hard limit; the soft limit it had.

    A pool holds a few descriptors per component (its output pipe and file), so
    a thousand components need more than the usual soft limit of 1024, as
    supervisord's ``minfds`` knows. The components get the old limit back.
    """
    import resource

    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (OSError, ValueError):
        return None
    return soft


def set_nofile_limit(soft: int | None) -> None:
    """Give this process the descriptor limit ``soft`` back (nothing for ``None``)."""
    import resource

    if soft is None:
        return
    with contextlib.suppress(OSError, ValueError):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def listener_owned(pid: int, port: int) -> bool | None:
    """Whether a TCP socket listening on ``port`` belongs to ``pid`` or its descendants.

    ``None`` when the kernel does not say (no ``/proc/net/tcp``): the caller
    then makes do with a connection. Another program on the port does not count.
    """
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    if not inodes:
        return False
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for member in process_tree(pid):
        try:
            fds = os.listdir(f"/proc/{member}/fd")
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{member}/fd/{fd}") in wanted:
                    return True
    return False


def _listening_inodes(port: int) -> set[int] | None:
    found: set[int] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as file:
                lines = file.read().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            # local_address is HEXADDR:HEXPORT; state 0A is LISTEN; field 9 is the inode.
            listening = len(fields) > 9 and fields[3] == "0A"
            if listening and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(int(fields[9]))
    return found if readable else None


def process_state(pid: int) -> str | None:
    """The kernel's state letter of a process (``R``, ``S``, ``T`` when stopped, ``Z``...),
    or None when there is no such process; ``?`` where ``/proc`` cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except FileNotFoundError:
        return None if Path("/proc/self/stat").exists() else _exists(pid)
    except OSError:
        return _exists(pid)
    fields = data.rpartition(b")")[2].split()  # the name, in parentheses, may hold anything
    return fields[0].decode("ascii", "replace") if fields else "?"


def _exists(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return "?"
    return "?"


def process_tree(pid: int, limit: int = 4096) -> list[int]:
    """``pid`` and its descendants, parents first, at most ``limit`` of them.

    Read from the kernel's list of each thread's children
    (``/proc/PID/task/TID/children``), so the cost follows the size of the
    tree, not the number of processes on the machine. Where the kernel does
    not keep those lists, just ``[pid]``.
    """
    found = [pid]
    seen = {pid}
    for parent in found:  # grows as it goes: a breadth-first walk
        try:
            threads = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for thread in threads:
            try:
                with open(f"/proc/{parent}/task/{thread}/children", "rb") as children:
                    data = children.read()
            except OSError:
                continue
            for child in map(int, data.split()):
                if child not in seen and len(found) < limit:
                    seen.add(child)
                    found.append(child)
    return found
