"""What a configuration class looks like, computed once per class.

Resolving walks the same classes over and over; their nested models and
settings-derived fields never change, so they are kept beside each class
(weakly, so classes made on the fly can still be collected).
"""

from __future__ import annotations

import typing
import weakref
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from oservices_core._config.configuration import FromSettings

__all__ = ["derived_fields", "model_of", "nested_models"]

Derived = tuple[tuple[tuple[str, ...], Callable[[Any], Any]], ...]
_NESTED: weakref.WeakKeyDictionary[type[BaseModel], dict[str, type[BaseModel]]] = (
    weakref.WeakKeyDictionary()
)
_DERIVED: weakref.WeakKeyDictionary[type[BaseModel], Derived] = weakref.WeakKeyDictionary()


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class an annotation holds directly (``Model`` or ``Model | None``)."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def nested_models(cls: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Field name -> model class, for the fields that hold a nested model."""
    found = _NESTED.get(cls)
    if found is None:
        found = {}
        for name, info in cls.model_fields.items():
            nested = model_of(info.annotation)
            if nested is not None:
                found[name] = nested
        _NESTED[cls] = found
    return found


def derived_fields(cls: type[BaseModel]) -> Derived:
    """Every settings-derived field, nested ones included: (path, derive function)."""
    found = _DERIVED.get(cls)
    if found is None:
        found = tuple(_walk(cls, ()))
        _DERIVED[cls] = found
    return found


def _walk(
    cls: type[BaseModel], prefix: tuple[str, ...]
) -> typing.Iterator[tuple[tuple[str, ...], Callable[[Any], Any]]]:
    nested = nested_models(cls)
    for name, info in cls.model_fields.items():
        path = (*prefix, name)
        for marker in info.metadata:
            if isinstance(marker, FromSettings):
                yield path, marker.derive
        if name in nested:
            yield from _walk(nested[name], path)
