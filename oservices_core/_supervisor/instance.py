"""One component under the Administrator: its state, and how it reports it."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, final

if TYPE_CHECKING:
    from oservices_core._plugins.component import Component
    from oservices_core._supervisor.logfiles import RotatingLog

__all__ = ["USAGE_SECONDS", "ComponentStatus", "Instance", "State", "describe_exit"]

State = Literal[
    "STOPPED", "WAITING", "STARTING", "RUNNING", "STOPPING", "BACKOFF", "EXITED", "FATAL"
]
TERMINAL = frozenset({"STOPPED", "EXITED", "FATAL"})
USAGE_SECONDS = 1.0  # CPU and memory figures are read again when older than this


@final
@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """What ``oservices status`` shows of one component.

    ``state`` is one of STOPPED, WAITING (for its dependencies), STARTING,
    RUNNING, STOPPING, BACKOFF (waiting to restart), EXITED (and not to be
    restarted) or FATAL (gave up after too many failures; ``reason`` says why).
    ``last_exit`` is the last exit status, negative for a signal.
    ``cpu_percent`` is the CPU its processes used over their lifetime, as a
    percentage of one core; ``memory`` their resident memory in bytes.
    """

    name: str
    state: State
    ready: bool
    pid: int | None
    pgid: int | None
    uptime: float | None
    restarts: int
    last_exit: int | None
    reason: str
    cpu_percent: float | None
    memory: int | None
    log_errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return asdict(self)

    @property
    def healthy(self) -> bool:
        """Running and ready."""
        return self.state == "RUNNING" and self.ready


@final
class Instance:
    """The Administrator's record of one component; touched only in its loop thread."""

    def __init__(self, component: Component) -> None:
        self.component = component
        self.name = component.name
        self.state: State = "STOPPED"
        self.wanted = False
        self.ready = False
        self.pid: int | None = None
        self.pgid: int | None = None
        self.spawn_id = 0
        self.started = 0.0
        self.restarts = 0
        self.failures: deque[float] = deque()
        self.quick = 0  # exits in a row that came before the run was stable
        self.address: tuple[str, int] | None = None  # where a "tcp" readiness probe connects
        self.last_exit: int | None = None
        self.failed_start = False  # its last run ended before it was ready
        self.reason = ""
        self.timer: int | None = None  # the one pending timer: start, stop, backoff or probe
        self.log: RotatingLog | None = None
        self.fingerprint = ""
        self.waiters: list[Any] = []  # futures resolved when it next reaches a terminal state
        self._usage: tuple[Any, ...] = (0.0, None, None, None, None)  # when, pid, figures

    def status(self, *, usage: bool = True) -> ComponentStatus:
        """Its status now, with CPU and memory read from the kernel at most once a second
        (``usage=False``: without them)."""
        cpu, memory = self.usage() if usage else (None, None)
        return ComponentStatus(
            name=self.name,
            state=self.state,
            ready=self.ready,
            pid=self.pid,
            pgid=self.pgid if self.pid else None,
            uptime=round(time.monotonic() - self.started, 3) if self.pid else None,
            restarts=self.restarts,
            last_exit=self.last_exit,
            reason=self.reason,
            cpu_percent=cpu,
            memory=memory,
            log_errors=self.log.errors if self.log is not None else 0,
        )

    def usage(self) -> tuple[float | None, int | None]:
        """CPU percent and resident bytes of its process tree, read again when
        :data:`USAGE_SECONDS` old or the process changed; (None, None) without one."""
        cpu, memory, _ = self.figures()
        return cpu, memory

    def figures(self) -> tuple[float | None, int | None, float | None]:
        """As :meth:`usage`, and the CPU seconds its process tree used (for metrics)."""
        if not self.pid:
            return None, None, None
        now = time.monotonic()
        when, pid, *figures = self._usage
        if pid != self.pid or now - when >= USAGE_SECONDS:
            figures = list(_usage(self.pid))
            self._usage = (now, self.pid, *figures)
        cpu, memory, seconds = figures
        return cpu, memory, seconds


def describe_exit(returncode: int) -> str:
    """``exit code 1`` or ``signal SIGKILL``."""
    if returncode >= 0:
        return f"exit code {returncode}"
    import signal

    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


def _usage(pid: int) -> tuple[float | None, int | None, float | None]:
    """CPU percent, memory and CPU seconds of ``pid`` and its descendants, found from it
    (no scan of ``/proc``)."""
    import psutil

    from oservices_core._supervisor.procutil import process_tree

    try:
        leader = psutil.Process(pid)
        born = leader.create_time()
    except (psutil.Error, OSError):  # gone, or no descriptor left to read /proc with
        return None, None, None
    seconds = 0.0
    memory = 0
    for member in process_tree(pid):
        with contextlib.suppress(psutil.Error, OSError):
            process = leader if member == pid else psutil.Process(member)
            with process.oneshot():
                times = process.cpu_times()
                seconds += times.user + times.system
                memory += process.memory_info().rss
    lifetime = max(time.time() - born, 1e-3)
    return round(100 * seconds / lifetime, 2), memory, seconds
