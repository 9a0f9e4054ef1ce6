"""The scheduler component's process: run the periodic job every ``interval`` seconds."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from oservices_core import notify_ready

if TYPE_CHECKING:
    from shop.configuration import SchedulerConfiguration

__all__ = ["main"]

log = logging.getLogger("shop.scheduler")


def main(configuration: SchedulerConfiguration) -> None:
    """Report ready, then run the job at a steady pace (a slow run does not shift the next)."""
    from shop.orders.jobs import heartbeat

    notify_ready()
    log.info("running the job every %ss", configuration.interval)
    next_run = time.monotonic()
    while True:
        beat = heartbeat(configuration.keep)
        log.info("heartbeat %d: %d order(s) queued", beat.pk, beat.queued)
        next_run += configuration.interval
        time.sleep(max(0.0, next_run - time.monotonic()))
