"""Run a real process the way a user would: in a home of its own, nothing leaking in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# Variables that would make a child interpreter import something else.
LEAKY = frozenset({"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE"})


def environ(home: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with ``OSERVICES_HOME`` set to ``home``, no other
    ``OSERVICES_*`` nor import-path variable, and ``env`` on top."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("OSERVICES_") and k not in LEAKY
    }
    return clean | {"OSERVICES_HOME": str(home), **(env or {})}


def run_in(
    home: Path, command: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``home`` with :func:`environ`."""
    return subprocess.run(
        list(command),
        cwd=home,
        env=environ(home, env),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def oservices_in(
    home: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command line (``python -m oservices_core``) run in ``home``."""
    return run_in(home, [sys.executable, "-m", "oservices_core", *args], env)
