"""Built-in ``compose`` plugin: the build writes a docker compose file for the whole system.

Enabled by the package configuration ``compose`` (``enabled = true`` and the
``image`` that has the system installed), it writes ``compose/compose.yaml`` and,
beside it, ``compose/configs/NAME.toml``: each configuration as this build resolves
it for the containers (every layer folded in, secret fields left out), bind-mounted
read-only in the configuration directory of the containers that read it.

- ``oservices-init`` runs ``oservices init`` once (migrations...); every component
  waits for it to complete successfully (``service_completed_successfully``).
- A service per component runs ``oservices run NAME`` behind an init (``init: true``:
  the engine's init is PID 1, signals reach the component), bound to every interface;
  a client's loopback URL on another component's port names that component's service.
- Containers share no files, so an SQLite database URL is refused. A PostgreSQL URL
  whose host is ``postgres`` adds the ``postgres`` service (``postgres_image``, a named
  volume, a healthcheck the others wait for); its password comes from compose's
  ``POSTGRES_PASSWORD``.

Secret values are never written: the environment of a service refers to them as
``${OSERVICES_NAME__FIELD}``, which compose reads from its own environment or from an
``.env`` file beside the compose file. Every other string is written with ``$`` doubled,
as compose interpolates the whole file. Bind mounts, not ``configs``: podman-compose
(1.6) ignores a service's ``configs``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pydantic import Field

from oservices_core import Configuration, ConfigurationError, Context, Problem, Settings, hookimpl
from oservices_plugins._export import (
    Reach,
    container_command,
    container_configuration,
    container_configuration_names,
    container_environment,
    container_resolved,
    container_settings,
    database_urls,
    enabled,
    listen_port,
    refuse_sqlite,
    require,
    resolved_at,
    secret_variables,
    to_yaml,
)

if TYPE_CHECKING:
    from oservices_core import Component

__all__ = [
    "FILE",
    "INIT",
    "NAME",
    "POSTGRES",
    "ComposeConfiguration",
    "compose",
    "oservices_build",
    "oservices_configurations",
]

NAME = "compose"
FILE = "compose/compose.yaml"
#: The service that runs the initialize stage before any component starts.
INIT = "oservices-init"
#: The PostgreSQL service, added when a database URL names this host.
POSTGRES = "postgres"
_POSTGRES_DATA = "/var/lib/postgresql/data"
#: The init service's wait for the database before ``oservices init``: podman-compose on a
#: podman before 4.6 ignores ``service_healthy``. ARGV: host, port, seconds, command...
_WAIT = """\
import os, socket, sys, time
host, port, seconds, *command = sys.argv[1:]
deadline = time.monotonic() + float(seconds)
while True:
    try:
        socket.create_connection((host, int(port)), 2).close()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"the database {host}:{port} did not answer in {seconds} s")
        time.sleep(1)
os.execvp(command[0], command)
"""
_WAIT_SECONDS = 300
_RESTART = {"always": "always", "on-failure": "on-failure", "never": "no"}
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")


class ComposeConfiguration(Configuration):
    """Export to docker compose: a service per component of the system."""

    enabled: bool = Field(False, description="Write compose/compose.yaml at build.")
    image: str = Field("", description="The container image that has the system installed.")
    home: str = Field("/srv/oservices", description="The oservices home inside the containers.")
    python: str = Field(
        "python", description="The image's interpreter, which runs the TCP healthchecks."
    )
    publish: bool = Field(True, description="Publish each service's API port on the host.")
    project: str = Field(
        "", description="The compose project name. Default: the system's name, in lower case."
    )
    environment: str = Field(
        "prod",
        min_length=1,
        description="The settings' environment in the containers (never the build machine's).",
    )
    postgres_image: str = Field(
        "postgres:16",
        description="The image of the postgres service: the official image, or one that "
        "honours POSTGRES_USER, POSTGRES_DB and POSTGRES_PASSWORD the same way.",
    )


@hookimpl(trylast=True)
def oservices_configurations() -> dict[str, type[Configuration]]:
    """The package configuration ``compose``."""
    return {NAME: ComposeConfiguration}


@hookimpl(trylast=True)
def oservices_build(context: Context) -> None:
    """Write ``compose/compose.yaml`` and its configuration files, when enabled."""
    configuration = enabled(context, NAME)
    if not isinstance(configuration, ComposeConfiguration):
        return
    require(NAME, "image", configuration.image, "the container image that has the system installed")
    data = compose(context, configuration)
    settings = container_settings(
        context.settings, configuration.home, configuration.environment, NAME
    )
    reach = _reach(context, configuration)
    for name in _read(context):
        text = container_configuration(context, name, settings, reach)
        context.write_file(f"compose/configs/{name}.toml", text)
    context.write_file(FILE, to_yaml(_escaped(data)))


def compose(context: Context, configuration: ComposeConfiguration) -> dict[str, Any]:
    """The compose file, as data (before ``$`` is doubled for compose's interpolation)."""
    settings = container_settings(
        context.settings, configuration.home, configuration.environment, NAME
    )
    system = context.system
    reach = _reach(context, configuration)
    read = {c.name: container_configuration_names(system, c) for c in system.components.values()}
    everything = _read(context)
    refuse_sqlite(context, settings, everything, "compose")
    database = _database(context, settings, everything)
    apis = {service.api for service in system.services.values() if service.api}
    published = apis if configuration.publish else set()
    ours = [INIT, POSTGRES] if database is not None else [INIT]
    taken = [
        Problem(
            f"component {n!r}",
            "name",
            f"a name other than the export's services ({', '.join(ours)})",
            repr(n),
            hint="rename the component",
        )
        for n in ours
        if n in system.components
    ]
    if taken:
        raise ConfigurationError(taken, subject="compose export")
    services: dict[str, Any] = {}
    if database is not None:
        services[POSTGRES] = _postgres(configuration, *database)
    services[INIT] = _init(context, settings, configuration, everything, database is not None)
    for component in system.components.values():
        services[component.name] = _service(
            context,
            component,
            settings,
            configuration,
            names=read[component.name],
            reach=reach,
            published=published,
            database=database is not None,
        )
    found: dict[str, Any] = {
        "name": _project(configuration.project or system.name.lower(), configuration),
        "services": services,
    }
    if database is not None:
        found["volumes"] = {f"{POSTGRES}-data": {}}
    return found


def _read(context: Context) -> list[str]:
    """The configurations the containers read (the init service reads them all)."""
    system = context.system
    read = [container_configuration_names(system, c) for c in system.components.values()]
    return list(dict.fromkeys(name for names in read for name in names))


def _reach(context: Context, configuration: ComposeConfiguration) -> Reach:
    """Each component serving on a port is reached by its service's name; a server is
    reached by those names, and on the host's loopback through a published port."""
    settings = container_settings(
        context.settings, configuration.home, configuration.environment, NAME
    )
    ports: dict[int, list[str]] = {}
    for component in context.system.components.values():
        port = listen_port(component, resolved_at(context, component.name, settings))
        if port is not None:
            ports.setdefault(port, []).append(component.name)
    # A port two components serve on (in two containers) says nothing about which one.
    by_port = {port: names[0] for port, names in ports.items() if len(names) == 1}
    local = ["localhost", "127.0.0.1", "[::1]"] if configuration.publish else []
    return Reach(by_port, [*sorted(by_port.values()), *local])


def _environment(context: Context, settings: Settings, names: list[str]) -> dict[str, str]:
    environment = dict(sorted(container_environment(settings).items()))
    for name in names:
        for variable in secret_variables(context, name, settings):
            # The value stays out of this file: compose takes it from its environment.
            environment[variable] = _Variable(f"${{{variable}:?set {variable} for compose}}")
    return environment


def _configs(settings: Settings, names: list[str]) -> list[dict[str, Any]]:
    # Bind mounts, read-only: podman-compose (1.6) ignores the configs of a service.
    return [
        {
            "type": "bind",
            "source": f"./configs/{name}.toml",
            "target": str(settings.config_dir / f"{name}.toml"),
            "read_only": True,
        }
        for name in names
    ]


def _init(
    context: Context,
    settings: Settings,
    configuration: ComposeConfiguration,
    names: list[str],
    database: bool,
) -> dict[str, Any]:
    service: dict[str, Any] = {
        "image": configuration.image,
        "command": ["oservices", "init"],
        "environment": _environment(context, settings, names),
        "volumes": _configs(settings, names),
        "init": True,
        "restart": "no",
    }
    if database:
        # It waits for the database itself, with no depends_on: podman before 4.6 ignores
        # service_healthy, and podman 4.3 cannot start a container that requires one
        # that has exited (this one) if that one requires another (the database).
        wait = [configuration.python, "-c", _WAIT, POSTGRES, "5432", str(_WAIT_SECONDS)]
        service["command"] = [*wait, *service["command"]]
    return service


def _service(
    context: Context,
    component: Component,
    settings: Settings,
    configuration: ComposeConfiguration,
    *,
    names: list[str],
    reach: Reach,
    published: set[str],
    database: bool,
) -> dict[str, Any]:
    system = context.system
    listen = component.listen(container_resolved(context, component.name, settings, reach))
    service: dict[str, Any] = {
        "image": configuration.image,
        "command": container_command(component.name),
        "environment": _environment(context, settings, names),
        "volumes": _configs(settings, names),
        # The engine's init as PID 1: signals reach the component, and orphans are reaped.
        "init": True,
        "restart": _RESTART[component.restart.policy],
        "stop_signal": component.stop_signal.name,
        "stop_grace_period": _duration(component.stop_timeout),
    }
    if component.ready.kind == "tcp" and listen is not None:
        service["healthcheck"] = _healthcheck(component, listen.probe, configuration.python)
    if component.name in published and listen is not None:
        service["ports"] = [f"{listen.port}:{listen.port}"]
    dependencies = {INIT: {"condition": "service_completed_successfully"}}
    if database:
        # The components use it: started after it is healthy.
        dependencies[POSTGRES] = {"condition": "service_healthy"}
    dependencies |= {
        name: {"condition": _condition(system.components[name])}
        for name in component.depends_on
        if name in system.components
    }
    service["depends_on"] = dependencies
    return service


def _condition(dependency: Component) -> str:
    # Only a TCP readiness has a healthcheck; the others are waited for as started.
    return "service_healthy" if dependency.ready.kind == "tcp" else "service_started"


def _healthcheck(component: Component, probe: tuple[str, int], python: str) -> dict[str, Any]:
    code = f"import socket; socket.create_connection({probe!r}, 2).close()"
    return {
        "test": ["CMD", python, "-c", code],
        "interval": "2s",
        "timeout": "3s",
        "retries": 3,
        "start_period": _duration(component.start_timeout),
    }


# The database -------------------------------------------------------------------------


def _database(context: Context, settings: Settings, names: list[str]) -> tuple[str, str] | None:
    """``(user, database)`` of the PostgreSQL URLs whose host is the postgres service."""
    found = set()
    for _, _, url in database_urls(context, settings, names):
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            continue  # the django plugin's own check says what is wrong with it
        if parts.scheme.startswith("postgres") and host == POSTGRES:
            found.add((unquote(parts.username or "postgres"), unquote(parts.path.lstrip("/"))))
    if len(found) > 1:
        raise ConfigurationError(
            Problem(
                "compose export",
                "database_url",
                f"one user and database on the {POSTGRES!r} service",
                ", ".join(sorted(f"{user}@{db}" for user, db in found)),
                hint="point every database URL at the same user and database",
            )
        )
    return next(iter(found), None)


def _postgres(configuration: ComposeConfiguration, user: str, database: str) -> dict[str, Any]:
    name = database or user
    password = "POSTGRES_PASSWORD"  # noqa: S105 - the variable's name, not a password
    return {
        "image": configuration.postgres_image,
        "environment": {
            "POSTGRES_USER": user,
            "POSTGRES_DB": name,
            # The password of the database URLs, from compose's environment or .env.
            password: _Variable(f"${{{password}:?set {password} for compose}}"),
        },
        "volumes": [f"{POSTGRES}-data:{_POSTGRES_DATA}"],
        "healthcheck": {
            "test": ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", user, "-d", name],
            "interval": "2s",
            "timeout": "3s",
            "retries": 30,
            "start_period": "60s",
        },
        "init": True,
        "restart": "always",
    }


# Names and escaping -------------------------------------------------------------------


def _project(name: str, configuration: ComposeConfiguration) -> str:
    # compose's rule for a project name: lower-case ASCII letters, digits, "-" and "_",
    # a letter or digit first.
    if _PROJECT.fullmatch(name):
        return name
    raise ConfigurationError(
        Problem(
            f"configuration {NAME!r}",
            "project" if configuration.project else "project (default: the system's name)",
            "a compose project name: a-z, 0-9, '-' and '_', a letter or digit first",
            repr(name),
            hint=f"set OSERVICES_COMPOSE__PROJECT, or project in {NAME}.toml",
        )
    )


class _Variable(str):
    """A string compose must interpolate (a reference to its environment): not escaped."""

    __slots__ = ()


def _escaped(value: Any) -> Any:
    # compose interpolates ${...} in every string of the file: "$$" is a literal "$".
    if isinstance(value, _Variable):
        return str(value)
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}  # keys are not read
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    return value


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"
