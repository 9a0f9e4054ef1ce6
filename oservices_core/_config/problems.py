"""Turn pydantic validation errors into located :class:`Problem` lines, secrets masked."""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel, Secret, SecretBytes, SecretStr, ValidationError
from pydantic_core import ErrorDetails
from pydantic_core.core_schema import ErrorType

from oservices_core._errors import Problem

__all__ = [
    "contains_secret",
    "is_complex",
    "model_fields_at",
    "problems_from",
    "shorten",
    "show_found",
]

Locate = Callable[[tuple[str, ...]], str]
_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^:/@\s]*:)[^@/\s]*@")


def problems_from(error: ValidationError, model: type[BaseModel], locate: Locate) -> list[Problem]:
    """One :class:`Problem` per pydantic error, each placed by ``locate``."""
    return [_problem(detail, model, locate) for detail in error.errors(include_url=False)]


def _problem(detail: ErrorDetails, model: type[BaseModel], locate: Locate) -> Problem:
    path = tuple(str(part) for part in detail["loc"])
    dotted = ".".join(path)
    kind = detail["type"]
    if kind == "missing":
        return Problem(
            locate(path), dotted, "a value (this key is required)", "nothing", hint=f"set {dotted}"
        )
    if kind == "extra_forbidden":
        return _unknown_key(path, model, locate)
    secret = contains_secret(model, path)
    found = show_found(detail.get("input"), secret=secret)
    if secret and (kind in _ECHOING or kind not in _BUILT_IN):
        # A validator's own message may quote the value it refused.
        expected = "a value its validator accepts (its message is not shown: a secret)"
    else:
        expected = _expected(detail["msg"])
    return Problem(locate(path), dotted, expected, found)


# pydantic's own messages never quote the input, but these carry a validator's words.
_BUILT_IN = frozenset(typing.get_args(ErrorType))
_ECHOING = frozenset({"value_error", "assertion_error"})


def _unknown_key(path: tuple[str, ...], model: type[BaseModel], locate: Locate) -> Problem:
    known = sorted(model_fields_at(model, path[:-1]))
    close = difflib.get_close_matches(path[-1], known, n=3)
    hint = f"did you mean {' or '.join(close)}?" if close else "remove it"
    return Problem(
        locate(path),
        ".".join(path),
        "one of the known keys: " + ", ".join(known),
        f"unknown key {shorten(repr(path[-1]))}",
        hint=hint,
    )


def _expected(message: str) -> str:
    for prefix in ("Input should be ", "Value should be "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    if message.startswith("Input is not "):  # "Input is not a valid IPv4 address"
        return message[len("Input is not ") :]
    return message[0].lower() + message[1:] if message else "a valid value"


def show_found(value: Any, *, secret: bool) -> str:
    """How an offending input is shown: its type only when it is secret, else a short repr."""
    if secret:
        return f"a value of type {type(value).__name__} (secret, not shown)"
    if isinstance(value, str):
        value = _URL_PASSWORD.sub(r"\1**********@", value)  # scheme://user:PASSWORD@host
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nested too deep, or an int too long to print
        return f"a value of type {type(value).__name__} (too large to show)"
    return text if len(text) <= 80 else text[:77] + "..."


def shorten(text: str, limit: int = 60) -> str:
    """Outside text as one short line: controls and undecodable bytes escaped, the rest cut."""
    shown = text if text.isprintable() else repr(text)[1:-1]
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in _flatten(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _flatten(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in typing.get_args(annotation):
        yield from _flatten(arg)


def _step(model: type[BaseModel] | None, part: str) -> tuple[type[BaseModel] | None, Any]:
    if model is None:
        return None, None
    field = model.model_fields.get(part)
    if field is None:
        return model, None  # a list index or dict key: stay on the same model
    return _nested_model(field.annotation), field.annotation


def model_fields_at(model: type[BaseModel], path: tuple[str, ...]) -> list[str]:
    """Names of the fields of the model found at ``path`` (empty when none)."""
    current: type[BaseModel] | None = model
    for part in path:
        current, _ = _step(current, part)
    return list(current.model_fields) if current else []


def contains_secret(model: type[BaseModel], path: tuple[str, ...]) -> bool:
    """Whether the value at ``path`` may be, lie inside or hold a secret.

    True when a field along ``path`` is declared with a secret type anywhere in its
    annotation (``list[SecretStr]``, ``SecretStr | None``...), or when the value's own
    type holds one anywhere inside (a nested model with a password, the whole model).
    Each part of the path may be a field, a list index or a dict key, and every member
    of a union is followed: what the value may be is a list of annotations, and a doubt
    counts as a secret.
    """
    candidates: list[Any] = [model]  # what the value at this point of the path may be
    for part in path:
        below = [child for annotation in candidates for child in _children(annotation, part)]
        if any(_is_secret(arg) for annotation in below for arg in _flatten(annotation)):
            return True
        candidates = below or candidates  # a union's tag names no child: the same value
    seen: set[Any] = set()
    return any(_inside(annotation, seen) for annotation in candidates)


def _children(annotation: Any, part: str) -> Iterator[Any]:
    """What may be found at ``part`` below a value of ``annotation``: a model's field (by
    name or alias), a list's, tuple's or set's item, a dict's value."""
    for arg in _flatten(annotation):
        origin = typing.get_origin(arg) or arg
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            yield from (
                field.annotation
                for name, field in arg.model_fields.items()
                if part in (name, field.alias)
            )
        elif origin in (list, tuple, set, frozenset):
            yield from (item for item in typing.get_args(arg) if item is not Ellipsis)
        elif origin is dict and len(typing.get_args(arg)) == 2:
            yield typing.get_args(arg)[1]


def _is_secret(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation  # Secret[int] is a generic alias
    return isinstance(origin, type) and issubclass(origin, SecretStr | SecretBytes | Secret)


def _inside(annotation: Any, seen: set[Any]) -> bool:
    """Whether a secret type appears anywhere in ``annotation``, models and dataclasses
    and typed dicts included (each class looked into once)."""
    for arg in _flatten(annotation):
        if _is_secret(arg):
            return True
        if not isinstance(arg, type) or arg in seen:
            continue
        seen.add(arg)
        if issubclass(arg, BaseModel):
            inner = [field.annotation for field in arg.model_fields.values()]
        elif dataclasses.is_dataclass(arg) or typing.is_typeddict(arg):
            inner = list(typing.get_type_hints(arg).values())
        else:
            continue
        if any(_inside(item, seen) for item in inner):
            return True
    return False


def is_complex(annotation: Any) -> bool:
    """Whether text for this annotation is JSON (lists, tables, models), as in pydantic-settings."""
    for candidate in _flatten(annotation):
        origin = typing.get_origin(candidate) or candidate
        if origin in (list, tuple, set, frozenset, dict) or (
            isinstance(origin, type) and issubclass(origin, BaseModel)
        ):
            return True
    return False
