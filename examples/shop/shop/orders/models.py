"""Orders the API takes and the worker processes; heartbeats the scheduler records."""

from __future__ import annotations

from typing import Any

from django.db import models

from shop.order import MAX_ITEM, PROCESSED, QUEUED
from shop.order import Order as OrderData


class Order(models.Model):  # type: ignore[misc]  # Django ships no type information
    """One order: queued by the API, processed by the worker."""

    STATUSES = ((QUEUED, "queued"), (PROCESSED, "processed"))

    item = models.CharField(max_length=MAX_ITEM)
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=STATUSES, default=QUEUED, db_index=True)
    created = models.DateTimeField(auto_now_add=True)
    processed = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"order {self.pk}: {self.quantity} x {self.item} ({self.status})"

    def data(self) -> OrderData:
        """The order as the Client and the Mock see it."""
        return OrderData(
            id=self.pk,
            item=self.item,
            quantity=self.quantity,
            status=self.status,
            created=self.created,
            processed=self.processed,
        )

    def to_json(self) -> dict[str, Any]:
        """The order as the API writes it."""
        return self.data().to_json()


class Heartbeat(models.Model):  # type: ignore[misc]  # Django ships no type information
    """One run of the scheduler's periodic job."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    queued = models.PositiveIntegerField(help_text="Orders waiting when the job ran.")

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"heartbeat {self.pk} at {self.at:%Y-%m-%d %H:%M:%S}"
