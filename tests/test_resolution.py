"""One resolution and one listen rule: what every path computes, and how often.

A component's ``CONF`` in the caller's process is what its running process is
given; ``up``'s printed address, the Administrator's probe, ``describe`` and the
exporters agree on where it listens; one ``up`` reads its system file once and
builds one resolver per settings and overrides in its process.
"""

from __future__ import annotations

import io
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _processes import TOKEN, carrying, free_port
from _run import oservices_in

from oservices_core import Settings, load_settings
from oservices_core._config import resolution
from oservices_core._config import toml as config_toml
from oservices_core._config.resolve import Resolver

PROGRAMS = Path(__file__).resolve().parent / "programs"


@pytest.fixture
def programs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test programs installed in this process (their entry points found)."""
    monkeypatch.syspath_prepend(str(PROGRAMS))
    yield
    for name in [m for m in sys.modules if m.startswith("oservices_test_programs")]:
        del sys.modules[name]


def _system_file(path: Path, port: int) -> Path:
    path.write_text(
        'name = "reports"\ncomponents = ["reporter"]\nservices = ["reporting"]\n\n'
        f"[configurations.reporter]\nhttp_port = {port}\n\n"
        '[configurations.kubernetes]\nenabled = true\nimage = "shop:1"\n',
        encoding="utf-8",
    )
    return path


# CONF and the running component agree --------------------------------------------------


def test_conf_is_what_the_running_component_is_given(
    tmp_path: Path, programs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The system file (not HOME/system.toml), a configuration file and the environment
    each set a field; ``CONF`` in the component's process and in this one is what its
    ``main`` receives."""
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    system = _system_file(home / "reports.toml", port)  # named on the command line only
    (home / "config").mkdir()
    (home / "config" / "reporter.toml").write_text("number = 7\n", encoding="utf-8")
    env = {"PYTHONPATH": str(PROGRAMS), TOKEN: tmp_path.name, "OSERVICES_REPORTER__WORD": "env"}
    try:
        started = oservices_in(home, "up", "-d", "--timeout", "60", str(system), env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        seen = json.loads((home / "data" / "reporter.json").read_text())
        assert seen["main"] == seen["conf"]
        assert (seen["main"]["http_port"], seen["main"]["word"]) == (port, "env")
        assert seen["main"]["number"] == 7
        # The caller's CONF, with the same settings and environment, agrees.
        from oservices_test_programs import reporter

        monkeypatch.setenv("OSERVICES_REPORTER__WORD", "env")
        with load_settings(home=home, system_file=system).activate():
            assert reporter.CONF.model_dump() == seen["main"]
        # An override wins in the caller's process, above all of them.
        overridden = resolution.resolver(
            load_settings(home=home, system_file=system), overrides={"reporter.number": "8"}
        )
        assert overridden.resolve(reporter.CONFIGURATION, "reporter").value.number == 8  # type: ignore[attr-defined]  # the reporter's field
    finally:
        oservices_in(home, "stop", env=env)
        for process in carrying(tmp_path.name):
            process.send_signal(signal.SIGKILL)


# One listen rule -----------------------------------------------------------------------


def test_up_the_probe_describe_and_the_exporters_agree_on_the_address(tmp_path: Path) -> None:
    """``ready="tcp:http_port"``: the Administrator's probe finds it there (it becomes
    ready), ``up`` prints that address, ``describe`` and the Kubernetes export say it."""
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    _system_file(home / "system.toml", port)
    env = {"PYTHONPATH": str(PROGRAMS), TOKEN: tmp_path.name}
    address = f"http://127.0.0.1:{port}/"
    try:
        started = oservices_in(home, "up", "-d", "--timeout", "60", env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"reporting API at {address}" in started.stdout
        described = oservices_in(home, "describe", "reporting", env=env)
        assert f"API component: reporter on port {port}, at {address}" in described.stdout
        exported = home / "config" / "kubernetes"
        deployment = yaml.safe_load((exported / "deployment-reporter.yaml").read_text())
        containers = deployment["spec"]["template"]["spec"]["containers"]
        assert [p["containerPort"] for c in containers for p in c["ports"]] == [port]
        service = yaml.safe_load((exported / "service-reporting.yaml").read_text())
        assert service["spec"]["ports"][0]["port"] == port
    finally:
        oservices_in(home, "stop", env=env)
        for process in carrying(tmp_path.name):
            process.send_signal(signal.SIGKILL)


# Resolve once --------------------------------------------------------------------------


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times this process parses a system file and builds a Resolver."""
    counts = {"parsed": 0, "resolvers": 0}
    loads = config_toml.loads
    init = Resolver.__init__

    def counting_loads(text: str, where: str) -> dict[str, Any]:
        counts["parsed"] += where.endswith("system.toml")
        parsed: dict[str, Any] = loads(text, where)
        return parsed

    def counting_init(self: Resolver, *args: Any, **kwargs: Any) -> None:
        counts["resolvers"] += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(config_toml, "loads", counting_loads)
    monkeypatch.setattr(Resolver, "__init__", counting_init)
    return counts


def test_one_up_parses_the_system_file_once_and_builds_one_resolver(
    tmp_path: Path, programs: None, counted: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``up`` does in its own process: load the system, build, init, print the
    addresses, make the Administrator (its check and each spawn's fingerprint and
    configuration), and each component's ``CONF``."""
    from oservices_core import Administrator
    from oservices_core._cli.up import api_addresses
    from oservices_core._plugins.system import load_system
    from oservices_core._workflow.run import run_workflow

    monkeypatch.chdir(tmp_path)
    port = free_port()
    (tmp_path / "system.toml").write_text(
        'components = ["reporter", "obedient", "dependent"]\nservices = ["reporting"]\n'
        f"[configurations.reporter]\nhttp_port = {port}\n",
        encoding="utf-8",
    )
    settings: Settings = load_settings(home=tmp_path)
    with settings.activate():
        system = load_system()
        for stages in (("build",), ("init",)):
            run_workflow(system, stages, out=io.StringIO())
        assert api_addresses(system) == [("reporting", f"http://127.0.0.1:{port}/")]
        administrator = Administrator(system, settings=settings)
        for instance in administrator.instances.values():
            administrator._fingerprint(instance.component)
            administrator._configuration(instance)
        for component in system.components.values():
            if component.configuration is not None:
                assert component.CONF is not None
    assert counted == {"parsed": 1, "resolvers": 1}


def test_a_build_checks_the_system_once(
    tmp_path: Path, programs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four exporters enabled: the build stage runs ``System.check`` once, not per exporter."""
    from oservices_core import System
    from oservices_core._plugins.system import load_system
    from oservices_core._workflow.run import run_workflow

    monkeypatch.chdir(tmp_path)
    (tmp_path / "system.toml").write_text(
        'name = "reports"\ncomponents = ["reporter"]\nservices = ["reporting"]\n'
        "[configurations.reporter]\nhttp_port = 8123\n"
        '[configurations.kubernetes]\nenabled = true\nimage = "r:1"\n'
        '[configurations.compose]\nenabled = true\nimage = "r:1"\n'
        "[configurations.supervisord]\nenabled = true\n"
        "[configurations.systemd]\nenabled = true\n",
        encoding="utf-8",
    )
    checks: list[str] = []
    check = System.check

    def counting(self: System, *args: Any, **kwargs: Any) -> None:
        checks.append(self.name)
        check(self, *args, **kwargs)

    monkeypatch.setattr(System, "check", counting)
    with load_settings(home=tmp_path).activate():
        _, reports = run_workflow(load_system(), ("build",), out=io.StringIO())
    written = {a.path.parts[-2] for a in reports[-1].artifacts if len(a.path.parts) > 1}
    assert {"kubernetes", "compose", "supervisord", "systemd"} <= written
    assert checks == ["reports"]


@pytest.mark.parametrize(
    "text",
    [
        "[configurations.a]\nx = " + "[" * 5000 + "]" * 5000 + "\n",
        "[configurations.a]\nx = " + "9" * 5000 + "\n",
    ],
    ids=["deep nesting", "a 5000-digit integer"],
)
def test_a_hostile_system_file_is_a_located_error(tmp_path: Path, text: str) -> None:
    """Read once, for every path: a located error with exit 2, never a traceback."""
    (tmp_path / "system.toml").write_text(text, encoding="utf-8")
    result = oservices_in(tmp_path, "config", "show", "logging")
    assert result.returncode == 2, result.stderr
    where = f"{tmp_path / 'system.toml'}:2: configurations.a.x: expected TOML with values nested"
    assert where in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "value", ["missing.toml", ".", "a\nb.toml"], ids=["missing", "dir", "newline"]
)
def test_a_bad_system_file_setting_is_a_located_error(tmp_path: Path, value: str) -> None:
    """``OSERVICES_SYSTEM_FILE`` naming no readable file: exit 2 naming the path."""
    env = {"OSERVICES_SYSTEM_FILE": value}
    result = oservices_in(tmp_path, "config", "show", "logging", env=env)
    assert result.returncode == 2, result.stderr
    assert str(tmp_path / value) in result.stderr
    assert "Traceback" not in result.stderr
