"""What the testing toolkit (:mod:`oservices_core.testing`) does behind its fixtures.

Free port blocks for systems under test (and the fixed ports moved into them),
the record of each system started (for the logs attached to failing tests), the
components a test runs when it names none, and the message of a system that did
not become ready. Imported
only when a fixture runs: pytest loads :mod:`oservices_core.testing` at every
start, and that module imports nothing but pytest.
"""

from __future__ import annotations

import os
import re
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from collections.abc import Sequence

    from oservices_core._config.settings import Settings
    from oservices_core._plugins.manager import PluginManager
    from oservices_core._plugins.system import System
    from oservices_core._supervisor.administrator import Administrator

__all__ = [
    "BLOCK",
    "LOG_LINES",
    "PortLease",
    "Started",
    "default_components",
    "lease_ports",
    "moved_ports",
    "not_ready",
]

BLOCK = 20  # ports reserved for one system: base_port .. base_port + BLOCK - 1
LOG_LINES = 40  # lines of each component's log in a failing test's report
_MESSAGE_LINES = 15  # in the message of a system that was not ready, above those
_EVENTS = 200  # the Administrator's last events kept for a failure


# Ports ----------------------------------------------------------------------


@final
class PortLease:
    """A block of ports held for one system, across processes, until :meth:`release`.

    The hold is an exclusive ``flock`` on a file named after the block's first
    port: pytest-xdist workers and other test runs on the machine skip a held
    block, and a dead process's hold ends with it.
    """

    __slots__ = ("base", "fd")

    def __init__(self, base: int, fd: int) -> None:
        self.base = base
        self.fd: int | None = fd

    def release(self) -> None:
        """Let another system have the block."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def lease_ports(start: int) -> PortLease:
    """A block of :data:`BLOCK` ports, each free now, held by no other test process.

    Blocks lie below the kernel's ephemeral range, where no outgoing connection
    takes a port; the search begins at block number ``start`` (modulo their count).
    """
    import fcntl
    import tempfile

    low, high = _port_range()
    count = (high - low) // BLOCK
    locks = Path(tempfile.gettempdir()) / f"oservices-test-ports-{os.getuid()}"
    locks.mkdir(mode=0o700, exist_ok=True)
    for step in range(count):
        base = low + (start + step) % count * BLOCK
        fd = os.open(locks / f"{base}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if all(_free(port) for port in range(base, base + BLOCK)):
            return PortLease(base, fd)
        os.close(fd)
    raise RuntimeError(f"no block of {BLOCK} free ports between {low} and {high}")


def _port_range() -> tuple[int, int]:
    """Where blocks lie: up to 640 blocks below the first port the kernel hands out to
    outgoing connections (32768 by default; when it hands out nearly every port, below
    32768 all the same: the probe of each port then matters more)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii")
        high = int(text.split()[0])
    except (OSError, ValueError, IndexError):
        high = 32768
    if high - 1024 < 64 * BLOCK or high > 65536:
        high = 32768
    return max(1024, high - 640 * BLOCK), high


def _free(port: int) -> bool:
    """Whether nothing holds ``port`` on any address (a bind without SO_REUSEADDR says so)."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - a probe, closed at once
        except OSError:
            return False
    return True


def moved_ports(system: System, settings: Settings) -> dict[str, str]:
    """Variables that move to the block the ports only a declaration's default sets.

    Such a port is the same in every test, so two tests at once (pytest-xdist)
    would fight over it. Each one, from the block's top down (ports derived from
    ``base_port`` count up from its bottom), becomes ``OSERVICES_NAME__FIELD``; a
    port set anywhere else (settings, a file, the environment) stays.
    """
    from oservices_core._config.configuration import env_prefix
    from oservices_core._plugins.policy import port_field

    resolver = system.resolver(settings)
    found: dict[str, str] = {}
    for name, component in system.components.items():
        cls, field = component.configuration, port_field(component.ready)
        if cls is None or field is None or field not in cls.model_fields:
            continue
        if resolver.resolve(cls, name).winner((field,)).kind != "default":
            continue
        if len(found) == BLOCK // 2:
            break  # the lower half is for ports derived from base_port
        found[env_prefix(name) + field.upper()] = str(settings.base_port + BLOCK - 1 - len(found))
    return found


# Systems started ------------------------------------------------------------


@final
class Started:
    """A system a fixture started: its components, its logs and the Administrator's events."""

    __slots__ = ("administrator", "events", "fixture", "home", "log_dir", "names")

    def __init__(self, fixture: str, settings: Settings, names: Sequence[str]) -> None:
        self.fixture = fixture
        self.home = settings.home
        self.log_dir = settings.log_dir
        self.names = list(names)
        self.events: deque[str] = deque(maxlen=_EVENTS)
        self.administrator: Administrator | None = None

    def record(self, name: str, message: str) -> None:
        """The Administrator's ``on_event``."""
        self.events.append(f"{name}: {message}")

    def sections(self) -> list[tuple[str, str]]:
        """Report sections: the last lines of each component's log, then the events."""
        found = [(f"oservices: {n} log", log_tail(self.log_dir, n)) for n in self.names]
        found = [(title, text) for title, text in found if text]
        if self.events:
            found.append(("oservices: events", "\n".join(self.events) + "\n"))
        return found


def log_path(log_dir: Path, name: str) -> Path:
    """Where a component's output goes (the Administrator's one rule)."""
    from oservices_core._supervisor.logfiles import log_path

    return log_path(log_dir, name)


def log_tail(log_dir: Path, name: str, lines: int = LOG_LINES) -> str:
    """The last lines of a component's log, as text."""
    from oservices_core._supervisor.logfiles import tail

    data, _ = tail(log_path(log_dir, name), lines)
    return data.decode("utf-8", errors="replace")


def not_ready(started: Started, timeout: float, *, kept: bool) -> str:
    """Why a system did not become ready: each component that is not, its state, its
    reason and the last lines of its log (named when its home is ``kept``)."""
    administrator = started.administrator
    statuses = administrator.status(usage=False) if administrator is not None else []
    ended = any(status.state in ("FATAL", "EXITED") for status in statuses)
    lines = [
        "oservices: a component ended before the system was ready"
        if ended
        else f"oservices: the system was not ready after {timeout:g}s"
    ]
    for status in statuses:
        if status.healthy:
            continue
        reason = f": {status.reason}" if status.reason else ""
        lines.append(f"  {status.name} is {status.state}{reason}")
        text = log_tail(started.log_dir, status.name, _MESSAGE_LINES)
        where = f" ({log_path(started.log_dir, status.name)})" if kept else ""
        if text:
            lines.append(f"    last lines of its log{where}:")
            lines += [f"    | {line}" for line in text.splitlines()]
        else:
            lines.append(f"    its log{where} is empty")
    return "\n".join(lines)


# Which components ----------------------------------------------------------


def default_components(pm: PluginManager, path: Path) -> list[str]:
    """The components of the distribution the test at ``path`` belongs to.

    That distribution is the ``[project] name`` of the nearest ``pyproject.toml``
    at or above ``path``. A :class:`LookupError` says why none can be chosen.
    """
    from oservices_core._plugins.component import Component

    found = _project_of(path)
    if found is None:
        raise LookupError(f"no pyproject.toml with a [project] name at or above {path}")
    project, pyproject = found
    chosen, installed = [], []
    for plugin_name, plugin in pm.list_name_plugin():
        outcome = pm.outcome(plugin_name)
        if not isinstance(plugin, Component) or outcome is None:
            continue
        installed.append(f"{plugin.name} ({outcome.distribution})")
        if _canonical(outcome.distribution) == _canonical(project):
            chosen.append(plugin.name)
    if not chosen:
        listed = ", ".join(installed) or "none"
        raise LookupError(
            f"distribution {project!r} ({pyproject}) has no installed component "
            f"(installed: {listed})"
        )
    return chosen


def _project_of(path: Path) -> tuple[str, Path] | None:
    import tomllib

    for folder in [path, *path.parents] if path.is_dir() else path.parents:
        pyproject = folder / "pyproject.toml"
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        project = data.get("project")
        name = project.get("name") if isinstance(project, dict) else None
        if isinstance(name, str) and name:
            return name, pyproject
    return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
