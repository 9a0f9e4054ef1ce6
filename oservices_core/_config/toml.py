"""TOML text for configurations: values to TOML-native data, commented rendering, located parsing.

TOML has no null, so ``None`` is written by leaving the key out (a comment line
says so) and read back from the field's default; such a field must default to
``None``. Decimals are written as strings, so no digit is lost to a float.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, Secret, SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from oservices_core._config.bounds import BOUNDS, OutOfBoundsError, parse_bounded
from oservices_core._config.problems import shorten
from oservices_core._errors import ConfigurationError, Problem

__all__ = [
    "MASK",
    "Secrets",
    "comment",
    "format_key",
    "loads",
    "locate_line",
    "render",
    "syntax_problem",
    "to_plain",
]

MASK = "**********"
Secrets = Literal["omit", "mask", "reveal"]
_NATIVE = (bool, int, float, str, dt.datetime, dt.date)
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_DECODE_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


class _HiddenSecretError(Exception):
    """A secret was met while secrets are to be left out."""


class _NoneInsideError(Exception):
    """A None inside a list or table: TOML cannot hold it."""


def to_plain(value: Any, secrets: Secrets) -> Any:
    """Convert a validated value to data tomli-w writes and pydantic reads back."""
    if isinstance(value, enum.Enum):
        return to_plain(value.value, secrets)
    if isinstance(value, dt.datetime) and _sub_minute_offset(value):
        # TOML offsets are whole minutes: write the same instant in UTC.
        return value.astimezone(dt.UTC)
    if isinstance(value, _NATIVE):
        return value
    if isinstance(value, dt.time):
        return value.isoformat() if value.tzinfo else value
    if isinstance(value, SecretStr | SecretBytes | Secret):
        return _secret(value, secrets)
    return _container(value, secrets)


def _secret(value: SecretStr | SecretBytes | Secret[Any], secrets: Secrets) -> Any:
    if secrets == "omit":
        raise _HiddenSecretError
    if secrets == "mask":
        return MASK
    revealed = value.get_secret_value()
    if isinstance(revealed, bytes):
        return revealed.decode()
    return revealed if isinstance(revealed, str) else to_plain(revealed, secrets)


def _container(value: Any, secrets: Secrets) -> Any:
    if value is None:
        raise _NoneInsideError
    if isinstance(value, BaseModel):
        return _model_dict(value, secrets)
    if isinstance(value, Mapping):
        return {str(to_plain(k, secrets)): to_plain(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(item, secrets) for item in value]
    if isinstance(value, set | frozenset):
        return _sorted([to_plain(item, secrets) for item in value])
    if isinstance(value, Decimal):
        return str(value)
    return to_jsonable_python(value)


def _sorted(items: list[Any]) -> list[Any]:
    # Sets have no order; sorting keeps written files stable between runs.
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def _model_dict(model: BaseModel, secrets: Secrets) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if value is None:
            _check_none_allowed(model, name, field)
            continue
        out[field.alias or name] = to_plain(value, secrets)
    return out


def _check_none_allowed(model: BaseModel, name: str, field: FieldInfo) -> None:
    if field.default is None:
        return
    default = "no default" if field.default is PydanticUndefined else repr(field.default)
    problem = Problem(
        where=type(model).__name__,
        key=name,
        expected="a value (TOML has no null: None is written only for fields defaulting to None)",
        found=f"None, with {default}",
        hint="give the field a default of None, or set a value",
    )
    raise ConfigurationError(problem)


def format_key(key: str) -> str:
    """A TOML key: bare when it can be, quoted otherwise."""
    if _BARE_KEY.fullmatch(key):
        return key
    return tomli_w.dumps({"k": key})[4:].strip()


def comment(text: str | None, indent: str = "") -> list[str]:
    """Comment lines for ``text``; controls TOML forbids in comments are escaped."""
    if not text:
        return []
    return [
        f"{indent}# {_COMMENT_FORBIDDEN.sub(_escape_control, line)}".rstrip()
        for line in text.strip().splitlines()
    ]


# TOML comments may hold any character but these controls (tab is allowed).
_COMMENT_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _escape_control(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def _sub_minute_offset(value: dt.datetime) -> bool:
    offset = value.utcoffset()
    return offset is not None and offset % dt.timedelta(minutes=1) != dt.timedelta(0)


Aside = Callable[[tuple[str, ...]], str | None]


def render(
    model: BaseModel,
    *,
    head: list[str],
    secrets: Secrets,
    env_hint: Callable[[str], str],
    aside: Aside | None = None,
) -> tuple[str, bool]:
    """Render ``model`` as commented TOML; also say whether a secret was written.

    ``aside(path)`` may return a reason to write that value as a comment instead
    (secrets in such comments are masked).
    """
    renderer = _Renderer(secrets, env_hint, aside)
    lines = [*head, *renderer.table(model, ())]
    return "\n".join(lines).rstrip() + "\n", renderer.wrote_secret


class _Renderer:
    """Walks a model's fields, keeping descriptions as comments."""

    __slots__ = ("aside", "env_hint", "secrets", "wrote_secret")

    def __init__(
        self, secrets: Secrets, env_hint: Callable[[str], str], aside: Aside | None
    ) -> None:
        self.secrets: Secrets = secrets
        self.env_hint = env_hint
        self.aside = aside
        self.wrote_secret = False

    def table(self, model: BaseModel, path: tuple[str, ...]) -> list[str]:
        lines: list[str] = []
        tables: list[tuple[str, FieldInfo, Any]] = []
        for name, field in type(model).model_fields.items():
            key = field.alias or name
            value = getattr(model, name, _MISSING)
            if value is _MISSING:  # a sample: model_construct leaves required fields unset
                lines += [*comment(field.description), f"# {key} = ...  (required)"]
                continue
            reason = (
                None if isinstance(value, BaseModel) or not self.aside else self.aside((*path, key))
            )
            if reason is not None:
                lines += [*comment(field.description), *_commented(key, value, reason)]
                continue
            plain = self._plain(model, name, field, value, path=(*path, key), lines=lines)
            if plain is _SKIP:
                continue
            if isinstance(value, BaseModel) or isinstance(plain, dict):
                tables.append((key, field, value if isinstance(value, BaseModel) else plain))
                continue
            lines += [*comment(field.description), *_assignment(key, plain)]
        for key, field, value in tables:
            lines += ["", *self._subtable((*path, key), field, value)]
        return lines

    def _subtable(self, path: tuple[str, ...], field: FieldInfo, value: Any) -> list[str]:
        notes = comment(field.description)
        if isinstance(value, BaseModel):
            header = "[" + ".".join(format_key(part) for part in path) + "]"
            body = self.table(value, path)
            if self.aside and all(not line or line.startswith("#") for line in body):
                # Every key is set elsewhere: without a header, reading the file leaves the
                # field to its default (an empty table would make a fresh model instead).
                header = f"# {header}"
            return [*notes, header, *body]
        nested: Any = value
        for part in reversed(path):
            nested = {part: nested}
        return [*notes, tomli_w.dumps(nested).rstrip()]

    def _plain(
        self,
        model: BaseModel,
        name: str,
        field: FieldInfo,
        value: Any,
        *,
        path: tuple[str, ...],
        lines: list[str],
    ) -> Any:
        dotted = ".".join(path)
        if value is None:
            _check_none_allowed(model, name, field)
            lines += [*comment(field.description), f"# {dotted}: None (unset; TOML has no null)"]
            return _SKIP
        if isinstance(value, BaseModel):
            return value
        try:
            plain = to_plain(value, self.secrets)
        except _HiddenSecretError:
            hint = f"secret, not written: set {self.env_hint(dotted)}"
            lines += [*comment(field.description), f'# {path[-1]} = "{MASK}"  ({hint})']
            return _SKIP
        except _NoneInsideError:
            raise ConfigurationError(_none_inside(model, dotted)) from None
        self.wrote_secret = self.wrote_secret or _has_secret(value)
        return plain


_SKIP = object()
_MISSING = object()


def _assignment(key: str, plain: Any) -> list[str]:
    """``key = value`` lines; tables inside arrays stay inline so no ``[[header]]`` lands
    between plain keys (every key after such a header would belong to it)."""
    if isinstance(plain, list) and any(isinstance(item, dict | list) for item in plain):
        items = [f"    {inline(item)}," for item in plain]
        return [f"{format_key(key)} = [", *items, "]"]
    return tomli_w.dumps({key: plain}).rstrip().split("\n")  # not splitlines: U+2028 is text


def inline(value: Any) -> str:
    """One value as inline TOML: tables as ``{ k = v }``, arrays as ``[a, b]``."""
    if isinstance(value, dict):
        pairs = ", ".join(f"{format_key(str(k))} = {inline(v)}" for k, v in value.items())
        return f"{{ {pairs} }}" if pairs else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(inline(item) for item in value) + "]"
    return tomli_w.dumps({"v": value})[4:].strip()


def _commented(key: str, value: Any, reason: str) -> list[str]:
    """A value written as a comment, with why it is not set here; secrets masked."""
    if value is None:
        return [f"# {key}: None ({reason})"]
    try:
        lines = _assignment(key, to_plain(value, "mask"))
    except _NoneInsideError:
        return [f"# {key} = ...  ({reason})"]
    if len(lines) == 1:
        return [f"# {lines[0]}  ({reason})"]
    return [f"# ({reason})", *(f"# {line}" for line in lines)]


def _none_inside(model: BaseModel, dotted: str) -> Problem:
    return Problem(
        where=type(model).__name__,
        key=dotted,
        expected="values TOML can hold",
        found="None inside a list or table (TOML has no null)",
        hint="leave the item out, or use another value",
    )


def _has_secret(value: Any) -> bool:
    if isinstance(value, SecretStr | SecretBytes | Secret):
        return True
    if isinstance(value, BaseModel):
        return any(_has_secret(getattr(value, name)) for name in type(value).model_fields)
    if isinstance(value, Mapping):
        return any(_has_secret(item) for item in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_secret(item) for item in value)
    return False


def loads(text: str, where: str) -> dict[str, Any]:
    """Parse TOML within the bounds of :mod:`~oservices_core._config.bounds`; a syntax
    error or a refused value is a located :class:`ConfigurationError`."""
    try:
        return parse_bounded(tomllib.loads, text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(syntax_problem(str(exc), where, text)) from None
    except OutOfBoundsError as exc:
        line = exc.line or _line_under(text, exc.path)
        problem = Problem(
            f"{where}:{line}" if line else where,
            shorten(_key_on_line(text, line) if line else ".".join(exc.path)),
            f"TOML with {BOUNDS}",
            exc.found,
            hint=exc.hint,
        )
        raise ConfigurationError(problem) from None


def syntax_problem(message: str, where: str, text: str) -> Problem:
    """A located problem from a :class:`tomllib.TOMLDecodeError` message.

    The key set on the failing line, when there is one, is named too.
    """
    match = _DECODE_POSITION.search(message)
    if match is None:
        # "(at end of document)": the last line is where the input stopped short.
        reason = message.replace(" (at end of document)", "")
        return Problem(
            f"{where}:{max(len(text.splitlines()), 1)}",
            "",
            "valid TOML",
            f"{reason} at the end of the file",
            hint="close what the file opens",
        )
    line = int(match.group(1))
    return Problem(
        where=f"{where}:{line}",
        key=_key_on_line(text, line),
        expected="valid TOML",
        found=f"{message[: match.start()]} (column {match.group(2)})",
        hint="fix the syntax on that line",
    )


def _key_on_line(text: str, line: int) -> str:
    for path, number in _scan(text):
        if number == line:
            return ".".join(path)
    return ""


# Where keys stand, found on demand by a light scan: only errors and
# `config explain` need line numbers, so resolving a file never pays for it.
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
_ASSIGN = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")
_PART = re.compile(r"[A-Za-z0-9_-]+|\"([^\"]*)\"|'([^']*)'")


def _split_key(raw: str) -> tuple[str, ...]:
    return tuple(m.group(1) or m.group(2) or m.group(0) for m in _PART.finditer(raw))


def _scan(text: str) -> Iterator[tuple[tuple[str, ...], int]]:
    table: tuple[str, ...] = ()
    in_string = False
    arrays: dict[tuple[str, ...], int] = {}  # [[name]] -> how many seen, for item indexes
    for number, line in enumerate(text.splitlines(), start=1):
        was_in_string = in_string
        in_string ^= (line.count('"""') + line.count("'''")) % 2 == 1
        if was_in_string:
            continue
        header = _HEADER.match(line)
        if header:
            table = _split_key(header.group(1))
            if line.lstrip().startswith("[["):
                yield table, number
                arrays[table] = arrays.get(table, -1) + 1
                table = (*table, str(arrays[table]))
            yield table, number
            continue
        assign = _ASSIGN.match(line)
        if assign:
            yield table + _split_key(assign.group(1)), number


def _line_under(text: str, path: tuple[str, ...]) -> int | None:
    """The first line that sets ``path`` or a key below it (a dotted key nests too)."""
    if not path:
        return None
    depth = len(path)
    below = (number for key, number in _scan(text) if key[:depth] == path)
    return next(below, None) or locate_line(text, path)


def locate_line(text: str, path: tuple[str, ...]) -> int | None:
    """The line where ``path`` (or its closest enclosing key) is first set, if any."""
    lines: dict[tuple[str, ...], int] = {}
    for key, number in _scan(text):
        lines.setdefault(key, number)
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
