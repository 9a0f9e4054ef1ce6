"""``oservices up`` in the foreground, in a home of its own, for end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest
from _processes import TOKEN, carrying, wait_for
from _run import environ, oservices_in

PROGRAMS = Path(__file__).resolve().parent / "programs"


class Up:
    """``oservices up`` running in the foreground in its own home."""

    def __init__(
        self, home: Path, components: list[str], services: list[str], **settings: str
    ) -> None:
        self.home = home
        self.token = uuid.uuid4().hex
        self.hooklog = home / "hooks.log"
        self.env = {
            "PYTHONPATH": str(PROGRAMS),
            TOKEN: self.token,
            "OSERVICES_TEST_HOOKLOG": str(self.hooklog),
            **settings,
        }
        (home / "system.toml").write_text(
            f"components = {json.dumps(components)}\nservices = {json.dumps(services)}\n"
        )
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

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return oservices_in(self.home, *args, env=self.env)

    def status(self) -> dict[str, dict[str, Any]]:
        result = self.cli("status", "--json")
        if result.returncode == 2:  # not listening yet
            assert self.process.poll() is None, self.log()
            return {}
        return {s["name"]: s for s in json.loads(result.stdout)}

    def wait_state(self, name: str, state: str, timeout: float = 30) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            found = self.status().get(name)
            return found if found and found["state"] == state else None

        return wait_for(reached, timeout, f"{name} to be {state}\n{self.log()}")  # type: ignore[no-any-return]  # a status

    def wait_healthy(self, timeout: float = 60) -> dict[str, dict[str, Any]]:
        def healthy() -> dict[str, dict[str, Any]] | None:
            if self.process.poll() is not None:
                pytest.fail(f"oservices up exited with {self.process.returncode}\n{self.log()}")
            result = self.cli("status", "--json")
            return self.status() if result.returncode == 0 else None

        return wait_for(healthy, timeout, f"every component ready\n{self.log()}")  # type: ignore[no-any-return]  # statuses

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def hooks(self) -> list[str]:
        return self.hooklog.read_text().splitlines() if self.hooklog.exists() else []

    def finish(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        for process in carrying(self.token):
            with contextlib.suppress(psutil.Error):  # gone meanwhile
                process.kill()


@pytest.fixture
def up(home: Path) -> Iterator[Callable[..., Up]]:
    started: list[Up] = []

    def start(components: list[str], services: Sequence[str] = (), **settings: str) -> Up:
        started.append(Up(home, components, list(services), **settings))
        return started[-1]

    yield start
    for running in started:
        running.finish()


@pytest.fixture
def detached(home: Path) -> Iterator[dict[str, str]]:
    """The environment for ``up -d`` of the test programs; everything is swept after."""
    env = {"PYTHONPATH": str(PROGRAMS), TOKEN: uuid.uuid4().hex}
    yield env
    oservices_in(home, "stop", env=env)
    for process in carrying(env[TOKEN]):
        with contextlib.suppress(psutil.Error):
            process.kill()
