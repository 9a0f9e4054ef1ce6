"""The tutorial, done for real: its files written out, pip-installed, run and tested.

``docs/tutorial.md`` marks each file the reader writes with a comment
``<!-- tutorial-file: PATH -->`` just above its fenced block. This test writes
those files, builds and installs the ``greeter`` distribution next to
oservices in a fresh virtual environment, and runs the tutorial's commands:
``oservices components``, ``config show``, ``config explain``, ``check mocks``,
``up -d``, ``status``, the Client script, ``stop``, and the tutorial's own
pytest tests (the toolkit's ``oservices_up`` and ``oservices_mock``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _processes import free_port
from _run import run_in
from _venv import ROOT, checked, new_venv, wheel

TUTORIAL = ROOT / "docs" / "tutorial.md"
FILE = re.compile(
    r"^<!-- tutorial-file: (?P<path>\S+) -->\n```[^\n]*\n(?P<body>.*?)^```$", re.M | re.S
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the Administrator needs Linux")


def tutorial_files() -> dict[str, str]:
    """PATH -> content of every file the tutorial has the reader write."""
    return {m["path"]: m["body"] for m in FILE.finditer(TUTORIAL.read_text(encoding="utf-8"))}


def test_the_tutorial_names_its_files() -> None:
    assert sorted(tutorial_files()) == [
        "greeter-home/use_greeter.py",
        "greeter/greeter/__init__.py",
        "greeter/pyproject.toml",
        "greeter/tests/test_greeter.py",
    ]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tutorial's files, and a virtual environment with oservices and greeter installed."""
    base = tmp_path_factory.mktemp("tutorial")
    for path, body in tutorial_files().items():
        (base / path).parent.mkdir(parents=True, exist_ok=True)
        (base / path).write_text(body, encoding="utf-8")
    tree, wheelhouse = base / "greeter", base / "wheelhouse"
    installer = new_venv(base / "venv", [tree])
    checked([*installer, "install", "pytest"], "installing pytest")
    build = ["wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheelhouse)]
    checked([*installer, *build, str(ROOT), str(tree)], "building wheels")
    wheels = [wheel(wheelhouse, "oservices"), wheel(wheelhouse, "greeter")]
    checked([*installer, "install", *wheels], "installing the wheels")
    return base


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def running(workdir: Path, port: int) -> Iterator[Path]:
    """``oservices up -d`` in the tutorial's home; stopped after the test."""
    home = workdir / "greeter-home"
    env = {"OSERVICES_GREETER__PORT": str(port)}
    up = run_in(home, [str(workdir / "venv/bin/oservices"), "up", "-d"], env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"hello API at http://127.0.0.1:{port}/" in up.stdout
        yield home
    finally:
        run_in(home, [str(workdir / "venv/bin/oservices"), "stop"], env)


def test_components_config_and_check_mocks(workdir: Path, port: int) -> None:
    home = workdir / "greeter-home"
    oservices = str(workdir / "venv/bin/oservices")
    env = {"OSERVICES_GREETER__PORT": str(port)}

    components = run_in(home, [oservices, "components"], env)
    assert components.returncode == 0, components.stderr
    assert re.search(r"^greeter +hello +yes +greeter +greeter$", components.stdout, re.M)

    show = run_in(home, [oservices, "config", "show", "greeter"], env)
    assert show.returncode == 0, show.stderr
    assert f"port = {port}\n" in show.stdout
    assert 'greeting = "Hello"\n' in show.stdout

    explain = run_in(
        home,
        [oservices, "config", "explain", "greeter.greeting"],
        {"OSERVICES_GREETER__GREETING": "Welcome"},
    )
    assert explain.stdout == (
        "greeter.greeting = 'Welcome'\n"
        "  from: environment variable OSERVICES_GREETER__GREETING\n"
        "  hides: default = 'Hello'\n"
    )

    mocks = run_in(home, [oservices, "check", "mocks"], env)
    assert mocks.returncode == 0, mocks.stdout + mocks.stderr
    assert mocks.stdout == "1 component with a Client checked, 0 differences\n"


def test_up_status_client_stop(workdir: Path, port: int, running: Path) -> None:
    oservices = str(workdir / "venv/bin/oservices")
    env = {"OSERVICES_GREETER__PORT": str(port)}

    status = run_in(running, [oservices, "status"], env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert re.search(r"^greeter +RUNNING +yes ", status.stdout, re.M)

    client = run_in(running, [str(workdir / "venv/bin/python"), "use_greeter.py"], env)
    assert client.returncode == 0, client.stderr
    assert client.stdout == "Hello, Ada!\n"

    stop = run_in(running, [oservices, "stop"], env)
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout == "oservices: every component stopped; the Administrator exited\n"


def test_the_tutorials_tests_pass(workdir: Path) -> None:
    tree = workdir / "greeter"
    python = str(workdir / "venv/bin/python")
    result = run_in(tree, [python, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
