"""What runs inside a component's process: set it up, then call its ``main``.

The same code serves a component forked from the template, one started by a
plain exec, and ``oservices run NAME`` in the caller's own process. It installs
no signal handlers: under the Administrator its signals are the defaults, and
in a caller's process they are the caller's.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.system import System

__all__ = ["run_component"]


def run_component(system: System, name: str, settings: Settings) -> int:
    """Configure and set up the component's process, then run its ``main``; its exit code."""
    from oservices_core._workflow.run import run_workflow

    component = system.components[name]
    main = component.load_main()
    context, _ = run_workflow(system.narrowed(name), ("setup",), settings=settings, out=sys.stderr)
    with settings.activate():
        configured = component.configuration is not None
        result = main(context.configurations[name]) if configured else main()
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
