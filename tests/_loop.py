"""A server on a loop of the Administrator's kind, run in a thread of its own for a test."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

from oservices_core._supervisor.loop import Loop


@contextlib.contextmanager
def looping(loop: Loop, close: Callable[[], None]) -> Iterator[None]:
    """Run ``loop`` in a thread until the block ends; then ``close`` (in the loop) and stop."""
    done = threading.Event()

    def run() -> None:
        while not done.is_set():
            loop.run_once()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:

        def finish() -> None:
            done.set()
            close()

        loop.submit(finish).result(10)
        thread.join(10)
        loop.close()
