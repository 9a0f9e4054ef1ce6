"""The JSON API: health, orders, and the figures the worker's and scheduler's Clients read.

Every answer is JSON, errors too: ``{"error": "..."}`` with a 4xx status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db.models import Count
from django.http import HttpRequest, JsonResponse

from shop.order import PROCESSED, QUEUED, order_problem
from shop.orders.models import Heartbeat, Order

View = Callable[..., JsonResponse]


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _allow(*methods: str) -> Callable[[View], View]:
    """Answer other methods with 405 and a JSON error."""

    def decorate(view: View) -> View:
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method not in methods:
                allowed = ", ".join(methods)
                answer = _error(405, f"method {request.method} not allowed; use {allowed}")
                answer["Allow"] = allowed
                return answer
            return view(request, *args, **kwargs)

        checked.__doc__ = view.__doc__
        checked.__name__ = view.__name__
        return checked

    return decorate


@_allow("GET")
def health(request: HttpRequest) -> JsonResponse:
    """``GET /api/health``: ok once the database answers."""
    Order.objects.exists()
    return JsonResponse({"status": "ok"})


@_allow("GET", "POST")
def orders(request: HttpRequest) -> JsonResponse:
    """``GET /api/orders``: every order; ``POST /api/orders``: queue a new one."""
    if request.method == "GET":
        return JsonResponse({"orders": [order.to_json() for order in Order.objects.all()]})
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"the body is not JSON: {exc}")
    problem = order_problem(data)
    if problem is not None:
        return _error(400, problem)
    order = Order.objects.create(item=data["item"], quantity=data["quantity"])
    return JsonResponse(order.to_json(), status=201)


@_allow("GET")
def order(request: HttpRequest, order_id: int) -> JsonResponse:
    """``GET /api/orders/ID``: one order, or 404."""
    found = Order.objects.filter(pk=order_id).first()
    if found is None:
        return _error(404, f"no order {order_id}")
    return JsonResponse(found.to_json())


@_allow("GET")
def stats(request: HttpRequest) -> JsonResponse:
    """``GET /api/stats``: orders by status, and the scheduler's heartbeats."""
    counts = {QUEUED: 0, PROCESSED: 0}
    for row in Order.objects.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    last = Heartbeat.objects.order_by("-id").first()
    return JsonResponse(
        {
            "orders": counts,
            "heartbeats": Heartbeat.objects.count(),
            "last_heartbeat": None if last is None else last.at.isoformat(),
        }
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Any other path: 404, in JSON."""
    return _error(404, f"no such path: {request.path}")


def server_error(request: HttpRequest) -> JsonResponse:
    """An error in a view: 500, in JSON (the traceback goes to the component's log)."""
    return _error(500, "internal error")
