"""Settings: sources and their order, derived directories, per-thread activation."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oservices_core import (
    ConfigurationError,
    Settings,
    active_settings,
    load_settings,
    start_thread,
)


def test_directories_derive_from_home(home: Path) -> None:
    settings = load_settings()
    assert settings.home == home
    assert settings.config_dir == home / "config"
    assert (settings.data_dir, settings.log_dir, settings.run_dir) == (
        home / "data",
        home / "log",
        home / "run",
    )


def test_relative_directories_are_under_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSERVICES_LOG_DIR", "var/log")
    monkeypatch.setenv("OSERVICES_DATA_DIR", "/srv/data")
    settings = load_settings()
    assert settings.log_dir == home / "var" / "log"
    assert settings.data_dir == Path("/srv/data")


def _write_sources(home: Path) -> None:
    (home / "pyproject.toml").write_text("[tool.oservices]\nbase_port = 1001\nenvironment = 'py'\n")
    (home / "oservices.toml").write_text("base_port = 1002\nhost = 'toml-host'\n")
    (home / ".env").write_text("OSERVICES_BASE_PORT=1003\n")


def test_sources_in_order(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_sources(home)
    assert load_settings().base_port == 1003  # .env over oservices.toml over pyproject
    monkeypatch.setenv("OSERVICES_BASE_PORT", "1004")
    assert load_settings().base_port == 1004  # environment over .env
    assert load_settings(base_port=1005).base_port == 1005  # arguments over all
    settings = load_settings()
    assert (settings.environment, settings.host) == ("py", "toml-host")


def test_removing_file_sources_one_by_one(home: Path) -> None:
    _write_sources(home)
    for name, expected in ((".env", 1002), ("oservices.toml", 1001), ("pyproject.toml", 8000)):
        (home / name).unlink()
        assert load_settings().base_port == expected, f"without {name} and the files above it"


def test_settings_file_from_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "elsewhere.toml").write_text("base_port = 4242\n")
    monkeypatch.setenv("OSERVICES_SETTINGS_FILE", str(home / "elsewhere.toml"))
    assert load_settings().base_port == 4242


def test_bad_value_is_located(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / "oservices.toml").write_text("# ports\n\nbase_port = 70000\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert str(caught.value.problems[0]).startswith("oservices.toml:3: base_port: expected")
    monkeypatch.setenv("OSERVICES_BASE_PORT", "x")
    with pytest.raises(ConfigurationError, match="environment variable OSERVICES_BASE_PORT"):
        load_settings()


def test_threads_hold_their_own_settings(settings: Settings) -> None:
    seen: dict[str, int] = {}

    def work(name: str, port: int, ready: threading.Barrier) -> None:
        with load_settings(base_port=port).activate():
            ready.wait()
            seen[name] = active_settings().base_port

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=work, args=(f"t{p}", p, barrier)) for p in (1111, 2222)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"t1111": 1111, "t2222": 2222}
    assert active_settings() is settings


def test_started_thread_inherits_settings(settings: Settings) -> None:
    seen: list[Settings] = []
    with load_settings(base_port=3333).activate() as inner:
        start_thread(lambda: seen.append(active_settings())).join()
    assert seen == [inner]
    assert seen[0] is not settings


def test_activation_restores_on_exit(settings: Settings) -> None:
    with load_settings(base_port=1).activate():
        assert active_settings().base_port == 1
    assert active_settings() is settings


def test_environ_carries_settings_to_a_process(settings: Settings) -> None:
    other = load_settings(base_port=5555, environment="prod")
    code = (
        "from oservices_core import load_settings as l; s = l(); print(s.base_port, s.environment)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**other.environ(), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["5555", "prod"]


def test_a_typo_in_the_settings_file_is_an_error(home: Path) -> None:
    (home / "oservices.toml").write_text("bse_port = 9000\n")
    with pytest.raises(ConfigurationError, match="did you mean base_port"):
        load_settings()


def test_dotenv_may_hold_other_programs_variables(home: Path) -> None:
    (home / ".env").write_text("DATABASE_URL=x\nOSERVICES_SHOP__PORT=1\nOSERVICES_BASE_PORT=7\n")
    assert load_settings().base_port == 7


# The quick reading of the directories (oservices status, stop, restart, logs) ---------

_PATHS = st.sampled_from(
    [
        "",
        ".",
        "run",
        "a/b",
        "/srv/x",
        "~",
        "~/x",
        "~no_such_user_zz/x",
        "a/../b",
        "with space",
        "x\x00y",
    ]
) | st.text(st.characters(codec="utf-8", exclude_characters="\x00/"), max_size=8)
_VALUES = _PATHS | st.integers() | st.booleans() | st.dictionaries(st.just("a"), st.just("b"))
_KEYS = st.sampled_from(["home", "run_dir", "log_dir", "HOME", "Run_Dir", "LOG_DIR"])


def _cased(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([name, name.lower(), name.title()])


_ENVIRONMENT = st.dictionaries(
    st.sampled_from(["HOME", "RUN_DIR", "LOG_DIR"]).flatmap(
        lambda name: _cased(f"OSERVICES_{name}")
    ),
    _PATHS.filter(lambda text: "\x00" not in text),  # no environment can hold one
    max_size=4,
)
_TABLES = st.none() | st.dictionaries(_KEYS, _VALUES, max_size=3)
_DOTENV = st.none() | st.lists(
    st.sampled_from(
        [
            "OTHER=1",
            "OSERVICES_BASE_PORT=8001",
            "OSERVICES_HOME=/from/dotenv",
            "export oservices_run_dir='dotenv/run'",
            "# OSERVICES_LOG_DIR=commented",
            "OSERVICES_X",
        ]
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(["run_dir", "log_dir"]),
    environment=_ENVIRONMENT,
    dotenv=_DOTENV,
    settings_file=_TABLES,
    pyproject=_TABLES,
    named=st.sampled_from([None, "other.toml", "missing.toml"]),
)
def test_the_quick_reading_agrees_with_the_settings(
    field: str,
    environment: dict[str, str],
    dotenv: list[str] | None,
    settings_file: dict[str, Any] | None,
    pyproject: dict[str, Any] | None,
    named: str | None,
) -> None:
    import tomli_w

    from oservices_core._config.locations import quick_directory

    kept = {k: v for k, v in os.environ.items() if not k.upper().startswith("OSERVICES_")}
    if named is not None:
        environment = environment | {"OSERVICES_SETTINGS_FILE": named}
    with (
        tempfile.TemporaryDirectory() as cwd,
        contextlib.chdir(cwd),
        mock.patch.dict(os.environ, kept | environment, clear=True),
    ):
        here = Path(cwd)
        if dotenv is not None:
            (here / ".env").write_text("\n".join(dotenv) + "\n")
        if settings_file is not None:
            (here / (named or "oservices.toml")).write_text(tomli_w.dumps(settings_file))
        if pyproject is not None:
            (here / "pyproject.toml").write_text(tomli_w.dumps({"tool": {"oservices": pyproject}}))
        quick = quick_directory(field)
        names = {"home", field}
        try:
            loaded = load_settings()
        except ConfigurationError as exc:
            # It never hides what the settings would say of the values it reads (of
            # others, such as a bad base_port, it does not judge: 'oservices up' does).
            if {problem.key.split(".")[0] for problem in exc.problems} & (names | {""}):
                assert quick is None
            return
        assert quick is None or quick == getattr(loaded, field)
        # Unsure only for a reason: the usual sources are read without pydantic.
        sources = [
            [k.lower().removeprefix("oservices_") for k in environment],
            [k.lower() for k in (settings_file or {}) if named != "missing.toml"],
            [k.lower() for k in (pyproject or {})],
        ]
        values = [
            v
            for table in (settings_file, pyproject)
            if table
            for k, v in table.items()
            if k.lower() in names
        ]
        usual = (
            not any(
                f"OSERVICES_{name}".upper() in "\n".join(dotenv or []).upper() for name in names
            )
            and named != "missing.toml"
            and all(sum(key == name for key in keys) <= 1 for keys in sources for name in names)
            and all(isinstance(value, str) and "~no_such_user" not in value for value in values)
            and not any("~no_such_user" in environment.get(k, "") for k in environment)
        )
        if usual:
            assert quick is not None


def test_a_home_that_cannot_be_expanded_is_located(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSERVICES_RUN_DIR", "~no_such_user_zz/run")
    with pytest.raises(ConfigurationError, match="environment variable OSERVICES_RUN_DIR"):
        load_settings()
