"""The built-in ``compose`` plugin: a file the compose specification accepts; the YAML writer."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from _export_demo import SECRET, Demo, make_demo
from _export_store import with_store
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field

from oservices_core import Configuration
from oservices_plugins._export import Reach, container_values, to_yaml

CHECK_JSONSCHEMA = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
IMAGE = {"OSERVICES_COMPOSE__IMAGE": "registry.example/shop:1.0"}


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return make_demo(tmp_path)


def compose_file(demo: Demo) -> Path:
    return demo.output / "compose" / "compose.yaml"


def loaded(demo: Demo) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(compose_file(demo).read_text())
    return data


@pytest.mark.skipif(CHECK_JSONSCHEMA is None, reason="check-jsonschema is not installed here")
def test_the_compose_specification_accepts_the_file(demo: Demo) -> None:
    demo.system()
    demo.build("compose", env=IMAGE | {"OSERVICES_EXP_WORKER__TOKEN": SECRET})
    assert CHECK_JSONSCHEMA is not None
    command = [CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec"]
    accepted = subprocess.run(
        [*command, str(compose_file(demo))], capture_output=True, text=True, check=False
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    # The same check refuses a service with a misspelt key: it is not a formality.
    broken = demo.home / "broken.yaml"
    broken.write_text(compose_file(demo).read_text().replace("stop_signal:", "stop_signall:"))
    refused = subprocess.run([*command, str(broken)], capture_output=True, text=True, check=False)
    assert refused.returncode == 1, refused.stdout


def test_services_map_the_components(demo: Demo) -> None:
    demo.system()
    demo.build("compose", env=IMAGE | {"OSERVICES_EXP_WORKER__TOKEN": SECRET})
    data = loaded(demo)
    services = data["services"]
    api, db, worker = services["exp-api"], services["exp-db"], services["exp-worker"]
    assert data["name"] == "shop"
    assert {s["init"] for s in services.values()} == {True}  # no component is PID 1
    assert api["command"] == ["oservices", "run", "exp-api"]
    done = {"condition": "service_completed_successfully"}
    assert api["depends_on"] == {"oservices-init": done, "exp-db": {"condition": "service_healthy"}}
    assert worker["depends_on"] == {"oservices-init": done}
    assert (db["restart"], api["restart"], worker["restart"]) == ("always", "on-failure", "no")
    assert (worker["stop_signal"], worker["stop_grace_period"]) == ("SIGINT", "2.5s")
    assert db["healthcheck"]["start_period"] == "60s"
    assert "healthcheck" not in api  # notify readiness has nothing to check in a container
    port = db["healthcheck"]["test"][-1].split(", ")[1].split(")")[0]
    assert f"port = {port}" in config(demo, "exp-db")
    assert api["ports"] == [f"{p}:{p}" for p in [api_port(demo)]]
    assert api["environment"]["OSERVICES_HOME"] == "/srv/oservices"
    assert "OSERVICES_HOST" not in api["environment"]  # the build machine's name stays out
    mount = {
        "type": "bind",
        "source": "./configs/exp-api.toml",
        "target": "/srv/oservices/config/exp-api.toml",
        "read_only": True,
    }
    assert mount in api["volumes"]


def test_the_init_service_runs_the_initialize_stage_once(demo: Demo) -> None:
    demo.system()
    demo.build("compose", env=IMAGE)
    init = loaded(demo)["services"]["oservices-init"]
    assert init["command"] == ["oservices", "init"]
    assert init["restart"] == "no"
    assert init["init"] is True
    # It reads every configuration a component reads.
    targets = {Path(m["target"]).name for m in init["volumes"]}
    assert targets == {"exp-api.toml", "exp-db.toml", "exp-worker.toml", "logging.toml"}


def test_each_container_mounts_only_what_it_reads(demo: Demo) -> None:
    demo.system()
    demo.build("compose", env=IMAGE)
    services = loaded(demo)["services"]
    worker = {Path(m["target"]).name for m in services["exp-worker"]["volumes"]}
    assert worker == {"exp-worker.toml", "logging.toml"}
    # The exporters' own configurations are read at build only: no container gets them.
    written = {p.name for p in (demo.output / "compose" / "configs").iterdir()}
    assert written == {"exp-api.toml", "exp-db.toml", "exp-worker.toml", "logging.toml"}
    for name in written:
        assert "#:schema" not in (demo.output / "compose" / "configs" / name).read_text()


def test_the_build_machines_dev_environment_stays_out(demo: Demo) -> None:
    demo.system()
    demo.build("compose", env=IMAGE | {"OSERVICES_ENVIRONMENT": "dev"})
    services = loaded(demo)["services"].values()
    assert {s["environment"]["OSERVICES_ENVIRONMENT"] for s in services} == {"prod"}
    demo.build("compose", env=IMAGE | {"OSERVICES_COMPOSE__ENVIRONMENT": "staging"})
    services = loaded(demo)["services"].values()
    assert {s["environment"]["OSERVICES_ENVIRONMENT"] for s in services} == {"staging"}


class Served(Configuration):
    host: str = "127.0.0.1"
    port: int = 8000
    api_url: str = "http://127.0.0.1:8000/api"
    other_url: str = "http://127.0.0.1:9999"
    remote_url: str = "http://example.org:8000"
    allowed_hosts: list[str] = Field(default_factory=lambda: ["shop.example"])


def test_in_containers_servers_bind_all_and_clients_name_the_service() -> None:
    reach = Reach({8000: "shop-api"}, ["shop-api", "localhost"])
    assert container_values(Served(), reach, component=True) == {
        "host": "0.0.0.0",  # noqa: S104 - what is asserted
        "api_url": "http://shop-api:8000/api",
        "allowed_hosts": ["shop.example", "shop-api", "localhost"],
    }
    # A configuration that is not a component's binds nothing: its host stays.
    assert "host" not in container_values(Served(), reach, component=False)


def config(demo: Demo, name: str) -> str:
    return (demo.output / "compose" / "configs" / f"{name}.toml").read_text()


def api_port(demo: Demo) -> int:
    return int(config(demo, "exp-api").split("port = ")[1].split()[0])


def test_secrets_stay_out_and_dollars_stay_literal(demo: Demo) -> None:
    demo.system()
    demo.build("compose", env=IMAGE | {"OSERVICES_EXP_WORKER__TOKEN": SECRET})
    text = compose_file(demo).read_text()
    assert SECRET not in text
    assert not any(SECRET in p.read_text() for p in (demo.output / "compose").rglob("*.toml"))
    worker = loaded(demo)["services"]["exp-worker"]
    variable = "OSERVICES_EXP_WORKER__TOKEN"
    assert worker["environment"][variable] == f"${{{variable}:?set {variable} for compose}}"
    # A mounted file is not interpolated: the configuration keeps its "$HOME" as it is.
    assert 'label = "100% $HOME"' in config(demo, "exp-worker")


def test_without_an_image_the_build_says_which_setting_to_fill(demo: Demo) -> None:
    demo.system()
    result = demo.oservices("build", env={"OSERVICES_COMPOSE__ENABLED": "1"})
    assert result.returncode == 2
    assert "configuration 'compose': image: expected the container image" in result.stderr
    assert "set OSERVICES_COMPOSE__IMAGE" in result.stderr
    assert not compose_file(demo).exists()


# The YAML writer ----------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.text()
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), documents, max_size=5))
def test_yaml_reads_back_as_the_data(data: dict[str, Any]) -> None:
    assert yaml.safe_load(to_yaml(data)) == (data or {})


@pytest.mark.parametrize("text", ["no", "1.0", "null", "a: b", "- x", "#c", "x\ny\n", " x\ny"])
def test_yaml_keeps_strings_strings(text: str) -> None:
    assert yaml.safe_load(to_yaml({text: text, "list": [text]})) == {text: text, "list": [text]}


# Shared state ---------------------------------------------------------------------------


def test_containers_refuse_sqlite_naming_the_setting(demo: Demo) -> None:
    with_store(demo)
    result = demo.oservices("build", env=IMAGE | {"OSERVICES_COMPOSE__ENABLED": "1"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "configuration 'exp-store': database_url: expected a database that every" in (
        result.stderr
    )
    assert "set OSERVICES_EXP_STORE__DATABASE_URL to a PostgreSQL URL" in result.stderr
    assert "store.sqlite3" not in result.stderr  # a secret: never shown
    assert not compose_file(demo).exists()


def test_a_postgres_url_on_the_postgres_host_adds_the_database_service(demo: Demo) -> None:
    with_store(demo)
    url = "postgresql://shop:pw-s3cret@postgres:5432/orders"
    env = {
        "OSERVICES_EXP_STORE__DATABASE_URL": url,
        "OSERVICES_COMPOSE__POSTGRES_IMAGE": "db.example/pg:15",
    }
    demo.build("compose", env=IMAGE | env)
    assert "pw-s3cret" not in compose_file(demo).read_text()
    data = loaded(demo)
    postgres, init = data["services"]["postgres"], data["services"]["oservices-init"]
    assert postgres["image"] == "db.example/pg:15"
    assert postgres["environment"]["POSTGRES_USER"] == "shop"
    assert postgres["environment"]["POSTGRES_DB"] == "orders"
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert data["volumes"] == {"postgres-data": {}}
    # Every component waits for the database to be healthy, and for the init service;
    # the init service waits for the database itself, then runs oservices init.
    for name in ("exp-api", "exp-db", "exp-worker", "exp-store"):
        assert data["services"][name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert init["command"][-5:] == ["postgres", "5432", "300", "oservices", "init"]
    assert "depends_on" not in init
    store = data["services"]["exp-store"]["environment"]
    assert store["OSERVICES_EXP_STORE__DATABASE_URL"].startswith(
        "${OSERVICES_EXP_STORE__DATABASE_URL:?"
    )


@pytest.mark.parametrize(
    ("variable", "value", "key", "expected"),
    [
        ("OSERVICES_COMPOSE__HOME", "srv/app", "home", "an absolute path inside the containers"),
        ("OSERVICES_COMPOSE__PROJECT", "Shop", "project", "a compose project name"),
        ("OSERVICES_COMPOSE__PROJECT", "büro", "project", "a compose project name"),
        ("OSERVICES_COMPOSE__PROJECT", "a\nb", "project", "a compose project name"),
    ],
)
def test_bad_names_and_homes_are_refused_where_they_were_set(
    demo: Demo, variable: str, value: str, key: str, expected: str
) -> None:
    demo.system()
    env = IMAGE | {"OSERVICES_COMPOSE__ENABLED": "1", variable: value}
    result = demo.oservices("build", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"configuration 'compose': {key}: expected {expected}" in result.stderr
    assert f"set {variable}" in result.stderr
    assert not compose_file(demo).exists()


def test_servers_bind_all_and_clients_reach_services_by_name(demo: Demo) -> None:
    with_store(demo)
    port = api_port_of(demo)
    env = {
        "OSERVICES_EXP_STORE__DATABASE_URL": "postgresql://u:p@db.example:5432/d",
        "OSERVICES_EXP_STORE__API_URL": f"http://127.0.0.1:{port}/v1",
    }
    demo.build("compose", env=IMAGE | env)
    store = tomllib.loads(config(demo, "exp-store"))
    assert store["host"] == "0.0.0.0"  # noqa: S104 - what is asserted
    assert store["api_url"] == f"http://exp-api:{port}/v1"
    assert {"exp-api", "exp-db", "localhost", "127.0.0.1"} <= set(store["allowed_hosts"])
    # A database elsewhere than the postgres service adds none.
    assert "postgres" not in loaded(demo)["services"]


def api_port_of(demo: Demo) -> int:
    text = (demo.home / "system.toml").read_text()
    return int(text.split("[configurations.exp-api]\nport = ")[1].split()[0])


def test_a_component_named_like_the_exports_own_service_is_refused(demo: Demo) -> None:
    (demo.src / "exp_clash.py").write_text(
        "from oservices_core import Component\n\n\ndef main(configuration):\n    pass\n\n\n"
        'clash = Component(name="oservices-init", main=main)\n'
    )
    info = demo.src / "exp_clash-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: exp-clash\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[oservices]\noservices-init = exp_clash:clash\n")
    demo.env["OSERVICES_PLUGINS"] += ",oservices-init"
    demo.system()
    path = demo.home / "system.toml"
    text = path.read_text().replace('["exp-worker"]', '["exp-worker", "oservices-init"]')
    path.write_text(text)
    result = demo.oservices("build", env=IMAGE | {"OSERVICES_COMPOSE__ENABLED": "1"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "component 'oservices-init': name: expected a name other than" in result.stderr
    assert not compose_file(demo).exists()
