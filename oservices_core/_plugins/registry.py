"""The registry: components, services and configurations known through plugins."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, final

from oservices_core._errors import ConfigurationError, Problem

if TYPE_CHECKING:
    from oservices_core._config.configuration import Configuration
    from oservices_core._plugins.component import Component, Service
    from oservices_core._plugins.manager import PluginManager

__all__ = ["ConfigurationEntry", "Registry", "load_registry", "unknown_name"]


@final
@dataclass(frozen=True, slots=True)
class ConfigurationEntry:
    """A configuration class, the name it goes by, and what it is attached to."""

    name: str
    cls: type[Configuration]
    owner: str  # "component NAME", "service NAME" or "package (plugin NAME)"


@final
class Registry:
    """What the loaded plugins declare, looked up by name with helpful errors."""

    __slots__ = ("components", "configurations", "plugin_manager", "services")

    def __init__(self, plugin_manager: PluginManager) -> None:
        self.plugin_manager = plugin_manager
        self.components: dict[str, Component] = plugin_manager.components()
        self.services: dict[str, Service] = plugin_manager.services()
        self.configurations = _configurations(plugin_manager, self.components, self.services)

    def service_of(self, component: str) -> Service | None:
        """The service that lists ``component``, if any."""
        return next((s for s in self.services.values() if component in s.components), None)

    def service(self, name: str, where: str = "command line") -> Service:
        """The service ``name``, or an error naming the closest known ones."""
        if name not in self.services:
            raise ConfigurationError(unknown_name("service", name, self.services, where))
        return self.services[name]

    def configuration(self, name: str, where: str = "command line") -> ConfigurationEntry:
        """The configuration ``name``, or an error naming the closest known ones."""
        if name not in self.configurations:
            raise ConfigurationError(
                unknown_name("configuration", name, self.configurations, where)
            )
        return self.configurations[name]


def load_registry(*, warn: bool = True) -> Registry:
    """Load the plugins (strict when the active settings say so) into a registry.

    Each plugin that failed to load is a :class:`PluginLoadWarning` (unless ``warn``
    is false); the outcomes stay on ``registry.plugin_manager.outcomes``.
    """
    import warnings

    from oservices_core._errors import PluginLoadWarning
    from oservices_core._plugins.manager import get_plugin_manager

    pm = get_plugin_manager()
    for outcome in pm.outcomes:
        if warn and outcome.state == "failed":
            warnings.warn(PluginLoadWarning(outcome), stacklevel=2)
    return Registry(pm)


def unknown_name(kind: str, name: str, known: Iterable[str], where: str) -> Problem:
    """A problem for an unknown name, suggesting the closest known ones."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"did you mean {' or '.join(close)}?" if close else "see `oservices components`"
    listed = ", ".join(names) if names else f"no {kind} is installed"
    return Problem(where, name, f"a known {kind} ({listed})", f"unknown {kind} {name!r}", hint)


def _configurations(
    pm: PluginManager, components: dict[str, Component], services: dict[str, Service]
) -> dict[str, ConfigurationEntry]:
    entries: dict[str, ConfigurationEntry] = {}
    for name, component in components.items():
        if component.configuration is not None:
            entries[name] = ConfigurationEntry(name, component.configuration, f"component {name}")
    for name, service in services.items():
        if service.configuration is not None:
            entries[name] = ConfigurationEntry(name, service.configuration, f"service {name}")
    for name, (cls, plugin) in pm.package_configurations.items():
        entries[name] = ConfigurationEntry(name, cls, f"package (plugin {plugin})")
    return entries
