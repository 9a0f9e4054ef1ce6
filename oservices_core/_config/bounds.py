"""The one bound on text from outside: how deep its values nest and how long its integers are.

Every reader of outside text (configuration, system and settings files, and the JSON or
TOML values of environment variables and ``--set``) parses through :func:`parse_bounded`.
Parsers recurse once per nesting level, and Python refuses to read an integer of more
than 4300 digits: without a bound, hostile text would end the reader with a
``RecursionError`` or a ``ValueError``. With it, such text is an :class:`OutOfBoundsError`,
which each reader turns into a located problem. Values nested no deeper than
:data:`MAX_DEPTH` also keep every later recursive step (validation, rendering, error
messages) far from Python's recursion limit.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

__all__ = ["BOUNDS", "MAX_DEPTH", "MAX_DIGITS", "OutOfBoundsError", "parse_bounded"]

T = TypeVar("T")

MAX_DEPTH = 100
MAX_DIGITS = 4300  # Python's own default (sys.int_info.default_max_str_digits)
BOUNDS = f"values nested at most {MAX_DEPTH} deep and integers of at most {MAX_DIGITS} digits"
_TOO_BIG = 10**MAX_DIGITS


class OutOfBoundsError(ValueError):
    """Text nested too deep, or holding too long an integer.

    ``found`` says which and ``hint`` how to fix it; ``line`` is where in the text, when
    known; ``path`` is the key path of the offending value when the text could be parsed.
    """

    def __init__(
        self, found: str, hint: str, *, line: int | None = None, path: tuple[str, ...] = ()
    ) -> None:
        super().__init__(found)
        self.found = found
        self.hint = hint
        self.line = line
        self.path = path


def parse_bounded(parse: Callable[[str], T], text: str) -> T:
    """``parse(text)``, refusing values nested deeper than :data:`MAX_DEPTH` or integers of
    more than :data:`MAX_DIGITS` digits with :class:`OutOfBoundsError`; other errors pass through.
    """
    try:
        data = parse(text)
    except RecursionError:
        raise _too_deep(text, ()) from None
    except ValueError as exc:
        if isinstance(exc, json.JSONDecodeError | tomllib.TOMLDecodeError):
            raise
        if "integer string conversion" not in str(exc):
            raise
        digits = min(MAX_DIGITS, sys.get_int_max_str_digits() or MAX_DIGITS)
        raise _too_long(text, (), digits) from None
    _check(data, text)
    return data


def _too_deep(text: str, path: tuple[str, ...]) -> OutOfBoundsError:
    found = f"values nested deeper than {MAX_DEPTH} levels"
    hint = "nest less deeply (a list of tables rather than tables in lists in tables...)"
    return OutOfBoundsError(found, hint, line=_deep_line(text), path=path)


def _too_long(text: str, path: tuple[str, ...], digits: int) -> OutOfBoundsError:
    found = f"an integer of more than {digits} digits"
    hint = "write a shorter number, or the digits as a string"
    return OutOfBoundsError(found, hint, line=_long_line(text, digits), path=path)


def _check(data: Any, text: str) -> None:
    """Walk parsed data without recursion (it may be deep: TOML's dotted keys nest
    without brackets, and a parser may allow more than the bound)."""
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(data, 0, ())]
    while stack:
        value, depth, path = stack.pop()
        items: Iterable[tuple[Any, Any]]
        if isinstance(value, dict):
            items = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            if isinstance(value, int) and abs(value) >= _TOO_BIG:
                raise _too_long(text, path, MAX_DIGITS)
            continue
        if depth >= MAX_DEPTH:
            raise _too_deep(text, path)
        stack.extend((v, depth + 1, (*path, str(k))) for k, v in reversed(list(items)))


# A light scan, only to say where a refused text went too deep: strings on one line
# and comments are skipped, brackets counted (a multi-line string may mislead it).
_TOKEN = re.compile(r'"(?:\\.|[^"\\\n])*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}\n]')


def _deep_line(text: str) -> int | None:
    depth, line = 0, 1
    for match in _TOKEN.finditer(text):
        piece = match.group()
        if piece == "\n":
            line += 1
        elif piece in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif piece in ("]", "}"):
            depth -= 1
    return None


def _long_line(text: str, digits: int) -> int | None:
    match = re.search(rf"[0-9][0-9_]{{{digits},}}", text)
    return text.count("\n", 0, match.start()) + 1 if match else None
