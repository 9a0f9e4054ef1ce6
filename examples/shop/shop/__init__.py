"""A small shop built with oservices: a demo of components, a service, Clients and Mocks.

- ``shop-api``: a Django JSON API (orders) served by gunicorn;
- ``shop-worker``: processes the orders the API queued;
- ``shop-scheduler``: a periodic job (heartbeats);
- service ``shop``: the three, with ``shop-api`` as its API.

Importing this package is neutral: no Django setup, no environment read, no
file opened. Django and gunicorn load only in the components' processes.
"""

from __future__ import annotations

from shop.clients import SchedulerClient, ShopApi, ShopClient, WorkerClient
from shop.components import api, scheduler, service, worker
from shop.configuration import ApiConfiguration, SchedulerConfiguration, WorkerConfiguration
from shop.mocks import SchedulerMock, ShopMock, WorkerMock
from shop.order import Order, ShopError

__all__ = [
    "ApiConfiguration",
    "Order",
    "SchedulerClient",
    "SchedulerConfiguration",
    "SchedulerMock",
    "ShopApi",
    "ShopClient",
    "ShopError",
    "ShopMock",
    "WorkerClient",
    "WorkerConfiguration",
    "WorkerMock",
    "api",
    "scheduler",
    "service",
    "worker",
]
