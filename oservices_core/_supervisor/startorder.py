"""Checks of a system before it runs: the start order, and readiness declarations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oservices_core._errors import ConfigurationError, Problem

if TYPE_CHECKING:
    from oservices_core._plugins.system import System

__all__ = ["check_readiness", "start_order"]


def start_order(system: System) -> list[str]:
    """Components ordered so that each comes after what it depends on."""
    order: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise ConfigurationError(
                Problem("system", "depends_on", "no cycle", cycle, hint="remove one dependency")
            )
        visiting.append(name)
        for dependency in system.components[name].depends_on:
            if dependency not in system.components:
                raise ConfigurationError(
                    Problem(
                        f"component {name!r}",
                        "depends_on",
                        "components of this system",
                        repr(dependency),
                        hint=f"add {dependency!r} to the system",
                    )
                )
            visit(dependency)
        visiting.pop()
        order.append(name)

    for name in system.components:
        visit(name)
    return order


def check_readiness(system: System) -> None:
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
    if problems:
        raise ConfigurationError(problems)
