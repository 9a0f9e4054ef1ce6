"""Real virtual environments for end-to-end tests: wheels built and installed with pip.

The environment gets no pip of its own: this interpreter's pip works on it with
``--python`` (pip 22.3 or newer).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREES = ROOT / "tests" / "plugins"


def checked(command: list[str], what: str) -> None:
    """Run ``command``; fail the test, with its output, if it fails."""
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def requirements(trees: Iterable[Path]) -> list[str]:
    """hatchling for every tree, and the project's own dependencies, from the pyprojects."""
    found: list[str] = []
    for tree in (ROOT, *trees):
        data = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))
        found += data["build-system"]["requires"]
        if tree == ROOT:
            found += data["project"]["dependencies"]
    return sorted(set(found))


def wheel(wheelhouse: Path, distribution: str) -> str:
    """The one wheel of ``distribution`` in ``wheelhouse``."""
    (found,) = wheelhouse.glob(f"{distribution.replace('-', '_')}-*.whl")
    return str(found)


def pip(venv: Path) -> list[str]:
    """This interpreter's pip, working on ``venv``."""
    command = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    return [*command, "--disable-pip-version-check", "--no-input", "--quiet"]


def new_venv(venv: Path, trees: Iterable[Path]) -> list[str]:
    """Create ``venv`` with what building ``trees`` and running the project need; its pip."""
    checked([sys.executable, "-m", "venv", "--without-pip", str(venv)], "python -m venv")
    command = pip(venv)
    checked([*command, "install", *requirements(trees)], "installing hatchling and dependencies")
    return command
