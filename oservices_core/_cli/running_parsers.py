"""The parsers of the running commands (``up``, ``status``, ``start``, ``stop``,
``restart``, ``logs``, ``ui``, ``run``).

``oservices --help`` builds every parser, so this module imports only
argparse; the commands themselves are in :mod:`oservices_core._cli.running`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs --help a noticeable part
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

__all__ = ["add_parsers"]


def add_parsers(commands: Any) -> None:
    """Add the running commands to the ``oservices`` parser."""
    from oservices_core._cli.options import add_system

    up = commands.add_parser(
        "up", help="build and initialize what is not up to date, then run the system"
    )
    add_system(up)
    up.add_argument(
        "system_positional",
        nargs="?",
        metavar="SYSTEM_FILE",
        help="the same as --system FILE (kept for compatibility; prefer --system)",
    )
    up.add_argument("-d", "--detach", action="store_true", help="run in the background")
    up.add_argument(
        "--http",
        metavar="HOST:PORT",
        help="serve metrics, status, events and a status page over HTTP there (the setting "
        "admin_http; port 0: a free one); control actions need the token 'oservices ui' prints",
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=120,
        metavar="S",
        help="with -d: seconds to wait for every component to be ready (default: 120)",
    )
    # The pipe of ``up -d`` to the detached Administrator it starts: not for users.
    import argparse  # loaded already: the parser is built with it

    # argparse compares help with its SUPPRESS by identity: an equal string is shown.
    up.add_argument("--report-fd", type=int, default=None, help=argparse.SUPPRESS)
    up.set_defaults(handler=_lazy("up_command", "up"))
    status = commands.add_parser("status", help="each component's state (exit 0: all ready)")
    status.add_argument(
        "names", nargs="*", metavar="NAME", help="only these components (default: every one)"
    )
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    _timeout(status, 10, "seconds to wait for the Administrator's answer")
    status.set_defaults(handler=_lazy("status_command"))
    start = commands.add_parser("start", help="start stopped components (no-op for running ones)")
    start.add_argument("names", nargs="+", metavar="NAME", help="the components")
    _timeout(start, 10, "seconds to wait until each start is requested")
    start.set_defaults(handler=_lazy("start_command"))
    stop = commands.add_parser(
        "stop", help="stop components, or everything (exit 0 when nothing runs)"
    )
    stop.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="the components (default: every component, then the Administrator exits)",
    )
    _timeout(stop, 120, "seconds to wait until stopped (all: until the Administrator exits)")
    stop.set_defaults(handler=_lazy("stop_command"))
    restart = commands.add_parser("restart", help="stop components if they run, then start them")
    restart.add_argument("names", nargs="+", metavar="NAME", help="the components")
    _timeout(restart, 120, "seconds to wait until they are stopped and their starts under way")
    restart.set_defaults(handler=_lazy("restart_command"))
    logs = commands.add_parser("logs", help="print a component's output (LOG_DIR/NAME.log)")
    logs.add_argument("name", metavar="NAME", help="the component")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new output")
    logs.add_argument(
        "-n", "--lines", type=int, default=-1, metavar="N", help="only the last N lines"
    )
    logs.set_defaults(handler=_lazy("logs_command"))
    ui = commands.add_parser(
        "ui", help="print the URL of the running Administrator's status page, with its token"
    )
    ui.set_defaults(handler=_lazy("ui_command", "ui"))
    run = commands.add_parser("run", help="run one component in this process (no supervision)")
    run.add_argument("name", metavar="NAME", help="the component")
    add_system(run, "the system file whose values apply")
    run.set_defaults(handler=_lazy("run_command"))


def _timeout(parser: argparse.ArgumentParser, default: float, text: str) -> None:
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=default,
        metavar="S",
        help=f"{text} (default: {default:g})",
    )


def _seconds(text: str) -> float:
    """A positive, finite number of seconds; otherwise argparse's error, exit 2."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 1e9:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, found {text!r}")
    return value


def _lazy(name: str, module: str = "running") -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        import importlib

        commands = importlib.import_module(f"oservices_core._cli.{module}")
        run: Callable[[argparse.Namespace], int] = getattr(commands, name)
        return run(args)

    return handler
