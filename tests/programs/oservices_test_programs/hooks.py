"""Lifecycle hooks that append what they see to ``$OSERVICES_TEST_HOOKLOG``."""

from __future__ import annotations

import os

from oservices_core import Component, hookimpl


def _log(line: str) -> None:
    path = os.environ.get("OSERVICES_TEST_HOOKLOG")
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(line + "\n")


@hookimpl
def oservices_component_starting(component: Component) -> None:
    _log(f"starting {component.name}")


@hookimpl
def oservices_component_ready(component: Component, pid: int) -> None:
    _log(f"ready {component.name} {pid}")


@hookimpl
def oservices_component_exited(component: Component, pid: int, returncode: int) -> None:
    _log(f"exited {component.name} {pid} {returncode}")


@hookimpl
def oservices_initialize() -> None:
    # A slow initialize stage, for what happens while ``up`` prepares.
    import time

    time.sleep(float(os.environ.get("OSERVICES_TEST_SLOW_INIT", "0")))
