"""The built-in ``systemd`` plugin: units that ``systemd-analyze verify`` accepts."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
from _export_demo import SECRET, Demo, make_demo

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed here")


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    # A home whose path holds a space and a "%" (a systemd specifier unless escaped).
    return make_demo(tmp_path, home_name="home 100%")


def units(demo: Demo) -> Path:
    return demo.output / "systemd"


def verify(*paths: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, "verify", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit's sections, each key with every value it is given (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            current.setdefault(key, []).append(value)
    return sections


@needs_analyze
def test_systemd_analyze_verify_accepts_the_units(demo: Demo) -> None:
    demo.system()
    demo.build("systemd")
    written = sorted(units(demo).iterdir())
    assert [path.name for path in written] == [
        "oservices-exp-api.service",
        "oservices-exp-db.service",
        "oservices-exp-worker.service",
        "oservices-shop.target",
    ]
    result = verify(*written)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@needs_analyze
def test_verify_is_not_a_formality(demo: Demo) -> None:
    # A unit with a wrong value makes verify complain: the test above could fail.
    demo.system()
    demo.build("systemd")
    unit = units(demo) / "oservices-exp-db.service"
    unit.write_text(unit.read_text().replace("KillMode=control-group", "KillMode=groupish"))
    result = verify(unit)
    assert "kill mode" in result.stderr.lower()


def test_units_map_the_components(demo: Demo) -> None:
    demo.system()
    demo.build("systemd", env={"OSERVICES_EXP_WORKER__TOKEN": SECRET})
    api = read_unit(units(demo) / "oservices-exp-api.service")
    db = read_unit(units(demo) / "oservices-exp-db.service")
    worker = read_unit(units(demo) / "oservices-exp-worker.service")
    assert api["Unit"]["After"] == api["Unit"]["Requires"] == ["oservices-exp-db.service"]
    assert (api["Service"]["Type"], db["Service"]["Type"]) == (["notify"], ["exec"])
    assert {u["Service"]["KillMode"][0] for u in (api, db, worker)} == {"control-group"}
    assert (db["Service"]["Restart"], db["Service"]["SuccessExitStatus"]) == (["always"], ["3"])
    assert (api["Service"]["Restart"], worker["Service"]["Restart"]) == (["on-failure"], ["no"])
    assert worker["Service"]["KillSignal"] == ["SIGINT"]
    assert worker["Service"]["TimeoutStopSec"] == ["2500ms"]
    assert api["Service"]["TimeoutStartSec"] == ["30"]
    assert f'"OSERVICES_HOME={demo.home}"'.replace("%", "%%") in api["Service"]["Environment"]
    assert api["Service"]["WorkingDirectory"] == [str(demo.home).replace("%", "%%")]
    target = read_unit(units(demo) / "oservices-shop.target")
    assert len(target["Unit"]["Wants"]) == 3
    for path in units(demo).iterdir():
        assert SECRET not in path.read_text()


def test_units_of_a_host_order_only_on_that_host(demo: Demo) -> None:
    demo.system('[hosts.web1]\ncomponents = ["exp-db"]\n[hosts.web2]\ncomponents = ["exp-api"]\n')
    result = demo.oservices("build", "--host", "web2", env={"OSERVICES_SYSTEMD__ENABLED": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(path.name for path in units(demo).iterdir()) == [
        "oservices-exp-api.service",
        "oservices-shop.target",
    ]
    api = read_unit(units(demo) / "oservices-exp-api.service")
    assert "Requires" not in api["Unit"]  # exp-db runs on web1: no unit to wait for here
    parser = configparser.RawConfigParser(strict=False)
    parser.read(units(demo) / "oservices-shop.target")
    assert parser["Unit"]["Description"] == "oservices system shop on host web2"
