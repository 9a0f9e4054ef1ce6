"""The work of the worker and of the scheduler, one pass each, on the Django ORM.

Each pass is short and safe to interrupt: the worker claims an order with a
conditional update, so two workers never process the same order.
"""

from __future__ import annotations

from django.db.models import Max
from django.utils import timezone

from shop.order import PROCESSED, QUEUED
from shop.orders.models import Heartbeat, Order


def process_queued(batch: int) -> int:
    """Process up to ``batch`` queued orders, oldest first; how many this pass processed."""
    done = 0
    for order_id in Order.objects.filter(status=QUEUED).values_list("id", flat=True)[:batch]:
        claimed = Order.objects.filter(pk=order_id, status=QUEUED).update(
            status=PROCESSED, processed=timezone.now()
        )
        done += claimed
    return done


def heartbeat(keep: int) -> Heartbeat:
    """Record one run of the periodic job, and delete all but the last ``keep`` runs."""
    beat: Heartbeat = Heartbeat.objects.create(queued=Order.objects.filter(status=QUEUED).count())
    newest = Heartbeat.objects.aggregate(newest=Max("id"))["newest"]
    Heartbeat.objects.filter(id__lte=newest - keep).delete()
    return beat
