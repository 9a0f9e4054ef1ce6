"""The demo shop (``examples/shop``), installed and run as a user does.

Real wheels of oservices and of the demo, installed with pip into a fresh
virtual environment (Django and gunicorn from the package index), then
``oservices up -d`` in a temporary home: the API answers over HTTP, the
worker processes an order, and ``oservices stop`` leaves no process behind.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from _processes import TOKEN, carrying, free_port, groups_alive, wait_for
from _run import run_in
from _venv import ROOT, checked, new_venv, pip, wheel

SHOP = ROOT / "examples" / "shop"

pytestmark = pytest.mark.demo


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with the wheels of oservices and of the demo installed."""
    base = tmp_path_factory.mktemp("demo")
    venv, wheelhouse = base / "venv", base / "wheelhouse"
    installer = new_venv(venv, [SHOP])
    build = ["wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheelhouse)]
    checked([*installer, *build, str(ROOT), str(SHOP)], "building wheels")
    wheels = [wheel(wheelhouse, "oservices"), wheel(wheelhouse, "oservices-demo-shop")]
    checked([*installer, "install", *wheels], "installing the wheels, Django and gunicorn")
    return venv


def call(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(url, data=data, timeout=10) as answer:  # noqa: S310 - http to our test server
        return json.loads(answer.read())


def test_up_serves_the_api_and_stop_leaves_nothing(venv: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    token = uuid.uuid4().hex
    env = {TOKEN: token, "OSERVICES_BASE_PORT": str(free_port())}
    oservices = str(venv / "bin" / "oservices")

    try:
        up = run_in(home, [oservices, "up", "-d", "--timeout", "60"], env)
        log = home / "log" / "_administrator.log"
        assert up.returncode == 0, f"{up.stdout}\n{up.stderr}\n{log.read_text(errors='replace')}"
        for name in ("shop-api", "shop-worker", "shop-scheduler"):
            assert re.search(rf"^{name} +RUNNING +yes ", up.stdout, re.MULTILINE), up.stdout
        found = re.search(r"http://127\.0\.0\.1:\d+/", up.stdout)
        assert found, f"up -d must print the API's address:\n{up.stdout}"
        address = found.group().rstrip("/")
        assert address.endswith(f":{env['OSERVICES_BASE_PORT']}")

        assert call(f"{address}/api/health") == {"status": "ok"}
        order = call(f"{address}/api/orders", {"item": "apple", "quantity": 3})
        assert order["status"] == "queued"
        wait_for(
            lambda: call(f"{address}/api/orders/{order['id']}")["status"] == "processed",
            20,
            "the worker to process the order",
        )

        status = run_in(home, [oservices, "status", "--json"], env)
        assert status.returncode == 0, status.stderr
        pgids = [s["pgid"] for s in json.loads(status.stdout)]
        # The API's gunicorn workers carry the token too: the Administrator, its
        # template, three components and two workers at least.
        assert len(carrying(token)) >= 7

        stopped = run_in(home, [oservices, "stop"], env)
        assert stopped.returncode == 0, stopped.stderr
        wait_for(lambda: not carrying(token), 10, "every process to be gone")
        assert groups_alive(pgids) == []
    finally:
        for process in carrying(token):  # whatever a failure left running
            process.kill()


def test_the_demos_own_tests_pass_with_the_toolkit(venv: Path, tmp_path: Path) -> None:
    """The shop's tests use the pytest plugin that the oservices wheel declares."""
    checked([*pip(venv), "install", "pytest"], "installing pytest")
    result = run_in(
        tmp_path,
        [
            str(venv / "bin" / "python"),
            "-m",
            "pytest",
            str(SHOP / "tests"),
            "-p",
            "no:cacheprovider",
        ],
        {TOKEN: uuid.uuid4().hex},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b3 passed\b", result.stdout), result.stdout
