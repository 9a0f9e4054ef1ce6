"""A typed facade over ``pm.hook`` so that mypy checks every hook call.

Each method calls the hook of the same name with keyword arguments and returns
what pluggy returns; there is no dispatch of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from pluggy import HookRelay

    from oservices_core._config.configuration import Configuration
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.component import Component, Service
    from oservices_core._workflow.context import Context

__all__ = ["Hooks"]


@final
class Hooks:
    """Typed calls of every hook in :mod:`oservices_core.hookspecs`."""

    __slots__ = ("_relay",)

    def __init__(self, relay: HookRelay) -> None:
        self._relay = relay

    def configurations(self) -> list[Mapping[str, type[Configuration]]]:
        """Call ``oservices_configurations``."""
        return self._relay.oservices_configurations()  # type: ignore[no-any-return]  # pluggy is untyped

    def settings_activated(self, *, settings: Settings) -> None:
        """Call ``oservices_settings_activated``."""
        self._relay.oservices_settings_activated(settings=settings)

    def configure(self, *, context: Context, name: str, configuration: Configuration) -> None:
        """Call ``oservices_configure``."""
        self._relay.oservices_configure(context=context, name=name, configuration=configuration)

    def configure_service(self, *, context: Context, service: Service) -> None:
        """Call ``oservices_configure_service``."""
        self._relay.oservices_configure_service(context=context, service=service)

    def setup(self, *, context: Context) -> None:
        """Call ``oservices_setup``."""
        self._relay.oservices_setup(context=context)

    def initialize(self, *, context: Context) -> None:
        """Call ``oservices_initialize``."""
        self._relay.oservices_initialize(context=context)

    def build(self, *, context: Context) -> None:
        """Call ``oservices_build``."""
        self._relay.oservices_build(context=context)

    def component_starting(self, *, component: Component) -> None:
        """Call ``oservices_component_starting``."""
        self._relay.oservices_component_starting(component=component)

    def component_ready(self, *, component: Component, pid: int) -> None:
        """Call ``oservices_component_ready``."""
        self._relay.oservices_component_ready(component=component, pid=pid)

    def component_exited(self, *, component: Component, pid: int, returncode: int) -> None:
        """Call ``oservices_component_exited``."""
        self._relay.oservices_component_exited(component=component, pid=pid, returncode=returncode)
