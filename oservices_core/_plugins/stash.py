"""Typed per-plugin storage: a :class:`Stash` whose values are typed by their :class:`StashKey`.

Modelled on pytest's ``item.stash``. A plugin makes its key once, at module
level (``KEY = StashKey[int]()``), and only code that holds the key reads or
writes its value, so plugins never clash on names and mypy checks each value.
A run's :class:`~oservices_core.Context` carries one (``context.stash``), and
each component one (``component.extensions``) for what it declares to plugins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar, cast, final

__all__ = ["Stash", "StashKey"]

T = TypeVar("T")


@final
class StashKey(Generic[T]):
    """A typed key for :class:`Stash`: ``KEY = StashKey[int]()`` at module level."""

    __slots__ = ()


@final
class Stash:
    """Per-plugin storage that mypy checks: values are typed by their :class:`StashKey`.

    ``Stash(items)`` starts with ``items``, a mapping whose keys are all
    :class:`StashKey` objects.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[StashKey[Any], Any] | None = None) -> None:
        self._items: dict[StashKey[Any], object] = dict(items or {})
        for key in self._items:
            if not isinstance(key, StashKey):
                raise TypeError(f"a Stash key must be a StashKey, not {type(key).__name__}")

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._items[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        return cast("T", self._items[key])

    def __delitem__(self, key: StashKey[Any]) -> None:
        del self._items[key]

    def get(self, key: StashKey[T], default: T) -> T:
        """The value at ``key``, or ``default``."""
        return cast("T", self._items.get(key, default))

    def setdefault(self, key: StashKey[T], default: T) -> T:
        """The value at ``key``, set to ``default`` first if there is none."""
        return cast("T", self._items.setdefault(key, default))

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"<Stash of {len(self._items)} item{'s' if len(self._items) != 1 else ''}>"
