"""Code that uses the shop from outside: it asks the ``shop-api`` component for its Client.

In a test, ``oservices_mock("shop-api")`` makes that Client the Mock, so this
code runs with no shop running.
"""

from __future__ import annotations

from collections.abc import Mapping

from shop.clients import ShopApi
from shop.components import api
from shop.order import Order

__all__ = ["place_orders"]


def place_orders(lines: Mapping[str, int], client: ShopApi | None = None) -> list[Order]:
    """Queue one order per item and quantity; by default through the API's own Client."""
    if client is None:
        client = api.Client(api.CONF)
    return [client.create_order(item, quantity) for item, quantity in lines.items()]
