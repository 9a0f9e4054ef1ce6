"""Clients: how other code talks to the running shop, over HTTP (urllib, no dependency).

Each is built from its component's resolved configuration, as oservices
builds it (``component.Client(configuration)``). Its Mock, in
:mod:`shop.mocks`, has the same public methods and runs no process.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shop.order import PROCESSED, QUEUED, Order, ShopError

if TYPE_CHECKING:
    from shop.configuration import ApiConfiguration, SchedulerConfiguration, WorkerConfiguration

__all__ = ["SchedulerClient", "ShopApi", "ShopClient", "WorkerClient", "api_address"]


def api_address(configuration: ApiConfiguration) -> str:
    """The API's URL: ``http://HOST:PORT`` (a wildcard address is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(  # noqa: S104 - compared, not bound
        configuration.host, configuration.host
    )
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{configuration.port}"


class _Http:
    """JSON over HTTP to one base URL; an error answer becomes a :class:`ShopError`."""

    def __init__(self, url: str, timeout: float) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, found {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url + path, data=data, method=method, headers={"Accept": "application/json"}
        )
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise ShopError(exc.code, _reason(exc)) from None

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.call("GET", "/api/stats")
        return stats


def _reason(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read())["error"])
    except (ValueError, KeyError, TypeError, OSError):
        return str(error.reason)


class ShopApi(Protocol):
    """What code that uses the shop needs: :class:`ShopClient` and ``ShopMock`` both are."""

    def health(self) -> bool: ...
    def create_order(self, item: str, quantity: int) -> Order: ...
    def get_order(self, order_id: int) -> Order: ...
    def list_orders(self) -> list[Order]: ...


class ShopClient:
    """The shop's public API: health, and orders."""

    def __init__(self, configuration: ApiConfiguration) -> None:
        self.url = api_address(configuration)
        self._http = _Http(self.url, configuration.timeout)

    def health(self) -> bool:
        """Whether the API answers and can read its database."""
        try:
            answer = self._http.call("GET", "/api/health")
        except (ShopError, OSError, ValueError):
            return False
        return bool(answer.get("status") == "ok")

    def create_order(self, item: str, quantity: int) -> Order:
        """Queue a new order; :class:`ShopError` (400) when the API refuses it."""
        return Order.from_json(
            self._http.call("POST", "/api/orders", {"item": item, "quantity": quantity})
        )

    def get_order(self, order_id: int) -> Order:
        """One order; :class:`ShopError` (404) when there is none with that id."""
        return Order.from_json(self._http.call("GET", f"/api/orders/{int(order_id)}"))

    def list_orders(self) -> list[Order]:
        """Every order, oldest first."""
        return [Order.from_json(o) for o in self._http.call("GET", "/api/orders")["orders"]]


class WorkerClient:
    """The worker's figures, read through the API (the worker itself serves nothing)."""

    def __init__(self, configuration: WorkerConfiguration) -> None:
        self.url = configuration.api_url
        self._http = _Http(self.url, configuration.timeout)

    def backlog(self) -> int:
        """Orders queued and not processed yet."""
        return int(self._http.stats()["orders"][QUEUED])

    def processed(self) -> int:
        """Orders the worker has processed."""
        return int(self._http.stats()["orders"][PROCESSED])


class SchedulerClient:
    """The scheduler's figures, read through the API (the scheduler itself serves nothing)."""

    def __init__(self, configuration: SchedulerConfiguration) -> None:
        self.url = configuration.api_url
        self._http = _Http(self.url, configuration.timeout)

    def runs(self) -> int:
        """Heartbeats recorded and kept (at most the scheduler's ``keep``)."""
        return int(self._http.stats()["heartbeats"])

    def last_run(self) -> datetime | None:
        """When the periodic job last ran; None before its first run."""
        last = self._http.stats()["last_heartbeat"]
        return None if last is None else datetime.fromisoformat(last)
