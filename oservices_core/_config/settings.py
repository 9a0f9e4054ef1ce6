"""Settings: the few variables that depend on where a component is installed.

Sources, highest first, all pydantic-settings' own: init arguments, environment
variables ``OSERVICES_*``, a ``.env`` file, a secrets directory, the settings
file (``oservices.toml``, or ``OSERVICES_SETTINGS_FILE``), ``[tool.oservices]``
in ``pyproject.toml``, then defaults.

Each thread (each context) holds its own active settings in a context variable;
:func:`start_thread` starts a thread with the settings active where it started.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    PyprojectTomlConfigSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from oservices_core._config import toml as _toml
from oservices_core._config.bounds import BOUNDS, OutOfBoundsError, parse_bounded
from oservices_core._config.configuration import decode_utf8, read_text
from oservices_core._config.locations import (
    DIRECTORIES,
    DOTENV,
    ENV_PREFIX,
    PYPROJECT,
    PYPROJECT_TABLE,
    directory_of,
    expand,
    home_of,
    settings_file,
)
from oservices_core._config.problems import is_complex, problems_from
from oservices_core._errors import ConfigurationError, Problem

__all__ = [
    "Settings",
    "active_settings",
    "current_settings",
    "load_settings",
    "settings_file",
    "split_address",
    "start_thread",
]

_ACTIVE: contextvars.ContextVar[Settings | None] = contextvars.ContextVar(
    "oservices_settings", default=None
)


class Settings(BaseSettings):
    """Where and how this installation runs. Environment prefix ``OSERVICES_``."""

    model_config: ClassVar[SettingsConfigDict] = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=DOTENV,
        extra="forbid",
        pyproject_toml_table_header=PYPROJECT_TABLE,
        validate_default=True,
        enable_decoding=False,  # complex values are JSON read by _decode_complex, bounded
    )

    home: Path = Field(default_factory=Path.cwd, description="Root of this installation.")
    environment: str = Field("dev", min_length=1, description="Environment name: dev, prod...")
    host: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        description="Name of this host, as system files place components.",
    )
    config_dir: Path = Field(Path(), description="Configuration files; default HOME/config.")
    data_dir: Path = Field(Path(), description="Data; default HOME/data.")
    log_dir: Path = Field(Path(), description="Logs; default HOME/log.")
    run_dir: Path = Field(Path(), description="Sockets and pid files; default HOME/run.")
    system_file: Path | None = Field(
        None, description="The system file; default HOME/system.toml when there is one."
    )
    base_port: int = Field(8000, ge=1, le=65535, description="First port components use.")
    strict: bool = Field(False, description="Make any plugin load failure fatal.")
    disable_plugins: str = Field("", description="Comma-separated plugin names not to load.")
    autoload_plugins: bool = Field(True, description="Load every installed plugin.")
    plugins: str = Field("", description="Plugins to load when autoload_plugins is off.")
    admin_http: str = Field(
        "",
        description="HOST:PORT where the Administrator serves HTTP (metrics, status page); "
        "empty: off.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _decode_complex(cls, value: Any, info: ValidationInfo) -> Any:
        """Text for a list, table or model (from the environment or ``.env``) is JSON, read
        within the one bound on outside text (pydantic-settings' own reading is off)."""
        field = cls.model_fields.get(info.field_name or "")
        if not isinstance(value, str) or field is None or not is_complex(field.annotation):
            return value
        try:
            return parse_bounded(json.loads, value)
        except OutOfBoundsError as exc:
            message = "a JSON list or table with {bounds}; this one has {found}"
            context = {"bounds": BOUNDS, "found": exc.found}
            raise PydanticCustomError("json_out_of_bounds", message, context) from None
        except ValueError:
            raise PydanticCustomError("json_invalid", "a JSON list or table") from None

    @field_validator("admin_http")
    @classmethod
    def _check_address(cls, value: str) -> str:
        try:
            if value:
                split_address(value)
        except ValueError:
            message = "an address HOST:PORT, such as 127.0.0.1:9180 or [::1]:9180 (0: any port)"
            raise PydanticCustomError("http_address", message) from None
        return value

    @field_validator("home", *DIRECTORIES, "system_file")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        # `~` and `~user` first, so that one that cannot be expanded is named by its key.
        return None if value is None else expand(value)

    @model_validator(mode="after")
    def _derive_directories(self) -> Settings:
        # The one rule (locations.py), which `oservices status` also reads without pydantic:
        # an unset directory (the empty path) lives under home; relative ones too.
        self.home = home_of(self.home)
        for field in DIRECTORIES:
            object.__setattr__(self, field, directory_of(self.home, field, getattr(self, field)))
        if self.system_file is not None:
            object.__setattr__(self, "system_file", self.home / self.system_file)
        return self

    def system_path(self) -> Path | None:
        """The system file these settings name, else ``HOME/system.toml`` if it exists."""
        if self.system_file is not None:
            return self.system_file
        default = self.home / "system.toml"
        return default if default.is_file() else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """init > env > .env > secrets dir > settings file > pyproject > defaults."""
        return (
            init_settings,
            env_settings,
            _KnownOnly(settings_cls, dotenv_settings),
            file_secret_settings,
            _SettingsFile(settings_cls, toml_file=settings_file()),
            _Pyproject(settings_cls),
        )

    def activate(self) -> _Activation:
        """Make these the active settings in this context; usable as a context manager."""
        return _Activation(self)

    def replaced(self, values: Mapping[str, Any], *, where: str = "settings") -> Settings:
        """These settings with ``values`` set and validated (another host's, a container's).

        Directories under the old home stay under the new one; directories set
        elsewhere stay where they are. A bad value is a :class:`ConfigurationError`
        located at ``where``. Nothing is read from the environment or files.
        """
        current = self.model_dump()
        for field, value in current.items():
            # A directory under home is kept relative, so that a new home moves it along.
            under_home = isinstance(value, Path) and value.is_relative_to(self.home)
            if field.endswith("_dir") and under_home:
                current[field] = value.relative_to(self.home)
        try:
            return type(self).model_validate(current | dict(values))
        except ValidationError as exc:
            problems = problems_from(exc, type(self), lambda path: where)
            raise ConfigurationError(problems, subject="settings") from None

    def environ(self) -> dict[str, str]:
        """These settings as ``OSERVICES_*`` variables, for a process started from here."""
        values = self.model_dump(mode="json", exclude_none=True)
        return {f"OSERVICES_{key.upper()}": str(value) for key, value in values.items()}


_ADDRESS = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>[0-9]{1,5})"
)


def split_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as its host and port; port 0 picks a free one.

    :raises ValueError: it is not such an address (the message says what was expected).
    """
    found = _ADDRESS.fullmatch(text)
    port = int(found["port"]) if found else -1
    if found is None or port > 65535:
        shown = text if len(text) <= 80 else f"{text[:80]}..."
        raise ValueError(
            f"expected HOST:PORT (such as 127.0.0.1:9180, [::1]:9180, or port 0 for a free "
            f"one), found {shown!r}"
        )
    return found["v6"] or found["host"], port


def _read_toml(path: Path | Traversable) -> dict[str, Any]:
    """A settings file read as every TOML file is: UTF-8, bounded, errors located."""
    where = Path(str(path))
    return _toml.loads(read_text(where), str(where))


class _SettingsFile(TomlConfigSettingsSource):
    """pydantic-settings' TOML source, reading its file through :func:`_read_toml`."""

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        return _read_toml(file_path)


class _Pyproject(PyprojectTomlConfigSettingsSource):
    """pydantic-settings' pyproject source, reading through :func:`_read_toml`; its
    ``[tool.oservices]`` must be a table (the source would fail on another value)."""

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        path = Path(str(file_path))
        text = read_text(path)
        data = _toml.loads(text, str(path))
        table: Any = data
        header = self.toml_table_header  # set before the file is read
        for depth, key in enumerate(header):
            table = table.get(key, {})
            if not isinstance(table, dict):
                line = _toml.locate_line(text, tuple(header[: depth + 1]))
                where = f"{path}:{line}" if line else str(path)
                found = f"a value of type {type(table).__name__}"
                problem = Problem(where, ".".join(header[: depth + 1]), "a table", found)
                raise ConfigurationError(problem)
        return data


class _KnownOnly(PydanticBaseSettingsSource):
    """A source that passes on only the settings' own fields.

    A ``.env`` file usually holds other programs' variables too; unknown keys
    in the settings file and pyproject stay errors (a typo is never lost).
    """

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._inner = inner

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        return {key: value for key, value in self._inner().items() if key in fields}


class _Activation:
    """Activates settings at once; as a context manager, restores the previous ones on exit."""

    __slots__ = ("_token",)

    def __init__(self, settings: Settings) -> None:
        self._token = _ACTIVE.set(settings)

    def __enter__(self) -> Settings:
        active = _ACTIVE.get()
        assert active is not None  # set in __init__
        return active

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.reset(self._token)


def current_settings() -> Settings | None:
    """The settings active in this context, or None when none were activated or loaded."""
    return _ACTIVE.get()


def active_settings() -> Settings:
    """The settings active in this context, loaded on first use."""
    settings = _ACTIVE.get()
    if settings is None:
        settings = load_settings()
        _ACTIVE.set(settings)
    return settings


def start_thread(
    target: Callable[..., object], *args: Any, name: str | None = None
) -> threading.Thread:
    """Start a daemon thread that runs with the settings active here."""
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(target, *args), name=name, daemon=True)
    thread.start()
    return thread


def load_settings(**values: Any) -> Settings:
    """Load settings from every source; a bad value is a located :class:`ConfigurationError`."""
    _check_files()
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = problems_from(exc, Settings, _SettingsLocator(values).where)
        raise ConfigurationError(problems, subject="settings") from None
    except OSError as exc:
        where = exc.filename or str(settings_file())
        found = exc.strerror or str(exc)
        raise ConfigurationError(
            Problem(str(where), "", "a readable settings file", found)
        ) from None


def _check_files() -> None:
    """The settings file must exist when named, and ``.env`` be UTF-8 (its source would
    raise raw; the TOML files are read as UTF-8 by :func:`_read_toml`)."""
    named = os.environ.get("OSERVICES_SETTINGS_FILE")
    if named is not None and not Path(named).is_file():
        raise ConfigurationError(
            Problem(
                "environment variable OSERVICES_SETTINGS_FILE",
                "",
                "an existing settings file",
                repr(named),
                hint="create it, or unset the variable to use ./oservices.toml",
            )
        )
    try:
        data = DOTENV.read_bytes()
    except OSError:
        return  # an absent file is fine; an unreadable one is reported by the source
    decode_utf8(data, str(DOTENV))


class _SettingsLocator:
    """Finds which source gave a settings field, for error messages."""

    __slots__ = ("values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def where(self, path: tuple[str, ...]) -> str:
        field = path[0] if path else ""
        if field in self.values:
            return f"argument {field}"
        variable = f"OSERVICES_{field.upper()}"
        if any(name.upper() == variable for name in os.environ):
            return f"environment variable {variable}"
        return next(self._files(field, variable), "settings")

    def _files(self, field: str, variable: str) -> Iterator[str]:
        dotenv = DOTENV
        if dotenv.is_file():
            assignment = re.compile(rf"\s*(export\s+)?{variable}\s*=", re.IGNORECASE)
            for number, text in enumerate(dotenv.read_text().splitlines(), start=1):
                if assignment.match(text):
                    yield f".env:{number} ({variable})"
        for path, table in ((settings_file(), ()), (PYPROJECT, PYPROJECT_TABLE)):
            if path.is_file():
                line = _toml.locate_line(path.read_text(), (*table, field))
                if line is not None:
                    yield f"{path}:{line}"
