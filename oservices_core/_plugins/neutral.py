"""``oservices check neutral``: import each plugin module in a fresh interpreter and watch it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import final

from oservices_core._plugins.manager import GROUP

__all__ = ["Verdict", "check_neutral", "plugin_modules"]


@final
@dataclass(frozen=True, slots=True)
class Verdict:
    """What importing one module did; neutral when it did nothing and did not fail."""

    module: str
    findings: tuple[str, ...]
    error: str | None

    @property
    def neutral(self) -> bool:
        return not self.findings and self.error is None


def plugin_modules() -> list[str]:
    """The module of every installed ``oservices`` entry point, without importing any."""
    modules = {ep.module for ep in importlib.metadata.entry_points(group=GROUP)}
    return sorted(modules)


def check_neutral(modules: list[str]) -> list[Verdict]:
    """Probe every module in its own fresh interpreter, a few at a time."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(_probe, modules))


def _probe(module: str) -> Verdict:
    # A fresh interpreter with nothing set up: no OSERVICES_* or Django settings inherited.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OSERVICES_", "DJANGO_SETTINGS_MODULE"))
    }
    result = subprocess.run(  # noqa: S603 - our own probe, run by this interpreter
        [sys.executable, "-m", "oservices_core._plugins.neutral_probe", module],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    try:
        report = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return Verdict(module, (), f"the probe failed: {detail}")
    return Verdict(module, tuple(report["findings"]), report["error"])
