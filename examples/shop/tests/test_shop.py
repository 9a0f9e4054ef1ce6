"""The shop, tested with the oservices testing toolkit (the ``oservices_*`` fixtures).

- the real system: gunicorn, Django, the worker and the scheduler in their own
  processes under an Administrator, in a temporary home;
- the Mock: code that asks ``shop-api`` for its Client gets the Mock, and no
  process runs;
- the Mocks still offer their Clients' interface.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psutil
import pytest
from shop import ShopClient, ShopError, ShopMock, api, scheduler, worker
from shop.tools import place_orders

from oservices_core.testing import check_mocks

if TYPE_CHECKING:
    from oservices_core.testing import Running

SHOP = ["shop-api", "shop-worker", "shop-scheduler"]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``condition`` until it gives something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return result


def test_an_order_is_queued_by_the_api_and_processed_by_the_worker(
    oservices_up: Callable[..., Running],
) -> None:
    shop = oservices_up(SHOP)
    client = shop.client("shop-api")
    assert isinstance(client, ShopClient)
    assert client.url == f"http://127.0.0.1:{shop.settings.base_port}"
    assert client.health()

    order = client.create_order("apple", 3)
    assert (order.item, order.quantity, order.status) == ("apple", 3, "queued")
    done = wait_for(
        lambda: (found := client.get_order(order.id)).status == "processed" and found,
        "the worker to process the order",
    )
    assert done.processed is not None
    assert done.processed >= order.created
    assert client.list_orders() == [done]
    assert shop.client("shop-worker").backlog() == 0
    assert shop.client("shop-worker").processed() == 1

    with pytest.raises(ShopError, match="'quantity' must be between 1 and 1000") as refused:
        client.create_order("apple", 0)
    assert refused.value.status == 400
    with pytest.raises(ShopError, match=f"no order {order.id + 1}") as missing:
        client.get_order(order.id + 1)
    assert missing.value.status == 404

    scheduler_client = shop.client("shop-scheduler")
    wait_for(scheduler_client.runs, "the scheduler's first run")
    assert scheduler_client.last_run() is not None

    # gunicorn's workers are the API component's children, in its process group.
    (api_status,) = [s for s in shop.status() if s.name == "shop-api"]
    assert api_status.pid is not None
    workers = psutil.Process(api_status.pid).children()
    assert len(workers) == shop.configuration("shop-api").workers
    assert {os.getpgid(w.pid) for w in workers} == {api_status.pgid}


def test_code_asking_for_the_client_gets_the_mock(oservices_mock: Callable[[str], Any]) -> None:
    mock = oservices_mock("shop-api")
    assert isinstance(mock, ShopMock)
    assert issubclass(api.Client, ShopMock)
    assert api.Client(api.CONF) is mock  # type: ignore[arg-type]  # CONF is typed as the base class

    first = place_orders({"pear": 1})  # no process runs: the calls reach the test's Mock
    assert [(o.id, o.status) for o in first] == [(1, "queued")]

    orders = first + place_orders({"apple": 2, "pear": 1}, client=mock)
    assert [(o.id, o.item, o.quantity) for o in orders] == [
        (1, "pear", 1),
        (2, "apple", 2),
        (3, "pear", 1),
    ]
    assert mock.list_orders() == orders
    assert mock.get_order(2) == orders[1]
    with pytest.raises(ShopError, match="'item' must be a non-empty string") as refused:
        mock.create_order(" ", 1)
    assert refused.value.status == 400
    with pytest.raises(ShopError) as missing:
        mock.get_order(4)
    assert missing.value.status == 404


def test_every_mock_offers_its_clients_interface() -> None:
    for component in (api, worker, scheduler):
        assert check_mocks(component) == []
