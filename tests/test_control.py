"""The control socket's clients: bounded in time, and clear when they give up.

A real ``oservices up`` runs components of ``tests/programs``; a stopped,
stuck or busy Administrator, or something else at the socket's path, must
make ``oservices status/stop/restart`` fail with exit status 2 and a message
that says why, within their timeout.

Every process a test starts carries a token of its own in its environment;
the end of each test kills whatever still carries it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from _processes import TOKEN, carrying, wait_for
from _run import environ, oservices_in

from oservices_core._supervisor.control import socket_path

PROGRAMS = Path(__file__).resolve().parent / "programs"
COMPONENTS = ["obedient", "forker"]


class Running:
    """``oservices up`` in the foreground, in its own home."""

    def __init__(self, home: Path, components: list[str]) -> None:
        self.home = home
        self.token = uuid.uuid4().hex
        self.env = {"PYTHONPATH": str(PROGRAMS), TOKEN: self.token}
        (home / "system.toml").write_text(f"components = {json.dumps(components)}\n")
        self.output = home / "up.out"
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "oservices_core", "up"],
                cwd=home,
                env=environ(home, self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.socket = socket_path(home / "run")

    @property
    def pid(self) -> int:
        return self.process.pid

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return oservices_in(self.home, *args, env=self.env)

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def statuses(self) -> dict[str, dict[str, Any]]:
        result = self.cli("status", "--json")
        assert "Traceback" not in result.stderr, result.stderr
        if result.returncode not in (0, 3):
            return {}
        return {s["name"]: s for s in json.loads(result.stdout)}

    def wait_healthy(self, timeout: float = 60) -> dict[str, dict[str, Any]]:
        def healthy() -> dict[str, dict[str, Any]] | None:
            assert self.process.poll() is None, self.log()
            found = self.statuses()
            ready = found and all(s["state"] == "RUNNING" and s["ready"] for s in found.values())
            return found if ready else None

        return wait_for(healthy, timeout, lambda: f"every component ready\n{self.log()}")  # type: ignore[no-any-return]  # statuses

    def assert_unharmed(self, before: dict[str, dict[str, Any]]) -> None:
        """Alive, answering, every component running with the process it had."""
        assert self.process.poll() is None, self.log()
        after = self.wait_healthy(timeout=30)
        assert {n: s["pid"] for n, s in after.items()} == {n: s["pid"] for n, s in before.items()}
        assert "Traceback" not in self.log(), self.log()

    def cpu(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system

    def finish(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
            self.process.kill()
        self.process.wait(30)
        for process in carrying(self.token):
            with contextlib.suppress(psutil.Error):
                process.kill()


@pytest.fixture
def up(home: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(components: list[str] = COMPONENTS) -> Running:
        started.append(Running(home, components))
        return started[-1]

    yield start
    for running in started:
        running.finish()


# Clients: bounded, and clear ---------------------------------------------------------


def test_a_stopped_administrator_makes_status_fail_fast_and_say_why(
    up: Callable[..., Running],
) -> None:
    running = up(["obedient"])
    before = running.wait_healthy()
    os.kill(running.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        result = running.cli("status")
        elapsed = time.monotonic() - started
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert f"the Administrator (pid {running.pid}) did not answer 'status'" in result.stderr
        assert f"kill -CONT {running.pid}" in result.stderr
        assert elapsed < 10.0
    finally:
        os.kill(running.pid, signal.SIGCONT)
    running.assert_unharmed(before)


def test_an_administrator_that_never_answers_times_out(home: Path) -> None:
    run_dir = home / "run"
    run_dir.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX) as frozen:  # listens, never accepts: a hung loop
        frozen.bind(str(socket_path(run_dir)))
        frozen.listen(8)
        started = time.monotonic()
        result = oservices_in(home, "status", "--timeout", "1")
        elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert f"(pid {os.getpid()}) did not answer 'status' within 1s" in result.stderr
    assert elapsed < 8.0


def test_a_full_listen_queue_is_retried_then_reported(home: Path) -> None:
    run_dir = home / "run"
    run_dir.mkdir(mode=0o700)
    path = socket_path(run_dir)
    queued = []
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen(0)
        with contextlib.suppress(BlockingIOError):
            for _ in range(64):
                sock = socket.socket(socket.AF_UNIX)
                queued.append(sock)
                sock.setblocking(False)
                sock.connect(str(path))
        result = oservices_in(home, "status", "--timeout", "1")
        for sock in queued:
            sock.close()
    assert result.returncode == 2
    assert "did not accept the connection within 1s" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["directory", "file"])
@pytest.mark.parametrize("command", [["status"], ["stop"], ["restart", "obedient"]])
def test_something_else_at_the_socket_path_is_named(
    home: Path, kind: str, command: list[str]
) -> None:
    path = socket_path(home / "run")
    path.parent.mkdir()
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("not a socket\n")
    result = oservices_in(home, *command)
    assert result.returncode == 2
    assert f"{path} is a {'directory' if kind == 'directory' else 'regular file'}" in (
        result.stderr
    )
    assert "move or remove it" in result.stderr
    assert "Traceback" not in result.stderr


def test_stop_all_waits_a_bounded_time(up: Callable[..., Running]) -> None:
    running = up(["obedient", "slowstop"])  # slowstop ignores SIGTERM for 60 s
    running.wait_healthy()
    started = time.monotonic()
    result = running.cli("stop", "--timeout", "1")
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert f"the Administrator (pid {running.pid}) is still stopping after 1s" in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 8.0
    assert running.process.poll() is None

