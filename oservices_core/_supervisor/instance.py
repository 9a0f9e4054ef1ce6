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

__all__ = ["ComponentStatus", "Instance", "State", "describe_exit"]

State = Literal[
    "STOPPED", "WAITING", "STARTING", "RUNNING", "STOPPING", "BACKOFF", "EXITED", "FATAL"
]
TERMINAL = frozenset({"STOPPED", "EXITED", "FATAL"})


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

    def status(self) -> ComponentStatus:
        """Its status now, with CPU and memory read from the kernel."""
        cpu, memory = _usage(self.pid) if self.pid else (None, None)
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


def describe_exit(returncode: int) -> str:
    """``exit code 1`` or ``signal SIGKILL``."""
    if returncode >= 0:
        return f"exit code {returncode}"
    import signal

    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


def _usage(pid: int) -> tuple[float | None, int | None]:
    import psutil

    try:
        leader = psutil.Process(pid)
        processes = [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return None, None
    seconds = 0.0
    memory = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            seconds += times.user + times.system
            memory += process.memory_info().rss
    lifetime = max(time.time() - leader.create_time(), 1e-3)
    return round(100 * seconds / lifetime, 2), memory
