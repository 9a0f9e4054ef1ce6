"""Whether a build is up to date: a fingerprint of its inputs, and the files it left.

The inputs are what a build reads: oservices' version, the plugins (their
distributions, versions and module files), the settings, the ``OSERVICES_*``
environment, the overrides, the system file, and each configuration's class
and file (its size and modification time). After a build, the fingerprint and
every file written are recorded in ``DATA_DIR/.oservices-builds.json`` (one
entry per output directory); the next build with the same fingerprint, and with
every recorded file as it was left, has nothing to do. A plugin whose build
reads other inputs should be run with ``force=True`` (``--force``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oservices_core._config.atomic import write_atomic
from oservices_core._version import __version__
from oservices_core._workflow.context import Artifact

if TYPE_CHECKING:
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.system import System

__all__ = ["STATE_FILE", "fingerprint", "record", "up_to_date"]

STATE_FILE = ".oservices-builds.json"


def fingerprint(system: System, settings: Settings, overrides: Mapping[str, Any]) -> str:
    """A digest of everything a build reads."""
    digest = hashlib.sha256()

    def feed(*parts: object) -> None:
        digest.update(repr(parts).encode())

    pm = system.registry.plugin_manager
    feed(__version__, [(o.name, o.distribution, o.version, o.state) for o in pm.outcomes])
    feed(settings.model_dump_json(), sorted(_environment().items()), sorted(overrides.items()))
    feed(_file(system.file), sorted(system.components), sorted(system.services))
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda pair: pair[0]):
        feed(name, _module_file(getattr(plugin, "__name__", type(plugin).__module__)))
    for name, entry in sorted(system.configurations().items()):
        cls = entry.cls
        feed(name, cls.__module__, cls.__qualname__, _module_file(cls.__module__))
        feed(_stat(settings.config_dir / f"{name}.toml"))  # a rewrite changes mtime_ns
    return digest.hexdigest()


def up_to_date(state_file: Path, output_dir: Path, stamp: str) -> list[Artifact] | None:
    """The recorded files, if the last build had this fingerprint and they are untouched."""
    try:
        state = json.loads(state_file.read_bytes())[str(output_dir)]
        if state["fingerprint"] != stamp:
            return None
        files = state["files"]
        artifacts = []
        for item in files:
            path = Path(item["path"])
            if _stat(path) != (item["size"], item["mtime_ns"]):
                return None
            artifacts.append(Artifact(path, item["plugin"], "build", "unchanged", item["mode"]))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):  # unreadable: rebuild
        return None
    return artifacts


def record(state_file: Path, output_dir: Path, stamp: str, artifacts: list[Artifact]) -> None:
    """Remember this build: its fingerprint and the files it left."""
    files = []
    for artifact in artifacts:
        size, mtime = _stat(artifact.path) or (-1, -1)
        files.append(
            {
                "path": str(artifact.path),
                "plugin": artifact.plugin,
                "size": size,
                "mtime_ns": mtime,
                "mode": artifact.mode,
            }
        )
    try:
        builds = json.loads(state_file.read_bytes())
    except (OSError, ValueError, RecursionError):  # unreadable: start the record again
        builds = {}
    if not isinstance(builds, dict):
        builds = {}
    builds[str(output_dir)] = {"fingerprint": stamp, "files": files}
    state_file.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(state_file, (json.dumps(builds, indent=1) + "\n").encode())


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.upper().startswith("OSERVICES_")}


def _file(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "absent"


def _module_file(module: str) -> tuple[int, int] | None:
    loaded = sys.modules.get(module)
    filename = getattr(loaded, "__file__", None)
    return _stat(Path(filename)) if filename else None


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_size, status.st_mtime_ns
