"""The API's URLs: the ``ROOT_URLCONF`` that :mod:`shop.hooks` gives Django."""

from __future__ import annotations

from django.urls import path, re_path

from shop.orders import views

urlpatterns = [
    path("api/health", views.health, name="health"),
    path("api/orders", views.orders, name="orders"),
    path("api/orders/<int:order_id>", views.order, name="order"),
    path("api/stats", views.stats, name="stats"),
    re_path(r"", views.not_found),  # anything else: a JSON 404, whatever DEBUG says
]

handler404 = "shop.orders.views.not_found"
handler500 = "shop.orders.views.server_error"
