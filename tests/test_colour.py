"""Colour: NO_COLOR, FORCE_COLOR, a terminal or not; never in JSON, files or pipes."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _run import oservices_in
from _up import Up

from oservices_core._cli import style
from oservices_core._cli.running import print_table

ESCAPE = "\x1b["
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        if self.closed:  # as a real file's does
            raise ValueError("I/O operation on closed file")
        return True


@pytest.fixture(autouse=True)
def no_colour_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither this machine's NO_COLOR, FORCE_COLOR nor TERM decides here."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("env", "terminal", "coloured"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": ""}, True, True),  # set but empty: as if unset (no-color.org)
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": ""}, False, False),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, False),  # NO_COLOR wins, as in Python
        ({"TERM": "dumb"}, True, False),
        ({"TERM": "dumb", "FORCE_COLOR": "1"}, True, True),
    ],
)
def test_the_rule(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], terminal: bool, coloured: bool
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stream = Terminal() if terminal else io.StringIO()
    assert style.enabled(stream) is coloured
    assert (ESCAPE in style.state("RUNNING", stream)) is coloured


def test_a_closed_stream_gets_no_colour() -> None:
    stream = Terminal()
    stream.close()
    assert not style.enabled(stream)


def test_states_and_names_colours() -> None:
    stream = Terminal()
    assert style.state("RUNNING", stream) == "\x1b[32mRUNNING\x1b[0m"
    assert style.state("FATAL", stream) == "\x1b[31mFATAL\x1b[0m"
    assert style.state("BACKOFF", stream) == "\x1b[33mBACKOFF\x1b[0m"
    assert style.state("STOPPED", stream) == "STOPPED"
    # A name has one colour, the same in every process (not hash()'s, which varies).
    assert style.prefix("web", stream) == style.prefix("web", Terminal())
    assert style.prefix("web", stream) == "\x1b[34mweb\x1b[0m"
    assert len({style.prefix(name, stream) for name in ("web", "db", "worker", "cache")}) > 1


def _status(name: str, state: str) -> dict[str, Any]:
    return {
        "name": name, "state": state, "ready": state == "RUNNING", "pid": 10, "pgid": 10,
        "uptime": 3.0, "restarts": 0, "last_exit": None, "cpu_percent": 0.5,
        "memory": 2**20, "reason": "",
    }  # fmt: skip


def test_the_status_table_keeps_its_columns_in_colour(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    statuses = [_status("web", "RUNNING"), _status("a-long-name", "FATAL")]
    print_table(statuses)
    plain = capsys.readouterr().out
    assert ESCAPE not in plain  # captured: not a terminal
    monkeypatch.setenv("FORCE_COLOR", "1")
    print_table(statuses)
    coloured = capsys.readouterr().out
    assert "\x1b[32mRUNNING\x1b[0m" in coloured
    assert "\x1b[31mFATAL\x1b[0m" in coloured
    assert ANSI.sub("", coloured) == plain


@pytest.mark.parametrize(
    ("env", "coloured"),
    [({}, False), ({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False)],
)
def test_errors_are_red_only_when_asked_or_on_a_terminal(
    tmp_path: Path, env: dict[str, str], coloured: bool
) -> None:
    result = oservices_in(tmp_path, "config", "show", "nowhere_at_all:Thing", env=env)
    assert result.returncode == 2
    expected = "\x1b[1;31moservices: error:\x1b[0m " if coloured else "oservices: error: "
    assert result.stderr.startswith(expected), result.stderr
    assert (ESCAPE in result.stderr) is coloured


@pytest.mark.parametrize(("env", "coloured"), [({}, False), ({"FORCE_COLOR": "1"}, True)])
def test_a_command_line_that_does_not_parse_is_an_error_alike(
    tmp_path: Path, env: dict[str, str], coloured: bool
) -> None:
    result = oservices_in(tmp_path, "stop", "--timeout", "soon", env=env)
    assert result.returncode == 2
    head = "\x1b[1;31moservices stop: error:\x1b[0m" if coloured else "oservices stop: error:"
    assert f"{head} argument --timeout: expected a positive number" in result.stderr
    assert (ESCAPE in result.stderr) is coloured


def test_up_status_and_json_under_force_color(up: Callable[..., Up]) -> None:
    system = up(["obedient"], FORCE_COLOR="1")
    system.wait_healthy()
    # Event lines: the name in its colour, even into up's output file, as FORCE_COLOR asks.
    assert f" {style.prefix('oservices', Terminal())}: " in system.log()
    table = system.cli("status")
    assert "\x1b[32mRUNNING\x1b[0m" in table.stdout
    listed = system.cli("status", "--json")
    assert ESCAPE not in listed.stdout
    assert json.loads(listed.stdout)[0]["state"] == "RUNNING"
    piped = oservices_in(system.home, "status", env={"PYTHONPATH": system.env["PYTHONPATH"]})
    assert ESCAPE not in piped.stdout
    assert "RUNNING" in piped.stdout
