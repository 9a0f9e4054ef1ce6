"""The :class:`Configuration` base class: a pydantic model that dumps and loads TOML."""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self, final

from pydantic import BaseModel, ConfigDict, ValidationError

from oservices_core._config import toml as _toml
from oservices_core._config.atomic import write_atomic
from oservices_core._config.problems import problems_from
from oservices_core._errors import ConfigurationError, Problem

if TYPE_CHECKING:
    from oservices_core._config.settings import Settings

__all__ = [
    "Configuration",
    "FromSettings",
    "configuration_name",
    "decode_utf8",
    "env_prefix",
    "read_text",
    "recording",
]

_SUFFIX = re.compile(r"_?(configuration|config|conf)$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


Recorder = Callable[[BaseModel, str], None]
_RECORDER: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "oservices_recorder", default=None
)


@contextmanager
def recording(recorder: Recorder) -> Iterator[None]:
    """Call ``recorder(configuration, field)`` after each assignment to a configuration field.

    The workflow uses it to know which plugin set which value.
    """
    token = _RECORDER.set(recorder)
    try:
        yield
    finally:
        _RECORDER.reset(token)


@final
@dataclass(frozen=True, slots=True)
class FromSettings:
    """Marks a field whose value derives from the active :class:`Settings`.

    Use it in ``Annotated``: ``port: Annotated[int, FromSettings(lambda s: s.base_port + 1)]``.
    The derived value sits above the field's default and below every file, the
    environment and explicit overrides; activating other settings recomputes it.
    """

    derive: Callable[[Settings], Any]


class Configuration(BaseModel):
    """Base class of every configuration: typed variables that dump to and load from TOML.

    Unknown keys are errors and assignments are validated, so a hook that sets a
    field gets the same checks as a file. The configuration's name is its
    ``model_config["title"]`` when set, else its class name in snake case
    without a ``Configuration``/``Config``/``Conf`` suffix.
    """

    # pydantic's own error text would quote a refused value, a secret's included; the
    # errors oservices formats (problems.py) show values, masking secrets.
    model_config: ClassVar[ConfigDict] = ConfigDict(
        extra="forbid", validate_assignment=True, hide_input_in_errors=True
    )

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)  # validated first: only good values are recorded
        recorder = _RECORDER.get()
        if recorder is not None:
            recorder(self, name)

    @classmethod
    def configuration_name(cls) -> str:
        """The name files, environment variables and the command line use."""
        return configuration_name(cls)

    @classmethod
    def schema_file_name(cls, name: str | None = None) -> str:
        """File name of this configuration's JSON Schema, as the ``#:schema`` line names it."""
        return f"{name or cls.configuration_name()}.schema.json"

    def to_toml(
        self, *, include_secrets: bool = False, schema: str | None = None, name: str | None = None
    ) -> str:
        """Commented TOML of this configuration.

        Secret fields are left out (a comment names the environment variable to
        set them with) unless ``include_secrets`` is true. ``schema`` is the
        ``#:schema`` target, by default the schema file beside the TOML file;
        ``name`` is the name it is registered under (default: the class's).
        """
        secrets: _toml.Secrets = "reveal" if include_secrets else "omit"
        return self._render(secrets, schema=schema, name=name)[0]

    def _render(
        self,
        secrets: _toml.Secrets,
        *,
        schema: str | None = None,
        name: str | None = None,
        aside: _toml.Aside | None = None,
    ) -> tuple[str, bool]:
        cls = type(self)
        name = name or cls.configuration_name()
        head = [
            f"#:schema {schema or './' + cls.schema_file_name(name)}",
            f"# Configuration {name!r} ({cls.__module__}.{cls.__qualname__})",
            *_toml.comment(cls.__doc__ if cls.__doc__ != Configuration.__doc__ else None),
            "",
        ]
        prefix = env_prefix(name)
        return _toml.render(
            self,
            head=head,
            secrets=secrets,
            env_hint=lambda dotted: prefix + dotted.replace(".", "__").upper(),
            aside=aside,
        )

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<toml>") -> Self:
        """Validate TOML text; errors name ``source`` and the line of each key.

        A key left out takes its class's default, as in ``model_validate`` (so a
        ``None`` written by omission reads back). Resolution differs on purpose:
        there a table merges into the field's default (see the layers page).
        """
        data = _toml.loads(text, source)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:

            def locate(path: tuple[str, ...]) -> str:
                line = _toml.locate_line(text, path)
                return f"{source}:{line}" if line else source

            problems = problems_from(exc, cls, locate)
            raise ConfigurationError(problems, subject=source) from None

    def dump(
        self, path: str | Path, *, include_secrets: bool = False, name: str | None = None
    ) -> None:
        """Write this configuration to ``path`` atomically, and its JSON Schema beside it.

        A file that holds a secret is created with mode 0600. A failure leaves
        any previous file intact.
        """
        path = Path(path)
        text, secret = self._render("reveal" if include_secrets else "omit", name=name)
        write_atomic(path, text.encode(), mode=0o600 if secret else 0o644)
        schema = json.dumps(type(self).model_json_schema(), indent=2, sort_keys=True) + "\n"
        schema_path = path.parent / type(self).schema_file_name(name)
        if not schema_path.exists() or schema_path.read_text() != schema:
            write_atomic(schema_path, schema.encode())

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read and validate a TOML file; every problem is reported with its line."""
        path = Path(path)
        return cls.from_toml(read_text(path), source=str(path))


def read_text(path: Path) -> str:
    """A file's text, with unreadable, missing or non-UTF-8 files as located errors."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _file_error(
            path,
            "an existing file",
            "no such file",
            "check the path, or run `oservices config sample NAME`",
        ) from None
    except IsADirectoryError:
        raise _file_error(path, "a file", "a directory", "point at the TOML file inside") from None
    except OSError as exc:
        found = exc.strerror or str(exc)
        raise _file_error(path, "a readable file", found, "check its permissions") from None
    return decode_utf8(data, str(path))


def decode_utf8(data: bytes, where: str) -> str:
    """Bytes to text; bytes that are not UTF-8 are an error at their line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        found = f"bytes that are not UTF-8 (column {column})"
        problem = Problem(f"{where}:{line}", "", "UTF-8 text", found, "save the file as UTF-8")
        raise ConfigurationError(problem) from None


def _file_error(path: Path, expected: str, found: str, hint: str) -> ConfigurationError:
    return ConfigurationError(Problem(str(path), "", expected, found, hint))


def configuration_name(cls: type[BaseModel]) -> str:
    """``model_config['title']``, else the class name in snake case without its suffix."""
    title = cls.model_config.get("title")
    if title:
        return title
    snake = _CAMEL.sub("_", cls.__name__).lower()
    return _SUFFIX.sub("", snake) or snake


def env_prefix(name: str) -> str:
    """Prefix of the environment variables of configuration ``name``: ``OSERVICES_NAME__``."""
    return "OSERVICES_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "__"
