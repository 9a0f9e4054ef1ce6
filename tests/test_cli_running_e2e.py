"""``start``, ``stop``, ``restart`` and ``status`` with names, ``--system`` and ``--json``,
against a real Administrator (``oservices up`` with the components of ``tests/programs``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from _run import oservices_in
from _up import PROGRAMS, Up

HOSTILE = ["../x", "a\nb", "x" * 100_000, "Obedient", "nope", "-"]


def test_stop_with_nothing_running_is_exit_0_with_a_note(home: Path) -> None:
    for args in (("stop",), ("stop", "obedient"), ("stop", "a", "b")):
        result = oservices_in(home, *args)
        assert result.returncode == 0, result.stderr
        assert f"nothing is running for {home / 'run'}" in result.stdout
    for args in (("status",), ("start", "obedient"), ("restart", "obedient")):
        result = oservices_in(home, *args)
        assert result.returncode == 2, args
        assert "no Administrator is running" in result.stderr
        assert "another engine" in result.stderr, "it may run under supervisord or systemd"
        assert "Traceback" not in result.stderr


def test_start_stop_restart_and_status_take_several_names(up: Callable[..., Up]) -> None:
    system = up(["obedient", "execed", "dependent"])
    before = system.wait_healthy()
    # What the init stage did is one of up's own lines, not a record in another format.
    made = re.compile(
        r"^\d\d:\d\d:\d\d oservices: (created|tightened) directory .*/data \(mode 0o750\)$",
        re.MULTILINE,
    )
    assert made.search(system.log()), system.log()
    assert "INFO" not in system.log()

    stopped = system.cli("stop", "obedient", "execed")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.splitlines() == [
        "oservices: obedient stopped",
        "oservices: execed stopped",
    ]
    after = system.status()
    assert (after["obedient"]["state"], after["execed"]["state"]) == ("STOPPED", "STOPPED")
    assert after["dependent"]["pid"] == before["dependent"]["pid"], "not named: left alone"
    again = system.cli("stop", "obedient")
    assert again.returncode == 0, "a stopped component stops again: idempotent"

    shown = system.cli("status", "obedient", "--json")
    assert shown.returncode == 3, "the one shown is not ready"
    assert [s["name"] for s in json.loads(shown.stdout)] == ["obedient"]
    assert system.cli("status", "dependent").returncode == 0, "the one shown is ready"
    table = system.cli("status", "dependent", "obedient").stdout
    assert "dependent" in table
    assert "obedient" in table
    assert "execed" not in table

    started = system.cli("start", "obedient", "execed", "obedient")
    assert started.returncode == 0, started.stderr
    assert len(started.stdout.splitlines()) == 2, "a name given twice is sent once"
    running = system.wait_healthy()
    assert system.cli("start", "dependent").returncode == 0, "a running one is left alone"
    assert system.status()["dependent"]["pid"] == running["dependent"]["pid"]

    restarted = system.cli("restart", "obedient", "dependent")
    assert restarted.returncode == 0, restarted.stderr
    last = system.wait_healthy()
    assert last["obedient"]["pid"] != running["obedient"]["pid"]
    assert last["dependent"]["pid"] != running["dependent"]["pid"]
    assert last["execed"]["pid"] == running["execed"]["pid"]


@pytest.mark.parametrize("command", ["start", "stop", "restart", "status"])
def test_hostile_names_are_refused_before_anything_is_sent(
    up: Callable[..., Up], command: str
) -> None:
    system = up(["obedient"])
    before = system.wait_healthy()
    for name in HOSTILE:
        # With a good name first: nothing is done unless every name is good.
        result = system.cli(command, "obedient", name) if name != "-" else system.cli(command, name)
        assert result.returncode == 2, (command, name[:20], result.stdout)
        assert "Traceback" not in result.stderr
        assert len(result.stderr) < 2000, "a long name is not echoed whole"
        if name == "nope":
            assert "obedient" in result.stderr, "the known names are listed"
    assert system.status()["obedient"]["pid"] == before["obedient"]["pid"]
    assert system.process.poll() is None


def test_up_takes_system_and_keeps_its_positional_form(
    home: Path, detached: dict[str, str]
) -> None:
    (home / "system.toml").write_text('components = ["stubborn"]\n')
    (home / "other.toml").write_text('components = ["obedient"]\n')
    both = oservices_in(home, "up", "--system", "other.toml", "system.toml", env=detached)
    assert both.returncode == 2
    assert "one system file" in both.stderr

    started = oservices_in(home, "up", "-d", "--system", "other.toml", env=detached)
    assert started.returncode == 0, started.stderr
    shown = oservices_in(home, "status", "--json", env=detached)
    assert [s["name"] for s in json.loads(shown.stdout)] == ["obedient"]
    assert oservices_in(home, "stop", env=detached).returncode == 0

    started = oservices_in(home, "up", "-d", "other.toml", env=detached)
    assert started.returncode == 0, started.stderr
    shown = oservices_in(home, "status", "--json", env=detached)
    assert [s["name"] for s in json.loads(shown.stdout)] == ["obedient"]


def test_system_and_json_on_describe_config_show_and_components(home: Path) -> None:
    env = {"PYTHONPATH": str(PROGRAMS)}
    (home / "other.toml").write_text(
        'services = ["listening"]\n\n[configurations.listener]\nport = 9123\n\n'
        '[configurations.listening]\nmotd = "from the system file"\n'
    )
    described = oservices_in(
        home, "describe", "listening", "--system", "other.toml", "--json", env=env
    )
    assert described.returncode == 0, described.stderr
    service = json.loads(described.stdout)
    assert (service["name"], service["api"], service["port"]) == ("listening", "listener", 9123)
    assert service["url"] == "http://127.0.0.1:9123/"
    assert [c["name"] for c in service["components"]] == ["listener"]
    assert service["components"][0]["api"] is True
    assert {c["name"] for c in service["configurations"]} == {"listening", "listener"}
    text = oservices_in(home, "describe", "listening", "--system", "other.toml", env=env)
    assert "on port 9123" in text.stdout

    shown = oservices_in(
        home, "config", "show", "listening", "--system", "other.toml", "--json", env=env
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"motd": "from the system file"}
    plain = oservices_in(home, "config", "show", "listening", "--json", env=env)
    assert json.loads(plain.stdout) == {"motd": "welcome"}, "without --system: the defaults"

    listed = oservices_in(home, "components", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    components = {c["name"]: c for c in json.loads(listed.stdout)}
    assert components["listener"] == {
        "name": "listener",
        "service": "listening",
        "api": True,
        "configuration": "listener",
        "plugin": "listener",
    }
    assert components["handlers"]["configuration"] is None
