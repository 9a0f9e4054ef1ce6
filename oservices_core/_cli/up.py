"""``oservices up``: build, then run the Administrator in the foreground or in the background.

In the background (``up -d``), this process starts ``oservices up`` again,
detached, with a pipe: the detached Administrator writes JSON lines on it, one
event per line, and this process prints what they say and returns as soon as
the last one arrives, without polling and without loading the plugins itself:

- ``{"event": "ready", "pid", "addresses": [[service, url], ...]}``: every component is ready;
- ``{"event": "failed", "error", "components": [{"name", "state", "reason", "log"}, ...]}``:
  a component went FATAL or EXITED (``log``: its last lines), or the Administrator stopped.

Before either, ``{"event": "progress", "stage", "ready", "total"}`` says what it is at
(the stage running, then components ready out of the total); on a terminal,
``up -d`` shows it on one line of standard error that it rewrites.

An end of the pipe with no such line means the Administrator exited: its own
log, ``LOG_DIR/_administrator.log``, says why, and its last lines are printed.

In the foreground, every component's output is printed too, each line after
its name (see :mod:`oservices_core._cli.logs`), by a thread of its own: a slow
terminal, or one nobody reads, never blocks the Administrator (what does not
fit in :data:`HELD` bytes is dropped, and how much is said).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import selectors
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from oservices_core._plugins.system import System
    from oservices_core._supervisor.administrator import Administrator

from oservices_core._cli.running import ADMINISTRATOR_LOG, EXIT_NOT_READY

__all__ = ["HELD", "api_addresses", "up_command"]

_LOG_LINES = 10
HELD = 1024 * 1024  # bytes of output that wait for a slow standard output; beyond, dropped
_CLOSING = 5.0  # seconds the last output may take to be written, at the end
_RETRY = 0.5  # seconds between tries of a write to standard output that failed
Say = Callable[[str, str], None]


def up_command(args: argparse.Namespace) -> int:
    """Build, then run the Administrator in the foreground or in the background."""
    if args.detach:
        return _detach(args)
    report = _Report(args.report_fd) if args.report_fd is not None else None
    try:
        return _up(report)
    except BaseException as exc:
        if report is not None:
            report.failed(_described(exc))
        raise


def _up(report: _Report | None) -> int:
    from oservices_core._config.settings import active_settings
    from oservices_core._plugins.system import load_system
    from oservices_core._supervisor.administrator import Administrator

    settings = active_settings()
    if report is not None:
        report.write_to(settings.log_dir / ADMINISTRATOR_LOG)
    system = load_system()
    console = _Console(system.components) if report is None else None
    say: Say = _print_event if console is None else console.event
    if report is not None:
        say = report.events(say, len(system.components))
    # This process holds nothing of its own that a component must not inherit.
    administrator = Administrator(
        system,
        settings=settings,
        on_event=say,
        on_output=None if console is None else console.output,
        template="fork",
    )
    administrator.preload()  # takes the run directory; the template loads while we build
    if console is not None:
        console.start()  # a thread: only once the template is forked, from one thread
    try:
        return _run(administrator, system, say, report)
    finally:
        if console is not None:
            console.close(_CLOSING)


def _run(administrator: Administrator, system: System, say: Say, report: _Report | None) -> int:
    if administrator.http_url is not None:
        say(
            "oservices",
            f"status page, metrics and events at {administrator.http_url} "
            "('oservices ui' prints it with the token)",
        )
    _prepare(system, say, report)
    addresses = api_addresses(system)
    for service, address in addresses:
        say("oservices", f"{service} API at {address}")
    if report is not None:
        report.stage("start")
        report.watch(administrator, addresses)
    code = administrator.run()
    if report is not None:  # not reported yet: it ended before every component was ready
        report.failed("the Administrator stopped before every component was ready")
    return code


def _described(exc: BaseException) -> str:
    from oservices_core._errors import OservicesError

    return str(exc) if isinstance(exc, OservicesError) else f"{type(exc).__name__}: {exc}"


def _prepare(system: System, say: Say, progress: _Report | None) -> None:
    from oservices_core._workflow.run import run_workflow

    out = _Stamped("oservices", say)  # what the stages' plugins report, as lines of this output
    for stage in ("build", "init"):
        if progress is not None:
            progress.stage(stage)
        _, reports = run_workflow(system, (stage,), out=out)
        out.flush()
        for report in reports:
            state = "up to date" if report.up_to_date else f"{len(report.artifacts)} files"
            say("oservices", f"{report.name}: {state}")


def api_addresses(system: System) -> list[tuple[str, str]]:
    """Each service's API address, where its API component's configuration has a port."""
    found = []
    resolver = system.resolver()
    for service in system.services.values():
        component = system.components.get(service.api) if service.api else None
        if component is None:
            continue
        cls = component.configuration
        listen = component.listen(resolver.resolve(cls, component.name).value if cls else None)
        if listen is not None:
            found.append((service.name, listen.url()))
    return found


def _print_event(name: str, message: str) -> None:
    print(_event_line(name, message), end="", flush=True)


def _event_line(name: str, message: str) -> str:
    from oservices_core._cli.style import prefix

    return f"{time.strftime('%H:%M:%S')} {prefix(name, sys.stdout)}: {message}\n"


class _Stamped(io.StringIO):
    """A text stream whose every line is said as an event of ``name``."""

    def __init__(self, name: str, say: Say) -> None:
        super().__init__()
        self.name = name
        self.say = say
        self.pending = ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.say(self.name, line)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.say(self.name, self.pending)
            self.pending = ""


@final
class _Console:
    """The foreground ``up``'s standard output: events, and components' output after their
    names, written by a thread of its own so that the Administrator never waits for it.

    At most :data:`HELD` bytes wait to be written; what comes beyond is dropped,
    counted, and said once standard output takes text again (the log files have it all).
    """

    def __init__(self, names: Iterable[str]) -> None:
        from oservices_core._cli.logs import Prefixed

        self._show = Prefixed(0, sys.stdout)
        self._show.widen(names)
        self._queue: deque[tuple[str | None, bytes]] = deque()
        self._held = 0
        self._dropped = 0
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="oservices-up-output", daemon=True)

    def start(self) -> None:
        """Write from now on (what came before waits until then)."""
        self._thread.start()

    def event(self, name: str, message: str) -> None:
        """A lifecycle event, or a line of the stages' output."""
        self._put(None, _event_line(name, message).encode(errors="replace"))

    def output(self, name: str, records: bytes) -> None:
        """Records of a component's output (called in the Administrator's loop)."""
        self._put(name, records)

    def _put(self, name: str | None, data: bytes) -> None:
        with self._changed:
            if self._held + len(data) > HELD:
                self._dropped += len(data)
                return
            self._queue.append((name, data))
            self._held += len(data)
            self._changed.notify()

    def close(self, timeout: float) -> None:
        """Write what waits, for up to ``timeout`` seconds; then stop."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)
        else:  # never started: this thread writes what waits
            self._run()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closed:
                    self._changed.wait()
                if not self._queue:
                    return
                items, dropped = list(self._queue), self._dropped
                self._queue.clear()
                self._dropped = 0
            text = b"".join(self._text(name, data) for name, data in items)
            if dropped:
                note = (
                    f"{dropped} bytes of output were not shown: standard output did not keep "
                    "up ('oservices logs' has them all)"
                )
                text += _event_line("oservices", note).encode()
            self._write(text)
            with self._changed:
                self._held -= sum(len(data) for _, data in items)

    def _text(self, name: str | None, data: bytes) -> bytes:
        if name is None:
            return data
        from oservices_core._supervisor.logfiles import records

        self._show.widen((name,))  # a component a reload added
        return self._show.lines((b"", name, record) for record in records(data))

    def _write(self, data: bytes) -> None:
        """Write ``data`` whole; a failed write (a full disk, a closed pipe) is tried again
        while what comes meanwhile waits, within :data:`HELD`, or is dropped."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(sys.stdout.fileno(), view) :]
            except InterruptedError:
                continue
            except OSError:
                if self._closed:
                    return
                time.sleep(_RETRY)


# The detached Administrator's side ---------------------------------------------


class _Report:
    """The detached Administrator's end of the pipe to ``up -d``: one JSON line per event."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()
        self.ready: set[str] = set()
        self.total = 0
        os.set_blocking(fd, False)  # progress that does not fit is dropped: never waited for

    def stage(self, name: str) -> None:
        """Say which stage runs (``start``: the components are starting)."""
        self._send({"event": "progress", "stage": name, "ready": len(self.ready),
                    "total": self.total}, last=False)

    def events(self, say: Say, total: int) -> Say:
        """``say``, which also reports how many of the ``total`` components are ready."""
        self.total = total

        def event(name: str, message: str) -> None:
            say(name, message)
            count = len(self.ready)
            if message == "ready":
                self.ready.add(name)
            elif message.startswith(("exited", "stopping", "FATAL", "EXITED")):
                self.ready.discard(name)
            if len(self.ready) != count:
                self.stage("start")

        return event

    def write_to(self, path: Path) -> None:
        """Send this process's output to ``path`` (``up -d`` gave it none), owner-only."""
        from oservices_core._cli.style import plain
        from oservices_core._supervisor.logfiles import open_private

        plain()  # a log file: no colour, even with FORCE_COLOR
        path.parent.mkdir(parents=True, exist_ok=True)
        with open_private(path) as log:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)

    def watch(self, administrator: Administrator, addresses: list[tuple[str, str]]) -> None:
        """Report, from a thread of its own, once every component is ready or one failed."""

        def wait() -> None:
            from oservices_core._errors import AdministratorError

            try:
                administrator.wait_ready(timeout=float("inf"))
            except AdministratorError as exc:
                self.failed(str(exc), self._failures(administrator))
                return
            # Without CPU and memory: just started, they say little, and cost a /proc walk each.
            statuses = [status.as_dict() for status in administrator.status(usage=False)]
            self._send({"event": "ready", "pid": os.getpid(), "addresses": addresses,
                        "statuses": statuses})

        threading.Thread(target=wait, name="oservices-up-report", daemon=True).start()

    def _failures(self, administrator: Administrator) -> list[dict[str, Any]]:
        from oservices_core._supervisor.logfiles import log_path, tail

        found = []
        with contextlib.suppress(Exception):  # the Administrator may be gone: report what we can
            for status in administrator.status():
                if status.state in ("FATAL", "EXITED"):
                    log = log_path(administrator.settings.log_dir, status.name)
                    data, _ = tail(log, _LOG_LINES)
                    found.append({
                        "name": status.name,
                        "state": status.state,
                        "reason": status.reason,
                        "log": data.decode(errors="replace"),
                    })
        return found

    def failed(self, error: str, components: list[dict[str, Any]] | None = None) -> None:
        """Report a failure, then nothing more."""
        self._send({"event": "failed", "error": error, "components": components or []})

    def _send(self, event: dict[str, Any], *, last: bool = True) -> None:
        """Send ``event``; the last one is waited for, and closes the pipe."""
        with self.lock:
            if self.fd < 0:
                return
            if last:
                os.set_blocking(self.fd, True)
            with contextlib.suppress(OSError):  # ``up -d`` gave up waiting: nobody reads
                os.write(self.fd, json.dumps(event).encode() + b"\n")
            if last:
                os.close(self.fd)
                self.fd = -1


# The side of ``up -d`` ---------------------------------------------------------


def _detach(args: argparse.Namespace) -> int:
    """Run ``oservices up`` in a detached process; print what it reports. Reads no settings
    itself: the Administrator does, and says on the pipe where it failed, if it does."""
    read_end, write_end = os.pipe()
    argv = ["--strict"] if args.strict else []
    argv += ["up", "--report-fd", str(write_end)]
    argv += ["--system", os.path.abspath(args.system)] if args.system else []
    argv += ["--http", args.http] if args.http else []
    pid = _daemon(argv, keep=write_end)
    os.close(write_end)
    progress = _Progress() if sys.stderr.isatty() else None
    with os.fdopen(read_end, "rb") as events:
        event = _final_event(events, time.monotonic() + args.timeout, progress)
    if event is None:
        return _not_ready(args.timeout)
    if event.get("event") == "ready":
        return _ready(event)
    if event.get("event") == "failed" and event.get("components"):
        return _failed(event)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    error = event.get("error") or "no reason given"
    raise _exited(code, error)


def _final_event(
    events: Any, deadline: float, progress: _Progress | None
) -> dict[str, Any] | None:
    """The ready or failed event (``{}`` at the end of the pipe, ``None`` at the deadline);
    progress events on the way are shown on ``progress``."""
    buffer = bytearray()
    try:
        while True:
            event = _next_event(events, deadline, buffer)
            if event is None or event.get("event") != "progress":
                return event
            if progress is not None:
                progress.show(event)
    finally:
        if progress is not None:
            progress.clear()


@final
class _Progress:
    """One line of standard error (a terminal), rewritten: the stage running, then how
    many components are ready."""

    def __init__(self) -> None:
        self.shown = 0

    def show(self, event: dict[str, Any]) -> None:
        stage = str(event.get("stage"))
        if stage == "start":
            ready, total = event.get("ready"), event.get("total")
            text = f"oservices: starting: {ready}/{total} components ready"
        else:
            text = f"oservices: {stage}..."
        self._line(text)

    def clear(self) -> None:
        if self.shown:
            self._line("")
            sys.stderr.write("\r")
            sys.stderr.flush()

    def _line(self, text: str) -> None:
        # Spaces over what was longer: no escape sequence, so even TERM=dumb is right.
        sys.stderr.write("\r" + text.ljust(self.shown))
        sys.stderr.flush()
        self.shown = len(text)


def _daemon(argv: list[str], keep: int) -> int:
    """Fork a process, in a session of its own, that runs the command line ``argv``; its pid.

    A fork, not a fresh interpreter: this process has imported little more than
    the command line, which the Administrator reuses. It lets go of this
    process's standard streams (until it opens its own log) and of every
    descriptor but ``keep``.
    """
    from oservices_core._supervisor.forking import flush_streams

    flush_streams()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, keep)
        os.closerange(keep + 1, 1 << 16)
        from oservices_core._cli.app import main

        code = main(argv)
    except BaseException:  # noqa: BLE001 - reported on the pipe already, if it could be
        code = 1
    finally:
        os._exit(code)


def _next_event(events: Any, deadline: float, buffer: bytearray) -> dict[str, Any] | None:
    """The next complete event line, ``{}`` at the end of the pipe, ``None`` at the deadline;
    ``buffer`` keeps what was read beyond it, for the next call."""
    with selectors.DefaultSelector() as selector:
        selector.register(events, selectors.EVENT_READ)
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return None
            chunk = os.read(events.fileno(), 65536)
            if not chunk:
                return {}
            buffer.extend(chunk)
    end = buffer.index(b"\n")
    line = bytes(buffer[:end])
    del buffer[: end + 1]
    with contextlib.suppress(ValueError):
        found = json.loads(line)
        if isinstance(found, dict):
            return found
    return {}


def _ready(event: dict[str, Any]) -> int:
    from oservices_core._cli.running import print_table

    print(f"oservices: Administrator running, pid {event.get('pid')}; 'oservices stop' stops it")
    print_table(event.get("statuses", []))
    for service, address in event.get("addresses", []):
        print(f"{service} API at {address}")
    return 0


def _failed(event: dict[str, Any]) -> int:
    from oservices_core._cli.hints import hints

    for component in event.get("components", []):
        print(
            f"oservices: {component['name']} is {component['state']}: {component['reason']}",
            file=sys.stderr,
        )
        if component.get("log"):
            print(f"--- last lines of {component['name']}'s output ---", file=sys.stderr)
            print(component["log"].rstrip("\n"), file=sys.stderr)
        for hint in hints(component["reason"], component.get("log") or ""):
            print(f"oservices: hint: {hint}", file=sys.stderr)
    print(
        "oservices: the Administrator keeps running what did start; 'oservices stop' stops it",
        file=sys.stderr,
    )
    return 1


def _not_ready(timeout: float) -> int:
    from oservices_core._cli.running import print_statuses

    print(f"oservices: not every component is ready after {timeout:g}s", file=sys.stderr)
    print_statuses()
    return EXIT_NOT_READY


def _exited(code: int, error: str) -> Exception:
    from oservices_core._cli.hints import hints
    from oservices_core._errors import AdministratorError

    said = "".join(f"\nhint: {hint}" for hint in hints(error))
    return AdministratorError(f"the Administrator exited with {code}: {error}{said}")
