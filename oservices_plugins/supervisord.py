"""Built-in ``supervisord`` plugin: the build writes a supervisord configuration for one host.

Enabled by the package configuration ``supervisord`` (``enabled = true``, or
``OSERVICES_SUPERVISORD__ENABLED=1``), it writes ``supervisord/supervisord.conf``
in the output directory: a complete file (``supervisord -c`` runs it; its socket
and pid file are in the run directory, its logs in the log directory) with one
``[program:NAME]`` per component of the host being built and the program
``oservices-init``, which runs the initialize stage, all in one ``[group:SYSTEM]``.
Each component starts through :mod:`oservices_plugins.supervisord_gate`, which
waits until ``oservices-init`` has exited with status 0.

supervisord opens its log and run directories before it runs any program, and
cannot make them: built for this machine (the ``host`` setting is its name, the
default), the build makes them, with the modes the initialize stage gives them.

Every value is written as supervisord reads it back (``%`` doubled, commands
quoted so that no ``;`` or ``#`` is read as a comment), or refused at build with
a located error (a line break, a quote it cannot hold). See the exports page.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from oservices_core import Configuration, ConfigurationError, Context, Problem, Settings, hookimpl
from oservices_plugins._export import (
    dependency_depth,
    enabled,
    host_command,
    host_components,
    host_init_command,
    host_python,
    host_settings,
    host_text_problems,
    text_problem,
)

if TYPE_CHECKING:
    from oservices_core import Component

__all__ = [
    "FILE",
    "INIT",
    "NAME",
    "SupervisordConfiguration",
    "oservices_build",
    "oservices_configurations",
]

NAME = "supervisord"
FILE = "supervisord/supervisord.conf"
INIT = "oservices-init"
"""The program that runs the initialize stage; the components wait for it."""
_AUTORESTART = {"always": "true", "on-failure": "unexpected", "never": "false"}
_ENGINE = "supervisord"
# configparser, as supervisord sets it up, ends a value at whitespace then ";" or "#".
_COMMENT = re.compile(r"\s[;#]")
# The directories supervisord opens before any program runs, with the files plugin's modes.
_DIRECTORIES = (("log_dir", 0o750), ("run_dir", 0o700))
_TWICE = frozenset({"stdout_logfile", "stderr_logfile"})  # keys supervisord expands twice


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
    text = render(context, settings, components, configuration.python)
    context.write_file(FILE, text)
    if settings.host == socket.gethostname():
        for field, mode in _DIRECTORIES:
            _make_directory(context, getattr(settings, field), mode)


def render(context: Context, settings: Settings, components: list[Component], python: str) -> str:
    """The whole supervisord configuration file.

    :raises ConfigurationError: a value supervisord cannot read back as written
        (each one located: the setting, the configuration key or the system file).
    """
    system = context.system
    _check(context, settings, components, python)
    depth = dependency_depth(components)
    environment = _environment(settings.environ())
    group = _group(system.name)
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
        _section(f"program:{INIT}", _init(context, settings, environment, python)),
    ]
    gate = [host_python(python), "-m", "oservices_plugins.supervisord_gate"]
    for component in components:
        argv = host_command(component.name, python=python, system_file=system.file)
        argv = [*gate, f"{group}:{INIT}", "--", *argv]
        program = _program(component, argv, settings, environment, depth[component.name])
        sections.append(_section(f"program:{component.name}", program))
    names = ",".join([INIT, *(component.name for component in components)])
    sections.append(_section(f"group:{group}", {"programs": names}))
    return "\n\n".join(sections) + "\n"


def _init(context: Context, settings: Settings, environment: str, python: str) -> dict[str, str]:
    """The initialize stage, once per start of supervisord: ``oservices init``."""
    argv = host_init_command(python=python, system_file=context.system.file)
    return {
        "command": _command(argv),
        "directory": str(settings.home),
        "environment": environment,
        # Started first; run once: a success is its exit with status 0, at any time.
        "priority": "10",
        "autostart": "true",
        "autorestart": "false",
        "startsecs": "0",
        "startretries": "0",
        "exitcodes": "0",
        "stopasgroup": "true",
        "killasgroup": "true",
        "redirect_stderr": "true",
        "stdout_logfile": str(settings.log_dir / f"{INIT}.log"),
    }


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
        "command": _command(argv),
        "directory": str(settings.home),
        "environment": environment,
        # supervisord starts lower priorities first and stops them last: dependencies first.
        "priority": str(100 + 10 * depth),
        "autostart": "true",
        "autorestart": _AUTORESTART[restart.policy],
        "exitcodes": ",".join(map(str, restart.success_codes)),
        # A start counts as successful once the process has run this long (no readiness):
        # the component's start_seconds, as under the Administrator (whole seconds here).
        "startsecs": str(math.ceil(component.start_seconds)),
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
    # literally (commas included), no escape exists for the quote character itself, and
    # quote characters at either end of a value are stripped.
    for quote in ('"', "'"):
        if (
            quote not in value
            and not value.startswith(("'", '"'))
            and not value.endswith(("'", '"'))
        ):
            return f"{quote}{value}{quote}"
    raise ConfigurationError(
        Problem(
            "settings",
            key.removeprefix("OSERVICES_").lower(),
            "a value supervisord can quote (not both ' and \", none at either end)",
            repr(value),
            hint=f"set {key} without quote characters",
        )
    )


def _command(argv: list[str]) -> str:
    """``argv`` as supervisord splits a command (POSIX shell words), with every ``;`` and
    ``#`` escaped outside quotes, so that configparser never reads a comment in it."""
    words = []
    for arg in argv:
        word = shlex.quote(arg)
        if word.startswith("'"):
            word = word.replace(";", "'\\;'").replace("#", "'\\#'")
        words.append(word)
    return " ".join(words)


def _check(context: Context, settings: Settings, components: list[Component], python: str) -> None:
    """Refuse, located, every value supervisord would not read back as written."""
    problems: list[Problem | None] = [*host_text_problems(context, settings, _ENGINE)]
    where = f"configuration {NAME!r}"
    problems.append(text_problem(where, "python", python, _ENGINE))
    for variable, value in settings.environ().items():
        if _COMMENT.search(value) or value != value.strip():
            problems.append(_comment(variable, value))
    if any(component.name == INIT for component in components):
        problems.append(
            Problem(
                f"component {INIT!r}",
                "name",
                f"a component name other than {INIT!r} (the initialize program's)",
                repr(INIT),
                hint="rename the component",
            )
        )
    found = [problem for problem in problems if problem is not None]
    if found:
        raise ConfigurationError(found, subject=f"plugin {NAME!r}")


def _comment(variable: str, value: str) -> Problem:
    return Problem(
        "settings",
        variable.removeprefix("OSERVICES_").lower(),
        "a value with no space before ';' or '#' (supervisord reads a comment there) "
        "and none at either end (it strips them)",
        repr(value),
        hint=f"set {variable} without ' ;', ' #' or spaces around it",
    )


def _make_directory(context: Context, directory: Path, mode: int) -> None:
    """Create ``directory`` with ``mode`` if missing (an existing one is left as it is)."""
    if directory.is_dir():
        return
    if context.dry_run:
        context.out.write(f"would create directory {directory} (mode {mode:#o})\n")
        return
    directory.mkdir(mode=mode, parents=True, exist_ok=True)
    os.chmod(directory, mode)  # exactly, whatever the umask
    context.out.write(f"created directory {directory} (mode {mode:#o}) for supervisord\n")


def _group(name: str) -> str:
    # Letters and digits of ASCII: supervisord's names are for supervisorctl's command line.
    kept = (c if (c.isascii() and c.isalnum()) or c in "_.-" else "-" for c in name)
    return "".join(kept) or "system"


def _section(header: str, values: dict[str, str] | Iterable[tuple[str, str]]) -> str:
    items = values.items() if isinstance(values, dict) else values
    # supervisord expands %(name)s in values: a literal % is written %%; a program's log
    # files are expanded twice (when read, then with the program's own names): %%%%.
    lines = [
        f"{key}={value.replace('%', '%%%%' if key in _TWICE else '%%')}" for key, value in items
    ]
    return "\n".join([f"[{header}]", *lines])
