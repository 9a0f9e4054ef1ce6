"""The context every workflow-stage hook receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oservices_core._configuration import Configuration
    from oservices_core._settings import Settings
    from oservices_core._system import System

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    """What a stage hook works on: the system, settings, resolved configurations, output."""

    system: System
    settings: Settings
    configurations: dict[str, Configuration] = field(default_factory=dict)
    output_dir: Path = Path()
    dry_run: bool = False
