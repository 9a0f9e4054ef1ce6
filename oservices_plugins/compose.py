"""Built-in ``compose`` plugin: the build writes a docker compose file for the whole system.

Enabled by the package configuration ``compose`` (``enabled = true`` and the
``image`` that has the system installed), it writes ``compose/compose.yaml``: a
service per component, running ``oservices run NAME`` in the image, and a
``configs`` entry per configuration: its file as this build resolves it for the
container (every layer folded in, secret fields left out), mounted in the
container's configuration directory. Secret values are never written: the
environment of a component refers to them as ``${OSERVICES_NAME__FIELD}``, which
compose reads from its own environment or from an ``.env`` file beside the
compose file. Needs docker compose 2.23 or newer (``configs.content``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from oservices_core import Configuration, Context, Settings, hookimpl
from oservices_plugins._export import (
    configuration_file,
    configuration_names,
    container_command,
    container_environment,
    enabled,
    listen_port,
    moved_settings,
    require,
    resolved_at,
    secret_variables,
    to_yaml,
)

if TYPE_CHECKING:
    from oservices_core import Component

__all__ = [
    "FILE",
    "NAME",
    "ComposeConfiguration",
    "compose",
    "oservices_build",
    "oservices_configurations",
]

NAME = "compose"
FILE = "compose/compose.yaml"
_RESTART = {"always": "always", "on-failure": "on-failure", "never": "no"}


class ComposeConfiguration(Configuration):
    """Export to docker compose: a service per component of the system."""

    enabled: bool = Field(False, description="Write compose/compose.yaml at build.")
    image: str = Field("", description="The container image that has the system installed.")
    home: str = Field("/srv/oservices", description="The oservices home inside the containers.")
    python: str = Field(
        "python", description="The image's interpreter, which runs the TCP healthchecks."
    )
    publish: bool = Field(True, description="Publish each service's API port on the host.")


@hookimpl(trylast=True)
def oservices_configurations() -> dict[str, type[Configuration]]:
    """The package configuration ``compose``."""
    return {NAME: ComposeConfiguration}


@hookimpl(trylast=True)
def oservices_build(context: Context) -> None:
    """Write ``compose/compose.yaml`` for the whole system, when enabled."""
    configuration = enabled(context, NAME)
    if not isinstance(configuration, ComposeConfiguration):
        return
    require(NAME, "image", configuration.image, "the container image that has the system installed")
    context.write_file(FILE, to_yaml(compose(context, configuration)))


def compose(context: Context, configuration: ComposeConfiguration) -> dict[str, Any]:
    """The compose file, as data."""
    settings = moved_settings(context.settings, configuration.home)
    system = context.system
    names = [n for n in system.registry.configurations if n in context.resolved]
    configs = {
        f"{name}.toml": {"content": _literal(configuration_file(context, name, settings))}
        for name in names
    }
    apis = {service.api for service in system.services.values() if service.api}
    published = apis if configuration.publish else set()
    services = {
        component.name: _service(context, component, settings, configuration, published)
        for component in system.components.values()
    }
    return {"name": _project(system.name), "services": services, "configs": configs}


def _service(
    context: Context,
    component: Component,
    settings: Settings,
    configuration: ComposeConfiguration,
    published: set[str],
) -> dict[str, Any]:
    system = context.system
    mine = configuration_names(system, component)
    variables = sorted(container_environment(settings).items())
    environment = {key: _literal(value) for key, value in variables}
    for name in mine:
        for variable in secret_variables(context, name, settings):
            # The value stays out of this file: compose takes it from its environment.
            environment[variable] = f"${{{variable}:?set {variable} for compose}}"
    port = listen_port(component, resolved_at(context, component.name, settings))
    service: dict[str, Any] = {
        "image": _literal(configuration.image),
        "command": [_literal(arg) for arg in container_command(component.name)],
        "environment": environment,
        "configs": [
            {"source": f"{name}.toml", "target": str(settings.config_dir / f"{name}.toml")}
            for name in mine
        ],
        # tini as PID 1: signals reach the component, and orphans are reaped.
        "init": True,
        "restart": _RESTART[component.restart.policy],
        "stop_signal": component.stop_signal.name,
        "stop_grace_period": _duration(component.stop_timeout),
    }
    if component.ready.kind == "tcp" and port is not None:
        service["healthcheck"] = _healthcheck(component, port, configuration.python)
    if component.name in published and port is not None:
        service["ports"] = [f"{port}:{port}"]
    dependencies = {
        name: {"condition": _condition(system.components[name])}
        for name in component.depends_on
        if name in system.components
    }
    if dependencies:
        service["depends_on"] = dependencies
    return service


def _condition(dependency: Component) -> str:
    # Only a TCP readiness has a healthcheck; the others are waited for as started.
    return "service_healthy" if dependency.ready.kind == "tcp" else "service_started"


def _healthcheck(component: Component, port: int, python: str) -> dict[str, Any]:
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2).close()"
    return {
        "test": ["CMD", _literal(python), "-c", probe],
        "interval": "2s",
        "timeout": "3s",
        "retries": 3,
        "start_period": _duration(component.start_timeout),
    }


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _literal(text: str) -> str:
    # compose interpolates ${...} everywhere, file contents included: "$$" is a literal "$".
    return text.replace("$", "$$")


def _project(name: str) -> str:
    # A compose project name: lower-case letters, digits, "-" and "_", a letter or digit first.
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower())
    return cleaned.lstrip("-_") or "system"
