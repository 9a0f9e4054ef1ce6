"""The context every workflow-stage hook receives, and its atomic, recorded file writes."""

from __future__ import annotations

import difflib
import inspect
import os
import stat
import sys
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, TextIO, TypeVar, final

from oservices_core._config.atomic import write_atomic
from oservices_core._plugins.stash import Stash

if TYPE_CHECKING:
    from oservices_core._config.configuration import Configuration
    from oservices_core._config.resolve import Resolved
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.system import System

__all__ = ["Artifact", "Context", "Lazy", "plugin_in_frames"]

V = TypeVar("V")
Status = Literal["created", "updated", "unchanged", "kept", "would create", "would update"]


@final
class Lazy(MutableMapping[str, V]):
    """A mapping whose values are made on first use: an up-to-date build resolves nothing
    unless a caller asks for a configuration."""

    __slots__ = ("_make", "_names", "_values")

    def __init__(self, names: list[str], make: Callable[[str], V]) -> None:
        self._names = list(names)
        self._make = make
        self._values: dict[str, V] = {}

    def __getitem__(self, name: str) -> V:
        if name not in self._values:
            if name not in self._names:
                raise KeyError(name)
            self._values[name] = self._make(name)
        return self._values[name]

    def __setitem__(self, name: str, value: V) -> None:
        if name not in self._names:
            self._names.append(name)
        self._values[name] = value

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._values.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)


@final
@dataclass(frozen=True, slots=True)
class Artifact:
    """A file a stage wrote (or would write): where, by which plugin, and what happened."""

    path: Path
    plugin: str
    stage: str
    status: Status
    mode: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping for ``--json`` reports."""
        return {
            "path": str(self.path),
            "plugin": self.plugin,
            "stage": self.stage,
            "status": self.status,
            "mode": oct(self.mode),
        }


@dataclass(slots=True)
class _Undo:
    path: Path
    data: bytes | None
    mode: int


@dataclass(slots=True, eq=False)
class Context:
    """What a stage hook works on.

    ``configurations`` maps each configuration's name to its resolved value and
    ``resolved`` to its :class:`~oservices_core.Resolved` (with provenance);
    ``output_dir`` is where relative paths given to :meth:`write_file` land;
    ``stash`` keeps what a plugin wants to pass from one stage to the next.
    """

    system: System
    settings: Settings
    configurations: MutableMapping[str, Configuration] = field(default_factory=dict)
    resolved: MutableMapping[str, Resolved[Any]] = field(default_factory=dict)
    output_dir: Path = Path()
    dry_run: bool = False
    stash: Stash = field(default_factory=Stash)
    artifacts: list[Artifact] = field(default_factory=list)
    stage: str = ""
    out: TextIO = field(default_factory=lambda: sys.stdout)
    owners: dict[CodeType, str] = field(default_factory=dict)  # hook code -> plugin name
    _undo: list[_Undo] = field(default_factory=list)

    def write_file(self, path: str | Path, content: str | bytes, *, mode: int = 0o644) -> Artifact:
        """Write a file atomically and record it; in a dry run, print a diff instead.

        A file whose bytes and mode are already right is left alone (its
        modification time too), so a build with nothing changed writes nothing.
        """
        target = self.output_dir / path
        data = content.encode() if isinstance(content, str) else content
        old, old_mode = _read(target)
        plugin = plugin_in_frames(inspect.currentframe(), self.owners)
        if old == data and old_mode == mode:
            return self._record(target, plugin, "unchanged", mode)
        if self.dry_run:
            # A private file (0600) may hold secrets: name it, show no line of it.
            private = not mode & 0o077 or (old_mode is not None and not old_mode & 0o077)
            self.out.write(
                f"{target}: private file, diff not shown\n" if private else _diff(target, old, data)
            )
            return self._record(target, plugin, "would update" if old else "would create", mode)
        self._undo.append(_Undo(target, old, old_mode or 0))
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, mode=mode)
        return self._record(target, plugin, "updated" if old is not None else "created", mode)

    def keep(self, path: str | Path) -> Artifact:
        """Record a file this stage left alone on purpose (a user changed it)."""
        target = self.output_dir / path
        plugin = plugin_in_frames(inspect.currentframe(), self.owners)
        return self._record(target, plugin, "kept", _read(target)[1] or 0)

    def _record(self, path: Path, plugin: str, status: Status, mode: int) -> Artifact:
        artifact = Artifact(path, plugin, self.stage, status, mode)
        self.artifacts.append(artifact)
        return artifact

    def rollback(self) -> list[Path]:
        """Undo this stage's writes, newest first: restore old files, remove new ones."""
        restored = []
        for undo in reversed(self._undo):
            if undo.data is None:
                undo.path.unlink(missing_ok=True)
            else:
                write_atomic(undo.path, undo.data, mode=undo.mode)
            restored.append(undo.path)
        self._undo.clear()
        return restored

    def commit(self) -> None:
        """Forget the undo journal: the stage succeeded."""
        self._undo.clear()


def _read(path: Path) -> tuple[bytes | None, int | None]:
    try:
        return path.read_bytes(), stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None, None


def _diff(path: Path, old: bytes | None, new: bytes) -> str:
    before = (old or b"").decode(errors="replace").splitlines(keepends=True)
    after = new.decode(errors="replace").splitlines(keepends=True)
    name = str(path)
    lines = difflib.unified_diff(before, after, "/dev/null" if old is None else name, name)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def plugin_in_frames(frame: FrameType | TracebackType | None, owners: dict[CodeType, str]) -> str:
    """The plugin whose hook implementation is on the stack (or in the traceback), if any."""
    found = "(unknown plugin)"
    while frame is not None:
        code = frame.f_code if isinstance(frame, FrameType) else frame.tb_frame.f_code
        if code in owners:
            found = owners[code]
            if isinstance(frame, FrameType):
                return found  # the innermost hook on the stack is the caller
        frame = frame.f_back if isinstance(frame, FrameType) else frame.tb_next
    return found
