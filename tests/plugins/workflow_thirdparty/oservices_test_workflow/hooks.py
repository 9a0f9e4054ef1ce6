"""Workflow hooks: configure ``wf-api``'s greeting, and build ``wf-extra.txt``.

The plugin owns a per-component declaration, :data:`MOTTO`: a component that
wants a motto written puts it in its extension slot,
``Component(extensions={MOTTO: "..."})``, and the build hook reads it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from oservices_core import StashKey, hookimpl

if TYPE_CHECKING:
    from oservices_core import Configuration, Context

__all__ = ["GREETING", "MOTTO", "oservices_build", "oservices_configure"]

GREETING = "configured by plugin"
MOTTO = StashKey[str]()
"""A component's motto, which the build writes in ``wf-extra.txt``."""


@hookimpl
def oservices_configure(name: str, configuration: Configuration) -> None:
    """Decide wf-api's greeting for this installation."""
    if name == "wf-api":
        configuration.greeting = GREETING  # wf-api's own field (assignment is validated)


@hookimpl
def oservices_build(context: Context) -> None:
    """Write ``wf-extra.txt`` from wf-api's configured values (never its token), then the
    motto of each component that declares one."""
    api = context.configurations["wf-api"]
    text = f"greeting: {api.greeting}\nport: {api.port}\n"  # type: ignore[attr-defined]
    for component in context.system.components.values():
        motto = component.extensions.get(MOTTO, "")
        if motto:
            text += f"motto of {component.name}: {motto}\n"
    context.write_file("wf-extra.txt", text)
