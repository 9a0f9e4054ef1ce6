"""The built-in ``compose`` plugin: a file the compose specification accepts; the YAML writer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from _export_demo import SECRET, Demo, make_demo
from hypothesis import given
from hypothesis import strategies as st

from oservices_plugins._export import to_yaml

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
    assert {s["init"] for s in services.values()} == {True}
    assert api["command"] == ["oservices", "run", "exp-api"]
    assert api["depends_on"] == {"exp-db": {"condition": "service_healthy"}}
    assert (db["restart"], api["restart"], worker["restart"]) == ("always", "on-failure", "no")
    assert (worker["stop_signal"], worker["stop_grace_period"]) == ("SIGINT", "2.5s")
    assert db["healthcheck"]["start_period"] == "60s"
    assert "healthcheck" not in api  # notify readiness has nothing to check in a container
    port = db["healthcheck"]["test"][-1].split(", ")[1].split(")")[0]
    assert f"port = {port}" in data["configs"]["exp-db.toml"]["content"]
    assert api["ports"] == [f"{p}:{p}" for p in [api_port(data)]]
    assert api["environment"]["OSERVICES_HOME"] == "/srv/oservices"
    assert "OSERVICES_HOST" not in api["environment"]  # the build machine's name stays out
    assert {"source": "exp-api.toml", "target": "/srv/oservices/config/exp-api.toml"} in (
        api["configs"]
    )


def api_port(data: dict[str, Any]) -> int:
    content = data["configs"]["exp-api.toml"]["content"]
    return int(content.split("port = ")[1].split()[0])


def test_secrets_stay_out_and_dollars_stay_literal(demo: Demo) -> None:
    demo.system()
    demo.build("compose", env=IMAGE | {"OSERVICES_EXP_WORKER__TOKEN": SECRET})
    text = compose_file(demo).read_text()
    assert SECRET not in text
    worker = loaded(demo)["services"]["exp-worker"]
    variable = "OSERVICES_EXP_WORKER__TOKEN"
    assert worker["environment"][variable] == f"${{{variable}:?set {variable} for compose}}"
    # compose reads "$$" as a literal "$": the configuration keeps its "$HOME".
    assert 'label = "100% $$HOME"' in loaded(demo)["configs"]["exp-worker.toml"]["content"]


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
