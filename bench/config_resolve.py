"""``config_resolve``: resolve 200 configurations of 20 fields from TOML files and the environment.

Three subjects do the same job on the same files and variables, and must give
equal values (checked once, outside timing):

- ``oservices``: ``Resolver(settings, environ=...).resolve(cls, name).value``, with provenance;
- ``tomllib + validate``: read each file, ``tomllib.loads``, apply the variables by hand,
  ``cls.model_validate`` (the floor: no layers, no provenance);
- ``pydantic-settings``: one ``BaseSettings`` class per configuration, sourced from the
  same TOML file and from variables ``OSERVICES_<NAME>__*`` with ``__`` nesting.

Classes, files and variables are made once, outside the timed region; a round
times the resolution of all 200 configurations.
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, final

import tomli_w
from pydantic import BaseModel
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bench import Figure, Timing, interleave, ratio
from oservices_core import Configuration, Resolver, Settings

__all__ = ["run"]

CONFIGURATIONS = 200
GOAL_VS_TOMLLIB = 1.5
GOAL_VS_PYDANTIC_SETTINGS = 1.0  # strictly faster
M = TypeVar("M", bound=BaseModel)


class Endpoint(BaseModel):
    host: str = "localhost"
    port: int = 80


# Ten kinds of field, each present twice: 20 fields, defaults varying per configuration.
KINDS: tuple[tuple[str, Any, Callable[[int], Any]], ...] = (
    ("count", int, lambda i: i),
    ("label", str, lambda i: f"label-{i}"),
    ("ratio", float, lambda i: i / 8),
    ("enabled", bool, lambda i: i % 2 == 0),
    ("ports", list[int], lambda i: [8000 + i]),
    ("root", Path, lambda i: Path(f"/srv/{i}")),
    ("endpoint", Endpoint, lambda i: Endpoint(port=i + 1)),
    ("tags", list[str], lambda i: []),
    ("limit", int | None, lambda i: None),
    ("mode", Literal["fast", "safe"], lambda i: "safe"),
)
JSON_FIELDS = frozenset(f"{kind}_{copy}" for kind in ("ports", "tags") for copy in range(2))


class _TomlEnvSettings(BaseSettings):
    """pydantic-settings doing the job: init > environment > the TOML file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


@final
@dataclass(frozen=True, slots=True)
class Case:
    """One configuration under its three guises."""

    name: str
    prefix: str
    file: Path
    cls: type[Configuration]
    settings_cls: type[BaseSettings]


def run(quick: bool) -> Figure:
    with tempfile.TemporaryDirectory(prefix="oservices-bench-") as temp:
        config_dir = Path(temp)
        settings = Settings(home=config_dir, config_dir=config_dir)
        cases = [_case(i, config_dir) for i in range(CONFIGURATIONS)]
        with _environment(_variables()), settings.activate():
            environ = dict(os.environ)
            subjects: dict[str, Callable[[], list[Any]]] = {
                "oservices": lambda: _oservices(cases, settings, environ),
                "tomllib + validate": lambda: _by_hand(cases, environ),
                "pydantic-settings": lambda: [case.settings_cls() for case in cases],
            }
            _check_equal(subjects)
            rounds = 5 if quick else 40
            timings = interleave(subjects, rounds)
    return _figure(rounds, timings)


def _figure(rounds: int, timings: Mapping[str, Timing]) -> Figure:
    description = (f"resolve {CONFIGURATIONS} configurations of 20 fields "
                   "(TOML file + 50 environment variables)")
    notes = ("settings are activated, so each Resolved.value is validated once",
             "garbage collection is off inside each timed round (as in timeit)")
    return Figure("config_resolve", description, rounds, timings, (
        ratio(timings, "oservices", "tomllib + validate", limit=GOAL_VS_TOMLLIB),
        ratio(timings, "oservices", "pydantic-settings", limit=GOAL_VS_PYDANTIC_SETTINGS,
              strict=True),
    ), notes)


def _oservices(cases: Sequence[Case], settings: Settings, environ: Mapping[str, str]) -> list[Any]:
    resolver = Resolver(settings, environ=environ)
    return [resolver.resolve(case.cls, case.name).value for case in cases]


def _by_hand(cases: Sequence[Case], environ: Mapping[str, str]) -> list[Any]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for variable, raw in environ.items():
        upper = variable.upper()
        head, sep, key = upper.partition("__")
        if sep and upper.startswith("OSERVICES_"):
            groups.setdefault(head + "__", []).append((key.lower(), raw))
    return [
        case.cls.model_validate(_apply(tomllib.loads(case.file.read_text(encoding="utf-8")),
                                       groups.get(case.prefix, ())))
        for case in cases
    ]


def _apply(data: dict[str, Any], variables: Sequence[tuple[str, str]]) -> dict[str, Any]:
    for key, raw in variables:
        *tables, last = key.split("__")
        table = data
        for part in tables:
            table = table.setdefault(part, {})
        table[last] = json.loads(raw) if key in JSON_FIELDS else raw
    return data


def _check_equal(subjects: Mapping[str, Callable[[], list[Any]]]) -> None:
    """All subjects give the same values, and both the files and the variables took effect."""
    dumps = {name: [value.model_dump() for value in go()] for name, go in subjects.items()}
    reference = dumps["oservices"]
    for name, values in dumps.items():
        if values != reference:
            raise AssertionError(f"{name} resolves other values than oservices")
    first = reference[0]
    if (first["endpoint_0"], first["label_1"]) != ({"host": "h0.example", "port": 9000}, "file-0"):
        raise AssertionError(f"file or environment values missing: {first}")


def _case(i: int, config_dir: Path) -> Case:
    name = f"cfg{i:03d}"
    prefix = f"OSERVICES_{name.upper()}__"
    file = config_dir / f"{name}.toml"
    file.write_text(tomli_w.dumps(_file_values(i)), encoding="utf-8")
    fields = {f"{kind}_{copy}": (annotation, default(i + copy))
              for copy in range(2) for kind, annotation, default in KINDS}
    settings_config = SettingsConfigDict(toml_file=file, env_prefix=prefix,
                                         env_nested_delimiter="__")
    return Case(
        name=name,
        prefix=prefix,
        file=file,
        cls=_model_class(f"Cfg{i:03d}", Configuration, fields, None),
        settings_cls=_model_class(f"Cfg{i:03d}Settings", _TomlEnvSettings, fields, settings_config),
    )


def _model_class(name: str, base: type[M], fields: Mapping[str, tuple[Any, Any]],
                 config: Mapping[str, Any] | None) -> type[M]:
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__annotations__": {key: annotation for key, (annotation, _) in fields.items()},
        **{key: default for key, (_, default) in fields.items()},
    }
    if config is not None:
        namespace["model_config"] = config
    return cast(type[M], type(name, (base,), namespace))


def _file_values(i: int) -> dict[str, Any]:
    """A handful of values per file, the nested table whole.

    Whole, because a partial table means different things to the subjects: oservices
    merges it into the field's default (``Endpoint(port=i + 1)``), the baselines
    into ``Endpoint()``.
    """
    endpoint = {"host": f"h{i}.example", "port": i + 1}
    return {"count_0": i * 3, "label_1": f"file-{i}", "ports_0": [i, i + 1], "enabled_1": True,
            "root_0": f"/data/{i}", "mode_1": "fast", "endpoint_0": endpoint}


def _variables() -> dict[str, str]:
    """50 variables for 25 configurations: a nested key each, and a scalar or a JSON list."""
    variables: dict[str, str] = {}
    for i in range(0, CONFIGURATIONS, 8):
        prefix = f"OSERVICES_CFG{i:03d}__"
        variables[prefix + "ENDPOINT_0__PORT"] = str(9000 + i)
        if i % 16:
            variables[prefix + "TAGS_0"] = json.dumps(["env", str(i)])
        else:
            variables[prefix + "COUNT_0"] = str(i + 1)  # hides the file's value
    return variables


@contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value

