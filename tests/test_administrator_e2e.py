"""The Administrator with real processes: ``oservices up`` and the commands around it.

The components are in ``tests/programs`` (obedient, stubborn, forker, escaper,
early, crashloop...). Every process of a test carries a token of its own in
its environment; "nothing survives" means both that each recorded process
group is gone and that no process on the machine carries the token.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
from _processes import TOKEN, carrying, free_port, groups_alive, wait_for
from _run import environ, oservices_in
from _up import PROGRAMS, Up

from oservices_core._supervisor.template import KEEPER_SECONDS
from oservices_core._supervisor.template import NAME as TEMPLATE_NAME

TREE = ["obedient", "dependent", "stubborn", "forker", "escaper"]


def test_up_runs_the_system_and_stop_leaves_nothing(up: Callable[..., Up]) -> None:
    system = up(TREE)
    statuses = system.wait_healthy()
    assert set(statuses) == set(TREE)
    for status in statuses.values():
        assert status["pid"] == status["pgid"]
        assert status["memory"] > 0
        assert status["restarts"] == 0
    pgids = [s["pgid"] for s in statuses.values()]
    assert carrying(system.token), "the token must reach the components"
    # Only the Administrator holds the run directory's lock, not what it forked.
    holders = [
        p.pid
        for p in carrying(system.token)
        if any(f.path.endswith("oservices.lock") for f in p.open_files())
    ]
    assert holders == [system.process.pid]

    stopped = system.cli("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert system.process.wait(30) == 0, system.log()
    assert groups_alive(pgids) == []
    assert carrying(system.token) == []

    hooks = system.hooks()
    assert hooks.index(f"ready obedient {statuses['obedient']['pid']}") < hooks.index(
        "starting dependent"
    ), "dependent must start after obedient is ready"
    exits = [line.split()[1] for line in hooks if line.startswith("exited")]
    assert exits.index("dependent") < exits.index("obedient"), "stops in reverse order"
    assert sorted(exits) == sorted(TREE)


def test_administrator_killed_leaves_no_orphans(up: Callable[..., Up]) -> None:
    system = up(TREE)
    statuses = system.wait_healthy()
    pgids = [s["pgid"] for s in statuses.values()]
    assert len(carrying(system.token)) > len(TREE)  # children and the escaped ones too

    os.kill(system.process.pid, signal.SIGKILL)
    system.process.wait(10)
    # The bound: every component and descendant gone within 2 seconds.
    wait_for(lambda: not carrying(system.token), 2.0, "every process to be gone")
    assert groups_alive(pgids) == []


def _named(token: str, name: str) -> set[int]:
    return {p.pid for p in carrying(token) if p.name() == name}


def test_stopping_one_component_takes_its_escaped_descendants(up: Callable[..., Up]) -> None:
    system = up(["obedient", "escaper"])
    system.wait_healthy()
    # The escaper forks a child that calls setsid, which forks again: none of
    # them exec, so the name is what marks them, not their environment.
    first = _named(system.token, "escaper")
    assert len(first) == 3
    assert system.cli("stop", "escaper").returncode == 0
    wait_for(lambda: not _named(system.token, "escaper"), 2.0, "the escaped processes to end")

    assert system.cli("restart", "escaper").returncode == 0
    system.wait_healthy()
    second = wait_for(
        lambda: len(_named(system.token, "escaper")) == 3 and _named(system.token, "escaper"),
        10.0,
        "the escaper's three processes",
    )
    assert not second & first
    # Sweeping the first start's leftovers spares the second start's processes.
    time.sleep(KEEPER_SECONDS + 0.5)
    assert _named(system.token, "escaper") == second
    assert system.cli("stop").returncode == 0
    assert system.process.wait(30) == 0, system.log()
    assert carrying(system.token) == []


def test_the_template_killed_stops_everything(up: Callable[..., Up]) -> None:
    system = up(["obedient", "forker", "escaper"])
    system.wait_healthy()
    assert len(carrying(system.token)) > 3  # the escaper's setsid descendant among them
    (template,) = [
        p for p in psutil.Process(system.process.pid).children() if p.name() == TEMPLATE_NAME
    ]
    template.kill()
    assert system.process.wait(30) != 0
    assert "the template process died" in system.log()
    wait_for(
        lambda: not carrying(system.token),
        15.0,
        lambda: f"every process to be gone: {_describe(carrying(system.token))}",
    )


def test_sigterm_stops_everything_and_exits_zero(up: Callable[..., Up]) -> None:
    system = up(["obedient", "dependent", "stubborn"])
    statuses = system.wait_healthy()
    os.kill(system.process.pid, signal.SIGTERM)
    assert system.process.wait(30) == 0, system.log()
    assert groups_alive([s["pgid"] for s in statuses.values()]) == []
    assert carrying(system.token) == []
    assert "stubborn: did not stop in time; SIGKILL to its process group" in system.log()


def test_second_interrupt_forces(up: Callable[..., Up]) -> None:
    system = up(["stubborn"])
    system.wait_healthy()
    # stubborn ignores SIGTERM and has a grace period of 0.5 s; a second
    # interrupt must not wait for it.
    os.kill(system.process.pid, signal.SIGINT)
    wait_for(lambda: "stopping every component" in system.log(), 10, "the first interrupt")
    os.kill(system.process.pid, signal.SIGINT)
    assert system.process.wait(30) == 0
    assert "second interrupt: SIGKILL to every component" in system.log()
    assert carrying(system.token) == []


def test_a_crash_loop_becomes_fatal_with_its_reason(up: Callable[..., Up]) -> None:
    system = up(["crashloop", "obedient"])
    fatal = system.wait_state("crashloop", "FATAL")
    assert fatal["last_exit"] == 7
    assert fatal["restarts"] == 2
    assert "3 failures within 60s" in fatal["reason"]
    assert system.cli("status").returncode == 3  # not every component is ready
    assert "crashloop: failing" in system.cli("logs", "crashloop").stdout
    assert system.status()["obedient"]["state"] == "RUNNING"


def test_a_component_that_exits_before_its_children_takes_them(up: Callable[..., Up]) -> None:
    system = up(["early", "obedient", "handlers"])
    exited = system.wait_state("early", "EXITED")
    assert exited["last_exit"] == 0
    assert exited["pid"] is None
    survivors = [
        p for p in carrying(system.token) if p.environ().get("OSERVICES_COMPONENT") == "early"
    ]
    assert survivors == []
    # A component under the Administrator starts with default dispositions.
    system.wait_state("handlers", "EXITED")
    handlers = system.cli("logs", "handlers").stdout.split()
    assert handlers == ["SIGTERM=default", "SIGINT=default", "SIGHUP=default"]


def test_stop_restart_and_start_one_component(up: Callable[..., Up]) -> None:
    system = up(["obedient", "stubborn"])
    before = system.wait_healthy()
    assert system.cli("stop", "obedient").returncode == 0
    after = system.status()
    assert after["obedient"]["state"] == "STOPPED"
    assert groups_alive([before["obedient"]["pgid"]]) == []
    assert after["stubborn"]["pid"] == before["stubborn"]["pid"]

    assert system.cli("restart", "obedient").returncode == 0
    again = system.wait_healthy()
    assert again["obedient"]["pid"] not in (None, before["obedient"]["pid"])

    assert system.cli("restart", "stubborn").returncode == 0
    assert system.wait_healthy()["stubborn"]["pid"] != before["stubborn"]["pid"]


def test_sighup_restarts_only_what_changed(up: Callable[..., Up], home: Path) -> None:
    system = up(["obedient", "dependent"])
    before = system.wait_healthy()
    config = home / "config" / "obedient.toml"
    config.write_text('greeting = "reloaded"\n')
    os.kill(system.process.pid, signal.SIGHUP)
    wait_for(lambda: "restarting obedient" in system.log(), 10, "the reload")
    after = system.wait_healthy()
    assert after["obedient"]["pid"] != before["obedient"]["pid"]
    assert after["dependent"]["pid"] == before["dependent"]["pid"]
    assert "obedient: reloaded" in system.cli("logs", "obedient").stdout

    # A broken file refuses the reload; everything keeps running as it was.
    config.write_text("greeting = [unclosed\n")
    os.kill(system.process.pid, signal.SIGHUP)
    wait_for(lambda: "reload refused, nothing changed" in system.log(), 10, "the refusal")
    assert "obedient.toml" in system.log()
    pids = {name: status["pid"] for name, status in system.wait_healthy().items()}
    assert pids == {name: status["pid"] for name, status in after.items()}


def test_sighup_restarts_every_component_when_logging_changed(
    up: Callable[..., Up], home: Path
) -> None:
    system = up(["obedient", "dependent"])
    before = system.wait_healthy()
    # The logging plugin's setup runs in every component: each started with it.
    (home / "config" / "logging.toml").write_text('level = "DEBUG"\n')
    os.kill(system.process.pid, signal.SIGHUP)
    line = wait_for(
        lambda: next(
            (entry for entry in system.log().splitlines() if "reloaded; restarting" in entry), None
        ),
        10,
        "the reload",
    )
    assert "obedient" in line
    assert "dependent" in line
    after = system.wait_healthy()
    assert all(after[name]["pid"] != before[name]["pid"] for name in before)


def test_tcp_readiness_and_a_plain_exec(up: Callable[..., Up]) -> None:
    port = free_port()
    system = up(["execed"], ["listening"], OSERVICES_LISTENER__PORT=str(port))
    statuses = system.wait_healthy()
    assert f"listening API at http://127.0.0.1:{port}/" in system.log()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    execed = psutil.Process(statuses["execed"]["pid"])
    assert "run" in execed.cmdline(), "spawn='exec' runs a fresh interpreter"

    # The service's configuration is the listener's too: a change restarts it alone.
    (system.home / "config" / "listening.toml").write_text('motd = "changed"\n')
    os.kill(system.process.pid, signal.SIGHUP)
    wait_for(lambda: "restarting listener" in system.log(), 10, "the reload")
    after = system.wait_healthy()
    assert after["listener"]["pid"] != statuses["listener"]["pid"]
    assert after["execed"]["pid"] == statuses["execed"]["pid"]


def test_control_socket_refuses_bad_requests_and_carries_on(
    up: Callable[..., Up], home: Path
) -> None:
    system = up(["obedient"])
    system.wait_healthy()
    path = home / "run" / "oservices.sock"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (home / "run").stat().st_mode & 0o777 == 0o700
    for bad in (
        b"not json\n",
        b'{"command": "explode"}\n',
        b'{"command": "restart"}\n',
        b'{"command": "stop", "name": "nobody"}\n',
        b'{"command": "status", "x": 1}\n',
        b"[]\n",
    ):
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(path))
            client.sendall(bad)
            answer = json.loads(client.makefile("rb").readline())
        assert answer["ok"] is False, bad
        assert answer["error"]
    assert system.cli("status").returncode == 0


def test_logs_follow_the_output(up: Callable[..., Up], home: Path) -> None:
    system = up(["obedient"])
    system.wait_healthy()
    assert system.cli("logs", "obedient", "-n", "1").stdout == "obedient: hello\n"
    follower = subprocess.Popen(
        [sys.executable, "-m", "oservices_core", "logs", "obedient", "-f", "-n", "0"],
        cwd=home,
        env=environ(home, system.env),
        stdout=subprocess.PIPE,
    )
    try:
        time.sleep(0.5)  # following from the end: only what comes next is printed
        assert system.cli("restart", "obedient").returncode == 0
        assert follower.stdout is not None
        assert follower.stdout.readline() == b"obedient: hello\n"
    finally:
        follower.kill()
        follower.wait()
        if follower.stdout is not None:
            follower.stdout.close()


def test_commands_without_an_administrator_say_so(home: Path) -> None:
    result = oservices_in(home, "status")
    assert result.returncode == 2
    assert "no Administrator is running" in result.stderr
    assert "oservices up" in result.stderr


def test_a_second_up_is_refused(up: Callable[..., Up], home: Path) -> None:
    system = up(["obedient"])
    system.wait_healthy()
    second = system.cli("up")
    assert second.returncode == 2
    assert "an Administrator already runs" in second.stderr
    assert system.cli("status").returncode == 0


def test_up_detached_then_stop(home: Path) -> None:
    env = {"PYTHONPATH": str(PROGRAMS), TOKEN: uuid.uuid4().hex}
    (home / "system.toml").write_text('components = ["obedient"]\n')
    try:
        started = oservices_in(home, "up", "-d", env=env)
        assert started.returncode == 0, started.stderr
        assert "obedient" in started.stdout
        assert oservices_in(home, "status", env=env).returncode == 0
        assert oservices_in(home, "stop", env=env).returncode == 0
        assert carrying(env[TOKEN]) == []
    finally:
        for process in carrying(env[TOKEN]):
            process.kill()


def test_run_installs_no_signal_handlers(home: Path) -> None:
    result = oservices_in(home, "run", "handlers", env={"PYTHONPATH": str(PROGRAMS)})
    assert result.returncode == 0, result.stderr
    # SIGINT keeps the interpreter's own handler (KeyboardInterrupt): the caller's.
    assert result.stdout.split() == ["SIGTERM=default", "SIGINT=python", "SIGHUP=default"]


def _describe(processes: list[psutil.Process]) -> str:
    described = []
    for process in processes:
        try:
            described.append(
                f"{process.pid} {process.name()} ppid {process.ppid()} "
                f"{process.status()} {process.cmdline()[:3]}"
            )
        except psutil.Error:
            described.append(f"{process.pid} (gone)")
    return "; ".join(described)
