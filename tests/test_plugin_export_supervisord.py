"""The built-in ``supervisord`` plugin: real supervisord runs the systems it writes.

supervisord runs the demo shop (Django on gunicorn, a worker, a scheduler) from
``oservices build`` output in a fresh home, nothing made by hand: the
initialize program migrates, the components wait for it, the API answers, an
order is processed, and stopping supervisord leaves no process. Also the
exports' shared behaviour: off by default, blockable, the cross-reference
check, hosts (``--host``).
"""

from __future__ import annotations

import configparser
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from _engines import needed
from _export_demo import SECRET, Demo, make_demo
from _postgres import Postgres
from _processes import TOKEN, carrying, free_port, wait_for
from _shop import COMPONENTS, Shop, answers, call, make_shop

from oservices_plugins.supervisord import INIT

SUPERVISORD = Path(sys.executable).parent / "supervisord"
SUPERVISORCTL = Path(sys.executable).parent / "supervisorctl"
PROGRAMS = ("exp-api", "exp-db", "exp-worker")
HINT = "pip install supervisor: the test group has it"


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return make_demo(tmp_path)


def conf(demo: Demo) -> Path:
    return demo.output / "supervisord" / "supervisord.conf"


def programs(demo: Demo) -> dict[str, dict[str, str]]:
    return programs_in(conf(demo))


def programs_in(path: Path) -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser()
    parser.read(path)
    return {
        section.removeprefix("program:"): dict(parser[section])
        for section in parser.sections()
        if section.startswith("program:")
    }


# Off, on, blocked ---------------------------------------------------------------------


def test_a_plain_build_writes_no_export(demo: Demo) -> None:
    demo.system()
    demo.build()
    exported = ("supervisord", "systemd", "compose", "kubernetes")
    assert [name for name in exported if (demo.output / name).exists()] == []


def test_a_blocked_exporter_writes_nothing(demo: Demo) -> None:
    demo.system()
    demo.build("supervisord", env={"OSERVICES_DISABLE_PLUGINS": "supervisord"})
    assert not conf(demo).exists()
    demo.build("supervisord")
    assert conf(demo).is_file()


def test_programs_map_the_components(demo: Demo) -> None:
    demo.system()
    demo.build("supervisord", env={"OSERVICES_EXP_WORKER__TOKEN": SECRET})
    found = programs(demo)
    assert sorted(found) == sorted([*PROGRAMS, INIT])
    init = found.pop(INIT)
    db, api, worker = found["exp-db"], found["exp-api"], found["exp-worker"]
    assert {p["stopasgroup"] for p in found.values()} == {"true"}
    assert {p["killasgroup"] for p in found.values()} == {"true"}
    assert (db["autorestart"], db["exitcodes"], db["stopwaitsecs"]) == ("true", "0,3", "4")
    assert (api["autorestart"], api["exitcodes"]) == ("unexpected", "0")
    assert (worker["autorestart"], worker["stopsignal"], worker["stopwaitsecs"]) == (
        "false",
        "INT",
        "3",  # 2.5 seconds, rounded up
    )
    assert int(db["priority"]) < int(api["priority"])  # a dependency starts first
    # The initialize stage first, once: a success is its exit with status 0.
    assert init["command"].split()[1:] == [
        "-m",
        "oservices_core",
        "init",
        "--system",
        str(demo.home / "system.toml"),
    ]
    assert (init["autorestart"], init["startsecs"], init["exitcodes"]) == ("false", "0", "0")
    assert int(init["priority"]) < min(int(p["priority"]) for p in found.values())
    # Each component through the gate that waits for it, then the component's own command.
    assert api["command"].split()[1:] == [
        "-m",
        "oservices_plugins.supervisord_gate",
        f"shop:{INIT}",
        "--",
        sys.executable,
        "-m",
        "oservices_core",
        "run",
        "exp-api",
        "--system",
        str(demo.home / "system.toml"),
    ]
    assert {p["startsecs"] for p in found.values()} == {"1"}  # Component.start_seconds
    assert f'OSERVICES_HOME="{demo.home}"' in api["environment"]
    assert SECRET not in conf(demo).read_text()


# The real supervisord --------------------------------------------------------------------


@pytest.fixture
def supervised(demo: Demo) -> Iterator[tuple[Demo, subprocess.Popen[str], str]]:
    """supervisord running the demo from its built file; a token in every process's env."""
    demo.system()
    demo.build("supervisord")  # nothing else: the build and supervisord make the rest
    with supervisord(conf(demo), demo.home, demo.env) as (daemon, token):
        yield demo, daemon, token


@contextlib.contextmanager
def supervisord(
    path: Path, home: Path, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The real supervisord in the foreground on ``path``; a token in every process's env."""
    token = f"export-test-{uuid.uuid4()}"
    daemon = subprocess.Popen(
        [needed(SUPERVISORD, HINT), "--nodaemon", "-c", str(path)],
        cwd=home,
        env=env | {TOKEN: token},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield daemon, token
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
        if daemon.stdout is not None:
            daemon.stdout.close()
        for process in carrying(token):  # never leave one behind, even when a test fails
            process.kill()


def stop(daemon: subprocess.Popen[str], token: str) -> None:
    """SIGTERM to supervisord: it stops every program, exits 0, and no process is left."""
    daemon.terminate()
    output, _ = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, output
    wait_for(
        lambda: not carrying(token),
        10,
        lambda: f"every process to be gone: {[p.cmdline() for p in carrying(token)]}",
    )


def status(demo: Demo) -> dict[str, str]:
    result = subprocess.run(
        [str(SUPERVISORCTL), "-c", str(conf(demo)), "status"],
        cwd=demo.home,
        env=demo.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    states = {}
    for line in result.stdout.splitlines():
        name, _, rest = line.partition(" ")
        states[name.partition(":")[2] or name] = rest.split()[0] if rest.split() else ""
    return states


def test_supervisord_runs_the_system_and_stops_every_process(
    supervised: tuple[Demo, subprocess.Popen[str], str],
) -> None:
    demo, daemon, token = supervised
    expected = dict.fromkeys(PROGRAMS, "RUNNING") | {INIT: "EXITED"}
    wait_for(
        lambda: status(demo) == expected,
        60,
        lambda: f"every program RUNNING: {status(demo)} {_logs(demo)}",
    )

    def child_started() -> bool:
        return any("exp-api-child" in " ".join(p.cmdline()) for p in carrying(token))

    # The API's own child process runs too: the group stop must reach it.
    wait_for(
        child_started, 20, lambda: f"the API's child: {[p.cmdline() for p in carrying(token)]}"
    )
    assert len(carrying(token)) >= 5  # supervisord, three components, the child

    stop(daemon, token)


def run_shop(shop: Shop, token: str) -> None:
    """The shop's API answers, a POSTed order is processed by the worker."""
    address = f"http://127.0.0.1:{shop.env['OSERVICES_BASE_PORT']}"
    wait_for(lambda: answers(f"{address}/api/health"), 120, lambda: f"the API: {shop.logs(INIT)}")
    assert call(f"{address}/api/health") == {"status": "ok"}
    order = call(f"{address}/api/orders", {"item": "apple", "quantity": 3})
    assert order["status"] == "queued"
    wait_for(
        lambda: call(f"{address}/api/orders/{order['id']}")["status"] == "processed",
        60,
        lambda: f"the worker to process the order: {shop.logs()}",
    )
    # supervisord, the API's gunicorn arbiter and its two workers, the worker, the scheduler.
    assert len(carrying(token)) >= 6


def test_supervisord_runs_the_demo_shop_from_the_build_alone(tmp_path: Path) -> None:
    shop = make_shop(tmp_path, free_port())
    shop.oservices("build", env={"OSERVICES_SUPERVISORD__ENABLED": "1"})
    path = shop.home / "config" / "supervisord" / "supervisord.conf"
    assert not (shop.home / "data" / "django.sqlite3").exists()  # migrating is the deployment's
    with supervisord(path, shop.home, shop.env) as (daemon, token):
        run_shop(shop, token)
        # The components started with supervisord, and waited for the initialize stage.
        assert any("waiting for the initialize stage" in shop.log(n) for n in COMPONENTS)
        assert (shop.home / "data" / "django.sqlite3").is_file()  # made by oservices-init
        stop(daemon, token)


def test_supervisord_runs_the_demo_shop_on_postgresql(tmp_path: Path, postgres: Postgres) -> None:
    password = f"pw-{uuid.uuid4().hex}"  # trust ignores it: here to prove it is written nowhere
    url = postgres.url(postgres.database(), password)
    shop = make_shop(tmp_path, free_port())
    key = f"key-{uuid.uuid4().hex}"
    # The operator's secrets: in the environment of the build and of supervisord, not a file.
    shop.env |= {"OSERVICES_DJANGO__DATABASE_URL": url, "OSERVICES_DJANGO__SECRET_KEY": key}
    # A build for production: DEBUG off, the development secret key refused.
    shop.oservices("build", "--environment", "prod", env={"OSERVICES_SUPERVISORD__ENABLED": "1"})
    path = shop.home / "config" / "supervisord" / "supervisord.conf"
    with supervisord(path, shop.home, shop.env) as (daemon, token):
        run_shop(shop, token)
        stop(daemon, token)
    database = url.rpartition("/")[2]
    rows = postgres.query(database, "SELECT item, quantity, status FROM shop_orders_order")
    assert rows == [("apple", 3, "processed")]
    assert not (shop.home / "data" / "django.sqlite3").exists()
    for written in shop.home.rglob("*"):
        if written.is_file():
            text = written.read_text(errors="replace")
            assert password not in text, written
            assert key not in text, written


def test_a_failed_initialize_stage_starts_no_component(demo: Demo) -> None:
    # An initialize stage that fails (here: an option it refuses): no component starts.
    demo.system()
    demo.build("supervisord")
    text = conf(demo).read_text()
    text = text.replace(" init --system", " init --no-such-option --system")
    conf(demo).write_text(text)
    with supervisord(conf(demo), demo.home, demo.env) as (daemon, token):
        expected = dict.fromkeys(PROGRAMS, "STOPPED") | {INIT: "EXITED"}
        wait_for(
            lambda: status(demo) == expected,
            60,
            lambda: f"every component STOPPED: {status(demo)} {_logs(demo)}",
        )
        logs = _logs(demo)
        assert "the initialize stage failed" in logs["exp-db"]
        assert not any("Traceback" in log for log in logs.values()), logs
        stop(daemon, token)


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["shop:oservices-init"], {}, "usage: python -m oservices_plugins.supervisord_gate"),
        (["shop:oservices-init", "--", "true"], {}, "runs under supervisord"),
    ],
)
def test_the_gate_outside_supervisord_says_what_it_needs(
    args: list[str], env: dict[str, str], said: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISOR_")}
    result = subprocess.run(
        [sys.executable, "-m", "oservices_plugins.supervisord_gate", *args],
        env=clean | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, said in result.stdout, result.stderr) == (2, True, "")


def _logs(demo: Demo) -> dict[str, str]:
    return {name: _tail(demo.home / "log" / f"{name}.log") for name in (*PROGRAMS, INIT)}


def _tail(path: Path) -> str:
    return path.read_text()[-2000:] if path.exists() else "(no log)"


# Hosts --------------------------------------------------------------------------------

HOSTS = """
[hosts.web1]
components = ["exp-db"]

[hosts.web2]
components = ["exp-api", "exp-worker"]
settings = { environment = "prod", home = "/srv/shop" }
"""


def test_build_for_a_host_writes_its_components_with_its_settings(demo: Demo) -> None:
    demo.system(HOSTS)
    result = demo.oservices("build", "--host", "web2", env={"OSERVICES_SUPERVISORD__ENABLED": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    found = programs(demo)
    assert sorted(found) == ["exp-api", "exp-worker", INIT]
    environment = found["exp-api"]["environment"]
    for variable in (
        'OSERVICES_HOST="web2"',
        'OSERVICES_ENVIRONMENT="prod"',
        'OSERVICES_HOME="/srv/shop"',
        'OSERVICES_LOG_DIR="/srv/shop/log"',  # the directories follow the host's home
    ):
        assert variable in environment
    assert found["exp-api"]["stdout_logfile"] == "/srv/shop/log/exp-api.log"
    assert not Path("/srv/shop").exists()  # another host's directories: not made here

    web1 = demo.oservices("build", "--host", "web1", env={"OSERVICES_SUPERVISORD__ENABLED": "1"})
    assert web1.returncode == 0, web1.stdout + web1.stderr
    assert sorted(programs(demo)) == ["exp-db", INIT]


def test_a_build_for_prod_carries_none_of_the_dev_environment(tmp_path: Path) -> None:
    shop = make_shop(tmp_path, free_port())
    secret = {"OSERVICES_DJANGO__SECRET_KEY": f"key-{uuid.uuid4().hex}"}
    enable = {"OSERVICES_SUPERVISORD__ENABLED": "1"}
    shop.oservices("build", "--environment", "prod", env=enable | secret)
    found = programs_in(shop.home / "config" / "supervisord" / "supervisord.conf")
    for program in found.values():
        assert 'OSERVICES_ENVIRONMENT="prod"' in program["environment"]
        assert '"dev"' not in program["environment"]
    settings_py = (shop.home / "config" / "django" / "settings.py").read_text()
    assert "DEBUG = False" in settings_py  # Django's DEBUG is on in dev only, unless asked
    assert secret["OSERVICES_DJANGO__SECRET_KEY"] not in settings_py


@pytest.mark.parametrize("engine", ["supervisord", "systemd"])
def test_a_relative_home_for_a_host_is_refused(demo: Demo, engine: str) -> None:
    # It would silently become a path under this build's directory.
    demo.system('[hosts.web2]\ncomponents = ["exp-db"]\nsettings = { home = "srv/shop" }\n')
    enable = {f"OSERVICES_{engine.upper()}__ENABLED": "1"}
    result = demo.oservices("build", "--host", "web2", env=enable)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "hosts.web2.settings: home: expected an absolute path" in result.stderr
    assert "found 'srv/shop'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (demo.output / engine).exists()


def test_a_host_the_system_does_not_name_is_refused(demo: Demo) -> None:
    demo.system(HOSTS)
    result = demo.oservices("build", "--host", "web9", env={"OSERVICES_SUPERVISORD__ENABLED": "1"})
    assert result.returncode == 2
    assert "expected the host being built among the system's hosts (web1, web2)" in result.stderr
    assert "found 'web9'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not conf(demo).exists()


# The cross-reference check -------------------------------------------------------------


def test_two_components_of_one_host_on_one_port_are_refused(demo: Demo) -> None:
    port = free_port()
    demo.system('[hosts.web1]\ncomponents = ["exp-db", "exp-api"]\n', ports=(port, port))
    result = demo.oservices("build", "--host", "web1", env={"OSERVICES_SUPERVISORD__ENABLED": "1"})
    assert result.returncode == 2, result.stdout
    assert "exp-api.port: expected a port no other component of host 'web1' uses" in result.stderr
    assert f"found {port}, also used by 'exp-db'" in result.stderr
    assert not conf(demo).exists()


def test_a_dependency_outside_the_system_is_refused(demo: Demo) -> None:
    # Without a system file the system is every installed component: exp-db is not one.
    plugins = demo.env["OSERVICES_PLUGINS"].replace("exp-db,", "").replace(",exp-shop", "")
    env = {"OSERVICES_PLUGINS": plugins, "OSERVICES_SUPERVISORD__ENABLED": "1"}
    result = demo.oservices("build", env=env)
    assert result.returncode == 2, result.stdout
    assert "exp-api.depends_on: expected a component of the system, found 'exp-db'" in (
        result.stderr
    )
    assert not conf(demo).exists()


def test_the_modules_are_neutral(demo: Demo) -> None:
    names = ("supervisord", "supervisord_gate", "systemd", "compose", "kubernetes")
    modules = [f"oservices_plugins.{name}" for name in names]
    result = demo.oservices("check", "neutral", *modules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "5 neutral, 0 not neutral"
