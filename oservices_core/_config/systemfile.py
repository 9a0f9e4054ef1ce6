"""TOML files as text and data, read and parsed once per process while they are unchanged.

``System.load`` checks the system file's names; the resolver takes its
``[configurations.NAME]`` tables as the system layer. Both read it through
:func:`read_system`, so one process parses one file once, however many
resolvers and systems use it. Configuration files go through
:func:`read_toml_file` the same way: the template reads them once, and the
components it forks find them parsed (a stat each, not an open and a parse).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, final

from oservices_core._config import toml as _toml
from oservices_core._config.configuration import read_text

__all__ = ["SystemSource", "TomlFile", "read_system", "read_toml_file"]


@dataclass(frozen=True, slots=True)
class TomlFile:
    """A parsed TOML file: where it is, its text (for line numbers) and its data (not to be
    changed: it is shared by every reader in the process)."""

    path: str
    text: str = field(repr=False)
    data: dict[str, Any] = field(repr=False)


@final
@dataclass(frozen=True, slots=True)
class SystemSource(TomlFile):
    """A parsed system file."""

    def configuration(self, name: str) -> dict[str, Any] | None:
        """The ``[configurations.NAME]`` table, if the file has one."""
        section = self.data.get("configurations", {})
        table = section.get(name) if isinstance(section, dict) else None
        return table if isinstance(table, dict) else None


# path -> (the file's identity when read, what was read): a changed file is read again.
_READ: dict[str, tuple[tuple[int, int, int], TomlFile]] = {}


def read_system(path: Path | str) -> SystemSource:
    """The system file at ``path``, parsed; a missing or malformed file is a located error."""
    found = _read(path, SystemSource)
    assert isinstance(found, SystemSource)  # cached under its own kind
    return found


def read_toml_file(path: Path | str) -> TomlFile:
    """The TOML file at ``path``, parsed; a missing or malformed file is a located error."""
    return _read(path, TomlFile)


def _read(path: Path | str, kind: type[TomlFile]) -> TomlFile:
    key = os.path.abspath(path)
    stamp = _stamp(key)
    cached = _READ.get(key)
    if cached is not None and stamp is not None and cached[0] == stamp:
        if type(cached[1]) is kind:
            return cached[1]
        return kind(cached[1].path, cached[1].text, cached[1].data)
    text = read_text(Path(path))
    found = kind(str(path), text, _toml.loads(text, str(path)))
    if stamp is not None:
        _READ[key] = (stamp, found)
    return found


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)
