"""What ``oservices up`` prints: in the foreground, every component's output after its name,
never waiting for a slow terminal; detached (``-d``), progress on a terminal and known hints
when a start fails."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from _processes import wait_for
from _run import environ, oservices_in
from _up import Up

from oservices_core._cli.up import HELD
from oservices_core._supervisor.logfiles import displayable


def test_foreground_up_streams_each_components_output_after_its_name(
    up: Callable[..., Up],
) -> None:
    system = up(["obedient", "dependent", "hostile"])
    system.wait_healthy()
    wait_for(lambda: "the end without a newline" in system.log(), 30, "hostile's last line")
    printed = system.output.read_bytes()
    assert b"\nobedient  | obedient: hello\n" in printed
    assert b"\ndependent | obedient: hello\n" in printed
    assert b"\nhostile   | \\x0dping | forged\n" in printed, "escaped: no line passes for another"
    assert b"\r" not in printed
    assert re.search(rb"\n\d\d:\d\d:\d\d obedient: ready\n", printed), "events as before"
    for line in printed.splitlines():
        assert re.match(rb"\d\d:\d\d:\d\d |(obedient |dependent|hostile  ) \| ", line), line
    # Colour by the one rule: not into this file, unless forced.
    assert b"\x1b[3" not in printed.replace(b"\x1b[31mred", b"")


def test_a_blocked_standard_output_does_not_stop_the_administrator(
    home: Path, detached: dict[str, str]
) -> None:
    (home / "system.toml").write_text('components = ["gush", "obedient"]\n')
    blocked = subprocess.Popen(
        [sys.executable, "-m", "oservices_core", "up"],
        cwd=home,
        env=environ(home, detached),
        stdout=subprocess.PIPE,  # read by nobody until the end
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        log = home / "log" / "gush.log"
        # 8 MiB, far beyond what a pipe and the output buffer hold: the Administrator read it all.
        wait_for(lambda: log.exists() and b"gush: done\n" in log.read_bytes()[-4096:], 120, "gush")
        assert HELD < 8 * 1024 * 1024
        assert oservices_in(home, "status", env=detached).returncode == 0, "it answers"
        read: list[bytes] = []
        assert blocked.stdout is not None
        reader = threading.Thread(target=lambda: read.append(blocked.stdout.read()))  # type: ignore[union-attr]  # checked above
        reader.start()
        stopped = oservices_in(home, "stop", env=detached)
        assert stopped.returncode == 0, stopped.stderr
        assert blocked.wait(60) == 0
        reader.join(60)
    finally:
        if blocked.poll() is None:
            blocked.kill()
            blocked.wait()
        if blocked.stdout is not None:
            blocked.stdout.close()
    printed = read[0]
    assert re.search(rb"oservices: \d+ bytes of output were not shown", printed), printed[-2000:]
    assert b"obedient: stopped" in printed, "what came after the drop is shown"
    assert len(displayable(log.read_bytes())) == 8 * 1024 * 1024 + len(b"gush: done\n")


def _on_a_terminal(home: Path, env: dict[str, str], *args: str) -> tuple[int, bytes, bytes]:
    """Run ``oservices ARGS`` with its standard error on a pseudo-terminal."""
    terminal, their_end = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "oservices_core", *args],
        cwd=home,
        env=environ(home, env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=their_end,
    )
    os.close(their_end)
    seen = bytearray()
    while True:
        try:
            data = os.read(terminal, 65536)
        except OSError:  # EIO: every writer is gone
            break
        if not data:
            break
        seen += data
    os.close(terminal)
    assert process.stdout is not None
    out = process.stdout.read()
    process.stdout.close()
    return process.wait(60), out, bytes(seen)


def test_up_d_shows_progress_on_a_terminal_only(home: Path, detached: dict[str, str]) -> None:
    (home / "system.toml").write_text('components = ["obedient", "dependent"]\n')
    code, out, terminal = _on_a_terminal(home, detached, "up", "-d")
    assert code == 0, terminal
    assert b"\roservices: build..." in terminal
    assert b"\roservices: init..." in terminal
    assert b"\roservices: starting: 0/2 components ready" in terminal
    assert b"\roservices: starting: 2/2 components ready" in terminal or b"1/2" in terminal
    assert terminal.rstrip(b" ").endswith(b"\r"), "the line is cleared at the end"
    assert b"Administrator running" in out
    assert oservices_in(home, "stop", env=detached).returncode == 0

    piped = oservices_in(home, "up", "-d", env=detached)
    assert piped.returncode == 0
    assert piped.stderr == "", "nothing extra when standard error is not a terminal"


def test_a_missing_database_driver_names_the_extra_to_install(
    home: Path, detached: dict[str, str]
) -> None:
    (home / "system.toml").write_text('components = ["obedient", "driverless"]\n')
    result = oservices_in(home, "up", "-d", env=detached)
    assert result.returncode == 1
    assert "driverless is EXITED" in result.stderr
    assert "Error loading psycopg2 or psycopg module" in result.stderr, "its last lines"
    assert (
        "oservices: hint: the PostgreSQL driver is not installed: pip install 'oservices[postgres]'"
        in result.stderr
    )
