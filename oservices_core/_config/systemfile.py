"""The system file as text and data, read and parsed once per process while it is unchanged.

``System.load`` checks its names; the resolver takes its ``[configurations.NAME]``
tables as the system layer. Both read it through :func:`read_system`, so one
process parses one file once, however many resolvers and systems use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, final

from oservices_core._config import toml as _toml
from oservices_core._config.configuration import read_text

__all__ = ["SystemSource", "read_system"]


@final
@dataclass(frozen=True, slots=True)
class SystemSource:
    """A parsed system file: where it is, its text (for line numbers) and its data."""

    path: str
    text: str = field(repr=False)
    data: dict[str, Any] = field(repr=False)

    def configuration(self, name: str) -> dict[str, Any] | None:
        """The ``[configurations.NAME]`` table, if the file has one."""
        section = self.data.get("configurations", {})
        table = section.get(name) if isinstance(section, dict) else None
        return table if isinstance(table, dict) else None


# path -> (the file's identity when read, what was read): a changed file is read again.
_READ: dict[str, tuple[tuple[int, int, int], SystemSource]] = {}


def read_system(path: Path | str) -> SystemSource:
    """The file at ``path``, parsed; a missing or malformed file is a located error."""
    key = os.path.abspath(path)
    stamp = _stamp(key)
    cached = _READ.get(key)
    if cached is not None and stamp is not None and cached[0] == stamp:
        return cached[1]
    text = read_text(Path(path))
    source = SystemSource(str(path), text, _toml.loads(text, str(path)))
    if stamp is not None:
        _READ[key] = (stamp, source)
    return source


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)
