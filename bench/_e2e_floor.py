"""The fork floor of ``bench.e2e``: a copy of this file is run by the benchmark venv's python.

``python floor.py start DISTRIBUTION CONFIG_DIR PIDFILE``, from process start to exit:

1. imports pydantic, then loads the entry points of group ``oservices`` of the one
   distribution ``DISTRIBUTION`` (importing each component's module, as ``oservices``
   does), and reads and parses each component's TOML file ``CONFIG_DIR/NAME.toml``
   (written by ``oservices build``) with ``tomllib``;
2. binds a unix datagram socket, with ``SO_PASSCRED`` so that each datagram names its
   sender, and forks one child per component. Each child validates its parsed file
   with its configuration class (``model_validate``), checks the result is an instance
   of it, sends ``READY=1`` to the socket (the sd_notify message) and waits for a signal;
3. returns, exit 0, once a ``READY=1`` came from each of the forked pids, having written
   the pids to ``PIDFILE``. The children keep running without it, as the components of
   ``oservices up -d`` keep running without that command.

``python floor.py stop PIDFILE``, from process start to exit: opens a pidfd on each
pid, sends SIGTERM through it, and returns once every pidfd says its process ended.
It imports nothing beyond the standard modules it needs.

Only the standard library, pydantic (through the components) and the components'
own modules: the venv has no ``bench`` package.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import sys
import time
from typing import Any

READY_TIMEOUT = 600.0  # seconds; the benchmark's own timeout ends a stuck floor first
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def start(distribution: str, config_dir: str, pidfile: str) -> int:
    import tomllib
    from importlib.metadata import distribution as find

    import pydantic  # noqa: F401 - imported by every component's module; first, as there

    jobs = []
    for entry_point in find(distribution).entry_points:
        if entry_point.group != "oservices":
            continue
        component = entry_point.load()
        cls, data = component.configuration, None
        if cls is not None:
            with open(os.path.join(config_dir, f"{component.name}.toml"), "rb") as file:
                data = tomllib.load(file)
        jobs.append((cls, data))
    address = f"{pidfile}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(address)
    pids = set()
    for cls, data in jobs:
        pid = os.fork()
        if pid == 0:
            _child(sock, address, cls, data)
        pids.add(pid)
    try:
        _await(sock, pids)
    finally:
        sock.close()
        os.unlink(address)
    with open(pidfile, "w", encoding="ascii") as file:
        file.write("".join(f"{pid}\n" for pid in sorted(pids)))
    return 0


def _child(sock: socket.socket, address: str, cls: type[Any] | None, data: object) -> None:
    code = 1
    try:
        sock.close()
        if cls is not None:
            configuration = cls.model_validate(data)
            if not isinstance(configuration, cls):
                raise TypeError(f"{type(configuration).__name__}, not {cls}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.sendto(b"READY=1", address)
        while True:  # until a signal ends the process
            signal.pause()
    except BaseException as error:  # noqa: BLE001 - a child reports, then leaves
        print(f"floor child {os.getpid()}: {error!r}", file=sys.stderr, flush=True)
    finally:
        os._exit(code)


def _await(sock: socket.socket, pids: set[int]) -> None:
    ready: set[int] = set()
    deadline = time.monotonic() + READY_TIMEOUT
    while ready != pids:
        sock.settimeout(1.0)  # wake to notice a child that died
        try:
            data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(_UCRED.size))
        except TimeoutError:
            dead = [pid for pid in pids - ready if os.waitpid(pid, os.WNOHANG)[0]]
            if dead or time.monotonic() > deadline:
                raise SystemExit(f"floor: {len(ready)} of {len(pids)} ready; "
                                 f"exited before ready: {dead}") from None
            continue
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                sender = _UCRED.unpack(payload[: _UCRED.size])[0]
                if sender in pids and b"READY=1" in data.split(b"\n"):
                    ready.add(sender)


def stop(pidfile: str) -> int:
    with open(pidfile, encoding="ascii") as file:
        pids = [int(line) for line in file if line.strip()]
    poll = select.poll()
    waiting = 0
    for pid in pids:
        try:
            descriptor = os.pidfd_open(pid)
        except ProcessLookupError:
            continue  # gone already
        poll.register(descriptor, select.POLLIN)  # readable once the process has ended
        waiting += 1
        try:  # noqa: SIM105 - contextlib is one more import for the stop command to pay
            signal.pidfd_send_signal(descriptor, signal.SIGTERM)
        except ProcessLookupError:
            pass  # ended in between: the poll says so
    while waiting:
        for descriptor, _ in poll.poll():
            poll.unregister(descriptor)
            os.close(descriptor)
            waiting -= 1
    os.unlink(pidfile)
    return 0


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    raise SystemExit(start(*arguments) if command == "start" else stop(*arguments))
