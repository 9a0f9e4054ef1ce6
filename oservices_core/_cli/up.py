"""``oservices up``: build, then run the Administrator in the foreground or in the background.

In the background (``up -d``), this process starts ``oservices up`` again,
detached, with a pipe: the detached Administrator writes JSON lines on it, one
event per line, and this process prints what they say and returns as soon as
the last one arrives, without polling and without loading the plugins itself:

- ``{"event": "ready", "pid", "addresses": [[service, url], ...]}``: every component is ready;
- ``{"event": "failed", "error", "components": [{"name", "state", "reason", "log"}, ...]}``:
  a component went FATAL or EXITED (``log``: its last lines), or the Administrator stopped.

An end of the pipe with no such line means the Administrator exited: its own
log, ``LOG_DIR/_administrator.log``, says why, and its last lines are printed.
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from oservices_core._plugins.system import System
    from oservices_core._supervisor.administrator import Administrator

from oservices_core._cli.running import ADMINISTRATOR_LOG, EXIT_NOT_READY

__all__ = ["api_addresses", "up_command"]

_LOG_LINES = 10


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
    # This process holds nothing of its own that a component must not inherit.
    administrator = Administrator(
        system, settings=settings, on_event=_print_event, template="fork"
    )
    administrator.preload()  # takes the run directory; the template loads while we build
    if administrator.http_url is not None:
        _print_event(
            "oservices",
            f"status page, metrics and events at {administrator.http_url} "
            "('oservices ui' prints it with the token)",
        )
    _prepare(system)
    addresses = api_addresses(system)
    for service, address in addresses:
        _print_event("oservices", f"{service} API at {address}")
    if report is not None:
        report.watch(administrator, addresses)
    code = administrator.run()
    if report is not None:  # not reported yet: it ended before every component was ready
        report.failed("the Administrator stopped before every component was ready")
    return code


def _described(exc: BaseException) -> str:
    from oservices_core._errors import OservicesError

    return str(exc) if isinstance(exc, OservicesError) else f"{type(exc).__name__}: {exc}"


def _prepare(system: System) -> None:
    from oservices_core._workflow.run import run_workflow

    out = _Stamped("oservices")  # what the stages' plugins report, as lines of this output
    for stages in (("build",), ("init",)):
        _, reports = run_workflow(system, stages, out=out)
        out.flush()
        for report in reports:
            state = "up to date" if report.up_to_date else f"{len(report.artifacts)} files"
            _print_event("oservices", f"{report.name}: {state}")


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
    from oservices_core._cli.style import prefix

    stamp = time.strftime("%H:%M:%S")
    print(f"{stamp} {prefix(name, sys.stdout)}: {message}", flush=True)


class _Stamped(io.StringIO):
    """A text stream whose every line is printed as an event of ``name``."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.pending = ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            _print_event(self.name, line)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            _print_event(self.name, self.pending)
            self.pending = ""


# The detached Administrator's side ---------------------------------------------


class _Report:
    """The detached Administrator's end of the pipe to ``up -d``: one JSON line per event."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

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

    def _send(self, event: dict[str, Any]) -> None:
        with self.lock:
            if self.fd < 0:
                return
            with contextlib.suppress(OSError):  # ``up -d`` gave up waiting: nobody reads
                os.write(self.fd, json.dumps(event).encode() + b"\n")
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
    with os.fdopen(read_end, "rb") as events:
        event = _next_event(events, time.monotonic() + args.timeout)
    if event is None:
        return _not_ready(args.timeout)
    if event.get("event") == "ready":
        return _ready(event)
    if event.get("event") == "failed" and event.get("components"):
        return _failed(event)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    error = event.get("error") or "no reason given"
    raise _exited(code, error)


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


def _next_event(events: Any, deadline: float) -> dict[str, Any] | None:
    """The first complete event line, ``{}`` at the end of the pipe, ``None`` at the deadline."""
    buffer = bytearray()
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
    with contextlib.suppress(ValueError):
        found = json.loads(bytes(buffer).split(b"\n", 1)[0])
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
    for component in event.get("components", []):
        print(
            f"oservices: {component['name']} is {component['state']}: {component['reason']}",
            file=sys.stderr,
        )
        if component.get("log"):
            print(f"--- last lines of {component['name']}'s output ---", file=sys.stderr)
            print(component["log"].rstrip("\n"), file=sys.stderr)
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
    from oservices_core._errors import AdministratorError

    return AdministratorError(f"the Administrator exited with {code}: {error}")
