"""The compose export of the demo shop, run for real: podman and podman-compose, PostgreSQL.

No registry is reachable, so the images are built here (``tests/_images.py``): the
shop's image (Debian bookworm, a virtual environment with the wheels of oservices
and of the demo, and psycopg from the ``postgres`` extra) and a PostgreSQL image
from Debian's package. The build
runs in the shop's image, as any machine with the system installed runs it:
``oservices build`` with compose enabled. Then ``podman-compose up -d`` on the file
it wrote, with nothing done by hand: the init service migrates the database, the API
answers through its published port, the worker processes an order on PostgreSQL, and
``podman-compose down`` leaves no container, pod or volume. The worker's stop time is
measured and printed (its init passes SIGTERM on; without one it took 8 s here).

A missing engine fails the test: CI installs them (``.ci/run``).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _engines import missing
from _images import Images, engine_environment, images, missing_tools
from _processes import free_port, wait_for
from _venv import ROOT, checked, wheel

SHOP = ROOT / "examples" / "shop"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.containers

CLIENT = """
import tomllib
from shop.clients import WorkerClient
from shop.configuration import WorkerConfiguration
with open("/srv/oservices/config/shop-worker.toml", "rb") as file:
    configuration = WorkerConfiguration.model_validate(tomllib.load(file))
print(configuration.api_url, WorkerClient(configuration).processed())
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Images:
    """The images, built from this tree's wheels (cached between sessions)."""
    if lacking := missing_tools():
        missing(
            ", ".join(lacking),
            "apt-get install podman runc catatonit debootstrap "
            "golang-github-containernetworking-plugin-dnsname; pip install podman-compose",
        )
    base = tmp_path_factory.mktemp("images")
    wheelhouse = base / "wheelhouse"
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    checked([*command, "--wheel-dir", str(wheelhouse), str(ROOT), str(SHOP)], "building wheels")
    wheels = [Path(wheel(wheelhouse, d)) for d in ("oservices", "oservices-demo-shop")]
    log = base / "images.log"
    started = time.monotonic()
    try:
        # PostgreSQL's driver as a user gets it: the extra `postgres` of the oservices wheel.
        found = images(wheels, [f"oservices[postgres] @ {wheels[0].as_uri()}"], log)
    except RuntimeError as exc:
        pytest.fail(f"{exc}\n{log.read_text(errors='replace')[-4000:]}")
    found.seconds = time.monotonic() - started
    return found


def podman_compose() -> str:
    found = shutil.which("podman-compose", path=str(BIN)) or shutil.which("podman-compose")
    assert found is not None
    return found


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        env=engine_environment() | (env or {}),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def call(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(url, data=data, timeout=10) as answer:  # noqa: S310 - http to our test server
        return json.loads(answer.read())


def answers(url: str) -> bool:
    try:
        return bool(call(url) == {"status": "ok"})
    except (OSError, ValueError):
        return False


class Deployment:
    """The shop's compose export, built in a home, and the project it runs as."""

    def __init__(self, images: Images, home: Path, project: str, env: dict[str, str]) -> None:
        self.images = images
        self.home = home
        self.project = project
        self.env = env
        self.file = home / "config" / "compose" / "compose.yaml"

    def compose(self, *args: str, timeout: float = 600) -> str:
        command = [podman_compose(), "-f", str(self.file), *args]
        return run(command, self.file.parent, self.env, timeout)

    def containers(self) -> list[str]:
        label = f"label=io.podman.compose.project={self.project}"
        listed = run(["podman", "ps", "-a", "--filter", label, "--format", "{{.Names}}"], self.home)
        return listed.split()

    def logs(self) -> str:
        shown = []
        for name in self.containers():
            done = subprocess.run(
                ["podman", "logs", name],
                env=engine_environment(),
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
            shown.append(f"--- {name}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return "\n".join(shown)


@pytest.fixture
def deployment(built: Images, tmp_path: Path) -> Iterator[Deployment]:
    """``oservices build`` of the shop with compose enabled, run in the shop's image."""
    home = tmp_path / "home"
    home.mkdir()
    project = f"shop-{uuid.uuid4().hex[:8]}"
    password = secrets.token_urlsafe(16)
    key = secrets.token_urlsafe(40)
    url = f"postgresql://shop:{password}@postgres:5432/shop"
    (home / "system.toml").write_text('name = "shop"\nservices = ["shop"]\n', encoding="utf-8")
    build = {
        "OSERVICES_HOME": "/work",
        "OSERVICES_BASE_PORT": str(free_port()),
        "OSERVICES_COMPOSE__ENABLED": "true",
        "OSERVICES_COMPOSE__IMAGE": built.system,
        "OSERVICES_COMPOSE__POSTGRES_IMAGE": built.postgres,
        "OSERVICES_COMPOSE__PROJECT": project,
        "OSERVICES_DJANGO__DATABASE_URL": url,
        "OSERVICES_DJANGO__SECRET_KEY": key,
    }
    flags = [arg for name, value in build.items() for arg in ("-e", f"{name}={value}")]
    mount = ["-v", f"{home}:/work", "-w", "/work", "--network", "none"]
    run(["podman", "run", "--rm", *mount, *flags, built.system, "oservices", "build"], home)
    # What compose reads from its environment: the secrets the file refers to.
    secret = {
        "OSERVICES_DJANGO__DATABASE_URL": url,
        "OSERVICES_DJANGO__SECRET_KEY": key,
        "POSTGRES_PASSWORD": password,
    }
    found = Deployment(built, home, project, secret | {"BASE_PORT": build["OSERVICES_BASE_PORT"]})
    try:
        yield found
    finally:
        subprocess.run(
            [podman_compose(), "-f", str(found.file), "down", "-v", "-t", "5"],
            cwd=found.file.parent,
            env=engine_environment() | secret,
            capture_output=True,
            check=False,
            timeout=300,
        )


def test_the_shop_runs_from_its_compose_export(
    deployment: Deployment,
    record_property: Callable[[str, object], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = deployment.env["BASE_PORT"]
    address = f"http://127.0.0.1:{port}"
    deployment.compose("up", "-d")
    try:
        wait_for(
            lambda: answers(f"{address}/api/health"),
            120,
            lambda: f"the API through its published port\n{deployment.logs()}",
        )
        order = call(f"{address}/api/orders", {"item": "apple", "quantity": 3})
        assert order["status"] == "queued"
        wait_for(
            lambda: call(f"{address}/api/orders/{order['id']}")["status"] == "processed",
            60,
            lambda: f"the worker to process the order\n{deployment.logs()}",
        )
        # The worker's Client, in the worker's container, with the configuration the
        # export mounted there: it reaches the API by its service name, which Django allows.
        worker = f"{deployment.project}_shop-worker_1"
        figures = run(["podman", "exec", worker, "python", "-c", CLIENT], deployment.home)
        assert figures.split() == ["http://shop-api:" + port, "1"]
    except BaseException:
        print(deployment.logs())
        raise

    started = time.monotonic()
    deployment.compose("stop", "-t", "30", "shop-worker")
    stopped = time.monotonic() - started
    record_property("worker_stop_seconds", round(stopped, 2))
    images = deployment.images
    with capsys.disabled():  # in the run's output, not only in a failure's report
        print(f"\nimages ready in {images.seconds:.1f}s: {images.system}, {images.postgres}")
        print(f"the worker stopped in {stopped:.2f}s (podman-compose stop, grace 30 s)")
    assert stopped < 30, "SIGTERM did not stop the worker: it was killed at the end of its grace"

    deployment.compose("down", "-v", "-t", "10")
    assert deployment.containers() == []
    pods = run(["podman", "pod", "ps", "--format", "{{.Name}}"], deployment.home).split()
    assert [pod for pod in pods if deployment.project in pod] == []
    volumes = run(["podman", "volume", "ls", "--format", "{{.Name}}"], deployment.home).split()
    assert [volume for volume in volumes if deployment.project in volume] == []
    networks = run(["podman", "network", "ls", "--format", "{{.Name}}"], deployment.home).split()
    assert [network for network in networks if deployment.project in network] == []
