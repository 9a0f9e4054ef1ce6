"""oservices core: configurations, settings and the words of the framework.

The public API is exactly ``__all__``, made from one table (``_PUBLIC``: each
name and the module it lives in). Names load on first use (PEP 562), so
``import oservices_core`` (and ``oservices --help``) stays light and neutral.
"""

from __future__ import annotations

import importlib

from oservices_core._version import __version__

TYPE_CHECKING = False  # not typing's: importing typing costs --help a tenth of its time
if TYPE_CHECKING:  # the same names for mypy; a test checks they match the table
    from typing import Any

    from oservices_core._config.configuration import Configuration as Configuration
    from oservices_core._config.configuration import FromSettings as FromSettings
    from oservices_core._config.resolve import Provenance as Provenance
    from oservices_core._config.resolve import Resolved as Resolved
    from oservices_core._config.resolve import Resolver as Resolver
    from oservices_core._config.resolve import Source as Source
    from oservices_core._config.settings import Settings as Settings
    from oservices_core._config.settings import active_settings as active_settings
    from oservices_core._config.settings import load_settings as load_settings
    from oservices_core._config.settings import start_thread as start_thread
    from oservices_core._errors import ConfigurationError as ConfigurationError
    from oservices_core._errors import OservicesError as OservicesError
    from oservices_core._errors import PluginLoadError as PluginLoadError
    from oservices_core._errors import Problem as Problem
    from oservices_core._errors import StageError as StageError
    from oservices_core._plugins.component import Component as Component
    from oservices_core._plugins.component import Service as Service
    from oservices_core._plugins.manager import PluginManager as PluginManager
    from oservices_core._plugins.manager import PluginOutcome as PluginOutcome
    from oservices_core._plugins.manager import get_plugin_manager as get_plugin_manager
    from oservices_core._plugins.policy import Readiness as Readiness
    from oservices_core._plugins.policy import Restart as Restart
    from oservices_core._plugins.registry import Registry as Registry
    from oservices_core._plugins.stash import Stash as Stash
    from oservices_core._plugins.stash import StashKey as StashKey
    from oservices_core._plugins.system import System as System
    from oservices_core._supervisor.administrator import Administrator as Administrator
    from oservices_core._supervisor.instance import ComponentStatus as ComponentStatus
    from oservices_core._supervisor.notify import notify_ready as notify_ready
    from oservices_core._workflow.context import Artifact as Artifact
    from oservices_core._workflow.context import Context as Context
    from oservices_core._workflow.run import STAGES as STAGES
    from oservices_core._workflow.run import Stage as Stage
    from oservices_core._workflow.run import StageReport as StageReport
    from oservices_core._workflow.run import run_workflow as run_workflow
    from oservices_core.hookspecs import hookimpl as hookimpl
    from oservices_core.hookspecs import hookspec as hookspec

_PUBLIC = {
    "Configuration": "_config.configuration",
    "FromSettings": "_config.configuration",
    "Provenance": "_config.resolve",
    "Resolved": "_config.resolve",
    "Resolver": "_config.resolve",
    "Source": "_config.resolve",
    "Settings": "_config.settings",
    "active_settings": "_config.settings",
    "load_settings": "_config.settings",
    "start_thread": "_config.settings",
    "ConfigurationError": "_errors",
    "OservicesError": "_errors",
    "PluginLoadError": "_errors",
    "Problem": "_errors",
    "StageError": "_errors",
    "Component": "_plugins.component",
    "Service": "_plugins.component",
    "PluginManager": "_plugins.manager",
    "PluginOutcome": "_plugins.manager",
    "get_plugin_manager": "_plugins.manager",
    "Readiness": "_plugins.policy",
    "Restart": "_plugins.policy",
    "Registry": "_plugins.registry",
    "Stash": "_plugins.stash",
    "StashKey": "_plugins.stash",
    "System": "_plugins.system",
    "Artifact": "_workflow.context",
    "Context": "_workflow.context",
    "STAGES": "_workflow.run",
    "Stage": "_workflow.run",
    "StageReport": "_workflow.run",
    "run_workflow": "_workflow.run",
    "Administrator": "_supervisor.administrator",
    "ComponentStatus": "_supervisor.instance",
    "notify_ready": "_supervisor.notify",
    "hookimpl": "hookspecs",
    "hookspec": "hookspecs",
}

__all__ = ["__version__", *_PUBLIC]  # noqa: PLE0604 - the keys of the table are strings


def __getattr__(name: str) -> Any:
    home = _PUBLIC.get(name)
    if home is None:
        raise AttributeError(f"module 'oservices_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"oservices_core.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
