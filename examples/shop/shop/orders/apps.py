"""The application's configuration, as Django finds it."""

from __future__ import annotations

from django.apps import AppConfig


class OrdersConfig(AppConfig):  # type: ignore[misc]  # Django ships no type information
    """Orders and heartbeats."""

    name = "shop.orders"
    label = "shop_orders"
    verbose_name = "Shop orders"
    default_auto_field = "django.db.models.BigAutoField"
