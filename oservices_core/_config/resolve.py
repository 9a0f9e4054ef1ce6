"""Resolve a configuration from its layers, remembering where each value came from.

Layers, lowest to highest (each a :class:`Layer` with the same interface)::

    default < settings < file < plugin < system < environment < override

(``plugin`` holds what ``oservices_configure`` hooks assigned, during the workflow;
the build writes those values to the configuration's file, so at run time they
are in the file layer, still below the user's system file.)

A layer is a nested mapping of values plus, for each key it sets, a
:class:`Source`. Tables of nested models merge key by key; any other value
(lists, plain tables) is replaced whole by a higher layer.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, final

from pydantic import BaseModel, ValidationError

from oservices_core._config import toml as _toml
from oservices_core._config.bounds import BOUNDS, OutOfBoundsError, parse_bounded
from oservices_core._config.configuration import (
    Configuration,
    configuration_name,
    env_prefix,
)
from oservices_core._config.problems import (
    contains_secret,
    is_complex,
    problems_from,
    shorten,
    show_found,
)
from oservices_core._config.settings import Settings, active_settings, current_settings
from oservices_core._config.shape import derived_fields, model_of, nested_models
from oservices_core._config.systemfile import SystemSource, read_system
from oservices_core._errors import ConfigurationError, Problem

__all__ = ["Layer", "Provenance", "Resolved", "Resolver", "Source", "settings_layer"]

C = TypeVar("C", bound=Configuration)
Kind = Literal["default", "settings", "file", "system", "plugin", "environment", "override"]
Path_ = tuple[str, ...]


@final
@dataclass(frozen=True, slots=True)
class Source:
    """Where one value came from. ``detail`` is a path, a variable name or an override."""

    kind: Kind
    detail: str = ""
    text: str | None = field(default=None, repr=False, compare=False)
    table: Path_ = ()

    def where(self, path: Path_) -> str:
        """Human location of ``path`` in this source: file and line, variable, override."""
        if self.kind in ("file", "system") and self.text is not None:
            line = _toml.locate_line(self.text, self.table + path)
            return f"{self.detail}:{line}" if line else self.detail
        if self.kind == "environment":
            return f"environment variable {self.detail}"
        if self.kind in ("override", "plugin"):
            return self.detail
        return self.kind


@final
@dataclass(slots=True)
class Layer:
    """One layer: nested values and the source of every key it sets."""

    kind: Kind
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[Path_, Source] = field(default_factory=dict)

    def set(self, path: Path_, value: Any, source: Source) -> None:
        table = self.values
        for part in path[:-1]:
            table = table.setdefault(part, {})
        table[path[-1]] = value
        self.sources[path] = source


_NO_DEFAULT: Any = object()


@final
@dataclass(frozen=True, slots=True)
class Provenance:
    """A resolved value's story: the source that won and the lower ones it hides."""

    key: str
    value: Any
    source: Source
    hidden: tuple[tuple[Source, Any], ...]
    secret: bool

    def shown(self, value: Any = _NO_DEFAULT) -> str:
        """The value (this one's, or ``value``) as it may be printed: masked when secret."""
        value = self.value if value is _NO_DEFAULT else value
        return _toml.MASK if self.secret else repr(value)


class Resolved(Generic[C]):
    """A configuration resolved from its layers, kept up to date with the active settings.

    ``value`` re-derives the settings layer whenever other settings are active in
    the calling context, so every holder sees settings propagated, while values
    set by a file, the environment or an override keep winning.
    """

    __slots__ = ("_cache", "_layers", "_settings", "cls", "name")

    def __init__(self, cls: type[C], name: str, layers: list[Layer], settings: Settings) -> None:
        self.cls = cls
        self.name = name
        self._layers = list(layers)  # every layer but the settings one, lowest first
        self._settings = settings  # the resolver's, used while no settings are active
        self._cache: tuple[Settings, C, list[Layer]] | None = None
        self._compute(settings)

    @property
    def value(self) -> C:
        """The configuration for the settings active in this context."""
        settings = current_settings() or self._settings
        cached = self._cache
        if cached is not None and (cached[0] is settings or cached[0] == settings):
            return cached[1]
        return self._compute(settings)

    def at(self, settings: Settings) -> C:
        """The configuration as a process with ``settings`` resolves it (another host's, a
        container's), without activating them here."""
        cached = self._cache
        if cached is not None and (cached[0] is settings or cached[0] == settings):
            return cached[1]
        return _validate(self.cls, self.name, [settings_layer(self.cls, settings), *self._layers])

    def _compute(self, settings: Settings) -> C:
        layers = [settings_layer(self.cls, settings), *self._layers]
        value = _validate(self.cls, self.name, layers)
        self._cache = (settings, value, layers)
        return value

    def add_layer(self, layer: Layer) -> None:
        """Put ``layer`` in its place by kind (a ``plugin`` layer goes below the environment)."""
        order = ("file", "plugin", "system", "environment", "override")
        rank = order.index(layer.kind)
        at = next(
            (i for i, old in enumerate(self._layers) if order.index(old.kind) > rank),
            len(self._layers),
        )
        self._layers.insert(at, layer)
        self._cache = None

    def winner(self, path: Path_) -> Source:
        """The source of the value at ``path``: the highest layer that set it, else default."""
        self.value  # noqa: B018 - bring the cache up to date with the active settings
        assert self._cache is not None
        return _winner(self._cache[2], self.cls, path)

    def to_toml(
        self, *, persist: frozenset[str] = frozenset({"file", "plugin"})
    ) -> tuple[str, bool]:
        """The configuration file to write: values from ``persist`` layers as keys, every
        other value as a comment naming its source. Also says whether a secret was written.

        A value the file or a plugin decided stays a key even while the environment,
        the system file or an override wins over it: the file keeps what was decided,
        and the higher source still wins when the file is read back.
        """
        self.value  # noqa: B018 - bring the cache up to date with the active settings
        assert self._cache is not None
        layers = self._cache[2]
        kept = [layer for layer in layers if layer.kind in persist]
        ordered = [layer for layer in layers if layer.kind not in persist] + kept
        written = _validate(self.cls, self.name, ordered) if kept else self.value

        def aside(path: Path_) -> str | None:
            source = _winner(ordered, self.cls, path)
            if source.kind in persist:
                return None
            return f"from {source.where(path)}" if source.kind != "default" else "default"

        return written._render("reveal", name=self.name, aside=aside)

    def explain(self, key: str) -> Provenance:
        """Where the resolved value of dotted ``key`` came from, and what it hides."""
        self.value  # noqa: B018 - bring the cache up to date with the active settings
        assert self._cache is not None
        _, value, layers = self._cache
        path = tuple(key.split("."))
        current = _get(value, path, self.name)
        found = [
            (layer.sources[path], _lookup(layer.values, path))
            for layer in reversed(layers)
            if path in layer.sources
        ]
        default = _default(self.cls, path)
        if default is not _NO_DEFAULT:
            found.append((Source("default"), default))
        secret = contains_secret(self.cls, path)
        winner = found[0][0] if found else Source("default")
        return Provenance(key, current, winner, tuple(found[1:]), secret)


def _winner(layers: list[Layer], cls: type[BaseModel], path: Path_) -> Source:
    """The source of the value at ``path``: the highest of ``layers`` that set it, else default."""
    for layer in reversed(layers):
        for end in range(len(path), 0, -1):
            source = layer.sources.get(path[:end])
            if source is not None and (end == len(path) or not _is_table(cls, path[:end])):
                return source
    return Source("default")


def _get(value: BaseModel, path: Path_, name: str) -> Any:
    current: Any = value
    for index, part in enumerate(path):
        if isinstance(current, Mapping) and part in current:
            current = current[part]  # a key inside a plain table field
            continue
        if not isinstance(current, BaseModel) or part not in type(current).model_fields:
            known = ", ".join(type(current).model_fields) if isinstance(current, BaseModel) else ""
            dotted = ".".join(path[: index + 1])
            raise ConfigurationError(
                Problem(
                    f"configuration {name!r}", dotted, f"one of the keys: {known}", "no such key"
                )
            )
        current = getattr(current, part)
    return current


def _is_table(cls: type[BaseModel], path: Path_) -> bool:
    """Whether ``path`` names a nested model, whose keys each have their own source."""
    model: type[BaseModel] | None = cls
    for part in path:
        model = nested_models(model).get(part) if model else None
    return model is not None


def _lookup(values: Mapping[str, Any], path: Path_) -> Any:
    current: Any = values
    for part in path:
        current = current[part]
    return current


def _default(cls: type[BaseModel], path: Path_) -> Any:
    model: type[BaseModel] | None = cls
    for part in path[:-1]:
        info = model.model_fields.get(part) if model else None
        model = model_of(info.annotation) if info else None
    info = model.model_fields.get(path[-1]) if model else None
    if info is None or info.is_required():
        return _NO_DEFAULT
    return info.get_default(call_default_factory=True)


def settings_layer(cls: type[BaseModel], settings: Settings) -> Layer:
    """The values that ``cls`` derives from ``settings`` (its ``FromSettings`` fields)."""
    layer = Layer("settings")
    source = Source("settings")
    for path, derive in derived_fields(cls):
        layer.set(path, derive(settings), source)
    return layer


def _merge(layers: Iterable[Layer], cls: type[BaseModel]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        _merge_into(merged, layer.values, cls)
    return merged


def _merge_into(
    target: dict[str, Any], incoming: Mapping[str, Any], cls: type[BaseModel] | None
) -> None:
    nested_of = nested_models(cls) if cls else {}
    for key, value in incoming.items():
        nested = nested_of.get(key)
        if cls is not None and nested is not None and isinstance(value, Mapping):
            # A table merges key by key into what is below it, the field's default included.
            target[key] = _table_below(target.get(key, _UNSET), cls, key)
            _merge_into(target[key], value, nested)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value


_UNSET = object()


def _table_below(current: Any, cls: type[BaseModel], key: str) -> dict[str, Any]:
    """What a table for nested model ``key`` merges into: a lower layer's, else the default's."""
    if isinstance(current, dict):
        return current
    return _copy_tables(_default_table(cls, key))


_DEFAULT_TABLES: weakref.WeakKeyDictionary[type[BaseModel], dict[str, dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def _default_table(cls: type[BaseModel], key: str) -> dict[str, Any]:
    """The default of nested model field ``key`` as a table; a plain default is dumped once."""
    info = cls.model_fields[key]
    if info.default_factory is not None or info.is_required():
        value = None if info.is_required() else info.get_default(call_default_factory=True)
        return value.model_dump(by_alias=True) if isinstance(value, BaseModel) else {}
    tables = _DEFAULT_TABLES.setdefault(cls, {})
    if key not in tables:
        value = info.get_default()
        tables[key] = value.model_dump(by_alias=True) if isinstance(value, BaseModel) else {}
    return tables[key]


def _copy_tables(table: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough for merging: nested tables are new, leaf values shared."""
    return {k: _copy_tables(v) if isinstance(v, dict) else v for k, v in table.items()}


def _validate(cls: type[C], name: str, layers: list[Layer]) -> C:
    try:
        return cls.model_validate(_merge(layers, cls))
    except ValidationError as exc:
        locate = _Locator(name, layers).where
        raise ConfigurationError(
            problems_from(exc, cls, locate), subject=f"configuration {name!r}"
        ) from None


class _Locator:
    """Places a failing key in the highest layer that set it (or its closest parent)."""

    __slots__ = ("layers", "name")

    def __init__(self, name: str, layers: list[Layer]) -> None:
        self.name = name
        self.layers = layers

    def where(self, path: Path_) -> str:
        for end in range(len(path), 0, -1):
            for layer in reversed(self.layers):
                source = layer.sources.get(path[:end])
                if source is not None:
                    return source.where(path)
        files = [
            next(iter(layer.sources.values())) for layer in self.layers if layer.kind == "file"
        ]
        return files[0].detail if files else f"configuration {self.name!r}"


class Resolver:
    """Resolves configurations against one environment, system file and set of overrides.

    The environment is read here, not at import. The system layer is the file
    ``system`` (a :class:`SystemSource`) or ``system_file`` names, else the
    settings' system file (``HOME/system.toml`` when there is one).
    ``overrides`` maps ``"name.dotted.key"`` to a value (text from the command
    line is read like an environment variable: JSON for lists and tables).
    :func:`oservices_core._config.resolution.resolver` keeps one per process for
    each settings and overrides: use it rather than building another.
    """

    __slots__ = ("_env", "_overrides", "settings", "system")

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        system_file: Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        system: SystemSource | None = None,
    ) -> None:
        self.settings = settings or active_settings()
        self._env = _group_environ(os.environ if environ is None else environ)
        if system is None:
            path = system_file or self.settings.system_path()
            system = read_system(path) if path is not None else None
        self.system = system
        self._overrides = _group_overrides(overrides or {})

    def file_for(self, name: str) -> Path:
        """Where configuration ``name`` lives: ``CONFIG_DIR/NAME.toml``."""
        return self.settings.config_dir / f"{name}.toml"

    def resolve(
        self, cls: type[C], name: str | None = None, *, file: Path | None = None
    ) -> Resolved[C]:
        """Resolve ``cls`` under ``name``; ``file`` defaults to :meth:`file_for`, if it exists."""
        name = name or configuration_name(cls)
        path = file if file is not None else self.file_for(name)
        problems: list[Problem] = []
        layers = [
            _file_layer(path, explicit=file is not None),
            self._system_layer(name),
            _environment_layer(cls, self._env.get(env_prefix(name), []), problems),
            _override_layer(cls, name, self._overrides.get(name, []), problems),
        ]
        if problems:
            raise ConfigurationError(problems, subject=f"configuration {name!r}")
        return Resolved(cls, name, [layer for layer in layers if layer.values], self.settings)

    def _system_layer(self, name: str) -> Layer:
        layer = Layer("system")
        system = self.system
        section = system.configuration(name) if system is not None else None
        if system is not None and section is not None:
            source = Source("system", system.path, system.text, ("configurations", name))
            _fill(layer, section, source, ())
        return layer


def _fill(layer: Layer, values: Mapping[str, Any], source: Source, prefix: Path_) -> None:
    """Copy a parsed TOML table into ``layer``, one source entry per key and table."""
    for key, value in values.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            layer.sources[path] = source
            _fill(layer, value, source, path)
        else:
            layer.set(path, value, source)


def _file_layer(path: Path, *, explicit: bool) -> Layer:
    from oservices_core._config.systemfile import read_toml_file

    layer = Layer("file")
    try:
        parsed = read_toml_file(path)
    except ConfigurationError:
        # The usual file is optional; an explicitly named one must be there.
        if explicit or path.exists():
            raise
        return layer
    _fill(layer, parsed.data, Source("file", str(path), parsed.text), ())
    return layer


def _group_environ(environ: Mapping[str, str]) -> dict[str, list[tuple[str, str]]]:
    """Configuration variables grouped by their ``OSERVICES_NAME__`` prefix."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for variable, value in environ.items():
        upper = variable.upper()
        if not upper.startswith("OSERVICES_"):
            continue
        head, sep, _ = upper.partition("__")
        if sep:
            groups.setdefault(head + "__", []).append((variable, value))
    return groups


def _group_overrides(overrides: Mapping[str, Any]) -> dict[str, list[tuple[str, Any]]]:
    groups: dict[str, list[tuple[str, Any]]] = {}
    for target, value in overrides.items():
        name, sep, key = target.partition(".")
        if not sep or not key:
            problem = Problem(
                f"override {shorten(target)}",
                shorten(target),
                "NAME.FIELD=VALUE",
                shorten(repr(target)),
                hint="name the configuration, a dot, then the field",
            )
            raise ConfigurationError(problem)
        groups.setdefault(name, []).append((key, value))
    return groups


def _environment_layer(
    cls: type[BaseModel], variables: list[tuple[str, str]], problems: list[Problem]
) -> Layer:
    layer = Layer("environment")
    for variable, raw in variables:
        parts = variable.split("__")[1:]
        where = f"environment variable {shorten(variable)}"
        path = _field_path(cls, [part.lower() for part in parts], where, problems)
        if path is not None:
            value = _coerce(cls, path, raw, where, problems)
            if value is not _BAD:
                layer.set(path, value, Source("environment", variable))
    return layer


def _override_layer(
    cls: type[BaseModel], name: str, items: list[tuple[str, Any]], problems: list[Problem]
) -> Layer:
    layer = Layer("override")
    for key, raw in items:
        where = f"override {shorten(f'{name}.{key}')}"
        path = _field_path(cls, key.split("."), where, problems)
        if path is None:
            continue
        value = _coerce(cls, path, raw, where, problems) if isinstance(raw, str) else raw
        if value is not _BAD:
            shown = _toml.MASK if contains_secret(cls, path) else str(raw)
            detail = shorten(f"--set {name}.{key}={shown}", limit=80)
            layer.set(path, value, Source("override", detail))
    return layer


_BAD = object()


def _field_path(
    cls: type[BaseModel], parts: list[str], where: str, problems: list[Problem]
) -> Path_ | None:
    """Map case-folded parts onto field names, reporting unknown ones with close names."""
    model: type[BaseModel] | None = cls
    path: list[str] = []
    for part in parts:
        names = {name.lower(): name for name in model.model_fields} if model else {}
        if part.lower() not in names:
            problems.append(_unknown(where, path, part, sorted(names.values())))
            return None
        name = names[part.lower()]
        path.append(name)
        model = model_of(model.model_fields[name].annotation) if model else None
    return tuple(path) if path else None


def _unknown(where: str, path: list[str], part: str, known: list[str]) -> Problem:
    close = difflib.get_close_matches(part, known, n=3)
    hint = f"did you mean {' or '.join(close)}?" if close else "check the key's name"
    dotted = shorten(".".join([*path, part]))
    if not known:  # the key above holds a value, not a table
        return Problem(
            where,
            dotted,
            f"no key below {'.'.join(path)!r}, which holds a value",
            f"key {shorten(repr(part))}",
            hint=f"set {'.'.join(path)} itself",
        )
    return Problem(
        where,
        dotted,
        "one of the known keys: " + ", ".join(known),
        f"unknown key {shorten(repr(part))}",
        hint=hint,
    )


def _coerce(
    cls: type[BaseModel], path: Path_, raw: str, where: str, problems: list[Problem]
) -> Any:
    """Text is kept as text, except for lists, tables and models, which are JSON (or a TOML
    inline value); either is read within the one bound on outside text."""
    dotted = ".".join(path)
    secret = contains_secret(cls, path)
    if not _is_utf8(raw):
        found = "bytes that are not UTF-8"
        problems.append(Problem(where, dotted, "UTF-8 text", found, hint="set it as UTF-8 text"))
        return _BAD
    info = _field_info(cls, path)
    if info is None or not is_complex(info.annotation):
        return raw
    expected = "a JSON (or TOML inline) list or table"
    try:
        return _structured(raw)
    except OutOfBoundsError as exc:
        problems.append(Problem(where, dotted, f"{expected} with {BOUNDS}", exc.found, exc.hint))
    except ValueError:
        found = show_found(raw, secret=secret)
        hint = 'for example ["a", "b"] or {"key": 1}'
        problems.append(Problem(where, dotted, expected, found, hint=hint))
    return _BAD


def _structured(raw: str) -> Any:
    """JSON, else a TOML inline value; a ``ValueError`` when it is neither."""
    try:
        return parse_bounded(json.loads, raw)
    except json.JSONDecodeError:
        pass
    data = parse_bounded(tomllib.loads, f"v = {raw}")  # TOMLDecodeError is a ValueError
    if list(data) != ["v"]:  # more text after the value: "[1]\nother = 2"
        raise ValueError(raw)
    return data["v"]


def _is_utf8(text: str) -> bool:
    # Bytes that are not UTF-8 reach os.environ and sys.argv as lone surrogates.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _field_info(cls: type[BaseModel], path: Path_) -> Any:
    model: type[BaseModel] | None = cls
    info = None
    for part in path:
        if model is None:
            return None
        info = model.model_fields.get(part)
        if info is None:
            return None
        model = model_of(info.annotation)
    return info
