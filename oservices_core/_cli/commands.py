"""Command-line commands that plugins add, through the entry-point group ``oservices.commands``.

::

    [project.entry-points."oservices.commands"]
    shop-report = "shop.cli:report"     # report(argv: list[str]) -> int

``oservices --help`` lists them by reading ``entry_points.txt`` files directly:
importing ``importlib.metadata`` alone would cost half of the time ``--help``
may take, and no plugin module is imported until its command runs.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator

__all__ = ["COMMANDS_GROUP", "plugin_commands", "run_plugin_command"]

COMMANDS_GROUP = "oservices.commands"


def plugin_commands() -> dict[str, tuple[str, str]]:
    """Command name -> (``module:function``, distribution); the first on ``sys.path`` wins."""
    found: dict[str, tuple[str, str]] = {}
    for directory in sys.path:
        for distribution, text in _entry_point_files(directory or "."):
            for name, value in _section(text, COMMANDS_GROUP):
                found.setdefault(name, (value, distribution))
    return found


def _entry_point_files(directory: str) -> Iterator[tuple[str, str]]:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.endswith((".dist-info", ".egg-info")):
            try:
                with open(os.path.join(entry.path, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            stem = entry.name.rsplit(".", 1)[0]  # name-version.dist-info
            # Wheels write the name with "_" for "-"; show the normalized name pip shows.
            yield (stem.rpartition("-")[0] or stem).replace("_", "-").lower(), text


def _section(text: str, group: str) -> Iterator[tuple[str, str]]:
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            inside = line == f"[{group}]"
        elif inside and "=" in line and not line.startswith(("#", ";")):
            name, _, value = line.partition("=")
            yield name.strip(), value.strip()


def run_plugin_command(name: str, value: str, argv: list[str]) -> int:
    """Import the command's function now and run it with the remaining arguments."""
    from oservices_core._errors import ImportTargetError

    module, _, attribute = value.partition(":")
    try:
        target: object = importlib.import_module(module.strip())
        for part in attribute.strip().split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ImportTargetError(
            f"plugin command {name!r} ({value}) cannot be loaded: {exc}"
        ) from exc
    if not callable(target):
        raise ImportTargetError(f"plugin command {name!r} ({value}) is not callable")
    command: Callable[[list[str]], int | None] = target
    return command(argv) or 0
