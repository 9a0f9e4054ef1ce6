"""The shop's hook implementations (entry point ``shop-hooks``).

Django's settings are one set per system, owned by the built-in ``django``
plugin; the shop only fills in what it needs there, at the configure stage,
and only when its application runs in the system:

- ``root_urlconf``: the shop's URLs, unless one is set already;
- ``allowed_hosts``: the loopback names, unless some are set already (set
  ``OSERVICES_DJANGO__ALLOWED_HOSTS`` when the API listens on another address).

Like any plugin's assignments, these sit below the user's system file,
environment variables and explicit overrides: the user still wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oservices_core import hookimpl
from oservices_plugins.django import DJANGO_APPS

if TYPE_CHECKING:
    from oservices_core import Configuration, Context

__all__ = ["APP", "LOOPBACK", "URLCONF", "oservices_configure"]

APP = "shop.orders"
URLCONF = "shop.orders.urls"
LOOPBACK = ["localhost", "127.0.0.1", "[::1]"]


@hookimpl
def oservices_configure(context: Context, name: str, configuration: Configuration) -> None:
    """Point Django at the shop's URLs when the shop's application runs in this system."""
    if name != "django":
        return
    components = context.system.components.values()
    if not any(APP in c.extensions.get(DJANGO_APPS, ()) for c in components):
        return
    if getattr(configuration, "root_urlconf", URLCONF) is None:
        configuration.root_urlconf = URLCONF
    if getattr(configuration, "allowed_hosts", LOOPBACK) == []:
        configuration.allowed_hosts = list(LOOPBACK)
