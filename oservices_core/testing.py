"""The testing toolkit: pytest fixtures for components, and the Mock drift check.

Installed with oservices as a pytest plugin (entry point ``pytest11``), so
every fixture here is available in a user's tests with no import:

- ``oservices_settings``: Settings in a temporary home, active for the test;
- ``oservices_plugin_manager``: a fresh plugin manager for those settings;
- ``oservices_system(components=None, *, file=None)``: a System configured,
  built and initialized in that home;
- ``oservices_up(components=None, *, file=None, timeout=None, restarts=0, env=None)``:
  the system running under an Administrator, ready; ``.client(name)`` gives a
  component's Client built from its resolved configuration; everything stops
  after the test;
- ``oservices_up_module`` and ``oservices_up_session``: the same, one system per
  call kept for the whole module or session, each in a fresh home;
- ``oservices_mock(name)``: the component's Client replaced by its Mock for
  the test (code that asks the component for its Client gets the Mock);
  returns a Mock built from the resolved configuration.

Without names, the components are the marker's (``@pytest.mark.oservices("api")``),
else those of the test's own distribution. Components are not restarted unless a
test asks (``restarts=N``): one that fails is reported at once, with its log. The
logs of the systems a failing test used are sections of its report. Options:
``--oservices-timeout`` and ``--oservices-keep-home``.

:func:`check_mocks` compares a Mock's public interface with its Client's.
Importing this module imports only pytest: pytest loads it at every start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

import pytest

from oservices_core._plugins.mocks import check_mocks

if TYPE_CHECKING:
    from oservices_core._config.resolve import Resolver
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.manager import PluginManager
    from oservices_core._plugins.system import System
    from oservices_core._supervisor.administrator import Administrator
    from oservices_core._supervisor.instance import ComponentStatus
    from oservices_core._testkit import Started

__all__ = [
    "Running",
    "check_mocks",
    "oservices_mock",
    "oservices_plugin_manager",
    "oservices_settings",
    "oservices_system",
    "oservices_up",
    "oservices_up_module",
    "oservices_up_session",
]

_MARKER = "oservices"
_HOME_PROPERTY = "oservices home"
_TIMEOUT = 60.0


# Options, marker, reports ---------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--oservices-keep-home`` and ``--oservices-timeout``."""
    group = parser.getgroup("oservices", "oservices testing toolkit")
    group.addoption(
        "--oservices-keep-home",
        action="store_true",
        default=False,
        help="keep the home of every system the tests start, and list them at the end",
    )
    group.addoption(
        "--oservices-timeout",
        type=_seconds,
        default=_TIMEOUT,
        metavar="SECONDS",
        help=f"how long oservices_up waits for components to be ready (default: {_TIMEOUT:g})",
    )


def _seconds(text: str) -> float:
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, found {text!r}")
    return value


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (for ``--strict-markers``) and the run's record of systems."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(*components): the components oservices_up() starts when called without names",
    )
    toolkit = _Toolkit(config)
    config.stash[_TOOLKIT] = toolkit
    config.pluginmanager.register(toolkit, "oservices-toolkit")


@final
class _Toolkit:
    """The run's systems alive now and the homes kept; the hooks that report them."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.live: list[Started] = []
        self.homes: list[tuple[str, Path, bool]] = []  # fixture, home, announced
        self.kept: dict[str, str] = {}  # home -> the first test that used it
        self.next_block = int.from_bytes(os.urandom(2), "big")  # where a lease search begins

    @property
    def keep_home(self) -> bool:
        return bool(self.config.getoption("oservices_keep_home"))

    @property
    def timeout(self) -> float:
        return float(self.config.getoption("oservices_timeout"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """A failing test's report gets the logs of the systems it used; kept homes are named."""
        used = getattr(item, "fixturenames", ())
        if self.keep_home:
            for index, (fixture, home, announced) in enumerate(self.homes):
                if fixture in used and not announced:
                    item.user_properties.append((_HOME_PROPERTY, str(home)))
                    self.homes[index] = (fixture, home, True)
        report = yield
        if report.failed:
            for started in self.live:
                if started.fixture in used:
                    report.sections.extend(started.sections())
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect the homes kept (under pytest-xdist, from every worker's reports)."""
        for key, value in report.user_properties:
            if key == _HOME_PROPERTY:
                self.kept.setdefault(str(value), report.nodeid)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Where the homes kept by ``--oservices-keep-home`` are."""
        if self.kept:
            terminalreporter.write_sep("-", "oservices: homes kept")
            for home, nodeid in self.kept.items():
                terminalreporter.write_line(f"{home}  (first used by {nodeid})")


_TOOLKIT = pytest.StashKey[_Toolkit]()


def _toolkit(request: pytest.FixtureRequest) -> _Toolkit:
    return request.config.stash[_TOOLKIT]


# Fixtures -------------------------------------------------------------------


@pytest.fixture
def oservices_settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Settings in a temporary home (also the working directory), active for the test.

    ``base_port`` starts a block of ports that were free when the test started
    and that no other test process (a pytest-xdist worker, another run) holds.
    """
    home = tmp_path / "oservices-home"
    home.mkdir()
    _clean_environment(monkeypatch)
    with _home(_toolkit(request), monkeypatch, home, "oservices_settings") as settings:
        yield settings


def _clean_environment(patch: pytest.MonkeyPatch) -> None:
    """No ``OSERVICES_*`` variable of the machine reaches what a test starts."""
    for name in list(os.environ):
        if name.upper().startswith("OSERVICES_"):
            patch.delenv(name)


@contextlib.contextmanager
def _home(
    toolkit: _Toolkit, patch: pytest.MonkeyPatch, home: Path, fixture: str
) -> Iterator[Settings]:
    """``home`` as the installation: its variables, a block of free ports, the working
    directory, its settings active; at the end, the ports released and the home removed
    (unless kept)."""
    from oservices_core._config.settings import load_settings
    from oservices_core._testkit import lease_ports

    lease = lease_ports(toolkit.next_block)
    toolkit.next_block += 1
    toolkit.homes.append((fixture, home, False))
    try:
        patch.setenv("OSERVICES_HOME", str(home))
        patch.setenv("OSERVICES_BASE_PORT", str(lease.base))
        patch.chdir(home)
        with load_settings(home=home).activate() as settings:
            yield settings
    finally:
        lease.release()
        toolkit.homes = [entry for entry in toolkit.homes if entry[1] != home]
        if not toolkit.keep_home:
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def oservices_plugin_manager(oservices_settings: Settings) -> PluginManager:
    """A fresh plugin manager: every installed plugin, loaded for these settings."""
    from oservices_core._plugins.manager import get_plugin_manager

    return get_plugin_manager(oservices_settings)


SystemFactory = Callable[..., "System"]
Names = Sequence[str] | None


@pytest.fixture
def oservices_system(
    request: pytest.FixtureRequest,
    oservices_plugin_manager: PluginManager,
    oservices_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> SystemFactory:
    """Make a system configured, built and initialized in the temporary home.

    The stages run in a process of their own, as ``oservices build`` and
    ``oservices init`` would: what the setup stage sets up may be set up only once
    per process, and the test's process stays free of it.
    """

    def make(components: Names = None, *, file: str | Path | None = None) -> System:
        pm, settings = oservices_plugin_manager, oservices_settings
        return _build(pm, settings, request.node, monkeypatch, components=components, file=file)

    return make


def _build(
    pm: PluginManager,
    settings: Settings,
    node: pytest.Item | pytest.Collector,
    patch: pytest.MonkeyPatch,
    *,
    components: Names,
    file: str | Path | None,
) -> System:
    """The system of ``file``, else of the components named, else of those :func:`_chosen`;
    built and initialized in the settings' home, its fixed ports moved to the home's block."""
    from oservices_core._plugins.registry import Registry
    from oservices_core._plugins.system import System
    from oservices_core._testkit import moved_ports

    registry = Registry(pm)
    if file is None:
        names = [components] if isinstance(components, str) else components
        names = list(names) if names is not None else _chosen(pm, node)
        file = settings.home / "test-system.toml"
        file.write_text(_system_file(registry, names), encoding="utf-8")
    for stage in ("build", "init"):
        _run_stage(stage, file)
    system = System.load(file, registry)
    for name, value in moved_ports(system, settings).items():  # after the build: files count
        patch.setenv(name, value)
    return system


def _chosen(pm: PluginManager, node: pytest.Item | pytest.Collector) -> list[str]:
    """The components of the ``oservices`` marker, else of the test's own distribution."""
    from oservices_core._testkit import default_components

    marker = node.get_closest_marker(_MARKER)
    if marker is not None:
        # oservices("api", "worker"), or one list: oservices(["api", "worker"])
        names = [
            str(name)
            for arg in marker.args
            for name in (arg if isinstance(arg, list | tuple) else [arg])
        ]
        if names:
            return names
        pytest.fail("oservices: @pytest.mark.oservices() names no component", pytrace=False)
    try:
        return default_components(pm, node.path)
    except LookupError as exc:
        why = str(exc)
    pytest.fail(  # outside the except block: the LookupError is no part of the story
        f"oservices: no component named, and none to choose: {why}. Name them: "
        'oservices_up(["NAME", ...]) or @pytest.mark.oservices("NAME", ...)',
        pytrace=False,
    )


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


@final
class Running:
    """A system running under an Administrator, as a test sees it.

    ``environ``: the environment its components started with (default: this
    process's, as it is at each call), so that what a later test changes, or a
    test-scoped fixture removes, does not change the configurations it reports.
    """

    def __init__(
        self,
        administrator: Administrator,
        system: System,
        settings: Settings,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.administrator = administrator
        self.system = system
        self.settings = settings
        self._resolver: Resolver | None = None
        if environ is not None:
            from oservices_core._config.resolve import Resolver

            self._resolver = Resolver(settings, environ=dict(environ), system=system.source)

    def configuration(self, name: str) -> Any:
        """The component's resolved configuration, with its settings and environment."""
        component = self.system.components[name]
        resolver = self._resolver or self.system.resolver(self.settings)
        return resolver.resolve(component.CONFIGURATION, name).at(self.settings)

    def client(self, name: str) -> Any:
        """The component's Client, built from its resolved configuration."""
        return self.system.components[name].Client(self.configuration(name))

    def status(self) -> list[ComponentStatus]:
        """Every component's status."""
        return self.administrator.status()


Up = Callable[..., Running]


@pytest.fixture
def oservices_up(
    request: pytest.FixtureRequest, oservices_system: SystemFactory, oservices_settings: Settings
) -> Iterator[Up]:
    """Start a system under an Administrator and wait until it is ready; stop it after the test."""
    toolkit = _toolkit(request)
    with contextlib.ExitStack() as stack:

        def up(
            components: Names = None,
            *,
            file: str | Path | None = None,
            timeout: float | None = None,
            restarts: int = 0,
        ) -> Running:
            seconds = _limits(toolkit, timeout, restarts)
            system = oservices_system(components, file=file)
            return _start(
                toolkit,
                stack,
                "oservices_up",
                system,
                oservices_settings,
                seconds=seconds,
                restarts=restarts,
            )

        yield up


@pytest.fixture(scope="module")
def oservices_up_module(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Up]:
    """Like ``oservices_up``, for the whole module: each call starts a system in a fresh home,
    kept running until the module's last test ends."""
    yield from _scoped(request, tmp_path_factory, "oservices_up_module")


@pytest.fixture(scope="session")
def oservices_up_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Up]:
    """Like ``oservices_up``, for the whole session: each call starts a system in a fresh home,
    kept running until the session ends."""
    yield from _scoped(request, tmp_path_factory, "oservices_up_session")


def _scoped(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fixture: str
) -> Iterator[Up]:
    """The ``up`` of a module or session: monkeypatch is the test's, so each system's
    variables, working directory and settings last in a context of their own."""
    from oservices_core._plugins.manager import get_plugin_manager

    toolkit = _toolkit(request)
    with contextlib.ExitStack() as stack:

        def up(
            components: Names = None,
            *,
            file: str | Path | None = None,
            timeout: float | None = None,
            restarts: int = 0,
            env: Mapping[str, str] | None = None,
        ) -> Running:
            seconds = _limits(toolkit, timeout, restarts)
            patch = stack.enter_context(pytest.MonkeyPatch.context())
            _clean_environment(patch)  # the machine's, and the module's other systems'
            for name, value in (env or {}).items():
                if not isinstance(value, str):
                    raise TypeError(f"env[{name!r}]: expected a string, found {value!r}")
                patch.setenv(name, value)
            home = tmp_path_factory.mktemp("oservices-home")
            settings = stack.enter_context(_home(toolkit, patch, home, fixture))
            pm = get_plugin_manager(settings)
            system = _build(pm, settings, request.node, patch, components=components, file=file)
            return _start(
                toolkit, stack, fixture, system, settings, seconds=seconds, restarts=restarts
            )

        yield up


def _limits(toolkit: _Toolkit, timeout: float | None, restarts: int) -> float:
    """The readiness timeout in seconds, once it and ``restarts`` are checked."""
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 0:
        raise TypeError(f"restarts: expected a number of restarts, 0 or more, found {restarts!r}")
    seconds = toolkit.timeout if timeout is None else timeout
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f"timeout: expected a number of seconds above 0, found {timeout!r}")
    return float(seconds)


def _start(
    toolkit: _Toolkit,
    stack: contextlib.ExitStack,
    fixture: str,
    system: System,
    settings: Settings,
    *,
    seconds: float,
    restarts: int,
) -> Running:
    """Run ``system`` under an Administrator that restarts nothing beyond ``restarts``;
    once ready within ``seconds``, a :class:`Running`. Fails the test at once, with each
    component's reason and log, when one is not ready; stopped when ``stack`` closes."""
    from oservices_core._errors import AdministratorError
    from oservices_core._supervisor.administrator import Administrator
    from oservices_core._testkit import Started, not_ready

    started = Started(fixture, settings, list(system.components))
    administrator = Administrator(
        system, settings=settings, on_event=started.record, restarts=restarts
    )
    started.administrator = administrator
    administrator.start()
    toolkit.live.append(started)
    stack.callback(_stop, toolkit, started)
    try:
        administrator.wait_ready(timeout=seconds)
    except AdministratorError:
        message = not_ready(started, seconds, kept=toolkit.keep_home)
    else:
        return Running(administrator, system, settings, environ=os.environ)
    administrator.stop()  # nothing lingers; its logs stay for the report
    pytest.fail(message, pytrace=False)


def _stop(toolkit: _Toolkit, started: Started) -> None:
    try:
        if started.administrator is not None:
            started.administrator.stop()
    finally:
        toolkit.live.remove(started)


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
