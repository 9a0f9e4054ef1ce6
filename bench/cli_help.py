"""``cli_help``: wall time of ``oservices --help`` against ``python -c pass`` and ``honcho --help``.

Every command is the one installed beside ``sys.executable``, so all three start
the same interpreter with the same site-packages.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench import Figure, Ratio, interleave, ratio

__all__ = ["run"]

GOAL_VS_HONCHO = 0.6


def run(quick: bool) -> Figure:
    oservices = _script("oservices")
    if oservices is None:
        raise RuntimeError(f"no oservices script beside {sys.executable}: install the project")
    honcho = _script("honcho")
    subjects = {"oservices --help": _command(oservices, "--help"),
                "python -c pass": _command(sys.executable, "-c", "pass")}
    if honcho is not None:
        subjects["honcho --help"] = _command(honcho, "--help")
    for subject in subjects.values():  # warm the file cache; a failing command stops here
        subject()
    rounds = 5 if quick else 30
    timings = interleave(subjects, rounds)
    if honcho is None:
        reason = f"honcho is not installed beside {sys.executable} (dependency group 'bench')"
        vs_honcho = Ratio("oservices --help", "honcho --help", None, GOAL_VS_HONCHO, note=reason)
    else:
        vs_honcho = ratio(timings, "oservices --help", "honcho --help", limit=GOAL_VS_HONCHO)
    vs_python = ratio(timings, "oservices --help", "python -c pass")
    return Figure("cli_help", "wall time of a help command in a fresh process", rounds, timings,
                  (vs_honcho, vs_python))


def _script(name: str) -> str | None:
    return shutil.which(name, path=str(Path(sys.executable).parent))


def _command(*argv: str) -> Callable[[], object]:
    def call() -> object:
        quiet = subprocess.DEVNULL
        return subprocess.run(argv, stdout=quiet, stderr=quiet, check=True)

    return call
