"""What the API, its Client and its Mock share: the Order, the errors, the validation.

Pure Python: the Mock validates exactly as the API does because both call
:func:`order_problem`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

__all__ = [
    "MAX_ITEM",
    "MAX_QUANTITY",
    "PROCESSED",
    "QUEUED",
    "Order",
    "ShopError",
    "order_problem",
]

QUEUED: Final = "queued"
PROCESSED: Final = "processed"
MAX_ITEM: Final = 100
MAX_QUANTITY: Final = 1000


class ShopError(Exception):
    """The API refused a request: ``status`` is the HTTP status, the message its reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


@dataclass(frozen=True, slots=True)
class Order:
    """An order: ``queued`` when the API takes it, ``processed`` once the worker has."""

    id: int
    item: str
    quantity: int
    status: str
    created: datetime
    processed: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The order as the API writes it."""
        return {
            "id": self.id,
            "item": self.item,
            "quantity": self.quantity,
            "status": self.status,
            "created": self.created.isoformat(),
            "processed": None if self.processed is None else self.processed.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Order:
        """An order from the API's JSON."""
        processed = data.get("processed")
        return cls(
            id=int(data["id"]),
            item=str(data["item"]),
            quantity=int(data["quantity"]),
            status=str(data["status"]),
            created=datetime.fromisoformat(data["created"]),
            processed=None if processed is None else datetime.fromisoformat(processed),
        )


def order_problem(data: object) -> str | None:
    """Why ``data`` (a decoded JSON body) is not a valid new order; None if it is."""
    if not isinstance(data, dict):
        return "expected a JSON object with 'item' and 'quantity'"
    unknown = sorted(set(data) - {"item", "quantity"})
    item, quantity = data.get("item"), data.get("quantity")
    checks = (
        (bool(unknown), f"unknown field(s): {', '.join(unknown)}"),
        (not isinstance(item, str) or not item.strip(), "'item' must be a non-empty string"),
        (
            isinstance(item, str) and len(item) > MAX_ITEM,
            f"'item' must be at most {MAX_ITEM} characters",
        ),
        (
            isinstance(quantity, bool) or not isinstance(quantity, int),
            "'quantity' must be an integer",
        ),
        (
            isinstance(quantity, int) and not 1 <= quantity <= MAX_QUANTITY,
            f"'quantity' must be between 1 and {MAX_QUANTITY}",
        ),
    )
    return next((message for failed, message in checks if failed), None)
