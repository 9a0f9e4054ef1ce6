"""Where an installation's directories are: one rule, readable without pydantic.

:class:`~oservices_core._config.settings.Settings` derives its directories
with :func:`home_of` and :func:`directory_of`, and names its files with
:func:`settings_file`, :data:`DOTENV` and :data:`PYPROJECT`. The commands
that only talk to a running Administrator or read its files (``status``,
``stop``, ``restart``, ``logs``) need one directory, and start in a fraction
of the time without importing pydantic: :func:`quick_directory` reads the
same sources for the two values it needs (the home and that directory) with
the standard library alone, and answers None whenever it cannot be sure (a
``.env`` file that mentions them, a value that is not a string, a key spelled
twice, an unreadable file...): the caller then loads the settings. A property
test checks that both always agree.
"""

from __future__ import annotations

import enum
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

__all__ = [
    "DIRECTORIES",
    "DOTENV",
    "ENV_PREFIX",
    "PYPROJECT",
    "PYPROJECT_TABLE",
    "directory_of",
    "home_of",
    "quick_directory",
    "settings_file",
]

ENV_PREFIX = "OSERVICES_"
# Each directory setting, and its name under home when it is not set.
DIRECTORIES = {"config_dir": "config", "data_dir": "data", "log_dir": "log", "run_dir": "run"}
DOTENV = Path(".env")
PYPROJECT = Path("pyproject.toml")
PYPROJECT_TABLE = ("tool", "oservices")


def settings_file() -> Path:
    """The settings file: ``OSERVICES_SETTINGS_FILE``, else ``oservices.toml`` here."""
    return Path(os.environ.get("OSERVICES_SETTINGS_FILE", "oservices.toml"))


def expand(path: Path) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; a ``ValueError`` when it cannot be."""
    try:
        return path.expanduser()
    except RuntimeError as exc:  # an unknown user, or no home for this one
        raise ValueError(f"cannot expand {str(path)!r}: {exc}") from None


def home_of(home: Path) -> Path:
    """The home directory that a ``home`` setting names: expanded, absolute."""
    return expand(home).absolute()


def directory_of(home: Path, field: str, value: Path) -> Path:
    """Where directory ``field`` is, set to ``value`` (the empty path when unset).

    Unset, it is ``HOME/config`` (``data``, ``log``, ``run``); relative, it is under home.
    """
    if value == Path():
        value = Path(DIRECTORIES[field])
    return home / expand(value)


def quick_directory(field: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Directory ``field`` as the settings would find it, read with the standard library;
    None when unsure (then load the settings).

    The sources, highest first, as the settings' own: environment variables
    (any case), ``.env``, the settings file, ``[tool.oservices]`` in
    ``pyproject.toml``, defaults. No secrets directory is configured.
    """
    if field not in DIRECTORIES:
        raise ValueError(f"not a directory setting: {field!r}")
    environ = os.environ if environ is None else environ
    if _mentions(DOTENV, ("home", field)):
        return None
    named = environ.get("OSERVICES_SETTINGS_FILE")
    if named is not None and not Path(named).is_file():
        return None  # the settings report it, located
    tables = [_table(settings_file(), ()), _table(PYPROJECT, PYPROJECT_TABLE)]
    if any(table is None for table in tables):
        return None
    values: dict[str, Path] = {}
    for name in ("home", field):
        found = _from_environment(environ, name)
        for table in tables:
            if found is _MISSING:
                assert table is not None
                found = _from_table(table, name)
        if found is None:
            return None
        if found is not _MISSING:
            values[name] = Path(found)
    try:
        home = home_of(values.get("home", Path.cwd()))
        return directory_of(home, field, values.get(field, Path()))
    except (OSError, ValueError):
        return None


class _Missing(enum.Enum):
    MISSING = "missing"


_MISSING: Final = _Missing.MISSING  # not set by this source; None means unsure


def _from_environment(environ: Mapping[str, str], name: str) -> str | _Missing | None:
    """The variable ``OSERVICES_NAME`` in any case; None when spelled in several ways."""
    variable = f"{ENV_PREFIX}{name}".upper()
    found = [value for key, value in environ.items() if key.upper() == variable]
    if len(found) > 1:
        return None
    return found[0] if found else _MISSING


def _from_table(table: dict[str, Any], name: str) -> str | _Missing | None:
    """Key ``name`` of a TOML table in any case; None unless one string."""
    found = [value for key, value in table.items() if key.lower() == name]
    if len(found) > 1:
        return None
    if not found:
        return _MISSING
    value = found[0]
    return value if isinstance(value, str) else None


def _table(path: Path, header: tuple[str, ...]) -> dict[str, Any] | None:
    """The table ``header`` of a TOML file: empty when there is no file, None when unsure."""
    if not path.is_file():
        return {}
    try:
        data: Any = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8, not TOML
        return None
    for key in header:
        data = data.get(key, {}) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else None


def _mentions(path: Path, names: tuple[str, ...]) -> bool:
    """Whether a ``.env`` file may set one of ``names`` (or cannot be read)."""
    if not path.is_file():
        return False
    try:
        text = path.read_bytes().decode("utf-8").upper()
    except (OSError, ValueError):  # unreadable or not UTF-8: the settings report it
        return True
    return any(f"{ENV_PREFIX}{name}".upper() in text for name in names)
