"""What tests of real processes share: a token in their environment to find
every one of them, process groups, waiting, and a free port."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest

# Every process a test starts carries TOKEN=<its own value> in its environment.
TOKEN = "OSERVICES_TEST_TOKEN"  # noqa: S105 - a variable name, not a password


def carrying(token: str) -> list[psutil.Process]:
    """Live processes (zombies aside) whose environment carries ``token``."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() != psutil.STATUS_ZOMBIE and process.environ().get(TOKEN) == token:
                found.append(process)
        except psutil.Error:
            continue
    return found


def groups_alive(pgids: list[int]) -> list[int]:
    """The process groups of ``pgids`` that still have a member."""
    alive = []
    for pgid in pgids:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            continue
        alive.append(pgid)
    return alive


def wait_for(condition: Callable[[], Any], timeout: float, what: str | Callable[[], str]) -> Any:
    """Poll ``condition`` until it returns something true; fail after ``timeout``,
    saying ``what`` was awaited (called then, when it is a function: the news at the end)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            shown = what() if callable(what) else what
            pytest.fail(f"timed out after {timeout}s waiting for {shown}")
        time.sleep(0.02)


def free_port() -> int:
    """A TCP port nothing listens on now (others may share this machine)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
