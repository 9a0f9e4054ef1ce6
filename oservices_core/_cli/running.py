"""The running commands: ``status``, ``start``, ``stop``, ``restart`` and ``run``
(``up`` is in :mod:`oservices_core._cli.up`, ``logs`` in :mod:`oservices_core._cli.logs`).

Their parsers are in :mod:`oservices_core._cli.running_parsers`; this module loads only
when one of them runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "ADMINISTRATOR_LOG",
    "EXIT_NOT_READY",
    "print_statuses",
    "print_table",
    "restart_command",
    "run_command",
    "start_command",
    "status_command",
    "stop_command",
]

EXIT_NOT_READY = 3
_LONGEST_NAME = 200  # characters of a component name on the command line
_AT_ONCE = 16  # requests in flight for one command (the Administrator takes 64 connections)
# Not a valid component name, so no component's log can take it.
ADMINISTRATOR_LOG = "_administrator.log"


def status_command(args: argparse.Namespace) -> int:
    """Print each component's status (those named, else every one); exit 0 only when all
    of them are running and ready."""
    from oservices_core._supervisor.control import request

    names = _checked(args.names)
    statuses: list[dict[str, Any]] = request(_directory("run_dir"), "status", timeout=args.timeout)
    if names:
        _known(names, statuses)
        statuses = [s for s in statuses if s["name"] in names]
    if args.json:
        print(json.dumps(statuses, indent=2))
    else:
        print_table(statuses)
    healthy = all(s["state"] == "RUNNING" and s["ready"] for s in statuses)
    return 0 if healthy else EXIT_NOT_READY


def _checked(names: list[str]) -> list[str]:
    """Component names from the command line, each once, in order; anything else (a path,
    a newline, a name too long) is a located error before anything is sent."""
    from oservices_core._plugins.component import check_name

    for name in names:
        if len(name) > _LONGEST_NAME:
            from oservices_core._errors import ConfigurationError, Problem

            raise ConfigurationError(
                Problem(
                    "command line",
                    "component name",
                    f"at most {_LONGEST_NAME} characters",
                    f"{len(name)} characters ({name[:40]!r}...)",
                )
            )
        check_name("component", name, where="command line")
    return list(dict.fromkeys(names))


def _known(names: list[str], statuses: list[dict[str, Any]]) -> None:
    """Refuse names the running Administrator does not run, listing those it does."""
    known = [s["name"] for s in statuses]
    unknown = [name for name in names if name not in known]
    if not unknown:
        return
    import difflib

    from oservices_core._errors import ConfigurationError, Problem

    listed = ", ".join(sorted(known)) or "none"
    problems = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"did you mean {' or '.join(close)}?" if close else "see 'oservices status'"
        problems.append(
            Problem(
                "command line",
                name,
                f"a component the Administrator runs ({listed})",
                f"unknown component {name!r}",
                hint=hint,
            )
        )
    raise ConfigurationError(problems)


def _each(run_dir: Path, command: str, names: list[str], timeout: float) -> None:
    """Send ``command`` for each name, all at once once every name is known to be run.

    Each request waits up to ``timeout``; the first failure is raised once all are done.
    """
    from oservices_core._supervisor.control import DEFAULT_TIMEOUT, request

    _known(names, request(run_dir, "status", timeout=min(timeout, DEFAULT_TIMEOUT)))
    if len(names) == 1:
        request(run_dir, command, names[0], timeout=timeout)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(len(names), _AT_ONCE)) as pool:
        futures = [pool.submit(request, run_dir, command, name, timeout=timeout) for name in names]
    errors = [error for error in (f.exception() for f in futures) if error is not None]
    if errors:
        raise errors[0]


def _directory(field: str) -> Path:
    """Directory ``field`` of the active settings, without pydantic when it can.

    Until this process loads the settings, none can be active: then the quick
    reading of the same sources decides, unless it is unsure.
    """
    if "oservices_core._config.settings" not in sys.modules:
        from oservices_core._config.locations import quick_directory

        found = quick_directory(field)
        if found is not None:
            return found
    from oservices_core._config.settings import active_settings

    value: Path = getattr(active_settings(), field)
    return value


def print_statuses() -> None:
    """Print the running Administrator's status table, if it answers."""
    from oservices_core._errors import OservicesError
    from oservices_core._supervisor.control import request

    try:
        statuses: list[dict[str, Any]] = request(_directory("run_dir"), "status")
    except OservicesError:
        return
    print_table(statuses)


def print_table(statuses: list[dict[str, Any]]) -> None:
    """Print statuses (as ``status --json`` gives them) as a table."""
    rows: list[tuple[str, ...]] = [
        (
            "COMPONENT",
            "STATE",
            "READY",
            "PID",
            "PGID",
            "UPTIME",
            "RESTARTS",
            "LAST EXIT",
            "CPU%",
            "MEMORY",
            "REASON",
        )
    ]
    rows += [_row(s) for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        if index:
            cells[1] = _coloured_state(row[1], widths[1])
        print("  ".join(cells).rstrip())


def _coloured_state(text: str, width: int) -> str:
    """The STATE cell in its colour (on a terminal), padded as if plain."""
    from oservices_core._cli.style import state

    return state(text, sys.stdout) + " " * (width - len(text))


def _row(s: dict[str, Any]) -> tuple[str, ...]:
    def shown(value: Any, fmt: str = "{}") -> str:
        return "-" if value is None else fmt.format(value)

    memory = None if s["memory"] is None else f"{s['memory'] / 2**20:.1f}M"
    return (
        s["name"],
        s["state"],
        "yes" if s["ready"] else "no",
        shown(s["pid"]),
        shown(s["pgid"]),
        shown(s["uptime"], "{:.0f}s"),
        str(s["restarts"]),
        shown(s["last_exit"]),
        shown(s["cpu_percent"], "{:.1f}"),
        shown(memory),
        s["reason"],
    )


def start_command(args: argparse.Namespace) -> int:
    """Start components through the running Administrator (a running one stays as it is)."""
    names = _checked(args.names)
    _each(_directory("run_dir"), "start", names, args.timeout)
    for name in names:
        print(f"oservices: {name} start requested ('oservices status' shows when it is ready)")
    return 0


def stop_command(args: argparse.Namespace) -> int:
    """Stop components; or every component, and then the Administrator exits.

    Idempotent, as ``systemctl stop``: with no Administrator running there is
    nothing to stop, which is exit 0 with a note, and so is a stopped component.
    """
    from oservices_core._errors import NotRunningError
    from oservices_core._supervisor.control import stop_all

    names = _checked(args.names)
    run_dir = _directory("run_dir")
    try:
        if names:
            _each(run_dir, "stop", names, args.timeout)
        else:
            stop_all(run_dir, args.timeout)
    except NotRunningError:
        print(f"oservices: nothing is running for {run_dir} (no Administrator answers there)")
        return 0
    if names:
        for name in names:
            print(f"oservices: {name} stopped")
    else:
        print("oservices: every component stopped; the Administrator exited")
    return 0


def restart_command(args: argparse.Namespace) -> int:
    """Restart components through the running Administrator."""
    names = _checked(args.names)
    _each(_directory("run_dir"), "restart", names, args.timeout)
    for name in names:
        print(f"oservices: {name} restarted")
    return 0


def run_command(args: argparse.Namespace) -> int:
    """Run one component in this process: no Administrator, no signal handlers."""
    from oservices_core._config.settings import active_settings
    from oservices_core._plugins.system import load_system
    from oservices_core._supervisor.child import run_component

    system = load_system()
    if args.name not in system.components:
        from oservices_core._errors import ConfigurationError
        from oservices_core._plugins.registry import unknown_name

        raise ConfigurationError(
            unknown_name("component", args.name, system.components, "command line")
        )
    return run_component(system, args.name, active_settings())
