"""Built-in ``logging`` plugin: the package configuration ``logging``, applied at setup.

The setup stage turns the configuration into a :func:`logging.config.dictConfig`
dictionary: the root logger at ``level``, one level per logger name from
``levels``, and two handlers sharing one formatter (``text``, or ``json``: one
object per line with ``time``, ``level``, ``logger``, ``message`` and
``exception`` when there is one)::

    console    standard error                          (console = true)
    file       LOG_DIR/oservices.log, rotating by size  (to_file = true)

The log directory is created with mode 0750; the log file is its owner's
only (0600) from its first byte. A dry run writes nothing: no
directory, no log file, the console handler only. The dictionary is left in
the context's stash under :data:`DICT_CONFIG`, for plugins that pass it on
(Django's ``LOGGING``, a component's process); a plugin that sets up before
this one may put its own dictionary there instead, and that one is applied.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, final

from pydantic import Field

from oservices_core import Configuration, Context, StashKey, hookimpl

__all__ = [
    "DICT_CONFIG",
    "LOG_FILE",
    "NAME",
    "JsonFormatter",
    "LoggingConfiguration",
    "PrivateRotatingFileHandler",
    "dict_config",
    "oservices_configurations",
    "oservices_setup",
]

NAME = "logging"
LOG_FILE = "oservices.log"
DICT_CONFIG = StashKey[dict[str, Any]]()
TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
Level = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class LoggingConfiguration(Configuration):
    """How oservices processes log: levels, format, and where records go."""

    level: Level = Field(
        "INFO", description="Level of the root logger: records below it are dropped."
    )
    levels: dict[str, Level] = Field(
        default_factory=dict,
        description="Level per logger name (it applies to the logger's children too), "
        'for example {"django.db.backends" = "WARNING"}.',
    )
    format: Literal["text", "json"] = Field(
        "text",
        description="text: one readable line per record; json: one JSON object per line "
        "with time, level, logger, message and exception.",
    )
    to_file: bool = Field(True, description="Write records to LOG_DIR/oservices.log.")
    max_bytes: int = Field(
        10 * 1024 * 1024,
        ge=0,
        description="Size in bytes at which the log file rotates; 0 never rotates.",
    )
    backup_count: int = Field(
        5, ge=0, description="Rotated files kept beside the log file: oservices.log.1 to .N."
    )
    console: bool = Field(True, description="Write records to standard error.")


@final
class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: time, level, logger, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (without the newline the handler adds)."""
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


@hookimpl(trylast=True)
def oservices_configurations() -> dict[str, type[Configuration]]:
    """The package configuration ``logging``."""
    return {NAME: LoggingConfiguration}


@hookimpl(trylast=True)
def oservices_setup(context: Context) -> None:
    """Apply the ``logging`` configuration to this process with ``dictConfig``.

    A plugin whose ``oservices_setup`` runs first (this one is ``trylast``) may
    put its own dictionary in the stash under :data:`DICT_CONFIG`: it is applied
    instead.
    """
    import logging.config

    if DICT_CONFIG in context.stash:
        logging.config.dictConfig(context.stash[DICT_CONFIG])
        return
    configuration = context.configurations.get(NAME)
    if not isinstance(configuration, LoggingConfiguration):
        configuration = LoggingConfiguration()
    log_file = _log_file(context, configuration)
    config = dict_config(configuration, log_file)
    logging.config.dictConfig(config)
    context.stash[DICT_CONFIG] = config
    logging.getLogger(__name__).debug(
        "logging set up: level %s, format %s, file %s",
        configuration.level,
        configuration.format,
        log_file or "none",
    )


def dict_config(configuration: LoggingConfiguration, log_file: Path | None) -> dict[str, Any]:
    """The ``dictConfig`` dictionary for ``configuration``, logging to ``log_file`` if given."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if configuration.format == "json" else {"format": TEXT_FORMAT}
    )
    handlers: dict[str, dict[str, Any]] = {}
    if configuration.console:
        handlers["console"] = {
            "class": "logging.StreamHandler",
            "formatter": "oservices",
            "stream": "ext://sys.stderr",
        }
    if log_file is not None:
        handlers["file"] = {
            "class": "oservices_plugins.logging.PrivateRotatingFileHandler",
            "formatter": "oservices",
            "filename": str(log_file),
            "maxBytes": configuration.max_bytes,
            "backupCount": configuration.backup_count,
            "encoding": "utf-8",
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"oservices": formatter},
        "handlers": handlers,
        "root": {"level": configuration.level, "handlers": list(handlers)},
        "loggers": {name: {"level": level} for name, level in configuration.levels.items()},
    }


def _log_file(context: Context, configuration: LoggingConfiguration) -> Path | None:
    """The log file, its directory created (mode 0750); None without one or in a dry run."""
    if not configuration.to_file:
        return None
    directory = context.settings.log_dir
    if context.dry_run:
        if not directory.is_dir():
            context.out.write(f"would create directory {directory} (mode 0o750)\n")
        return None
    if not directory.is_dir():
        directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        os.chmod(directory, 0o750)  # noqa: S103 - exactly 0750 whatever the umask: the group reads logs
    return directory / LOG_FILE


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler whose files only their owner can read, from the first byte:
    logs can hold what a user would not show everyone (a query, a path, a name)."""

    def _open(self) -> Any:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(self.baseFilename, flags, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)
