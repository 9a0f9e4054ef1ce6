"""Mocks: the Clients' public methods, with the same signatures, in memory, no process.

Tests use them through ``oservices_mock(NAME)``, which also makes
``component.Client`` give the Mock, so code that asks the component for its
Client runs without the shop running. ``oservices check mocks`` (and
``oservices_core.testing.check_mocks``) fails when one drifts from its Client.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shop.clients import api_address
from shop.order import PROCESSED, QUEUED, Order, ShopError, order_problem

if TYPE_CHECKING:
    from shop.configuration import ApiConfiguration, SchedulerConfiguration, WorkerConfiguration

__all__ = ["SchedulerMock", "ShopMock", "WorkerMock"]


class ShopMock:
    """The shop's API in memory: validates as the API does; orders stay queued.

    No worker runs behind a Mock, so an order is processed only when a test
    says so, with :meth:`_process`.
    """

    def __init__(self, configuration: ApiConfiguration) -> None:
        self.url = api_address(configuration)
        self._orders: dict[int, Order] = {}
        self._ids = itertools.count(1)

    def health(self) -> bool:
        """Always healthy."""
        return True

    def create_order(self, item: str, quantity: int) -> Order:
        """Queue a new order; :class:`ShopError` (400) as the API refuses it."""
        problem = order_problem({"item": item, "quantity": quantity})
        if problem is not None:
            raise ShopError(400, problem)
        order = Order(next(self._ids), item, quantity, QUEUED, datetime.now(UTC))
        self._orders[order.id] = order
        return order

    def get_order(self, order_id: int) -> Order:
        """One order; :class:`ShopError` (404) when there is none with that id."""
        try:
            return self._orders[int(order_id)]
        except KeyError:
            raise ShopError(404, f"no order {order_id}") from None

    def list_orders(self) -> list[Order]:
        """Every order, oldest first."""
        return sorted(self._orders.values(), key=lambda order: order.id)

    def _process(self, order_id: int) -> Order:
        """What the worker would do to one order (a test's hand on the Mock)."""
        order = replace(self.get_order(order_id), status=PROCESSED, processed=datetime.now(UTC))
        self._orders[order.id] = order
        return order


class WorkerMock:
    """An idle worker: nothing waiting, nothing processed."""

    def __init__(self, configuration: WorkerConfiguration) -> None:
        self.url = configuration.api_url

    def backlog(self) -> int:
        """Orders queued and not processed yet: none."""
        return 0

    def processed(self) -> int:
        """Orders the worker has processed: none."""
        return 0


class SchedulerMock:
    """A scheduler that has not run its job yet."""

    def __init__(self, configuration: SchedulerConfiguration) -> None:
        self.url = configuration.api_url

    def runs(self) -> int:
        """Heartbeats recorded: none."""
        return 0

    def last_run(self) -> datetime | None:
        """When the job last ran: never."""
        return None
