"""The shop's components and service: plain declarations (neutral at import).

Each ``main`` is a ``"module:function"`` string: its module, and Django with
it, is imported only in the component's own process, after the setup stage
has configured Django (every component here lists the shop's application
under the ``django`` plugin's key, ``DJANGO_APPS``, in its extension slot).
"""

from __future__ import annotations

from oservices_core import Component, Service
from oservices_plugins.django import DJANGO_APPS
from shop.clients import SchedulerClient, ShopClient, WorkerClient
from shop.configuration import ApiConfiguration, SchedulerConfiguration, WorkerConfiguration
from shop.hooks import APP
from shop.mocks import SchedulerMock, ShopMock, WorkerMock

__all__ = ["api", "scheduler", "service", "worker"]

api = Component(
    name="shop-api",
    description="The shop's JSON API: Django served by gunicorn, its workers as child processes.",
    configuration=ApiConfiguration,
    main="shop.api:main",
    client=ShopClient,
    mock=ShopMock,
    extensions={DJANGO_APPS: (APP,)},
    ready="tcp",  # the port in its configuration accepts connections
    stop_signal="SIGTERM",  # gunicorn's graceful stop
    stop_timeout=10.0,
)

# The worker does not depend on the API: both use the database, which the
# initialize stage migrated before anything starts, and queued orders wait
# there for the worker whether the API runs or not.
worker = Component(
    name="shop-worker",
    description="Processes the orders the API queued (queued -> processed).",
    configuration=WorkerConfiguration,
    main="shop.worker:main",
    client=WorkerClient,
    mock=WorkerMock,
    extensions={DJANGO_APPS: (APP,)},
    ready="notify",
)

scheduler = Component(
    name="shop-scheduler",
    description="Runs the periodic job: records a heartbeat, prunes old ones.",
    configuration=SchedulerConfiguration,
    main="shop.scheduler:main",
    client=SchedulerClient,
    mock=SchedulerMock,
    extensions={DJANGO_APPS: (APP,)},
    ready="notify",
)

service = Service(
    name="shop",
    description="A small shop: orders over a JSON API, processed in the background.",
    components=[api, worker, scheduler],
    api=api,
)
