"""What the exporters (supervisord, systemd, compose, Kubernetes) share.

Every exporter runs each component with the same command, ``oservices run
NAME`` (``python -m oservices_core run NAME``), which reads its settings from
``OSERVICES_*`` variables: the environment written for a process is
:meth:`Settings.environ` of the settings it runs with. No configuration value is
ever put in an environment block: components read their configuration files, so
a secret field never lands in a supervisord, systemd, compose or ConfigMap file.

Hosts: a system file places components on hosts (``[hosts.NAME]``, with
``components`` and optional ``settings``); supervisord and systemd files are
written for one host, the ``host`` setting (``oservices build --host NAME``).
A system without hosts runs everything on the one host it is built on.

YAML is written by :func:`to_yaml`, a small emitter of block-style YAML whose
strings are JSON-quoted (a JSON string is a valid YAML double-quoted scalar),
so the runtime needs no YAML library and no string can be misread as another
type (``"no"``, ``"1.0"``, ``"null"`` stay strings).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretBytes, SecretStr

from oservices_core import ConfigurationError, Problem, Settings

if TYPE_CHECKING:
    from oservices_core import Component, Configuration, Context, System

__all__ = [
    "ANY_ADDRESS",
    "EXPORTERS",
    "Reach",
    "check_label",
    "configuration_file",
    "configuration_names",
    "container_command",
    "container_configuration",
    "container_configuration_names",
    "container_environment",
    "container_resolved",
    "container_settings",
    "container_values",
    "database_urls",
    "database_variables",
    "dependency_depth",
    "enabled",
    "host_command",
    "host_components",
    "host_init_command",
    "host_python",
    "host_settings",
    "host_text_problems",
    "listen_port",
    "moved_settings",
    "refuse_sqlite",
    "require",
    "resolved_at",
    "secret_variables",
    "text_problem",
    "to_yaml",
]


def enabled(context: Context, name: str) -> Configuration | None:
    """The exporter's configuration ``name`` when its ``enabled`` field is true, else None."""
    configuration = context.configurations.get(name)
    if configuration is None or not getattr(configuration, "enabled", False):
        return None
    return configuration


def require(name: str, key: str, value: str, expected: str) -> str:
    """``value``, or a :class:`ConfigurationError` saying which setting to fill in."""
    if not value:
        variable = f"OSERVICES_{name.upper()}__{key.upper()}"
        raise ConfigurationError(
            Problem(
                f"configuration {name!r}",
                key,
                expected,
                "an empty value",
                hint=f"set {variable}, or {key} in {name}.toml",
            )
        )
    return value


# Commands and settings --------------------------------------------------------------


def host_command(name: str, *, python: str = "", system_file: Path | None = None) -> list[str]:
    """The command that runs component ``name`` in the foreground on a host.

    ``python`` is the interpreter (default: the one running this build, whose
    environment has the system installed, so no ``PATH`` is needed).
    """
    tail = ["--system", str(system_file)] if system_file is not None else []
    return [python or sys.executable, "-m", "oservices_core", "run", name, *tail]


def host_python(python: str = "") -> str:
    """The interpreter that runs oservices on a host: ``python``, else the build's own."""
    return python or sys.executable


def host_init_command(*, python: str = "", system_file: Path | None = None) -> list[str]:
    """The command that runs the initialize stage (``oservices init``) on a host: what a
    deployment runs once before any component (the directories, migrations, files)."""
    tail = ["--system", str(system_file)] if system_file is not None else []
    return [host_python(python), "-m", "oservices_core", "init", *tail]


def container_command(name: str) -> list[str]:
    """The command that runs component ``name`` in a container whose image has the system
    installed; its configuration files are mounted, every layer folded in, so no system
    file is needed."""
    return ["oservices", "run", name]


def host_settings(context: Context) -> Settings:
    """The settings of the host being built (``System.settings_for``: the ``host`` setting
    names it, and the system file's ``[hosts.HOST.settings]`` go on top)."""
    return context.system.settings_for(context.settings.host, context.settings)


def container_environment(settings: Settings) -> dict[str, str]:
    """The ``OSERVICES_*`` variables of a container: ``settings`` without the host, which
    names the build's machine, not the container's, and without the system file, a path
    of the build's machine (its values are folded into the mounted configuration files)."""
    local = {"OSERVICES_HOST", "OSERVICES_SYSTEM_FILE"}
    return {k: v for k, v in settings.environ().items() if k not in local}


def moved_settings(settings: Settings, home: str) -> Settings:
    """``settings`` moved to another ``home`` (a container's): directories under the
    old home follow it; directories set elsewhere stay where they are."""
    return settings.replaced({"home": home}, where="container home")


# Values written into an engine's file -----------------------------------------------


def text_problem(where: str, key: str, value: str, engine: str, hint: str = "") -> Problem | None:
    """A :class:`Problem` when ``value`` cannot go into ``engine``'s file as one line of
    text: a line break or another control character (which would start a new line, a
    new key, a new section or program there), or a character that is not text at all
    (a lone surrogate, from bytes that were not UTF-8). None when it can."""
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is None:
        return None
    return Problem(
        where,
        key,
        f"printable text on one line (it is written into {engine}'s file)",
        f"{value!r}, which holds {bad!r}",
        hint=hint or f"set {key} without line breaks or control characters",
    )


def host_text_problems(context: Context, settings: Settings, engine: str) -> list[Problem]:
    """Every value an engine's file takes from the host's settings, the system's name and
    its file that cannot be written there as a line (see :func:`text_problem`); a home
    the system file gives a host relative (it would become this machine's path)."""
    system = context.system
    found = [
        text_problem(
            "settings",
            variable.removeprefix("OSERVICES_").lower(),
            value,
            engine,
            hint=f"set {variable} (or the setting in the settings file, or the host's "
            "[hosts.HOST.settings]) on one line",
        )
        for variable, value in sorted(settings.environ().items())
    ]
    where = str(system.file) if system.file is not None else "system"
    found.append(text_problem(where, "name", system.name, engine))
    home = system.host_settings.get(settings.host, {}).get("home")
    if isinstance(home, str) and not Path(home).expanduser().is_absolute():
        found.append(
            Problem(
                f"{where}: hosts.{settings.host}.settings",
                "home",
                "an absolute path (the home on that host)",
                repr(home),
                hint="a relative home would be taken relative to this build's directory; "
                f"write it in full, for example /srv/{system.name}",
            )
        )
    return [problem for problem in found if problem is not None]


# Components, hosts, ports -----------------------------------------------------------


def host_components(system: System, host: str) -> list[Component]:
    """The components that run on ``host``: those the system file places there, or
    every component when the system names no hosts."""
    if not system.hosts:
        return list(system.components.values())
    if host not in system.hosts:
        raise ConfigurationError(
            Problem(
                str(system.file),
                "hosts",
                f"the host being built among the system's hosts ({', '.join(system.hosts)})",
                repr(host),
                hint="build with --host NAME (or set OSERVICES_HOST)",
            )
        )
    return [system.components[name] for name in system.hosts[host] if name in system.components]


def resolved_at(context: Context, name: str, settings: Settings) -> Configuration | None:
    """Configuration ``name`` as a process running with ``settings`` resolves it."""
    if name not in context.resolved:
        return None
    value: Configuration = context.resolved[name].at(settings)
    return value


def listen_port(component: Component, configuration: Configuration | None) -> int | None:
    """The port a component serves on (``Component.listen``: the one rule)."""
    listen = component.listen(configuration)
    return listen.port if listen is not None else None


def configuration_names(system: System, component: Component) -> list[str]:
    """The configurations a component's process reads: its own, its services', packages'."""
    names = [component.name]
    names += [s.name for s in system.registry.services.values() if component.name in s.components]
    names += [
        name
        for name, entry in system.registry.configurations.items()
        if entry.owner.startswith("package")
    ]
    return [name for name in dict.fromkeys(names) if name in system.registry.configurations]


def dependency_depth(components: Iterable[Component]) -> dict[str, int]:
    """How deep each component sits in the ``depends_on`` graph (0: depends on nothing
    among ``components``), so engines without dependencies can start them in order."""
    by_name = {component.name: component for component in components}
    depth: dict[str, int] = {}

    def visit(name: str, seen: tuple[str, ...]) -> int:
        if name not in depth:
            below = [d for d in by_name[name].depends_on if d in by_name and d not in seen]
            depth[name] = 1 + max((visit(d, (*seen, name)) for d in below), default=-1)
        return depth[name]

    for name in by_name:
        visit(name, ())
    return depth


# Configuration files and secrets, for containers ---------------------------------------


def configuration_file(context: Context, name: str, settings: Settings) -> str:
    """Configuration ``name`` as a file for a process running with ``settings``: every
    layer folded in (file, system file, plugins, environment), secret fields left out
    (a comment names the variable that carries each one)."""
    value = resolved_at(context, name, settings)
    assert value is not None  # the callers name configurations of the system
    return value.to_toml(name=name)


def secret_variables(context: Context, name: str, settings: Settings) -> dict[str, str]:
    """The secret values of configuration ``name`` that are not defaults, as the
    ``OSERVICES_NAME__FIELD`` variables that set them (the environment layer)."""
    resolved = context.resolved[name]
    return {
        _variable(name, path): secret
        for path, secret in _secrets(resolved.at(settings), ())
        if resolved.winner(path).kind != "default"  # which layer set it: the same on every host
    }


def _variable(name: str, path: tuple[str, ...]) -> str:
    # The documented spelling of a configuration variable (see the settings page):
    # OSERVICES_, the name with every other character as "_", "__", the dotted key.
    head = "OSERVICES_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
    return "__".join([head, *(part.upper() for part in path)])


def _secrets(model: BaseModel, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    for field in type(model).model_fields:
        value = getattr(model, field)
        path = (*prefix, field)
        if isinstance(value, SecretStr | SecretBytes):
            yield path, _reveal(value)
        elif isinstance(value, BaseModel):
            yield from _secrets(value, path)
        elif _holds_secret(value):
            # A list or table holding secrets travels whole, as JSON (how variables set them).
            yield path, json.dumps(value, default=_reveal)


def _holds_secret(value: Any) -> bool:
    if isinstance(value, SecretStr | SecretBytes):
        return True
    if isinstance(value, Mapping):
        return any(_holds_secret(item) for item in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_secret(item) for item in value)
    return False


def _reveal(value: Any) -> str:
    if isinstance(value, SecretBytes):
        return value.get_secret_value().decode()
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# Containers: what each one reads, where it binds, how it reaches the others ---------------

#: The exporters' package configurations: read by the build that writes the engine's
#: files, never by a component's process, so no container gets them.
EXPORTERS = frozenset({"supervisord", "systemd", "compose", "kubernetes"})

#: What a component binds in a container: every interface, so that the engine's
#: network (published ports, other containers, Services) reaches it.
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - a container's own network namespace

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0", "::", ""})  # noqa: S104
_DATABASE_SCHEMES = frozenset({"sqlite", "postgres", "postgresql"})
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class Reach:
    """How the containers of a deployment reach each other.

    ``by_port``: the name (a compose service, a Kubernetes Service) that reaches the
    component serving on each port; a client's URL on the loopback and that port is
    rewritten to it. ``hosts``: the names a server is reached by, added to any
    ``allowed_hosts`` field (Django's ``ALLOWED_HOSTS``).
    """

    by_port: Mapping[int, str] = dataclass_field(default_factory=dict)
    hosts: Sequence[str] = ()


def container_settings(settings: Settings, home: str, environment: str, exporter: str) -> Settings:
    """``settings`` for a container: moved to its ``home`` (:func:`moved_settings`), in the
    target ``environment``, never the build machine's (whose ``dev`` turns on debugging).

    A relative ``home`` (the configuration ``exporter``'s) is refused: it would be read
    against the build machine's directory."""
    if not home.startswith("/"):
        raise ConfigurationError(
            Problem(
                f"configuration {exporter!r}",
                "home",
                "an absolute path inside the containers",
                repr(home),
                hint=f"set OSERVICES_{exporter.upper()}__HOME, for example to /srv/oservices",
            )
        )
    moved = moved_settings(settings, home)
    return moved.replaced({"environment": environment}, where="container environment")


def container_configuration_names(system: System, component: Component) -> list[str]:
    """The configurations a component's container reads: :func:`configuration_names`
    without the exporters' (read at build only), and without a package configuration
    whose class says the component does not read it (a ``read_by(component)`` class
    method returning false: the ``django`` configuration, for a component without Django)."""
    registered = system.registry.configurations
    return [
        name
        for name in configuration_names(system, component)
        if name not in EXPORTERS and _read_by(registered[name].cls, component)
    ]


def _read_by(cls: type[Configuration], component: Component) -> bool:
    read_by = getattr(cls, "read_by", None)
    return not callable(read_by) or bool(read_by(component))


def container_configuration(context: Context, name: str, settings: Settings, reach: Reach) -> str:
    """Configuration ``name`` as a container's file (see :func:`configuration_file`), with
    the network rule of containers applied: a component's ``host`` is :data:`ANY_ADDRESS`,
    a loopback URL on another component's port names that component as ``reach`` says,
    ``allowed_hosts`` gain ``reach.hosts``. No ``#:schema`` line: the schema files are
    not shipped in the containers."""
    value = container_resolved(context, name, settings, reach)
    assert value is not None  # the callers name configurations of the system
    lines = value.to_toml(name=name).splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("#:schema"))


def container_resolved(
    context: Context, name: str, settings: Settings, reach: Reach
) -> Configuration | None:
    """Configuration ``name`` as a container reads it (see :func:`container_configuration`):
    where it binds, so where a probe finds it."""
    value = resolved_at(context, name, settings)
    if value is None:
        return None
    component = name in context.system.components
    return value.model_copy(update=container_values(value, reach, component))


def container_values(value: BaseModel, reach: Reach, component: bool) -> dict[str, Any]:
    """The fields of ``value`` that :func:`container_configuration` changes, new values."""
    changes: dict[str, Any] = {}
    for name in type(value).model_fields:
        current = getattr(value, name)
        if name == "host" and component and isinstance(current, str):
            changes[name] = ANY_ADDRESS
        elif name == "allowed_hosts" and isinstance(current, list | tuple) and reach.hosts:
            changes[name] = list(dict.fromkeys([*current, *reach.hosts]))
        elif isinstance(current, str) and (url := _reached(current, reach)) is not None:
            changes[name] = url
    return changes


def _reached(text: str, reach: Reach) -> str | None:
    """``text`` with its host replaced, when it is a URL on the loopback and on the port
    of a component that ``reach`` names; else None."""
    if "://" not in text:
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if port is None or parts.hostname not in _LOOPBACK or port not in reach.by_port:
        return None
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@" if user else ""
    return parts._replace(netloc=f"{netloc}{reach.by_port[port]}:{port}").geturl()


def database_urls(
    context: Context, settings: Settings, names: Iterable[str]
) -> Iterator[tuple[str, str, str]]:
    """``(configuration, field, url)`` for every database URL (``sqlite:``, ``postgres:``,
    ``postgresql:``) among the top-level fields of configurations ``names``."""
    for name in dict.fromkeys(names):
        value = resolved_at(context, name, settings)
        if value is None:
            continue
        for key in type(value).model_fields:
            current = getattr(value, key)
            text = _reveal(current) if isinstance(current, SecretStr | SecretBytes) else current
            if isinstance(text, str) and text.partition(":")[0].lower() in _DATABASE_SCHEMES:
                yield name, key, text


def database_variables(context: Context, settings: Settings, names: Iterable[str]) -> list[str]:
    """The ``OSERVICES_NAME__FIELD`` variables of the database URLs of configurations
    ``names`` (see :func:`database_urls`)."""
    found = database_urls(context, settings, names)
    return sorted({_variable(name, (key,)) for name, key, _ in found})


def refuse_sqlite(context: Context, settings: Settings, names: Iterable[str], engine: str) -> None:
    """A :class:`ConfigurationError` naming each SQLite database URL of configurations
    ``names``: containers do not share files, so each would have a database of its own.
    The URL itself is never shown (it is a secret)."""
    problems = [
        Problem(
            f"configuration {name!r}",
            key,
            f"a database that every container of the {engine} deployment reaches "
            "(postgresql://USER:PASSWORD@HOST:5432/NAME)",
            "an SQLite file, which each container would have a copy of",
            hint=f"set {_variable(name, (key,))} to a PostgreSQL URL",
        )
        for name, key, url in database_urls(context, settings, names)
        if url.lower().startswith("sqlite:")
    ]
    if problems:
        raise ConfigurationError(problems, subject=f"{engine} export")


def check_label(value: str, where: str, key: str, hint: str) -> str:
    """``value`` if it is an RFC 1123 label (``a-z``, ``0-9``, ``-`` inside, at most 63
    characters: a Kubernetes namespace or name), else a located :class:`ConfigurationError`."""
    if len(value) <= _LABEL_MAX and _LABEL.fullmatch(value):
        return value
    raise ConfigurationError(
        Problem(
            where,
            key,
            "an RFC 1123 label: a-z, 0-9 and '-' (not first or last), at most 63 characters",
            repr(value),
            hint=hint,
        )
    )


_LABEL_MAX = 63


# YAML -----------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


def to_yaml(data: Mapping[str, Any]) -> str:
    """Block-style YAML of JSON-like ``data`` (mappings, lists, strings, numbers, booleans)."""
    return "\n".join(_block(data, 0)) + "\n"


def _block(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        lines = []
        for key, item in value.items():
            lines += _entry(f"{pad}{_key(key)}:", item, indent)
        return lines
    if isinstance(value, list | tuple):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            inner = _block(item, indent + 2)
            if isinstance(item, Mapping | list | tuple) and item:
                lines += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
            else:
                lines += _entry(f"{pad}-", item, indent)
        return lines
    return [pad + _scalar(value)]


def _entry(head: str, item: Any, indent: int) -> list[str]:
    """``head`` followed by ``item``: on the same line if a scalar, else indented below."""
    if isinstance(item, Mapping | list | tuple) and item:
        return [head, *_block(item, indent + 2)]
    if isinstance(item, str) and _literal(item):
        chomp = "" if item.endswith("\n") else "-"
        body = [f"{' ' * (indent + 2)}{line}" if line else "" for line in item.splitlines()]
        return [f"{head} |{chomp}", *body]
    return [f"{head} {_block(item, 0)[0]}"]


def _literal(text: str) -> bool:
    """Whether a literal block (``|``) reproduces ``text`` exactly: several lines, no
    leading space on the first, at most one final newline, printable characters only."""
    return (
        "\n" in text.rstrip("\n")
        and not text.startswith((" ", "\n"))
        and not text.endswith("\n\n")
        and all(c.isprintable() or c in "\n\t" for c in text)
        and "\t" not in text
        and "\r" not in text
        and not any(line != line.rstrip(" ") for line in text.splitlines())
    )


def _key(key: str) -> str:
    plain = _PLAIN_KEY.fullmatch(key) and key.lower() not in _YAML_WORDS
    return key if plain else _quoted(key)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return _quoted(str(value))


# YAML's printable characters (1.2, section 5.1) but its line breaks (NEL, U+2028 and
# U+2029 in YAML 1.1): the others are written as escapes.
_UNPRINTABLE = re.compile(
    "[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _quoted(text: str) -> str:
    """A double-quoted scalar: JSON's escapes, which YAML shares, and ``\\uXXXX`` for the
    characters YAML does not allow raw (JSON leaves DEL and C1 controls as they are)."""
    escaped = json.dumps(text, ensure_ascii=False)
    return _UNPRINTABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", escaped)
