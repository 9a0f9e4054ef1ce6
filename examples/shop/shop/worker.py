"""The worker component's process: process queued orders, forever."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from oservices_core import notify_ready

if TYPE_CHECKING:
    from shop.configuration import WorkerConfiguration

__all__ = ["main"]

log = logging.getLogger("shop.worker")


def main(configuration: WorkerConfiguration) -> None:
    """Report ready, then process the queue; sleep only when a pass found it empty."""
    from shop.orders.jobs import process_queued

    notify_ready()
    log.info("processing orders every %ss when idle", configuration.poll_interval)
    while True:
        done = process_queued(configuration.batch)
        if done:
            log.info("processed %d order(s)", done)
        if done < configuration.batch:
            time.sleep(configuration.poll_interval)
