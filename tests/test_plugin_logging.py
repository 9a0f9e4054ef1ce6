"""The built-in ``logging`` plugin: its package configuration, applied at setup."""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from _run import oservices_in

from oservices_core import (
    Registry,
    Settings,
    System,
    get_plugin_manager,
    load_settings,
    run_workflow,
)
from oservices_plugins.logging import DICT_CONFIG, JsonFormatter, LoggingConfiguration

FIRST = """
from oservices_core import hookimpl
from oservices_plugins.logging import DICT_CONFIG

@hookimpl
def oservices_setup(context):
    context.stash[DICT_CONFIG] = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "ERROR", "handlers": []},
    }
"""


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put every logger back as it was, and close the handlers the test's setup opened."""
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    saved = {id(lg): (lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers}
    yield
    for handler in root.handlers:
        if handler not in saved[id(root)][1]:
            handler.close()
    for logger in [root, *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]:
        level, handlers, propagate, disabled = saved.get(
            id(logger), (logging.NOTSET, [], True, False)
        )
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.disabled = disabled


@pytest.fixture
def hooks_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "lg_first.py").write_text(textwrap.dedent(FIRST))
    monkeypatch.syspath_prepend(str(src))
    yield src
    sys.modules.pop("lg_first", None)


def system_of(settings: Settings, *extra: tuple[str, str]) -> System:
    points = [("logging", "oservices_plugins.logging"), *extra]
    eps = [EntryPoint(name=n, value=v, group="oservices") for n, v in points]
    return System.from_registry(Registry(get_plugin_manager(settings, entry_points=eps)))


def setup(settings: Settings, **overrides: Any) -> Path:
    """Run the setup stage with ``logging.KEY`` overrides; return the log file."""
    values = {f"logging.{key}": value for key, value in overrides.items()}
    run_workflow(system_of(settings), ["setup"], overrides=values)
    return settings.log_dir / "oservices.log"


def flush() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


def test_contributes_the_package_configuration(settings: Settings) -> None:
    entry = system_of(settings).registry.configurations["logging"]
    assert entry.cls is LoggingConfiguration
    assert entry.owner == "package (plugin logging)"
    fields = LoggingConfiguration.model_fields
    assert all(field.description for field in fields.values()), "every field is described"
    value = LoggingConfiguration()
    assert (value.level, value.format, value.to_file, value.console) == ("INFO", "text", True, True)


def test_json_lines_parse_and_levels_per_logger_apply(settings: Settings) -> None:
    log = setup(settings, format="json", level="WARNING", levels={"chatty": "DEBUG"}, console=False)
    logging.getLogger("chatty.child").debug("hello %s", "there")
    logging.getLogger("quiet").info("dropped: below WARNING")
    try:
        raise ValueError("bad input")
    except ValueError:
        logging.getLogger("quiet").exception("it failed")
    flush()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["level"], e["logger"], e["message"]) for e in lines] == [
        ("DEBUG", "chatty.child", "hello there"),
        ("ERROR", "quiet", "it failed"),
    ]
    assert "exception" not in lines[0]
    assert "ValueError: bad input" in lines[1]["exception"]
    assert lines[0]["time"].endswith("+00:00")
    assert stat.S_IMODE(settings.log_dir.stat().st_mode) == 0o750


def test_text_format_and_rotation(settings: Settings) -> None:
    log = setup(settings, max_bytes=200, backup_count=2, console=False)
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    assert (handler.maxBytes, handler.backupCount) == (200, 2)
    for number in range(20):
        logging.getLogger("rotating").warning("record number %d", number)
    flush()
    assert "WARNING  rotating: record number 19" in log.read_text()
    assert sorted(p.name for p in settings.log_dir.iterdir()) == [
        "oservices.log",
        "oservices.log.1",
        "oservices.log.2",
    ]


def test_console_only_creates_no_directory(settings: Settings) -> None:
    setup(settings, to_file=False)
    (handler,) = logging.getLogger().handlers
    assert type(handler) is logging.StreamHandler
    assert handler.stream is sys.stderr
    assert not settings.log_dir.exists()


def test_dry_run_writes_nothing(settings: Settings) -> None:
    out = io.StringIO()
    run_workflow(system_of(settings), ["setup"], dry_run=True, out=out)
    assert not settings.log_dir.exists()
    assert f"would create directory {settings.log_dir} (mode 0o750)" in out.getvalue()


def test_an_existing_log_directory_keeps_its_mode(settings: Settings) -> None:
    settings.log_dir.mkdir(mode=0o700)
    setup(settings, console=False)
    assert stat.S_IMODE(settings.log_dir.stat().st_mode) == 0o700


def test_the_dictionary_is_stashed(settings: Settings) -> None:
    context, _ = run_workflow(system_of(settings), ["setup"])
    config = context.stash[DICT_CONFIG]
    assert config["root"]["handlers"] == ["console", "file"]
    assert config["handlers"]["file"]["filename"] == str(settings.log_dir / "oservices.log")


@pytest.mark.usefixtures("hooks_dir")
def test_a_plugin_that_sets_up_first_overrides(settings: Settings) -> None:
    context, _ = run_workflow(system_of(settings, ("first", "lg_first")), ["setup"])
    assert logging.getLogger().level == logging.ERROR
    assert logging.getLogger().handlers == []
    assert not settings.log_dir.exists()
    assert context.stash[DICT_CONFIG]["root"]["level"] == "ERROR"


def test_blocked_by_name(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSERVICES_DISABLE_PLUGINS", "logging")
    before = list(logging.getLogger().handlers)
    with load_settings().activate() as settings:
        system = system_of(settings)
        assert "logging" not in system.registry.configurations
        run_workflow(system, ["setup"])
    assert logging.getLogger().handlers == before
    assert not settings.log_dir.exists()


def test_json_formatter_keeps_non_ascii_and_stack() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "café %s", ("ok",), None)
    record.stack_info = "Stack (most recent call last):\n  here"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "café ok"
    assert entry["stack"].endswith("here")


# Through the real command line -----------------------------------------------------


def oservices(home: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only the built-ins under test: whatever else is installed stays out of the run.
    only = {"OSERVICES_AUTOLOAD_PLUGINS": "false", "OSERVICES_PLUGINS": "logging,files"}
    return oservices_in(home, *args, env={**only, **env})


@pytest.mark.parametrize(
    ("level", "levels", "expected"),
    [
        # root quiet, one logger verbose: the logging plugin's DEBUG line only
        ("WARNING", {"oservices_plugins.logging": "DEBUG"}, "oservices_plugins.logging"),
        # root verbose, one logger quiet: the logging plugin's DEBUG line only
        ("DEBUG", {"oservices_plugins.files": "WARNING"}, "oservices_plugins.logging"),
    ],
)
def test_cli_init_logs_json_lines(
    tmp_path: Path, level: str, levels: dict[str, str], expected: str
) -> None:
    env = {
        "OSERVICES_LOGGING__FORMAT": "json",
        "OSERVICES_LOGGING__LEVEL": level,
        "OSERVICES_LOGGING__LEVELS": json.dumps(levels),
        "OSERVICES_LOGGING__CONSOLE": "false",
    }
    result = oservices(tmp_path, "init", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # console = false
    log_dir = tmp_path / "log"
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o750
    entries = [json.loads(line) for line in (log_dir / "oservices.log").read_text().splitlines()]
    assert entries
    assert {e["logger"] for e in entries} == {expected}
    assert all(set(e) == {"time", "level", "logger", "message"} for e in entries)


def test_cli_setup_blocked_writes_no_log(tmp_path: Path) -> None:
    result = oservices(tmp_path, "setup", env={"OSERVICES_DISABLE_PLUGINS": "logging"})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "log").exists()
