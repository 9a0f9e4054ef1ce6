"""Component output files as records: stamps, fragments, the bytes given back, rotation and
a failed write; and the lines ``logs`` prints from them."""

from __future__ import annotations

import argparse
import math
import re
from io import StringIO
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oservices_core._cli.logs import Prefixed, _since_stamp, printable
from oservices_core._cli.running_parsers import _since
from oservices_core._supervisor import logfiles
from oservices_core._supervisor.logfiles import (
    PARTIAL_BYTES,
    STAMP_WIDTH,
    Lines,
    Record,
    RotatingLog,
    displayable,
    is_records,
    records,
    stamp,
    tail,
)

NOW = b"2026-12-02T11:05:01.123456Z"
STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def test_a_stamp_is_fixed_width_utc_and_sorts_as_bytes() -> None:
    assert stamp(0) == b"1970-01-01T00:00:00.000000Z"
    assert stamp(1_764_673_501_123_456_789) == b"2025-12-02T11:05:01.123456Z"
    assert len(stamp()) == STAMP_WIDTH
    assert stamp(10**9 - 1000) < stamp(10**9) < stamp(10 * 10**9)


def test_lines_are_stamped_once_complete_and_a_waiting_one_goes_out_as_a_fragment() -> None:
    cut = Lines()
    assert cut.feed(b"one\ntw", NOW) == NOW + b" one\n"
    assert cut.partial == b"tw"
    assert cut.flush(NOW) == NOW + b"+tw\n"
    assert cut.flush(NOW) == b""
    out = cut.feed(b"o\n\nthree\r\n", NOW)
    assert out == NOW + b" o\n" + NOW + b" \n" + NOW + b" three\r\n"
    assert records(out) == [
        Record(NOW, b"o", True),
        Record(NOW, b"", True),
        Record(NOW, b"three\r", True),
    ]
    huge = cut.feed(b"x" * PARTIAL_BYTES, NOW)
    assert huge == NOW + b"+" + b"x" * PARTIAL_BYTES + b"\n", "a long line does not wait"


@given(st.lists(st.tuples(st.binary(max_size=200), st.booleans()), max_size=20))
def test_the_bytes_written_come_back_whatever_they_are(chunks: list[tuple[bytes, bool]]) -> None:
    cut = Lines()
    written = b""
    for data, flush in chunks:
        written += cut.feed(data, NOW)
        if flush:
            written += cut.flush(NOW)
    written += cut.flush(NOW)
    assert displayable(written) == b"".join(data for data, _ in chunks)
    assert all(b"\n" not in record.text and record.stamp == NOW for record in records(written))
    # A component cannot write a record of its own: each of its lines is inside one.
    assert len(records(written)) == written.count(b"\n")


def test_a_file_of_an_older_version_reads_as_it_is(tmp_path: Path) -> None:
    old = tmp_path / "old.log"
    old.write_bytes(b"a\nb\nc\n")
    assert not is_records(old)
    assert tail(old, 2) == (b"b\nc\n", 6)
    assert records(b"x\n" + NOW + b" y\nz\n") == [
        Record(b"", b"x", True),
        Record(NOW, b"y", True),
        Record(NOW, b"z", True),
    ]
    new = tmp_path / "new.log"
    new.write_bytes(NOW + b"+par" + b"\n" + NOW + b" tial\n" + NOW + b" end\n")
    assert is_records(new)
    assert tail(new, 1) == (b"end\n", new.stat().st_size)
    assert tail(new, -1)[0] == b"partial\nend\n"
    assert not is_records(tmp_path / "none.log")


def _full_disk(self: RotatingLog) -> None:
    raise OSError(28, "No space left on device")


def test_records_rotate_whole_and_a_full_buffer_drops_whole_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = RotatingLog(tmp_path / "api.log", max_bytes=3 * (STAMP_WIDTH + 4), backups=1)
    cut = Lines()
    for word in (b"one", b"two", b"six", b"ten"):
        log.write(cut.feed(word + b"\n", NOW))
    log.close()
    for path in (tmp_path / "api.log", tmp_path / "api.log.1"):
        assert all(STAMP.match(line) for line in path.read_bytes().splitlines())
    # Past what may wait in memory, the oldest is dropped up to the end of its line.
    log = RotatingLog(tmp_path / "full" / "api.log")
    log.pending += NOW + b" " + b"x" * 100 + b"\n"
    log.pending += NOW + b" kept\n"
    monkeypatch.setattr(logfiles, "MAX_PENDING", 40)
    monkeypatch.setattr(RotatingLog, "_write", _full_disk)
    assert not log.write(b"")
    assert bytes(log.pending) == NOW + b" kept\n"
    assert log.dropped == STAMP_WIDTH + 102


@given(st.binary(max_size=300))
def test_a_printed_line_cannot_move_the_cursor_or_end_early(text: bytes) -> None:
    shown = printable(text.replace(b"\n", b""))
    without_colours = re.sub(rb"\x1b\[[0-9;:]*m", b"", shown)
    assert not re.search(rb"[\x00-\x08\x0a-\x1f\x7f]|\xc2[\x80-\x9f]", without_colours)


def test_names_are_padded_and_each_line_is_after_one() -> None:
    show = Prefixed(0, StringIO())
    show.widen(["api", "worker"])
    entries = [(NOW, "api", Record(NOW, b"up", True)), (NOW, "worker", Record(NOW, b"\rx", True))]
    assert show.lines(entries) == b"api    | up\nworker | \\x0dx\n"
    stamped = Prefixed(3, StringIO(), timestamps=True)
    assert stamped.lines(entries[:1]) == b"api | " + NOW + b" up\n"
    bare = Prefixed(0, StringIO(), bare=True)
    assert bare.lines([(NOW, "api", Record(NOW, b"par", False))]) == b"par"


@given(st.text(max_size=60) | st.from_regex(r"\A[0-9.]{1,30}(ms|s|m|h|d)\Z"))
def test_since_is_a_time_or_a_clear_refusal(text: str) -> None:
    try:
        seconds = _since(text)
    except argparse.ArgumentTypeError as exc:
        refused = str(exc)
        assert refused.startswith("expected a duration")
        return
    assert seconds >= 0
    assert not math.isnan(seconds)
    assert _since_stamp(seconds) is not None  # any of them makes a stamp
