"""The testing toolkit: pytest fixtures for components, and the Mock drift check.

Installed with oservices as a pytest plugin (entry point ``pytest11``), so
every fixture here is available in a user's tests with no import:

- ``oservices_settings``: Settings in a temporary home, active for the test;
- ``oservices_plugin_manager``: a fresh plugin manager for those settings;
- ``oservices_system(components=None, *, file=None)``: a System configured,
  built and initialized in that home;
- ``oservices_up(components=None, *, file=None)``: the system running under an
  Administrator, ready; ``.client(name)`` gives a component's Client built
  from its resolved configuration; everything stops after the test;
- ``oservices_mock(name)``: the component's Client replaced by its Mock for
  the test (code that asks the component for its Client gets the Mock);
  returns a Mock built from the resolved configuration.

:func:`check_mocks` compares a Mock's public interface with its Client's.
Importing this module imports only pytest: pytest loads it at every start.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

import pytest

from oservices_core._plugins.mocks import check_mocks

if TYPE_CHECKING:
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.manager import PluginManager
    from oservices_core._plugins.system import System
    from oservices_core._supervisor.administrator import Administrator
    from oservices_core._supervisor.instance import ComponentStatus

__all__ = [
    "Running",
    "check_mocks",
    "oservices_mock",
    "oservices_plugin_manager",
    "oservices_settings",
    "oservices_system",
    "oservices_up",
]


# Fixtures -------------------------------------------------------------------


@pytest.fixture
def oservices_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings in a temporary home (also the working directory), active for the test.

    ``base_port`` is a port that was free when the test started, so two test
    runs on one machine do not fight over 8000.
    """
    from oservices_core._config.settings import load_settings

    home = tmp_path / "oservices-home"
    home.mkdir()
    for name in list(os.environ):
        if name.upper().startswith("OSERVICES_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OSERVICES_HOME", str(home))
    monkeypatch.setenv("OSERVICES_BASE_PORT", str(_free_port()))
    monkeypatch.chdir(home)
    with load_settings(home=home).activate() as settings:
        yield settings


@pytest.fixture
def oservices_plugin_manager(oservices_settings: Settings) -> PluginManager:
    """A fresh plugin manager: every installed plugin, loaded for these settings."""
    from oservices_core._plugins.manager import get_plugin_manager

    return get_plugin_manager(oservices_settings)


SystemFactory = Callable[..., "System"]


@pytest.fixture
def oservices_system(
    oservices_plugin_manager: PluginManager, oservices_settings: Settings
) -> SystemFactory:
    """Make a system configured, built and initialized in the temporary home.

    The stages run in a process of their own, as ``oservices build`` and
    ``oservices init`` would: what the setup stage sets up may be set up only once
    per process, and the test's process stays free of it.
    """

    def make(components: Sequence[str] | None = None, *, file: str | Path | None = None) -> System:
        from oservices_core._plugins.registry import Registry
        from oservices_core._plugins.system import System

        registry = Registry(oservices_plugin_manager)
        if file is None and components is not None:
            file = oservices_settings.home / "test-system.toml"
            Path(file).write_text(_system_file(registry, components), encoding="utf-8")
        for stage in ("build", "init"):
            _run_stage(stage, file)
        return System.load(file, registry) if file else System.from_registry(registry)

    return make


def _system_file(registry: Any, components: Sequence[str]) -> str:
    import json

    services = [
        s.name for s in registry.services.values() if all(c in components for c in s.components)
    ]
    return f"components = {json.dumps(list(components))}\nservices = {json.dumps(services)}\n"


def _run_stage(stage: str, file: str | Path | None) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "oservices_core", stage]
    if file is not None:
        command += ["--system", str(file)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own CLI
    if done.returncode != 0:
        pytest.fail(f"oservices {stage} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@final
class Running:
    """A system running under an Administrator, as a test sees it."""

    def __init__(self, administrator: Administrator, system: System, settings: Settings) -> None:
        self.administrator = administrator
        self.system = system
        self.settings = settings

    def configuration(self, name: str) -> Any:
        """The component's resolved configuration."""
        component = self.system.components[name]
        return self.system.resolver(self.settings).resolve(component.CONFIGURATION, name).value

    def client(self, name: str) -> Any:
        """The component's Client, built from its resolved configuration."""
        return self.system.components[name].Client(self.configuration(name))

    def status(self) -> list[ComponentStatus]:
        """Every component's status."""
        return self.administrator.status()


@pytest.fixture
def oservices_up(
    oservices_system: SystemFactory, oservices_settings: Settings
) -> Iterator[Callable[..., Running]]:
    """Start a system under an Administrator and wait until it is ready; stop it after."""
    from oservices_core._supervisor.administrator import Administrator

    started: list[Administrator] = []

    def up(
        components: Sequence[str] | None = None,
        *,
        file: str | Path | None = None,
        timeout: float = 60.0,
    ) -> Running:
        system = oservices_system(components, file=file)
        administrator = Administrator(system, settings=oservices_settings)
        administrator.start()
        started.append(administrator)
        administrator.wait_ready(timeout=timeout)
        return Running(administrator, system, oservices_settings)

    yield up
    for administrator in started:
        administrator.stop()


@pytest.fixture
def oservices_mock(
    oservices_plugin_manager: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], Any]:
    """Replace a component's Client by its Mock for the test; that one Mock instance.

    Code under test that builds the component's Client gets this same instance,
    so the test sees every call made through it.
    """

    def replace(name: str) -> Any:
        component = oservices_plugin_manager.components()[name]
        mock = component.Mock
        configuration = component.CONF if component.configuration is not None else None
        instance = mock(configuration)

        def shared(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
            return instance  # not an instance of the subclass: __init__ is not run again

        stand_in = type(mock.__name__, (mock,), {"__new__": shared, "__module__": mock.__module__})
        monkeypatch.setattr(component, "client", stand_in)
        return instance

    return replace
