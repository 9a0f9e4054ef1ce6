"""Find a configuration class from what the command line names."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Any, final

from pydantic import BaseModel

from oservices_core._config import toml as _toml
from oservices_core._config.configuration import Configuration, configuration_name
from oservices_core._config.resolve import settings_layer
from oservices_core._config.settings import active_settings
from oservices_core._errors import ConfigurationError, Problem

__all__ = [
    "Target",
    "find",
    "is_settings",
    "masked_json",
    "render_masked",
    "render_sample",
    "render_settings",
    "settings_json",
    "split_key",
]

_SETTINGS = "settings"


@final
@dataclass(frozen=True, slots=True)
class Target:
    """A configuration class and the name it goes by."""

    name: str
    cls: type[Configuration]


def is_settings(name: str) -> bool:
    """Whether ``name`` means the installation's settings."""
    return name == _SETTINGS


def find(name: str) -> Target:
    """A registered configuration by name, or one named by an import path ``module:Class``."""
    if ":" not in name:
        return _registered(name)
    module_name, _, attribute = name.partition(":")
    if not module_name.strip():
        raise _not_found(name, "no module before ':' (module 'cannot be imported')")
    _importable_here()
    try:
        value: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - whatever the user's module raises is reported
        reason = f"{type(exc).__name__}: {exc}"
        raise _not_found(name, f"module {module_name!r} cannot be imported ({reason})") from None
    for part in attribute.split("."):
        value = getattr(value, part, None)
    if not (isinstance(value, type) and issubclass(value, Configuration)):
        raise _not_found(name, f"{attribute!r} in {module_name!r} is not a Configuration class")
    return Target(configuration_name(value), value)


def _registered(name: str) -> Target:
    from oservices_core._plugins.registry import load_registry

    entry = load_registry().configuration(name)
    return Target(entry.name, entry.cls)


def _importable_here() -> None:
    # Like gunicorn and uvicorn: an import path may name a module in the current directory.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def _not_found(name: str, found: str) -> ConfigurationError:
    return ConfigurationError(
        Problem(
            "command line",
            name,
            "a configuration: package.module:Class (or 'settings' to show)",
            found,
            hint="check the spelling and that its package is installed",
        )
    )


def split_key(key: str) -> tuple[str, str]:
    """``NAME.FIELD`` to ``(NAME, FIELD)``.

    An import path keeps its dots before the colon; a registered name may hold
    dots itself, so the longest registered name the key starts with wins.
    """
    module, colon, rest = key.rpartition(":")
    name, dot, field = rest.partition(".")
    if not colon and dot:
        longest = _longest_registered(key)
        if longest:
            name, field = longest, key[len(longest) + 1 :]
    if not dot or not field:
        raise ConfigurationError(
            Problem(
                "command line",
                key,
                "NAME.FIELD",
                repr(key),
                hint="name the configuration, a dot, then the field",
            )
        )
    return (module + colon + name, field)


def _longest_registered(key: str) -> str:
    if "." not in key.partition(".")[2]:
        return ""  # one dot: nothing to choose between
    from oservices_core._plugins.registry import load_registry

    names = [n for n in load_registry(warn=False).configurations if key.startswith(n + ".")]
    return max(names, key=len, default="")


def render_masked(model: Configuration, name: str) -> str:
    """Resolved values as TOML, every secret masked."""
    return model._render("mask", name=name)[0]


def masked_json(model: BaseModel) -> str:
    """Values as indented JSON, every secret masked as in the TOML output."""
    import json

    # pydantic's JSON mode writes each SecretStr and SecretBytes as the mask the TOML has.
    return json.dumps(model.model_dump(mode="json", by_alias=True), indent=2)


def settings_json() -> str:
    """The active settings as indented JSON, secrets masked."""
    return masked_json(active_settings())


def render_settings() -> str:
    """The active settings as TOML, secrets masked."""
    settings = active_settings()
    head = ["# Settings (environment prefix OSERVICES_)", ""]
    return _render(settings, head)


def render_sample(target: Target) -> str:
    """Commented TOML holding the defaults; required fields are shown as comments."""
    cls = target.cls
    derived = settings_layer(cls, active_settings()).values
    return cls.model_construct(**derived)._render("omit", name=target.name)[0]


def _render(model: BaseModel, head: list[str]) -> str:
    return _toml.render(model, head=head, secrets="mask", env_hint=lambda key: key.upper())[0]
