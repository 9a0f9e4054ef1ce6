"""A system: the services and components run together, from a ``system.toml`` or everything.

A system file::

    name = "shop"
    services = ["shop"]          # every component of these services
    components = ["cleaner"]     # and these loose components

    [configurations.shop-api]    # per-configuration values (the "system" layer)
    port = 9000

    [hosts.web1]                 # where components run, for exports
    components = ["shop-api"]

Without ``services`` and ``components``, the system is every installed component.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oservices_core._config import toml as _toml
from oservices_core._config.problems import problems_from
from oservices_core._config.systemfile import SystemSource, read_system
from oservices_core._errors import ConfigurationError, Problem
from oservices_core._plugins.checks import (
    ConfigurationAt,
    dependency_problems,
    port_problems,
    readiness_problems,
    start_order,
)
from oservices_core._plugins.registry import unknown_name

if TYPE_CHECKING:
    from oservices_core._config.resolve import Resolver
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.component import Component, Service
    from oservices_core._plugins.registry import ConfigurationEntry, Registry

__all__ = ["System", "load_system"]


class _Host(BaseModel):
    model_config = ConfigDict(extra="forbid")
    components: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)


class _SystemFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    services: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    configurations: dict[str, dict[str, Any]] = Field(default_factory=dict)
    hosts: dict[str, _Host] = Field(default_factory=dict)


@final
class System:
    """What is run together: components (in order), their services, hosts, and a source file.

    A loaded system keeps its file as read (``source``): resolvers take their
    system layer from it, so the file is parsed once.
    """

    __slots__ = (
        "components",
        "file",
        "host_settings",
        "hosts",
        "name",
        "registry",
        "services",
        "source",
    )

    def __init__(
        self,
        registry: Registry,
        *,
        name: str = "system",
        components: list[str] | None = None,
        services: list[str] | None = None,
        hosts: dict[str, list[str]] | None = None,
        file: Path | None = None,
        host_settings: dict[str, dict[str, Any]] | None = None,
        source: SystemSource | None = None,
    ) -> None:
        self.registry = registry
        self.name = name
        self.file = file
        self.source = source if source is not None or file is None else read_system(file)
        self.services: dict[str, Service] = {n: registry.services[n] for n in services or []}
        chosen = components if components is not None else list(registry.components)
        self.components: dict[str, Component] = {n: registry.components[n] for n in chosen}
        self.hosts = hosts or {}
        # Each host's [hosts.NAME.settings]: the settings that differ on that host.
        self.host_settings = host_settings or {}

    @classmethod
    def from_registry(cls, registry: Registry) -> System:
        """Every installed component, with the services that hold them."""
        services = [
            s.name
            for s in registry.services.values()
            if all(c in registry.components for c in s.components)
        ]
        return cls(registry, name=default_name(services, None), services=services)

    @classmethod
    def load(cls, path: str | Path, registry: Registry) -> System:
        """Read a system file; unknown names fail with file, line and the closest names."""
        path = Path(path)
        source = read_system(path)
        text, data = source.text, source.data
        try:
            parsed = _SystemFile.model_validate(data)
        except ValidationError as exc:

            def locate(key: tuple[str, ...]) -> str:
                line = _toml.locate_line(text, key)
                return f"{path}:{line}" if line else str(path)

            raise ConfigurationError(
                problems_from(exc, _SystemFile, locate), subject=str(path)
            ) from None
        problems = _check_names(parsed, registry, path, text)
        if problems:
            raise ConfigurationError(problems, subject=str(path))
        system = cls(
            registry,
            name=parsed.name or default_name(parsed.services, path),
            components=_members(parsed, registry),
            services=parsed.services,
            file=path,
            hosts={h: host.components for h, host in parsed.hosts.items()},
            host_settings={h: host.settings for h, host in parsed.hosts.items() if host.settings},
            source=source,
        )
        problems = dependency_problems(system)
        if problems:
            raise ConfigurationError(problems, subject=str(path))
        return system

    def configurations(self) -> dict[str, ConfigurationEntry]:
        """The configurations of its components, of its services, and of every package."""
        wanted = set(self.components) | set(self.services)
        return {
            name: entry
            for name, entry in self.registry.configurations.items()
            if name in wanted or entry.owner.startswith("package")
        }

    def resolver(
        self, settings: Settings | None = None, *, overrides: Mapping[str, Any] | None = None
    ) -> Resolver:
        """This process's resolver for ``settings`` and ``overrides``, with this system's file
        as its system layer (without one, the settings' system file)."""
        from oservices_core._config.resolution import resolver

        return resolver(settings, overrides=overrides, system=self.source)

    def settings_for(self, host: str, settings: Settings | None = None) -> Settings:
        """The settings of ``host``: ``settings`` (the active ones by default) with the
        system file's ``[hosts.HOST.settings]`` on top, and ``host`` set."""
        from oservices_core._config.settings import active_settings

        extra = self.host_settings.get(host, {})
        where = f"{self.file}: hosts.{host}.settings"
        return (settings or active_settings()).replaced(dict(extra) | {"host": host}, where=where)

    def check(
        self, settings: Settings | None = None, *, configuration_at: ConfigurationAt | None = None
    ) -> None:
        """Raise a :class:`ConfigurationError` with every problem of this system: a
        ``depends_on`` outside it or in a cycle, a ``tcp:FIELD`` readiness naming no field,
        two components of one host on one port. ``configuration_at(name, settings)`` gives
        a configuration as resolved (default: this system's resolver)."""
        from oservices_core._config.settings import active_settings

        settings = settings or active_settings()
        at = configuration_at or self._configuration_at
        problems = dependency_problems(self) + readiness_problems(self)
        if not problems:  # ports need resolvable configurations and a sound graph
            problems = port_problems(self, settings, at)
        if problems:
            raise ConfigurationError(problems, subject=f"system {self.name!r}")

    def start_order(self) -> list[str]:
        """Its components, each after what it depends on (:meth:`check` finds cycles)."""
        return start_order(self)

    def _configuration_at(self, name: str, settings: Settings) -> Any:
        cls = self.components[name].configuration
        return self.resolver(settings).resolve(cls, name).value if cls is not None else None

    def narrowed(self, name: str) -> System:
        """This system reduced to component ``name`` and its service, as its process sees it."""
        service = self.registry.service_of(name)
        services = [service.name] if service is not None and service.name in self.services else []
        return System(
            self.registry,
            name=self.name,
            components=[name],
            services=services,
            hosts=self.hosts,
            file=self.file,
            host_settings=self.host_settings,
            source=self.source,
        )


def default_name(services: list[str], path: Path | None) -> str:
    """A system's name when its file gives none: its single service's, else the file's
    own (``shop.toml``: ``shop``), else ``system``. Engines name their groups, targets
    and projects after it, so two systems on one machine should not share one."""
    if len(services) == 1:
        return services[0]
    if path is not None and path.stem not in ("", "system"):
        return path.stem
    return "system"


def load_system(
    path: str | Path | None = None, *, registry: Registry | None = None
) -> System:
    """The system file named, else the active settings' (``HOME/system.toml`` when there is
    one), else every installed component. Loads the plugins unless ``registry`` is given."""
    from oservices_core._config.settings import active_settings
    from oservices_core._plugins.registry import load_registry

    registry = registry if registry is not None else load_registry()
    path = path if path is not None else active_settings().system_path()
    return System.load(path, registry) if path is not None else System.from_registry(registry)


def _members(parsed: _SystemFile, registry: Registry) -> list[str] | None:
    if not parsed.services and not parsed.components:
        return None
    names = [c for s in parsed.services for c in registry.services[s].components]
    return list(dict.fromkeys([*names, *parsed.components]))


def _check_names(parsed: _SystemFile, registry: Registry, path: Path, text: str) -> list[Problem]:
    checks: list[tuple[str, str, tuple[str, ...], Mapping[str, object]]] = [
        *(("service", n, ("services",), registry.services) for n in parsed.services),
        *(("component", n, ("components",), registry.components) for n in parsed.components),
        *(
            ("configuration", n, ("configurations", n), registry.configurations)
            for n in parsed.configurations
        ),
        *(
            ("component", n, ("hosts", h, "components"), registry.components)
            for h, host in parsed.hosts.items()
            for n in host.components
        ),
    ]
    return [
        unknown_name(kind, name, known, _where(path, text, key, name))
        for kind, name, key, known in checks
        if name not in known
    ]


def _where(path: Path, text: str, key: tuple[str, ...], name: str) -> str:
    """The line of ``name`` in the list at ``key`` (arrays may span lines)."""
    start = _toml.locate_line(text, key) or 1
    lines = text.splitlines()
    for number in range(start, len(lines) + 1):
        if f'"{name}"' in lines[number - 1] or f"'{name}'" in lines[number - 1]:
            return f"{path}:{number}"
    return f"{path}:{start}"
