"""``components_list``: wall time of ``oservices components`` with 50 plugins installed.

Once per run, outside timing, a temporary virtual environment gets the project
(built from the repository root) and 50 plugin wheels made here, one
distribution ``benchplug-NN`` each, whose entry point ``bench-NN`` in group
``oservices`` names a component with a configuration of 20 fields.

- ``oservices components``: the installed command, in a fresh process;
- ``entry-point floor``: the venv's python scanning the same entry points,
  loading each (importing the same modules) and printing a line per component:
  the least any implementation must do.

Both run with output to ``DEVNULL``, in a temporary working directory that is
also ``OSERVICES_HOME``, with no other ``OSERVICES_*`` variable. Before timing,
both are run once and must list the same components: the 50 and the project's own.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from bench import Figure, interleave, ratio

__all__ = ["run"]

PLUGINS = 50
GOAL_VS_FLOOR = 1.3
ROOT = Path(__file__).resolve().parent.parent
CANDIDATE = "oservices components"
FLOOR = "entry-point floor"
FLOOR_SCRIPT = """\
from importlib.metadata import entry_points
from oservices_core import Component
for ep in entry_points(group="oservices"):
    plugin = ep.load()
    if isinstance(plugin, Component):
        print(plugin.name, ep.name)
"""
# Ten kinds of field, each present twice: (name, annotation, default for plugin n).
FIELDS: tuple[tuple[str, str, Callable[[int], str]], ...] = (
    ("count", "int", str),
    ("label", "str", lambda n: f'"label-{n}"'),
    ("ratio", "float", lambda n: f"{n / 8}"),
    ("enabled", "bool", lambda n: str(n % 2 == 0)),
    ("ports", "list[int]", lambda n: f"[{8000 + n}]"),
    ("root", "Path", lambda n: f'Path("/srv/{n}")'),
    ("endpoint", "Endpoint", lambda n: f"Endpoint(port={n + 1})"),
    ("tags", "list[str]", lambda n: "[]"),
    ("limit", "int | None", lambda n: "None"),
    ("mode", 'Literal["fast", "safe"]', lambda n: '"safe"'),
)
PLUGIN_MODULE = '''\
"""Benchmark plugin {n:02d}: one component and its configuration of 20 fields."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from oservices_core import Component, Configuration


class Endpoint(BaseModel):
    host: str = "localhost"
    port: int = 80


class Cfg(Configuration):
{fields}


component = Component(name="bench-{n:02d}", configuration=Cfg)
'''


def run(quick: bool) -> Figure:
    with tempfile.TemporaryDirectory(prefix="oservices-bench-") as temp:
        bin_dir = _install(Path(temp))
        home = Path(temp, "home")
        home.mkdir()
        env = _environment(home)
        argvs = {CANDIDATE: (str(bin_dir / "oservices"), "components"),
                 FLOOR: (str(bin_dir / "python"), "-c", FLOOR_SCRIPT)}
        listed = _check(argvs, env, home)
        subjects = {name: _command(argv, env, home) for name, argv in argvs.items()}
        for subject in subjects.values():  # warm the file cache
            subject()
        rounds = 5 if quick else 30
        timings = interleave(subjects, rounds)
    notes = (f"checked: both list the same {listed} components "
             f"({PLUGINS} benchplug-NN + {listed - PLUGINS} of the project)",
             "setup (venv, project, 50 wheels in one pip install) is not timed")
    return Figure("components_list", f"wall time of `oservices components`, {PLUGINS} plugins "
                  "of one component (20-field configuration) each", rounds, timings,
                  (ratio(timings, CANDIDATE, FLOOR, limit=GOAL_VS_FLOOR),), notes)


def _install(temp: Path) -> Path:
    """A venv holding the project and the plugin wheels; its ``bin`` directory."""
    venv, wheels = temp / "venv", temp / "wheels"
    wheels.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = (python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    subprocess.run([*pip, str(ROOT)], check=True)
    files = [str(_wheel(wheels, n)) for n in range(PLUGINS)]
    subprocess.run([*pip, "--no-index", *files], check=True)
    return venv / "bin"


def _wheel(directory: Path, n: int) -> Path:
    package = f"benchplug_{n:02d}"
    info = f"{package}-1.0.dist-info"
    fields = "\n".join(f"    {kind}_{copy}: {annotation} = {default(n + copy)}"
                       for copy in range(2) for kind, annotation, default in FIELDS)
    files = {
        f"{package}/__init__.py": "",
        f"{package}/component.py": PLUGIN_MODULE.format(n=n, fields=fields),
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: benchplug-{n:02d}\nVersion: 1.0\n"
                             "Requires-Dist: oservices>=0.1\n"),
        f"{info}/WHEEL": ("Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                          "Tag: py3-none-any\n"),
        f"{info}/entry_points.txt": (f"[oservices]\nbench-{n:02d} = "
                                     f"{package}.component:component\n"),
    }
    return write_wheel(directory / f"{package}-1.0-py3-none-any.whl", info, files)


def write_wheel(path: Path, info: str, files: dict[str, str]) -> Path:
    """Write ``files`` as the wheel ``path``, its ``{info}/RECORD`` added; the path."""
    record = [f"{name},sha256={_digest(text.encode())},{len(text.encode())}"
              for name, text in files.items()]
    files = {**files, f"{info}/RECORD": "\n".join([*record, f"{info}/RECORD,,"]) + "\n"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _environment(home: Path) -> dict[str, str]:
    """This process's environment without ``OSERVICES_*`` or Python paths, home in ``home``."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    env = {name: value for name, value in os.environ.items()
           if not name.upper().startswith("OSERVICES_") and name not in dropped}
    return env | {"OSERVICES_HOME": str(home)}


def _check(argvs: Mapping[str, Sequence[str]], env: Mapping[str, str], cwd: Path) -> int:
    """Both subjects exit 0 and list the same components, the 50 among them; how many."""
    listed = {name: _first_column(argv, env, cwd) for name, argv in argvs.items()}
    listed[CANDIDATE] = listed[CANDIDATE][1:]  # the table's header
    expected = {f"bench-{n:02d}" for n in range(PLUGINS)}
    if not expected <= set(listed[FLOOR]):
        raise AssertionError(f"plugins missing from the venv: {expected - set(listed[FLOOR])}")
    if sorted(listed[CANDIDATE]) != sorted(listed[FLOOR]):
        raise AssertionError(f"{CANDIDATE} lists {listed[CANDIDATE]}, not {listed[FLOOR]}")
    return len(listed[FLOOR])


def _first_column(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> list[str]:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode or done.stderr:
        raise AssertionError(f"{argv[0]} exited {done.returncode}: {done.stderr}")
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def _command(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Callable[[], object]:
    def call() -> object:
        quiet = subprocess.DEVNULL
        return subprocess.run(argv, env=env, cwd=cwd, stdout=quiet, stderr=quiet, check=True)

    return call
