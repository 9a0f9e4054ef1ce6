"""oservices core: configurations, settings and the words of the framework.

The public API is exactly ``__all__``. Names load on first use (PEP 562), so
``import oservices_core`` (and ``oservices --help``) stays light and neutral.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from oservices_core._version import __version__

if TYPE_CHECKING:
    from oservices_core._configuration import Configuration, FromSettings
    from oservices_core._errors import ConfigurationError, OservicesError, Problem
    from oservices_core._resolve import Provenance, Resolved, Resolver, Source
    from oservices_core._settings import Settings, active_settings, load_settings, start_thread

__all__ = [
    "Configuration",
    "ConfigurationError",
    "FromSettings",
    "OservicesError",
    "Problem",
    "Provenance",
    "Resolved",
    "Resolver",
    "Settings",
    "Source",
    "__version__",
    "active_settings",
    "load_settings",
    "start_thread",
]

_HOMES = {
    "Configuration": "_configuration",
    "FromSettings": "_configuration",
    "ConfigurationError": "_errors",
    "OservicesError": "_errors",
    "Problem": "_errors",
    "Provenance": "_resolve",
    "Resolved": "_resolve",
    "Resolver": "_resolve",
    "Source": "_resolve",
    "Settings": "_settings",
    "active_settings": "_settings",
    "load_settings": "_settings",
    "start_thread": "_settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'oservices_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"oservices_core.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
