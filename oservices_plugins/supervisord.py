"""Built-in ``supervisord`` plugin: the build writes a supervisord configuration for one host.

Enabled by the package configuration ``supervisord`` (``enabled = true``, or
``OSERVICES_SUPERVISORD__ENABLED=1``), it writes ``supervisord/supervisord.conf``
in the output directory: a complete file (``supervisord -c`` runs it; its socket
and pid file are in the run directory, its logs in the log directory) with one
``[program:NAME]`` per component of the host being built, all in one
``[group:SYSTEM]``. See the exports page for how each field is chosen.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import Field

from oservices_core import Configuration, ConfigurationError, Context, Problem, Settings, hookimpl
from oservices_plugins._export import (
    dependency_depth,
    enabled,
    host_command,
    host_components,
    host_settings,
)

if TYPE_CHECKING:
    from oservices_core import Component

__all__ = [
    "FILE",
    "NAME",
    "SupervisordConfiguration",
    "oservices_build",
    "oservices_configurations",
]

NAME = "supervisord"
FILE = "supervisord/supervisord.conf"
_AUTORESTART = {"always": "true", "on-failure": "unexpected", "never": "false"}


class SupervisordConfiguration(Configuration):
    """Export to supervisord: one program per component of the host being built."""

    enabled: bool = Field(False, description="Write supervisord/supervisord.conf at build.")
    python: str = Field(
        "",
        description="Interpreter that runs `-m oservices_core run NAME`; "
        "empty: the one running the build.",
    )


@hookimpl(trylast=True)
def oservices_configurations() -> dict[str, type[Configuration]]:
    """The package configuration ``supervisord``."""
    return {NAME: SupervisordConfiguration}


@hookimpl(trylast=True)
def oservices_build(context: Context) -> None:
    """Write ``supervisord/supervisord.conf`` for the host being built, when enabled."""
    configuration = enabled(context, NAME)
    if not isinstance(configuration, SupervisordConfiguration):
        return
    settings = host_settings(context)
    components = host_components(context.system, settings.host)
    context.write_file(FILE, render(context, settings, components, configuration.python))


def render(context: Context, settings: Settings, components: list[Component], python: str) -> str:
    """The whole supervisord configuration file."""
    system = context.system
    depth = dependency_depth(components)
    environment = _environment(settings.environ())
    sections = [
        f"; Written by `oservices build` for host {settings.host!r} of system {system.name!r}.\n"
        "; Do not edit: change the system or its configurations and build again.",
        _section("supervisord", _daemon(settings)),
        _section("unix_http_server", {"file": str(settings.run_dir / "supervisor.sock")}),
        _section("supervisorctl", {"serverurl": f"unix://{settings.run_dir / 'supervisor.sock'}"}),
        _section(
            "rpcinterface:supervisor",
            {"supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"},
        ),
    ]
    for component in components:
        argv = host_command(component.name, python=python, system_file=system.file)
        program = _program(component, argv, settings, environment, depth[component.name])
        sections.append(_section(f"program:{component.name}", program))
    if components:
        names = ",".join(component.name for component in components)
        sections.append(_section(f"group:{_group(system.name)}", {"programs": names}))
    return "\n\n".join(sections) + "\n"


def _daemon(settings: Settings) -> dict[str, str]:
    return {
        "logfile": str(settings.log_dir / "supervisord.log"),
        "pidfile": str(settings.run_dir / "supervisord.pid"),
        "childlogdir": str(settings.log_dir),
        "directory": str(settings.home),
    }


def _program(
    component: Component, argv: list[str], settings: Settings, environment: str, depth: int
) -> dict[str, str]:
    restart = component.restart
    return {
        "command": shlex.join(argv),
        "directory": str(settings.home),
        "environment": environment,
        # supervisord starts lower priorities first and stops them last: dependencies first.
        "priority": str(100 + 10 * depth),
        "autostart": "true",
        "autorestart": _AUTORESTART[restart.policy],
        "exitcodes": ",".join(map(str, restart.success_codes)),
        # A start counts as successful once the process has run this long (no readiness).
        "startsecs": str(math.ceil(restart.stable_after)),
        "startretries": str(restart.max_failures),
        "stopsignal": component.stop_signal.name.removeprefix("SIG"),
        "stopwaitsecs": str(math.ceil(component.stop_timeout)),
        # The whole process group gets the stop signal, then SIGKILL: no orphan survives.
        "stopasgroup": "true",
        "killasgroup": "true",
        "redirect_stderr": "true",
        "stdout_logfile": str(settings.log_dir / f"{component.name}.log"),
    }


def _environment(variables: dict[str, str]) -> str:
    return ",".join(f"{key}={_quoted(key, value)}" for key, value in sorted(variables.items()))


def _quoted(key: str, value: str) -> str:
    # supervisord splits KEY=VALUE pairs with a non-POSIX shlex: a quoted value is taken
    # literally (commas included), and no escape exists for the quote character itself.
    for quote in ('"', "'"):
        if quote not in value:
            return f"{quote}{value}{quote}"
    raise ConfigurationError(
        Problem(
            f"setting {key}",
            "",
            "a value supervisord can quote (not both ' and \")",
            repr(value),
        )
    )


def _group(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in name) or "system"


def _section(header: str, values: dict[str, str] | Iterable[tuple[str, str]]) -> str:
    items = values.items() if isinstance(values, dict) else values
    # supervisord expands %(name)s in values: a literal % is written %%.
    lines = [f"{key}={value.replace('%', '%%')}" for key, value in items]
    return "\n".join([f"[{header}]", *lines])
