"""``oservices logs`` against a real Administrator (``up -d`` with the components of
``tests/programs``): one component as it wrote, several merged by time with their names,
``--since``, ``--timestamps``, ``-n``, ``-f`` ending with the Administrator, hostile output."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from _processes import wait_for
from _run import environ, oservices_in
from _up import PROGRAMS

sys.path.insert(0, str(PROGRAMS))
from oservices_test_programs import HOSTILE

from oservices_core._supervisor.logfiles import displayable

RALLY = [f"{name:<4} | {name} {turn}" for turn in range(10) for name in ("ping", "pong")]
STAMPED = re.compile(r"^(ping|pong) +\| (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (ping|pong) \d$")


def logs(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "oservices_core", "logs", *args],
        cwd=home,
        env=environ(home, env),
        capture_output=True,
        timeout=60,
        check=False,
    )


def lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().splitlines()


def rally(home: Path, detached: dict[str, str]) -> None:
    """``ping`` and ``pong`` up, and through their ten turns each."""
    (home / "system.toml").write_text('components = ["ping", "pong", "obedient"]\n')
    started = oservices_in(home, "up", "-d", env=detached)
    assert started.returncode == 0, started.stderr
    pong = home / "log" / "pong.log"
    wait_for(lambda: b"pong 9\n" in pong.read_bytes(), 60, "pong's tenth turn")


def test_several_components_are_merged_by_time_each_line_after_its_name(
    home: Path, detached: dict[str, str]
) -> None:
    rally(home, detached)
    # Each of ping's and pong's lines was written only once the other's last one was in its
    # file: merged by the time each was read, they alternate.
    for args in (("ping", "pong"), ("pong", "ping")):
        assert lines(logs(home, detached, *args)) == RALLY
    every = lines(logs(home, detached))
    assert [line for line in every if not line.startswith("obedient")] == [
        line.replace(" |", "     |", 1) for line in RALLY
    ], "names padded to the longest, obedient's"
    assert "obedient | obedient: hello" in every
    assert not any("_administrator" in line for line in every), "the Administrator's own log"
    assert lines(logs(home, detached, "-n", "1", "ping", "pong")) == RALLY[-2:], "-n: of each"
    assert lines(logs(home, detached, "-n", "0", "ping", "pong")) == []

    # One component: its output as it wrote it, no name.
    assert logs(home, detached, "ping").stdout == b"".join(b"ping %d\n" % t for t in range(10))
    assert logs(home, detached, "ping", "-n", "2").stdout == b"ping 8\nping 9\n"


def test_timestamps_and_since(home: Path, detached: dict[str, str]) -> None:
    rally(home, detached)
    stamped = lines(logs(home, detached, "ping", "pong", "--timestamps"))
    found = [STAMPED.match(line) for line in stamped]
    assert all(found), stamped
    stamps = [match.group(2) for match in found if match]
    assert stamps == sorted(stamps)
    assert [line[:7] + line[7 + 28 :] for line in stamped] == RALLY, "the stamp after the name"
    single = lines(logs(home, detached, "ping", "-t"))
    assert single[0] == f"{stamps[0]} ping 0"

    # --since a time: the lines read at or after it; a duration ago; a zone other than UTC.
    fifth = stamps[9]  # pong 4
    assert lines(logs(home, detached, "ping", "pong", "--since", fifth)) == RALLY[9:]
    india = timezone(timedelta(hours=5, minutes=30))
    when = datetime.fromisoformat(fifth.replace("Z", "+00:00")).astimezone(india)
    assert lines(logs(home, detached, "ping", "pong", "--since", when.isoformat())) == RALLY[9:]
    assert lines(logs(home, detached, "ping", "pong", "--since", "1h")) == RALLY
    assert lines(logs(home, detached, "ping", "pong", "--since", "1h30m")) == RALLY
    for long_ago in ("9" * 400 + "h", "0001-01-01T00:00:00Z", "1970-01-01"):
        assert lines(logs(home, detached, "ping", "pong", "--since", long_ago)) == RALLY
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert lines(logs(home, detached, "ping", "pong", "--since", later)) == []
    assert lines(logs(home, detached, "ping", "--since", "0s")) == [], "nothing since now"
    for bad in ("yesterday", "10x", "-5m", "2026-13-01T00:00:00Z", "1h 30m", "\n", "9" * 400):
        refused = logs(home, detached, "ping", f"--since={bad}")
        assert refused.returncode == 2, bad
        assert b"expected a duration" in refused.stderr
        assert b"Traceback" not in refused.stderr


def test_follow_ends_when_the_administrator_exits(home: Path, detached: dict[str, str]) -> None:
    (home / "system.toml").write_text('components = ["chatty", "obedient"]\n')
    assert oservices_in(home, "up", "-d", env=detached).returncode == 0
    follower = subprocess.Popen(
        [sys.executable, "-m", "oservices_core", "logs", "-f", "-n", "1"],
        cwd=home,
        env=environ(home, detached),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert follower.stdout is not None
        first = [follower.stdout.readline() for _ in range(5)]
        assert all(line.startswith((b"chatty   | ", b"obedient | ")) for line in first), first
        stopped = oservices_in(home, "stop", env=detached)
        assert stopped.returncode == 0, stopped.stderr
        rest, errors = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 0, errors
    last = (first + rest.splitlines(keepends=True))[-1]
    # Drained: the last line printed is the last line chatty's file got.
    chatty = displayable((home / "log" / "chatty.log").read_bytes()).splitlines()[-1]
    assert last == b"chatty   | " + chatty + b"\n"

    # With no Administrator, there is nothing to follow: what is there, then exit 0.
    alone = logs(home, detached, "-f", "chatty")
    assert alone.returncode == 0
    assert alone.stdout.endswith(chatty + b"\n")
    assert b"no Administrator runs" in alone.stderr


def test_hostile_output_passes_through_alone_and_cannot_pass_for_another(
    home: Path, detached: dict[str, str]
) -> None:
    (home / "system.toml").write_text('components = ["hostile", "obedient"]\n')
    assert oservices_in(home, "up", "-d", env=detached).returncode == 0
    log = home / "log" / "hostile.log"
    wait_for(lambda: b"the end" in log.read_bytes(), 30, "the line without a newline")
    # Alone: byte for byte as written, even the line without its newline.
    assert logs(home, detached, "hostile").stdout == HOSTILE

    shown = logs(home, detached, "hostile", "obedient").stdout
    heads = (b"hostile  | ", b"obedient | ")
    assert all(line.startswith(heads) for line in shown.split(b"\n")[:-1])
    assert b"\r" not in shown
    assert b"\x1b[1A" not in shown, "a cursor never moves"
    assert b"hostile  | \\x0dping | forged\n" in shown
    assert b"hostile  | \\x1b[1A\\x1b[2Kerased\n" in shown
    assert b"hostile  | \x1b[31mred\x1b[0m\n" in shown, "colours kept, then reset"
    assert b"hostile  | bad \xff\xfe utf-8\n" in shown, "not UTF-8: passed through"
    assert shown.endswith(b"hostile  | the end without a newline\n")
    # Colour by the one rule: FORCE_COLOR colours the names even into a pipe; NO_COLOR wins.
    coloured = logs(home, {**detached, "FORCE_COLOR": "1"}, "hostile", "obedient").stdout
    assert re.search(rb"^\x1b\[\d+mobedient \|\x1b\[0m obedient: hello$", coloured, re.MULTILINE)
    forced = {**detached, "FORCE_COLOR": "1", "NO_COLOR": "1"}
    assert logs(home, forced, "hostile", "obedient").stdout == shown
    huge = [line for line in shown.split(b"\n") if line.startswith(b"hostile  | h")]
    assert sum(len(line) - len(b"hostile  | ") for line in huge) == len(b"hostile ") + 200 * 1024
    assert len(huge) > 1, "a huge line is cut in fragments"


def test_logs_names_are_checked(home: Path, detached: dict[str, str]) -> None:
    (home / "system.toml").write_text('components = ["obedient"]\n')
    assert oservices_in(home, "up", "-d", env=detached).returncode == 0
    for bad in ("../obedient", "a\nb", "x" * 100_000, "_administrator"):
        refused = logs(home, detached, "obedient", bad)
        assert refused.returncode == 2
        assert b"Traceback" not in refused.stderr
        assert len(refused.stderr) < 2000
    missing = logs(home, detached, "obedient", "nope")
    assert missing.returncode == 2
    assert b"no output recorded for 'nope'" in missing.stderr
