"""What must hold of a system before it is built or run, checked in one place, in one wording.

Every ``depends_on`` names a component of the system, without a cycle; a
``tcp:FIELD`` readiness names a field of the configuration; no two components
of one host serve on the same port (each as that host's settings resolve it).
:meth:`System.check` reports every problem at once; the build runs it once, and
so does the Administrator before it starts anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oservices_core._errors import ConfigurationError, Problem

if TYPE_CHECKING:
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.component import Component
    from oservices_core._plugins.system import System

__all__ = ["ConfigurationAt", "dependency_problems", "port_problems", "start_order"]

# A resolved configuration of the system, by name, as a process with these settings sees it.
ConfigurationAt = Callable[[str, "Settings"], Any]


def where(system: System) -> str:
    """The place problems of ``system`` are reported at."""
    return str(system.file) if system.file is not None else "the installed components"


def dependency_problems(system: System) -> list[Problem]:
    """Each ``depends_on`` outside the system, then any cycle."""
    place = where(system)
    problems = [
        Problem(
            place,
            f"{name}.depends_on",
            "a component of the system",
            repr(dependency),
            hint=f"add {dependency!r} to components (or its service to services), "
            "or remove the dependency",
        )
        for name, component in system.components.items()
        for dependency in component.depends_on
        if dependency not in system.components
    ]
    cycle = _cycle(system)
    if cycle:
        found = " -> ".join(cycle)
        problems.append(
            Problem(place, "depends_on", "no cycle", found, hint="remove one dependency")
        )
    return problems


def readiness_problems(system: System) -> list[Problem]:
    """A ``tcp:FIELD`` readiness must name a field of the component's configuration."""
    problems = []
    for component in system.components.values():
        ready = component.ready
        if ready.kind != "tcp" or ready.target.isdigit():
            continue
        fields = component.configuration.model_fields if component.configuration else {}
        if ready.target not in fields:
            problems.append(
                Problem(
                    f"component {component.name!r} declaration",
                    "ready",
                    f"a port field of its configuration ({', '.join(fields) or 'it has none'})",
                    repr(str(ready)),
                    hint="name the field ('tcp:FIELD') or the port ('tcp:8000')",
                )
            )
    return problems


def port_problems(system: System, settings: Settings, at: ConfigurationAt) -> list[Problem]:
    """Two components of one host on one port (the system's hosts, else this one)."""
    hosts = system.hosts or {settings.host: list(system.components)}
    problems: list[Problem] = []
    for host, names in hosts.items():
        here = settings if not system.hosts else system.settings_for(host, settings)
        taken: dict[int, str] = {}
        for name in names:
            component = system.components.get(name)
            if component is None:
                continue
            listen = _listen(component, name, here, at)
            if listen is None:
                continue
            if listen.port in taken:
                problems.append(
                    Problem(
                        where(system),
                        f"{name}.port",
                        f"a port no other component of host {host!r} uses",
                        f"{listen.port}, also used by {taken[listen.port]!r}",
                        hint="give one of them another port, or put them on different hosts",
                    )
                )
            taken.setdefault(listen.port, name)
    return problems


def _listen(component: Component, name: str, settings: Settings, at: ConfigurationAt) -> Any:
    if component.configuration is None:
        return component.listen(None)
    try:
        return component.listen(at(name, settings))
    except ConfigurationError:
        return None  # a configuration that does not resolve is reported where it is used


def start_order(system: System) -> list[str]:
    """Components ordered so that each comes after what it depends on (in the system)."""
    order: list[str] = []

    def visit(name: str, seen: tuple[str, ...]) -> None:
        if name in order or name in seen:
            return
        for dependency in system.components[name].depends_on:
            if dependency in system.components:
                visit(dependency, (*seen, name))
        order.append(name)

    for name in system.components:
        visit(name, ())
    return order


def _cycle(system: System) -> list[str]:
    """One dependency cycle, as the names along it (the first repeated at the end), or []."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str]:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done or name not in system.components:
            return []
        for dependency in system.components[name].depends_on:
            found = visit(dependency, [*path, name])
            if found:
                return found
        done.add(name)
        return []

    for name in system.components:
        found = visit(name, [])
        if found:
            return found
    return []
