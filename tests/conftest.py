"""Shared fixtures: an isolated home with clean OSERVICES_* environment and fresh settings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from _postgres import postgres  # noqa: F401 - a real PostgreSQL server, once per session
from _up import detached, up  # noqa: F401 - ``oservices up`` (-d) in a home of its own

from oservices_core import Settings, load_settings

# CI runs the same examples every time: a red run is then reproducible, never luck.
# Locally, every run explores new ones.
hypothesis.settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")


@pytest.fixture(autouse=True)
def no_active_settings() -> Iterator[None]:
    """Each test starts with no settings active (active_settings() caches what it loads)."""
    from oservices_core._config.settings import _ACTIVE

    token = _ACTIVE.set(None)
    yield
    _ACTIVE.reset(token)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OSERVICES_* variable from the machine leaks into a test."""
    for name in list(os.environ):
        if name.upper().startswith("OSERVICES_"):
            monkeypatch.delenv(name)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Path:
    """A temporary home, also the working directory, with OSERVICES_HOME pointing at it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OSERVICES_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def settings(home: Path) -> Iterator[Settings]:
    """Settings loaded from the temporary home and active for the test."""
    with load_settings().activate() as active:
        yield active
