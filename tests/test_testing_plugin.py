"""The pytest plugin as its users run it (pytester, in a pytest process of its own).

Module and session scope, the logs of failing tests, fail-fast starts, the
options, the marker, the default components, and pytest-xdist. The components
are those of ``tests/programs`` (on ``PYTHONPATH``), except the small
distribution ``mini`` that the default-components test installs beside its tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PROGRAMS = Path(__file__).resolve().parent / "programs"
pytest_plugins = ["pytester"]

# Each inner test that starts something logs the lifecycle hooks to a file of its own.
CONFTEST = """
import os
from pathlib import Path

import pytest

SHARED = Path(os.environ["TOOLKIT_SHARED"])


def hooklog(name):
    return str(SHARED / f"{name}.hooks")


@pytest.fixture
def hooks(request, monkeypatch):
    monkeypatch.setenv("OSERVICES_TEST_HOOKLOG", hooklog(request.node.name))


@pytest.fixture(scope="session")
def everyone(oservices_up_session):
    return oservices_up_session(["obedient"], env={"OSERVICES_TEST_HOOKLOG": hooklog("session")})
"""

MODULE_SCOPE = """
import os

import pytest

from conftest import SHARED, hooklog

seen = []


@pytest.fixture(scope="module")
def bound(oservices_up_module):
    hooks = {"OSERVICES_TEST_HOOKLOG": hooklog("module")}
    return oservices_up_module(["bound", "fixed"], env=hooks)


def test_first(bound):
    status, _ = bound.status()
    assert status.healthy and bound.client("bound").ping()
    seen.append((bound, status.pid))
    (SHARED / "module.home").write_text(str(bound.settings.home))


def test_second(bound):
    status, _ = bound.status()
    assert [(bound, status.pid)] == seen
    assert status.restarts == 0
    assert os.environ["OSERVICES_HOME"] == str(bound.settings.home)
    assert bound.configuration("bound").port == bound.settings.base_port + 1


def test_third_with_a_home_of_its_own(bound, oservices_settings):
    # The test's own home and variables do not change what the module's system reports.
    assert oservices_settings.home != bound.settings.home
    assert bound.configuration("bound").port == bound.settings.base_port + 1
    assert bound.configuration("fixed").port == bound.settings.base_port + 19
    assert bound.client("bound").ping() and bound.client("fixed").ping()
"""

SESSION_SCOPE = """
def test_here(everyone):
    assert everyone.status()[0].healthy
"""

SESSION_SCOPE_AGAIN = """
def test_there(everyone):
    assert everyone.status()[0].healthy
"""

FAILURES = """
import socket

import pytest


def test_a_test_failing_with_a_system_up(oservices_up):
    oservices_up(["bound"])
    assert False, "the test's own failure"


def test_a_component_failing_to_start(oservices_up, hooks):
    oservices_up(["failing"])


def test_a_component_failing_three_times_when_asked(oservices_up, hooks):
    oservices_up(["failing"], restarts=2)


def test_a_port_taken(oservices_up, oservices_settings):
    with socket.create_server(("127.0.0.1", oservices_settings.base_port + 1)):
        oservices_up(["bound"])
"""

MARKER = """
import pytest

pytestmark = pytest.mark.oservices("obedient")


@pytest.mark.oservices("bound", "obedient")
def test_named_by_the_marker(oservices_up):
    assert [s.name for s in oservices_up().status()] == ["bound", "obedient"]


def test_named_by_the_module(oservices_up):
    assert [s.name for s in oservices_up().status()] == ["obedient"]


def test_a_port_set_by_the_test_is_kept(oservices_up, oservices_settings, monkeypatch):
    port = oservices_settings.base_port + 7
    monkeypatch.setenv("OSERVICES_FIXED__PORT", str(port))
    running = oservices_up(["fixed"])
    assert running.configuration("fixed").port == port
    assert running.client("fixed").ping()


@pytest.mark.oservices(["bound"])
class TestAList:
    def test_named_in_a_list(self, oservices_system):
        assert list(oservices_system().components) == ["bound"]


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        ({"restarts": -1}, TypeError, "restarts: expected a number of restarts, 0 or more"),
        ({"restarts": True}, TypeError, "found True"),
        ({"timeout": 0}, ValueError, "timeout: expected a number of seconds above 0, found 0"),
        ({"timeout": "soon"}, ValueError, "found 'soon'"),
        ({"env": {"OSERVICES_X": 1}}, TypeError, "env['OSERVICES_X']: expected a string, found 1"),
    ],
)
def test_bad_arguments(oservices_up_module, given, error, message):
    with pytest.raises(error) as raised:
        oservices_up_module(**given)
    assert message in str(raised.value)
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "--strict-markers", *args
    )


@pytest.fixture
def shared(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Where the inner tests leave what the outer test checks; the programs on the path."""
    folder = tmp_path / "shared"
    folder.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(PROGRAMS))
    monkeypatch.setenv("TOOLKIT_SHARED", str(folder))
    pytester.makeconftest(CONFTEST)
    return folder


def _starts(shared: Path, log: str, name: str) -> int:
    return (shared / f"{log}.hooks").read_text().splitlines().count(f"starting {name}")


def test_module_and_session_scope_start_once(pytester: pytest.Pytester, shared: Path) -> None:
    pytester.makepyfile(
        test_module=MODULE_SCOPE, test_session=SESSION_SCOPE, test_session_again=SESSION_SCOPE_AGAIN
    )
    result = _run(pytester)
    result.assert_outcomes(passed=5)
    assert _starts(shared, "module", "bound") == 1
    assert _starts(shared, "session", "obedient") == 1
    home = Path((shared / "module.home").read_text())
    assert not home.exists(), "a home is removed after its system stops"
    assert "homes kept" not in result.stdout.str()


def test_failures_show_the_components_logs_at_once(pytester: pytest.Pytester, shared: Path) -> None:
    pytester.makepyfile(test_failures=FAILURES)
    result = _run(pytester)
    result.assert_outcomes(failed=4)
    out = result.stdout.str()
    # A test that fails while its system runs: the component's log is a section of its report.
    own = _failure(out, "test_a_test_failing_with_a_system_up")
    assert "the test's own failure" in own
    assert "- oservices: bound log -" in own
    assert "bound: listening on" in own
    assert "- oservices: events -" in own
    # A component that fails to start: not restarted, its reason and log in the failure.
    once = _failure(out, "test_a_component_failing_to_start")
    assert "oservices: a component ended before the system was ready\n" in once
    assert (
        "failing is FATAL: ended with exit code 3 before it was ready; not restarted (restarts=0)"
        in once
    )
    assert "| failing: cannot open /nonexistent/frobnicator.conf" in once
    assert _starts(shared, "test_a_component_failing_to_start", "failing") == 1
    # Restarts when the test asks for them, then the same report.
    assert "not restarted (restarts=2)" in _failure(
        out, "test_a_component_failing_three_times_when_asked"
    )
    assert _starts(shared, "test_a_component_failing_three_times_when_asked", "failing") == 3
    # A port clash is named in the failure, not hidden in a file.
    clash = _failure(out, "test_a_port_taken")
    assert "bound is FATAL" in clash
    assert "Address already in use" in clash


def _failure(out: str, test: str) -> str:
    """The part of pytest's output that reports ``test``'s failure."""
    start = out.index(f"_ {test} _")
    ends = [out.find(mark, start + 1) for mark in ("\n____", "\n====")]
    return out[start : min(end for end in ends if end != -1)]


def test_the_marker_names_the_components(pytester: pytest.Pytester, shared: Path) -> None:
    pytester.makepyfile(test_marker=MARKER)
    _run(pytester).assert_outcomes(passed=9)


MINI = """
from oservices_core import Component, notify_ready


def run():
    notify_ready()
    import time
    while True:
        time.sleep(3600)


component = Component(name="mini", main=run, ready="notify")
"""


def test_without_names_the_tests_own_distribution(
    pytester: pytest.Pytester, shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pytester.path / "pyproject.toml").write_text('[project]\nname = "Mini"\nversion = "0.1"\n')
    pytester.makepyfile(mini=MINI)
    info = pytester.mkdir("mini-0.1.dist-info")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mini\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[oservices]\nmini = mini:component\n")
    monkeypatch.setenv("PYTHONPATH", f"{pytester.path}:{PROGRAMS}")
    pytester.makepyfile(
        test_default="""
def test_its_own_components_only(oservices_up):
    assert [s.name for s in oservices_up().status()] == ["mini"]
"""
    )
    _run(pytester).assert_outcomes(passed=1)


def test_without_names_nor_a_distribution_it_says_how(
    pytester: pytest.Pytester, shared: Path
) -> None:
    pytester.makepyfile(test_nameless="def test_it(oservices_up):\n    oservices_up()\n")
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert (
        "oservices: no component named, and none to choose: no pyproject.toml with a "
        f"[project] name at or above {pytester.path / 'test_nameless.py'}. Name them: "
        'oservices_up(["NAME", ...]) or @pytest.mark.oservices("NAME", ...)'
    ) in out
    assert "During handling" not in out


def test_options_keep_home_and_timeout(pytester: pytest.Pytester, shared: Path) -> None:
    pytester.makepyfile(
        test_options="""
def test_never_ready(oservices_up):
    oservices_up(["mute"])


def test_ready(oservices_up, oservices_settings):
    oservices_up(["obedient"])
    (oservices_settings.home / "kept.txt").write_text("here")
"""
    )
    result = _run(pytester, "--oservices-keep-home", "--oservices-timeout", "1.5")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    late = _failure(out, "test_never_ready")
    assert "oservices: the system was not ready after 1.5s\n  mute is STARTING\n" in late
    assert "| mute: running, never ready" in late
    summary = out[out.index("oservices: homes kept") :].splitlines()[1:3]
    homes = {line.split("  (first used by ")[0]: line for line in summary}
    assert len(homes) == 2
    kept = [Path(home) for home in homes if (Path(home) / "kept.txt").exists()]
    assert len(kept) == 1
    assert (kept[0] / "log" / "obedient.log").read_text() == "obedient: hello\n"


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_a_bad_timeout_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    result = _run(pytester, f"--oservices-timeout={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--oservices-timeout: expected a number of seconds above 0, found '{value}'"]
    )


XDIST = """
import time

import pytest

from conftest import SHARED


@pytest.mark.parametrize("side", ["left", "right"])
def test_at_once(oservices_up, side):
    running = oservices_up(["bound", "fixed"])
    port = running.configuration("bound").port
    fixed = running.configuration("fixed").port  # declared 18765: moved to the block
    assert fixed == running.settings.base_port + 19
    (SHARED / f"{side}.port").write_text(str(port))
    other = SHARED / ("right" if side == "left" else "left")
    other = other.with_suffix(".port")
    deadline = time.monotonic() + 60  # a guard: the other worker's test runs at once
    while not other.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert other.exists(), "the two tests did not run at the same time"
    assert other.read_text() != str(port)
    assert running.client("bound").ping() and running.client("fixed").ping()
    assert all(status.healthy for status in running.status())
"""


def test_two_xdist_workers_start_tcp_services_at_once(
    pytester: pytest.Pytester, shared: Path
) -> None:
    pytester.makepyfile(test_xdist=XDIST)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "-n", "2", "--oservices-keep-home"
    )
    result.assert_outcomes(passed=2)
    ports = {int((shared / f"{side}.port").read_text()) for side in ("left", "right")}
    assert len(ports) == 2
    # The workers' homes reach the controller's summary, through the reports.
    out = result.stdout.str()
    summary = out[out.index("oservices: homes kept") :].splitlines()[1:3]
    assert all("(first used by test_xdist.py::test_at_once[" in line for line in summary)
    assert all(Path(line.split("  (")[0], "log", "bound.log").is_file() for line in summary)


def test_a_port_block_is_held_across_processes_and_has_only_free_ports() -> None:
    import socket
    import subprocess
    import sys

    from oservices_core._testkit import BLOCK, lease_ports

    held = lease_ports(7)
    try:
        other = "from oservices_core._testkit import lease_ports; print(lease_ports(7).base)"
        child = subprocess.run(
            [sys.executable, "-c", other], capture_output=True, text=True, check=True
        )
        assert int(child.stdout) != held.base, "another process skips a held block"
    finally:
        held.release()
    with socket.create_server(("127.0.0.1", held.base + BLOCK - 1)):  # the block's last port
        again = lease_ports(7)
        again.release()
    assert again.base != held.base, "a block with a port in use is skipped"
