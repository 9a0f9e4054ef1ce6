"""The built-in ``systemd`` plugin: units that ``systemd-analyze verify`` accepts, each
rated at most 4.0 ("OK") by ``systemd-analyze security --offline=true``.

No systemd runs as PID 1 on this machine (nor in CI), so the units are checked
with systemd's own analyzer, not started.
"""

from __future__ import annotations

import configparser
import ctypes
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _engines import needed
from _export_demo import SECRET, Demo, make_demo

HINT = "Debian: apt-get install systemd"
SERVICES = ("oservices-exp-api.service", "oservices-exp-db.service", "oservices-exp-worker.service")
INIT = "oservices-shop-init.service"
MOST = 4.0  # the highest exposure systemd-analyze security may rate a unit


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    # A home whose path holds a space and a "%" (a systemd specifier unless escaped).
    return make_demo(tmp_path, home_name="home 100%")


def units(demo: Demo) -> Path:
    return demo.output / "systemd"


def verify(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [needed("systemd-analyze", HINT), "verify", *map(str, paths)],
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


def exposure(path: Path) -> float:
    """The overall exposure ``systemd-analyze security --offline=true`` rates a unit."""
    result = subprocess.run(
        [needed("systemd-analyze", HINT), "security", "--offline=true", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found.group(1))


def test_systemd_analyze_verify_accepts_the_units(demo: Demo) -> None:
    demo.system()
    demo.build("systemd")
    written = sorted(units(demo).iterdir())
    assert [path.name for path in written] == sorted([*SERVICES, INIT, "oservices-shop.target"])
    result = verify(*written)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("user", ["", "shop"])
def test_every_unit_is_sandboxed(demo: Demo, user: str) -> None:
    demo.system()
    demo.build("systemd", env={"OSERVICES_SYSTEMD__USER": user})
    result = verify(*sorted(units(demo).iterdir()))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    rated = {name: exposure(units(demo) / name) for name in (*SERVICES, INIT)}
    assert max(rated.values()) <= MOST, rated
    api = read_unit(units(demo) / SERVICES[0])["Service"]
    assert api.get("User", []) == ([user] if user else [])
    assert (api["ProtectSystem"], api["NoNewPrivileges"]) == (["strict"], ["yes"])
    assert api["ReadWritePaths"] == [f'"-{demo.home}"'.replace("%", "%%")]
    # The home and the interpreter are under /tmp here: a private /tmp would hide them.
    assert api["PrivateTmp"] == ["no"]


def test_a_home_elsewhere_gets_a_private_tmp_and_systemd_made_directories(demo: Demo) -> None:
    demo.system(
        '[hosts.web2]\ncomponents = ["exp-db"]\n'
        'settings = { home = "/var/lib/shop", log_dir = "/var/log/shop", run_dir = "/run/shop" }\n'
    )
    output = demo.home / "out"
    result = demo.oservices(
        "build", "--host", "web2", "--output", str(output), env={"OSERVICES_SYSTEMD__ENABLED": "1"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    db = read_unit(output / "systemd" / "oservices-exp-db.service")["Service"]
    assert db["StateDirectory"] == ['"shop"']  # the home: made and given to User= whole
    assert db["LogsDirectory"] == ['"shop"']
    assert (db["RuntimeDirectory"], db["RuntimeDirectoryPreserve"]) == (['"shop"'], ["yes"])
    assert db["ReadWritePaths"] == ['"-/var/lib/shop" "-/var/log/shop" "-/run/shop"']
    assert db["ProtectHome"] == ["yes"]
    assert not Path("/var/lib/shop").exists()  # nothing made on the build's machine


def test_cpython_runs_under_memory_deny_write_execute() -> None:
    # MemoryDenyWriteExecute=yes is only on because CPython tolerates it: here under
    # the kernel's own switch (PR_SET_MDWE), the libraries the demo loads, a ctypes callback.
    libc = ctypes.CDLL(None, use_errno=True)
    code = (
        "import ctypes, sqlite3, ssl, django, gunicorn, psycopg;"
        "print(ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)())"
    )
    script = (
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "if libc.prctl(65, 1, 0, 0, 0): sys.exit(f'PR_SET_MDWE: errno {ctypes.get_errno()}')\n"
        f"os.execv(sys.executable, [sys.executable, '-c', {code!r}])\n"
    )
    del libc
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "7\n"), result.stderr


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
    # The initialize stage first: a oneshot unit every component requires and follows.
    assert api["Unit"]["After"] == api["Unit"]["Requires"] == [INIT, "oservices-exp-db.service"]
    assert db["Unit"]["After"] == db["Unit"]["Requires"] == [INIT]
    init = read_unit(units(demo) / INIT)
    assert (init["Service"]["Type"], init["Service"]["RemainAfterExit"]) == (["oneshot"], ["yes"])
    assert init["Service"]["ExecStart"][0].split()[2:4] == ['"oservices_core"', '"init"']
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
    assert len(target["Unit"]["Wants"]) == 4
    for path in units(demo).iterdir():
        assert SECRET not in path.read_text()


def test_units_of_a_host_order_only_on_that_host(demo: Demo) -> None:
    demo.system('[hosts.web1]\ncomponents = ["exp-db"]\n[hosts.web2]\ncomponents = ["exp-api"]\n')
    result = demo.oservices("build", "--host", "web2", env={"OSERVICES_SYSTEMD__ENABLED": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(path.name for path in units(demo).iterdir()) == [
        "oservices-exp-api.service",
        INIT,
        "oservices-shop.target",
    ]
    api = read_unit(units(demo) / "oservices-exp-api.service")
    assert api["Unit"]["Requires"] == [INIT]  # exp-db runs on web1: no unit to wait for here
    parser = configparser.RawConfigParser(strict=False)
    parser.read(units(demo) / "oservices-shop.target")
    assert parser["Unit"]["Description"] == "oservices system shop on host web2"
