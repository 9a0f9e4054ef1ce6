"""Turn pydantic validation errors into located :class:`Problem` lines, secrets masked."""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from pydantic_core import ErrorDetails

from oservices_core._errors import Problem

__all__ = [
    "contains_secret",
    "is_complex",
    "is_secret_path",
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
    found = show_found(detail.get("input"), secret=is_secret_path(model, path))
    return Problem(locate(path), dotted, _expected(detail["msg"]), found)


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


def is_secret_path(model: type[BaseModel], path: tuple[str, ...]) -> bool:
    """Whether any field along ``path`` holds a secret type."""
    current: type[BaseModel] | None = model
    for part in path:
        current, annotation = _step(current, part)
        if annotation is not None and _holds_secret(annotation):
            return True
    return False


def _holds_secret(annotation: Any) -> bool:
    return any(arg in (SecretStr, SecretBytes) for arg in _flatten(annotation))


def contains_secret(model: type[BaseModel], path: tuple[str, ...]) -> bool:
    """Whether the value at ``path`` is, or holds anywhere inside it, a secret."""
    if is_secret_path(model, path):
        return True
    current: type[BaseModel] | None = model
    annotation: Any = None
    for part in path:
        current, annotation = _step(current, part)
    return annotation is not None and _inside(annotation, set())


def _inside(annotation: Any, seen: set[type[BaseModel]]) -> bool:
    for arg in _flatten(annotation):
        if arg in (SecretStr, SecretBytes):
            return True
        if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in seen:
            seen.add(arg)
            if any(_inside(field.annotation, seen) for field in arg.model_fields.values()):
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
