"""Workflow hooks: configure ``wf-api``'s greeting, and build ``wf-extra.txt``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oservices_core import hookimpl

if TYPE_CHECKING:
    from oservices_core import Configuration, Context

GREETING = "configured by plugin"


@hookimpl
def oservices_configure(name: str, configuration: Configuration) -> None:
    """Decide wf-api's greeting for this installation."""
    if name == "wf-api":
        configuration.greeting = GREETING  # wf-api's own field (assignment is validated)


@hookimpl
def oservices_build(context: Context) -> None:
    """Write ``wf-extra.txt`` from wf-api's configured values (never its token)."""
    api = context.configurations["wf-api"]
    text = f"greeting: {api.greeting}\nport: {api.port}\n"  # type: ignore[attr-defined]
    context.write_file("wf-extra.txt", text)
