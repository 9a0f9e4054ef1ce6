"""``oservices logs``: the output of one component, or of several interleaved by time; and
the prefixed lines that ``logs`` and a foreground ``up`` print.

One component's output is printed as it was written (as ``cat`` would). Several
are merged by the time each line was read (the stamps of
:mod:`oservices_core._supervisor.logfiles`), each line after its component's
name, ``name | ``, padded and coloured by the rule of :mod:`oservices_core._cli.style`.
On such a line a component must not pass for another: control characters that
could move the cursor or rewrite the line (carriage return, escape sequences
other than colours) are shown escaped (``\\x0d``), and a line that sets a colour
ends with a reset. Bytes that are not UTF-8 pass through.
"""

from __future__ import annotations

import argparse
import heapq
import re
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TextIO, final

if TYPE_CHECKING:
    from pathlib import Path

    from oservices_core._supervisor.logfiles import Followed, Record

__all__ = ["Prefixed", "logs_command", "printable"]

_INTERVAL = 0.2  # seconds between looks at the files, when nothing came
_RESCAN = 1.0  # seconds between looks for new components' files, with no names given
# A colour (SGR) sequence, kept; a carriage return ending the line (CRLF), dropped;
# any other C0 or C1 control but the tab, shown escaped.
_CONTROL = re.compile(rb"(\x1b\[[0-9;:]*m)|(\r\Z)|[\x00-\x08\x0a-\x1f\x7f]|\xc2[\x80-\x9f]")
_RESET = b"\x1b[0m"

Entry = tuple[bytes, str, "Record"]  # stamp, component, record: what is merged by time


def printable(text: bytes) -> bytes:
    """One line of a component's output, safe to print after another's prefix."""
    coloured = False

    def escape(match: re.Match[bytes]) -> bytes:
        nonlocal coloured
        if match.group(1):
            coloured = True
            return match.group(1)
        if match.group(2):
            return b""
        return b"\\x%02x" % match.group()[-1]

    shown = _CONTROL.sub(escape, text)
    return shown + _RESET if coloured else shown


@final
class Prefixed:
    """Records as lines: each after its component's name (padded to ``width``, in the
    name's colour when ``stream`` takes colour), with its stamp when ``timestamps``.

    ``bare``: one component's output, printed as it was written, no name, fragments
    joined (with ``timestamps``, one record a line after its stamp).
    """

    __slots__ = ("_heads", "bare", "stream", "timestamps", "width")

    def __init__(
        self, width: int, stream: TextIO, *, timestamps: bool = False, bare: bool = False
    ) -> None:
        self.width = width
        self.stream = stream
        self.timestamps = timestamps
        self.bare = bare
        self._heads: dict[str, bytes] = {}

    def widen(self, names: Iterable[str]) -> None:
        """Make room for ``names``."""
        width = max((len(name) for name in names), default=0)
        if width > self.width:
            self.width = width
            self._heads.clear()

    def head(self, name: str) -> bytes:
        """``name | ``, padded and coloured."""
        head = self._heads.get(name)
        if head is None:
            from oservices_core._cli.style import named

            text = named(name, f"{name:<{self.width}} |", self.stream)
            head = self._heads[name] = text.encode(errors="replace") + b" "
        return head

    def lines(self, entries: Iterable[Entry]) -> bytes:
        """The text of ``entries``, in their order."""
        return b"".join(self._line(name, record) for _, name, record in entries)

    def _line(self, name: str, record: Record) -> bytes:
        stamp = record.stamp + b" " if self.timestamps and record.stamp else b""
        if self.bare:
            end = b"\n" if record.whole or self.timestamps else b""
            return stamp + record.text + end
        return self.head(name) + stamp + printable(record.text) + b"\n"


def logs_command(args: argparse.Namespace) -> int:
    """Print components' output; with ``-f``, keep printing it until the Administrator exits."""
    from oservices_core._cli.running import _checked, _directory
    from oservices_core._supervisor.logfiles import log_path

    given = _checked(args.names)
    log_dir = _directory("log_dir")
    names = given or _logged(log_dir)
    if not args.follow:
        _refuse_missing(log_dir, given)
    show = Prefixed(0, sys.stdout, timestamps=args.timestamps, bare=len(given) == 1)
    show.widen(names)
    since = _since_stamp(args.since)
    offsets: dict[str, int] = {}
    found = [_last(log_path(log_dir, name), name, args.lines, since, offsets) for name in names]
    _write(show.lines(heapq.merge(*found, key=_stamp)))
    if not args.follow:
        return 0
    return _follow(show, names, offsets, rescan=not given)


def _stamp(entry: Entry) -> bytes:
    return entry[0]


def _since_stamp(since: float | None) -> bytes | None:
    if since is None:
        return None
    from oservices_core._supervisor.logfiles import stamp

    return stamp(int(since * 1e9))


def _logged(log_dir: Path) -> list[str]:
    """The components with an output file in ``log_dir``: ``NAME.log`` files of records (not
    the Administrator's own log, nor a logging plugin's file), by name."""
    from oservices_core._errors import ConfigurationError
    from oservices_core._plugins.component import check_name
    from oservices_core._supervisor.logfiles import is_records

    found = []
    for path in sorted(log_dir.glob("*.log")):
        try:
            check_name("component", path.stem, where="log directory")
        except ConfigurationError:
            continue
        if is_records(path):
            found.append(path.stem)
    return found


def _refuse_missing(log_dir: Path, names: list[str]) -> None:
    from oservices_core._supervisor.logfiles import log_path

    missing = [name for name in names if not log_path(log_dir, name).exists()]
    if missing:
        from oservices_core._errors import NotFoundError

        files = ", ".join(str(log_path(log_dir, name)) for name in missing)
        raise NotFoundError(
            f"no output recorded for {', '.join(map(repr, missing))} (no file {files}); "
            "'oservices status' lists the components that run"
        )


def _last(
    path: Path, name: str, lines: int, since: bytes | None, offsets: dict[str, int]
) -> list[Entry]:
    """The records of ``path`` at or after ``since``, the last ``lines`` of them (all when
    negative); where the complete ones end goes in ``offsets``."""
    from oservices_core._supervisor.logfiles import records

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    complete = data[: data.rfind(b"\n") + 1]
    offsets[name] = len(complete)
    found = records(complete)
    if since is not None:
        found = [record for record in found if record.stamp >= since]
    if lines >= 0:
        found = found[len(found) - lines :] if lines else []
    return [(record.stamp, name, record) for record in found]


def _follow(show: Prefixed, names: list[str], offsets: dict[str, int], *, rescan: bool) -> int:
    """Print what the files get until the Administrator exits, then what it wrote last."""
    from oservices_core._cli.running import _directory
    from oservices_core._supervisor.control import running_pid
    from oservices_core._supervisor.logfiles import Followed, log_path

    run_dir, log_dir = _directory("run_dir"), _directory("log_dir")
    pid = running_pid(run_dir)
    if not _alive(pid):
        print(
            f"oservices: no Administrator runs for {run_dir}: nothing more to follow",
            file=sys.stderr,
        )
        return 0
    followed = {name: Followed(log_path(log_dir, name), offsets.get(name, 0)) for name in names}
    scanned = time.monotonic()
    try:
        while True:
            alive = _alive(pid)  # looked at first: what it wrote before it ended is read below
            batch = sorted(_new(followed), key=_stamp)
            _write(show.lines(batch))
            if not alive:
                return 0
            if rescan and time.monotonic() - scanned > _RESCAN:
                scanned = time.monotonic()
                for name in _logged(log_dir):
                    if name not in followed:
                        followed[name] = Followed(log_path(log_dir, name))
                show.widen(followed)
            if not batch:
                time.sleep(_INTERVAL)
    finally:
        for each in followed.values():
            each.close()


def _new(followed: dict[str, Followed]) -> Iterator[Entry]:
    from oservices_core._supervisor.logfiles import records

    for name, each in followed.items():
        for record in records(each.read()):
            yield record.stamp, name, record


def _alive(pid: int | None) -> bool:
    """Whether the Administrator of ``pid`` still runs (a zombie has ended)."""
    if pid is None:
        return False
    from oservices_core._supervisor.procutil import process_state

    return process_state(pid) not in (None, "Z")


def _write(data: bytes) -> None:
    if data:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
