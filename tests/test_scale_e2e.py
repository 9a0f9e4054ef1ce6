"""The Administrator at scale: a thousand components, and a crowded environment.

The components come from a distribution written here, ``oservices_many``, on
``PYTHONPATH`` as an installed distribution (its ``*.dist-info`` beside it):
``many-NNNN`` entry points in group ``oservices``, each a component that says
it is ready and then waits for a signal.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from _processes import TOKEN, carrying, wait_for
from _run import oservices_in

MODULE = """
import signal

from oservices_core import Component, notify_ready


def main() -> None:
    notify_ready()
    signal.pause()


def __getattr__(name: str) -> Component:
    if not name.startswith("c"):
        raise AttributeError(name)
    return Component(name=f"many-{name[1:]}", main=main, ready="notify")
"""


def many(where: Path, count: int) -> list[str]:
    """Write ``oservices_many`` with ``count`` components under ``where``; their names."""
    names = [f"many-{index:04d}" for index in range(count)]
    (where / "oservices_many").mkdir(parents=True)
    (where / "oservices_many" / "__init__.py").write_text(MODULE)
    info = where / "oservices_many-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: oservices-many\nVersion: 0.1\n")
    points = "".join(f"{name} = oservices_many:c{name[5:]}\n" for name in names)
    (info / "entry_points.txt").write_text(f"[oservices]\n{points}")
    return names


def up_detached(home: Path, count: int, **env: str) -> tuple[list[str], dict[str, str]]:
    programs = home / "programs"
    names = many(programs, count)
    (home / "system.toml").write_text(f"components = {json.dumps(names)}\n")
    environment = {"PYTHONPATH": str(programs), TOKEN: uuid.uuid4().hex, **env}
    return names, environment


def stop_and_check(home: Path, environment: dict[str, str]) -> None:
    result = oservices_in(home, "stop", env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    wait_for(lambda: not carrying(environment[TOKEN]), 30, "every process of the run gone")


@pytest.mark.slow
def test_a_thousand_components_start_and_stop(home: Path) -> None:
    names, environment = up_detached(home, 1000)
    try:
        result = oservices_in(home, "up", "-d", "--timeout", "300", env=environment)
        assert result.returncode == 0, result.stdout + result.stderr[-4000:]
        statuses = json.loads(oservices_in(home, "status", "--json", env=environment).stdout)
        assert [s["name"] for s in statuses] == names
        assert all(s["state"] == "RUNNING" and s["ready"] for s in statuses)
    finally:
        stop_and_check(home, environment)


def test_a_crowded_environment_does_not_stop_the_spawns(home: Path) -> None:
    """200 starts, each environment carrying a 4 KB variable: none is dropped."""
    names, environment = up_detached(home, 200, PADDING="x" * 4096 + "%$\"'\n")
    try:
        result = oservices_in(home, "up", "-d", "--timeout", "120", env=environment)
        assert result.returncode == 0, result.stdout + result.stderr[-4000:]
        statuses = json.loads(oservices_in(home, "status", "--json", env=environment).stdout)
        assert len(statuses) == len(names)
        assert all(s["state"] == "RUNNING" for s in statuses)
        pid = statuses[0]["pid"]
        with open(f"/proc/{pid}/environ", "rb") as file:  # the component got it, whole
            assert b"PADDING=" + b"x" * 4096 + b"%$\"'\n" in file.read().split(b"\0")
    finally:
        stop_and_check(home, environment)
