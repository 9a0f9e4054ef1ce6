"""The Administrator under fault, with real processes: what used to go wrong, each a case.

Components from ``tests/programs``; ``oservices up`` through the ``up``
fixture (foreground, in a home of its own) or ``up -d`` through the CLI.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from _processes import TOKEN, carrying, free_port, wait_for
from _run import environ, oservices_in
from _up import Up


def test_reload_starts_added_components_and_stops_removed_ones(
    up: Callable[..., Up], home: Path
) -> None:
    system = up(["obedient"])
    first = system.wait_healthy()
    (home / "system.toml").write_text('components = ["obedient", "stubborn"]\n')
    os.kill(system.process.pid, signal.SIGHUP)
    wait_for(lambda: "starting stubborn" in system.log(), 10, "the reload")
    both = system.wait_healthy()
    assert set(both) == {"obedient", "stubborn"}
    assert both["obedient"]["pid"] == first["obedient"]["pid"], "unchanged: not restarted"

    (home / "system.toml").write_text('components = ["stubborn"]\n')
    os.kill(system.process.pid, signal.SIGHUP)
    wait_for(lambda: "stopping obedient" in system.log(), 10, "the reload")
    wait_for(lambda: set(system.status()) == {"stubborn"}, 10, "obedient removed")
    assert not psutil.pid_exists(first["obedient"]["pid"]) or (
        psutil.Process(first["obedient"]["pid"]).status() == psutil.STATUS_ZOMBIE
    )
    time.sleep(1.5)  # what used to crash-loop it came later
    assert set(system.status()) == {"stubborn"}
    assert "KeyError" not in system.log()
    assert system.process.poll() is None


def test_a_reload_of_a_hostile_file_is_refused_and_everything_runs_on(
    up: Callable[..., Up], home: Path
) -> None:
    system = up(["obedient"])
    before = system.wait_healthy()
    config = home / "config" / "obedient.toml"
    for hostile in ("greeting = " + "[" * 3000 + "]" * 3000, "greeting = " + "9" * 5000):
        config.write_text(hostile + "\n")
        mark = len(system.log())
        os.kill(system.process.pid, signal.SIGHUP)
        wait_for(lambda: "reload refused" in system.log()[mark:], 10, "the refusal")  # noqa: B023 - waited for here
        assert system.wait_healthy()["obedient"]["pid"] == before["obedient"]["pid"]
    assert "Traceback" not in system.log()


def test_restart_of_a_fatal_component_starts_without_its_old_backoff(
    up: Callable[..., Up],
) -> None:
    system = up(["crashloop", "obedient"])
    system.wait_state("crashloop", "FATAL")
    mark = len(system.log())
    assert system.cli("restart", "crashloop").returncode == 0
    line = wait_for(
        lambda: next(
            (
                entry
                for entry in system.log()[mark:].splitlines()
                if "crashloop: restarting in" in entry
            ),
            None,
        ),
        10,
        "the first restart",
    )
    assert "restarting in 0.05s" in line, line  # the policy's first backoff, not its last


def test_up_detached_fails_fast_naming_the_fatal_component(
    home: Path, detached: dict[str, str]
) -> None:
    (home / "system.toml").write_text('components = ["obedient", "crashloop"]\n')
    began = time.monotonic()
    result = oservices_in(home, "up", "-d", "--timeout", "100", env=detached)
    assert time.monotonic() - began < 60, "not the whole timeout"
    assert result.returncode == 1, result.stdout + result.stderr
    assert "crashloop is FATAL" in result.stderr
    assert "crashloop: failing" in result.stderr, "its last lines"
    assert "Traceback" not in result.stderr


def test_with_readiness_none_an_exit_at_once_is_not_a_start(
    home: Path, detached: dict[str, str]
) -> None:
    (home / "system.toml").write_text('components = ["quitter"]\n')
    result = oservices_in(home, "up", "-d", env=detached)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "quitter is EXITED: ended with exit code 0 before it was ready" in result.stderr


def test_a_tcp_probe_is_not_fooled_by_another_listener(up: Callable[..., Up]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        system = up(["listener"], OSERVICES_LISTENER__PORT=str(port))
        time.sleep(2)
        status = system.status().get("listener", {})
        assert not status.get("ready"), status
        assert "listener: ready" not in system.log()


def test_a_tcp_probe_sees_the_components_own_listener(up: Callable[..., Up]) -> None:
    port = free_port()
    system = up(["listener"], OSERVICES_LISTENER__PORT=str(port))
    assert system.wait_healthy()["listener"]["ready"]


def test_stop_during_the_build_of_up_detached_is_honoured(
    home: Path, detached: dict[str, str]
) -> None:
    (home / "system.toml").write_text('components = ["obedient"]\n')
    env = {**detached, "OSERVICES_TEST_SLOW_INIT": "3"}
    starting = subprocess.Popen(
        [sys.executable, "-m", "oservices_core", "up", "-d"],
        cwd=home,
        env=environ(home, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for((home / "run" / "oservices.pid").exists, 20, "the Administrator")
        stopped = oservices_in(home, "stop", env=env)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        out, err = starting.communicate(timeout=60)
        assert starting.returncode != 0, out + err
        assert "stopped" in err, err
    finally:
        starting.kill()
    wait_for(lambda: not carrying(env[TOKEN]), 10, "nothing left running")


def test_every_log_file_is_its_owners_only(home: Path, detached: dict[str, str]) -> None:
    (home / "system.toml").write_text('components = ["obedient"]\n')
    old = os.umask(0o022)
    try:
        assert oservices_in(home, "up", "-d", env=detached).returncode == 0
    finally:
        os.umask(old)
    logs = list((home / "log").glob("*.log"))
    assert {p.name for p in logs} >= {"_administrator.log", "obedient.log"}
    for path in logs:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_full_disk_under_log_dir_is_counted_and_retried(up: Callable[..., Up]) -> None:
    """A file-size limit makes the Administrator's writes fail as a full disk would."""
    system = up(["chatty", "obedient"])
    statuses = system.wait_healthy()
    administrator = psutil.Process(system.process.pid)
    log = system.home / "log" / "chatty.log"
    limit = log.stat().st_size + 64 * 1024
    administrator.rlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        wait_for(lambda: system.status()["chatty"].get("log_errors", 0) > 0, 20, "a failed write")
        assert "could not be written" in system.log()
        time.sleep(1)
        assert system.process.poll() is None
        now = system.status()
        assert now["chatty"]["pid"] == statuses["chatty"]["pid"], "it keeps running"
        assert now["obedient"]["pid"] == statuses["obedient"]["pid"]
    finally:
        administrator.rlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
    wait_for(lambda: "chatty: its output is written again" in system.log(), 20, "the retry")
    size = log.stat().st_size
    wait_for(lambda: log.stat().st_size > size, 10, "more output")
