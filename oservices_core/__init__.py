"""oservices core: configurations, settings and the words of the framework.

The public API is exactly ``__all__``. Names load on first use (PEP 562), so
``import oservices_core`` (and ``oservices --help``) stays light and neutral.
"""

from __future__ import annotations

import importlib

from oservices_core._version import __version__

TYPE_CHECKING = False  # not typing's: importing typing costs --help a tenth of its time
if TYPE_CHECKING:
    from typing import Any

    from oservices_core._administrator import Administrator
    from oservices_core._component import Component, Service
    from oservices_core._configuration import Configuration, FromSettings
    from oservices_core._context import Artifact, Context, Stash, StashKey
    from oservices_core._errors import (
        ConfigurationError,
        OservicesError,
        PluginLoadError,
        Problem,
        StageError,
    )
    from oservices_core._instance import ComponentStatus
    from oservices_core._notify import notify_ready
    from oservices_core._plugins import PluginManager, PluginOutcome, get_plugin_manager
    from oservices_core._policy import Readiness, Restart
    from oservices_core._registry import Registry
    from oservices_core._resolve import Provenance, Resolved, Resolver, Source
    from oservices_core._settings import Settings, active_settings, load_settings, start_thread
    from oservices_core._system import System
    from oservices_core._workflow import STAGES, Stage, StageReport, run_workflow
    from oservices_core.hookspecs import hookimpl, hookspec

__all__ = [
    "STAGES",
    "Administrator",
    "Artifact",
    "Component",
    "ComponentStatus",
    "Configuration",
    "ConfigurationError",
    "Context",
    "FromSettings",
    "OservicesError",
    "PluginLoadError",
    "PluginManager",
    "PluginOutcome",
    "Problem",
    "Provenance",
    "Readiness",
    "Registry",
    "Resolved",
    "Resolver",
    "Restart",
    "Service",
    "Settings",
    "Source",
    "Stage",
    "StageError",
    "StageReport",
    "Stash",
    "StashKey",
    "System",
    "__version__",
    "active_settings",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "load_settings",
    "notify_ready",
    "run_workflow",
    "start_thread",
]

_HOMES = {
    "Administrator": "_administrator",
    "ComponentStatus": "_instance",
    "notify_ready": "_notify",
    "Readiness": "_policy",
    "Restart": "_policy",
    "Artifact": "_context",
    "Stash": "_context",
    "StashKey": "_context",
    "StageError": "_errors",
    "STAGES": "_workflow",
    "Stage": "_workflow",
    "StageReport": "_workflow",
    "run_workflow": "_workflow",
    "Component": "_component",
    "Service": "_component",
    "Context": "_context",
    "PluginLoadError": "_errors",
    "PluginManager": "_plugins",
    "PluginOutcome": "_plugins",
    "get_plugin_manager": "_plugins",
    "Registry": "_registry",
    "System": "_system",
    "hookimpl": "hookspecs",
    "hookspec": "hookspecs",
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
