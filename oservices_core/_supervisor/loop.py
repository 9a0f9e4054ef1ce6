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
        self._watch(self.wake_r, selectors.EVENT_READ, self._drain)
        self.closed = False
        self.thread: threading.Thread | None = None

    def add_reader(self, fd: Any, handler: Handler) -> None:
        """Call ``handler`` whenever ``fd`` is readable."""
        self._watch(fd, selectors.EVENT_READ, handler)

    def remove_reader(self, fd: Any) -> None:
        """Stop watching ``fd``, for reading and for writing: a reader's end is its end."""
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(fd)

    def add_writer(self, fd: Any, handler: Handler) -> None:
        """Call ``handler`` whenever ``fd`` is writable, until :meth:`remove_writer`."""
        self._watch(fd, selectors.EVENT_WRITE, handler)

    def remove_writer(self, fd: Any) -> None:
        """Stop watching ``fd`` for writing; its reader, if any, stays."""
        try:
            key = self.selector.get_key(fd)
        except (KeyError, ValueError):
            return
        handlers = dict(key.data)
        handlers.pop(selectors.EVENT_WRITE, None)
        self._register(fd, handlers)

    def _watch(self, fd: Any, event: int, handler: Handler) -> None:
        try:
            handlers = dict(self.selector.get_key(fd).data)
        except KeyError:
            handlers = {}
        handlers[event] = handler
        self._register(fd, handlers)

    def _register(self, fd: Any, handlers: dict[int, Handler]) -> None:
        events = 0
        for event in handlers:
            events |= event
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(fd)
        if events:
            self.selector.register(fd, events, handlers)

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

    def run_once(self, timeout: float | None = None) -> int:
        """Wait for the next event or timer (at most ``timeout``), and handle what is due.

        Returns how many descriptors were ready.
        """
        wait = self._timeout()
        if timeout is not None:
            wait = timeout if wait is None else min(wait, timeout)
        ready = self.selector.select(wait)
        for key, events in ready:
            for event, handler in list(key.data.items()):
                # A handler may close the descriptor another one of its events would use.
                if events & event and key.fd in self.selector.get_map():
                    handler()
        self._run_timers()
        return len(ready)

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
