"""Hostile values in every setting that reaches the compose file and the Kubernetes manifests.

Newlines, quotes, ``%``, ``$``, ``;``, YAML and INI syntax, non-ASCII: each goes into
the images, the interpreter, the containers' environment and home, and a configuration
value. The files are read back as the engines read them: PyYAML (and compose's own
``$$`` unescaping), the compose specification's JSON schema (vendored by
check-jsonschema), ``kubernetes-validate --strict``; the intended values come back
exactly, and no key appears that was not meant.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from _export_demo import Demo, make_demo
from _export_store import with_store
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

VALIDATE = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent))

HOSTILE = [
    "a\nb: c",
    "x\n[program:evil]\ncommand=/bin/sh",
    "$HOME ${X:?boom} $$ %(here)s %%",
    "'\"; rm -rf / #",
    "- item\n  key: value",
    "ünïcødé 名前 🙂",
    "\\u0041\\n",
]

# Characters an environment variable can carry (no NUL, no lone surrogate), any others.
values = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=40)


def compose_schema() -> dict[str, Any]:
    schema = resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    loaded: dict[str, Any] = json.loads(schema.read_text(encoding="utf-8"))
    return loaded


def unescaped(value: Any) -> Any:
    """What compose makes of a string: ``$$`` is a literal ``$``."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, dict):
        return {key: unescaped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unescaped(item) for item in value]
    return value


def hostile_env(value: str, export: str) -> dict[str, str]:
    prefix = f"OSERVICES_{export.upper()}__"
    return {
        prefix + "ENABLED": "1",
        prefix + "IMAGE": value,
        prefix + "ENVIRONMENT": value,
        prefix + "HOME": "/srv/" + value,
        "OSERVICES_EXP_WORKER__LABEL": value,
    }


def built(tmp: Path, value: str, export: str, extra: dict[str, str]) -> Demo:
    demo = with_store(make_demo(tmp))
    result = demo.oservices("build", env=hostile_env(value, export) | extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return demo


@given(value=values)
@example(value=HOSTILE[0])
@example(value=HOSTILE[1])
@example(value=HOSTILE[2])
@example(value=HOSTILE[3])
@example(value=HOSTILE[4])
@example(value=HOSTILE[5])
@example(value=HOSTILE[6])
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_compose_reads_back_exactly_what_was_meant(tmp_path_factory: Any, value: str) -> None:
    tmp = tmp_path_factory.mktemp("compose")
    extra = {
        "OSERVICES_COMPOSE__PYTHON": value,
        "OSERVICES_COMPOSE__POSTGRES_IMAGE": value,
        "OSERVICES_EXP_STORE__DATABASE_URL": "postgresql://shop:pw@postgres:5432/shop",
    }
    demo = built(tmp, value, "compose", extra)
    raw = yaml.safe_load((demo.output / "compose" / "compose.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(raw, compose_schema())
    data = unescaped(raw)
    services = data["services"]
    assert set(services) == {"postgres", "oservices-init", "exp-api", "exp-db", "exp-worker"} | {
        "exp-store"
    }
    assert services["postgres"]["image"] == value
    for name, service in services.items():
        if name == "postgres":
            continue
        assert service["image"] == value
        assert service["environment"]["OSERVICES_ENVIRONMENT"] == value
        assert service["environment"]["OSERVICES_HOME"] == f"/srv/{value}"
        assert {Path(m["target"]).parent for m in service["volumes"]} == {
            Path(f"/srv/{value}/config")
        }
    assert services["oservices-init"]["command"][0] == value
    assert services["exp-db"]["healthcheck"]["test"][1] == value
    # Every variable reference left for compose is one the file meant to leave.
    references = set(re.findall(r"(?<!\$)\$\{([A-Z_]+)", json.dumps(raw).replace("$$", "")))
    assert references == {"POSTGRES_PASSWORD", "OSERVICES_EXP_STORE__DATABASE_URL"}
    worker = (demo.output / "compose" / "configs" / "exp-worker.toml").read_text(encoding="utf-8")
    assert tomllib.loads(worker)["label"] == value


@pytest.mark.skipif(VALIDATE is None, reason="kubernetes-validate is not installed here")
def test_kubernetes_reads_back_exactly_what_was_meant(tmp_path: Path) -> None:
    folders = []
    for index, value in enumerate(HOSTILE):
        extra = {"OSERVICES_KUBERNETES__KUBECTL_IMAGE": value}
        demo = built(tmp_path / str(index), value, "kubernetes", extra)
        folder = demo.output / "kubernetes"
        folders.append(folder)
        found = {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in folder.iterdir()}
        for name, manifest in found.items():
            if manifest["kind"] not in ("Deployment", "Job"):
                continue
            pod = manifest["spec"]["template"]["spec"]
            container = pod["containers"][0]
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert container["image"] == value, name
            assert (env["OSERVICES_ENVIRONMENT"], env["OSERVICES_HOME"]) == (value, f"/srv/{value}")
            assert container["volumeMounts"][0]["mountPath"] == f"/srv/{value}/config"
            for wait in pod.get("initContainers", []):
                assert wait["image"] == value
        worker = found["configmap.yaml"]["data"]["exp-worker.toml"]
        assert tomllib.loads(worker)["label"] == value
    paths = [str(path) for folder in folders for path in sorted(folder.iterdir())]
    assert VALIDATE is not None
    result = subprocess.run(
        [VALIDATE, "--strict", *paths], capture_output=True, text=True, check=False, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
