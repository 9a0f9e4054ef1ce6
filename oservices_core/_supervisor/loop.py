"""A small single-threaded event loop: file descriptors, timers, calls from other threads.

The Administrator's state lives in one thread; everything else talks to it
through :meth:`Loop.submit`. It sleeps in ``select`` with no timeout when no
timer is due, so an idle Administrator costs no CPU.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import selectors
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar, final

__all__ = ["Loop"]

T = TypeVar("T")
Handler = Callable[[], None]


@final
class Loop:
    """Readers, timers and submitted calls, run one at a time."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, Handler]] = []
        self._cancelled: set[int] = set()
        self._count = itertools.count()
        self._calls: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.selector.register(self.wake_r, selectors.EVENT_READ, self._drain)
        self.closed = False
        self.thread: threading.Thread | None = None

    def add_reader(self, fd: Any, handler: Handler) -> None:
        """Call ``handler`` whenever ``fd`` is readable."""
        self.selector.register(fd, selectors.EVENT_READ, handler)

    def add_writer(self, fd: Any, handler: Handler) -> None:
        """Call ``handler`` whenever ``fd`` is writable (a descriptor is watched one way)."""
        self.selector.register(fd, selectors.EVENT_WRITE, handler)

    def remove_reader(self, fd: Any) -> None:
        """Stop watching ``fd``, for reading or for writing."""
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(fd)

    def call_later(self, delay: float, handler: Handler) -> int:
        """Call ``handler`` after ``delay`` seconds; a handle for :meth:`cancel`."""
        handle = next(self._count)
        heapq.heappush(self._timers, (_now() + max(delay, 0.0), handle, handler))
        return handle

    def cancel(self, handle: int | None) -> None:
        """Forget a timer (nothing if it already ran)."""
        if handle is not None:
            self._cancelled.add(handle)

    def submit(self, call: Callable[[], T]) -> Future[T]:
        """Run ``call`` in the loop's thread; its result as a future."""
        future: Future[T] = Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    future.set_exception(exc)

        with self._lock:
            self._calls.append(run)
        self.wake()
        return future

    def wake(self) -> None:
        """Interrupt ``select`` (safe from any thread and from signal handlers)."""
        if self.closed:  # its descriptor number may belong to another file by now
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self.wake_w, b"\0")

    def run_once(self) -> None:
        """Wait for the next event or timer, and handle what is due."""
        for key, _ in self.selector.select(self._timeout()):
            key.data()
        self._run_timers()

    def close(self) -> None:
        """Release the selector and the wake-up pipe."""
        self.closed = True
        self.selector.close()
        os.close(self.wake_r)
        os.close(self.wake_w)

    def _timeout(self) -> float | None:
        while self._timers and self._timers[0][1] in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._timers)[1])
        if not self._timers:
            return None
        return max(self._timers[0][0] - _now(), 0.0)

    def _run_timers(self) -> None:
        now = _now()
        while self._timers and self._timers[0][0] <= now:
            _, handle, handler = heapq.heappop(self._timers)
            if handle in self._cancelled:
                self._cancelled.discard(handle)
            else:
                handler()

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_r, 4096):
                pass
        with self._lock:
            calls, self._calls = self._calls, []
        for call in calls:
            call()


def _now() -> float:
    import time

    return time.monotonic()
