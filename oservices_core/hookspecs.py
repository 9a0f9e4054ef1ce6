"""Every oservices hook, grouped by stage.

Plugins implement hooks with :data:`hookimpl` and take only the arguments they
need; every call is made with keyword arguments. Unless a hook says otherwise,
each implementation is called once per call, in pluggy's order (``tryfirst``,
then last registered first, then ``trylast``), and all results are collected
in a list. Built-in plugins mark their implementations ``trylast`` so that a
third party can act before them.

Groups:

- registration: :func:`oservices_configurations`
- settings: :func:`oservices_settings_activated`
- workflow stages: :func:`oservices_configure`, :func:`oservices_configure_service`,
  :func:`oservices_setup`, :func:`oservices_initialize`, :func:`oservices_build`
- component lifecycle: :func:`oservices_component_starting`,
  :func:`oservices_component_ready`, :func:`oservices_component_exited`

Command-line commands are not hooks: a plugin declares them in the entry-point
group ``oservices.commands`` (see :mod:`oservices_core._cli.commands`), so
``oservices --help`` lists them without importing the plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from oservices_core._config.configuration import Configuration
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.component import Component, Service
    from oservices_core._workflow.context import Context

__all__ = [
    "PROJECT",
    "hookimpl",
    "hookspec",
    "oservices_build",
    "oservices_component_exited",
    "oservices_component_ready",
    "oservices_component_starting",
    "oservices_configurations",
    "oservices_configure",
    "oservices_configure_service",
    "oservices_initialize",
    "oservices_settings_activated",
    "oservices_setup",
]

PROJECT = "oservices"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# Registration ---------------------------------------------------------------


@hookspec
def oservices_configurations() -> Mapping[str, type[Configuration]]:  # type: ignore[empty-body]  # a spec has no body
    """Configurations that a plugin's package contributes, by name.

    Components and services bring their own configuration; this hook is how a
    *package* (a library shared by several components) attaches one. Called once
    when the registry is built; every plugin's mapping is collected. A name
    already taken by another configuration is a load failure of the later plugin.

    :return: a mapping of configuration name to :class:`Configuration` subclass.
    """


# Settings -------------------------------------------------------------------


@hookspec
def oservices_settings_activated(settings: Settings) -> None:
    """Settings were activated: a process or thread started, or a reload happened.

    Called after activation, once per activation, in the context (thread) that
    activated them, so :func:`oservices_core.active_settings` returns ``settings``.

    :param settings: the settings now active.
    """


# Workflow stages --------------------------------------------------------------


@hookspec
def oservices_configure(context: Context, name: str, configuration: Configuration) -> None:
    """Configure one configuration: set its variables.

    Called once per configuration of the system, before ``configure_service``.
    An implementation sets variables by assigning to fields; assignments are
    validated and recorded in provenance under the plugin's name. The user's
    environment variables and explicit overrides still win.

    :param context: the run's context.
    :param name: the configuration's name.
    :param configuration: the resolved configuration, to assign to.
    """


@hookspec
def oservices_configure_service(context: Context, service: Service) -> None:
    """Configure a service: all of its configurations together.

    Called once per service of the system, after every ``configure`` call, for
    values that depend on several components (an API address a worker needs).

    :param context: the run's context.
    :param service: the service being configured.
    """


@hookspec
def oservices_setup(context: Context) -> None:
    """Set up the process: whatever a component's process needs before its ``main`` runs.

    Called once per run of the setup stage, after configuration.

    :param context: the run's context.
    """


@hookspec
def oservices_initialize(context: Context) -> None:
    """Initialize the installation: what must exist before components run (directories, data).

    Called once per run of the initialize stage, after setup. Must be idempotent.

    :param context: the run's context.
    """


@hookspec
def oservices_build(context: Context) -> None:
    """Build: write configuration files (through ``context.write_file``).

    Called once per run of the build stage, after configuration.

    :param context: the run's context.
    """


# Component lifecycle -----------------------------------------------------------


@hookspec
def oservices_component_starting(component: Component) -> None:
    """A component is about to start in its own process.

    Called once per start (and per restart) by the process that starts it.

    :param component: the component starting.
    """


@hookspec
def oservices_component_ready(component: Component, pid: int) -> None:
    """A started component reported ready.

    Called once per start, by the process that watches it.

    :param component: the component.
    :param pid: its process id.
    """


@hookspec
def oservices_component_exited(component: Component, pid: int, returncode: int) -> None:
    """A component's process exited.

    Called once per exit, by the process that watches it.

    :param component: the component.
    :param pid: the process id it had.
    :param returncode: its exit status; negative for a signal, as in :mod:`subprocess`.
    """
