"""The testing toolkit: the pytest plugin's fixtures (through pytester) and check_mocks."""

from __future__ import annotations

from pathlib import Path

import pytest
from _run import oservices_in

from oservices_core import Component
from oservices_core._plugins.mocks import check_mocks
from oservices_core.testing import check_mocks as exported

PROGRAMS = Path(__file__).resolve().parent / "programs"
pytest_plugins = ["pytester"]


def _programs() -> dict[str, Component]:
    import sys

    sys.path.insert(0, str(PROGRAMS))
    try:
        import oservices_test_programs as programs
    finally:
        sys.path.remove(str(PROGRAMS))
    return {"listener": programs.listener, "drifted": programs.drifted}


def test_a_matching_mock_has_no_differences() -> None:
    assert check_mocks(_programs()["listener"]) == []
    assert exported is check_mocks


def test_a_drifted_mock_is_named_method_by_method() -> None:
    assert check_mocks(_programs()["drifted"]) == [
        "drifted: ping: the Client takes (self, timeout: float = 5.0), "
        "the Mock takes (self, wait: float = 5.0)",
        "drifted: ping: the Client returns bool, the Mock returns str",
        "drifted: DriftedMock.shutdown is not in ListenerClient",
    ]


def test_a_missing_method_is_named_with_its_signature() -> None:
    class Client:
        def __init__(self, configuration: object) -> None:
            pass

        def orders(self, limit: int = 10) -> list[str]:
            return []

    class Mock:
        def __init__(self, configuration: object) -> None:
            pass

    component = Component(name="shop", client=Client, mock=Mock)
    assert check_mocks(component) == ["shop: Mock lacks orders(self, limit: int = 10) -> list[str]"]


def test_check_mocks_command(home: Path) -> None:
    env = {"PYTHONPATH": str(PROGRAMS)}
    good = oservices_in(home, "check", "mocks", "listener", env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "1 component with a Client checked, 0 differences" in good.stdout
    bad = oservices_in(home, "check", "mocks", env=env)
    assert bad.returncode == 1
    assert "drifted: ping: the Client returns bool, the Mock returns str" in bad.stdout
    unknown = oservices_in(home, "check", "mocks", "ghost", env=env)
    assert unknown.returncode == 2
    assert "ghost" in unknown.stderr


TOOLKIT_TESTS = """
import os
import signal

from oservices_core import active_settings


def test_settings_are_isolated(oservices_settings, tmp_path):
    assert oservices_settings.home == tmp_path / "oservices-home"
    assert active_settings() is oservices_settings
    assert os.environ["OSERVICES_HOME"] == str(oservices_settings.home)


def test_a_fresh_plugin_manager(oservices_plugin_manager):
    assert "listener" in oservices_plugin_manager.components()


def test_a_built_system(oservices_system, oservices_settings):
    system = oservices_system(["listener"])
    assert list(system.components) == ["listener"]
    assert (oservices_settings.config_dir / "listener.toml").exists()


def test_a_running_system_hands_out_clients(oservices_up, free_port):
    os.environ["OSERVICES_LISTENER__PORT"] = str(free_port)
    running = oservices_up(["listener"])
    assert running.client("listener").ping()
    (status,) = running.status()
    assert status.healthy
    pytest_state["pid"] = status.pid


def test_after_the_test_it_is_stopped():
    pid = pytest_state["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    raise AssertionError(f"component process {pid} survived its test")


def test_a_client_replaced_by_its_mock(oservices_mock, oservices_plugin_manager):
    mock = oservices_mock("listener")
    assert mock.ping() and mock.pings == 1
    component = oservices_plugin_manager.components()["listener"]
    assert component.Client.__name__ == "ListenerMock"
    client = component.Client(component.CONF)  # what code under test does
    assert client is mock
    assert client.ping() and mock.pings == 2


def test_the_client_is_back_after_the_test(oservices_plugin_manager):
    assert oservices_plugin_manager.components()["listener"].Client.__name__ == "ListenerClient"
"""

CONFTEST = """
import socket

import pytest

pytest_state = {}


@pytest.fixture
def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pytest_configure(config):
    import builtins

    builtins.pytest_state = pytest_state
"""


def test_the_pytest_plugin_fixtures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(PROGRAMS))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_toolkit=TOOLKIT_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=7)


def test_the_plugin_is_declared_for_pytest() -> None:
    from importlib.metadata import entry_points

    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.name == "oservices"]
    assert plugin.value == "oservices_core.testing"
