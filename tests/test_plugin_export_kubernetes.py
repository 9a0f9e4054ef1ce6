"""The built-in ``kubernetes`` plugin: manifests ``kubernetes-validate --strict`` accepts."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from _export_demo import SECRET, Demo, make_demo
from _export_store import with_store

from oservices_plugins.kubernetes import resource_name

VALIDATE = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent))
ENV = {
    "OSERVICES_KUBERNETES__IMAGE": "registry.example/shop:1.0",
    "OSERVICES_EXP_WORKER__TOKEN": SECRET,
}


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    demo = make_demo(tmp_path)
    demo.system()
    demo.build("kubernetes", env=ENV)
    return demo


def manifests(demo: Demo) -> dict[str, dict[str, Any]]:
    folder = demo.output / "kubernetes"
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(folder.iterdir())}


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    assert VALIDATE is not None
    command = [VALIDATE, "--strict", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)


@pytest.mark.skipif(VALIDATE is None, reason="kubernetes-validate is not installed here")
def test_kubernetes_validate_accepts_the_manifests(demo: Demo) -> None:
    paths = sorted((demo.output / "kubernetes").iterdir())
    assert [path.name for path in paths] == [
        "configmap.yaml",
        "deployment-exp-api.yaml",
        "deployment-exp-db.yaml",
        "deployment-exp-worker.yaml",
        "job-init.yaml",
        "role.yaml",
        "rolebinding.yaml",
        "secret.yaml",
        "service-exp-shop.yaml",
        "serviceaccount.yaml",
    ]
    result = validate(*paths)
    assert result.returncode == 0, result.stdout + result.stderr
    # --strict refuses a field Kubernetes does not know: the check is not a formality.
    broken = demo.home / "broken.yaml"
    broken.write_text(paths[1].read_text().replace("terminationGracePeriodSeconds", "graceSeconds"))
    assert validate(broken).returncode != 0


def test_secrets_go_in_the_secret_only(demo: Demo) -> None:
    found = manifests(demo)
    secret = demo.output / "kubernetes" / "secret.yaml"
    assert found["secret.yaml"]["stringData"] == {"OSERVICES_EXP_WORKER__TOKEN": SECRET}
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    for name in found:
        if name != "secret.yaml":
            assert SECRET not in (demo.output / "kubernetes" / name).read_text()
    toml = found["configmap.yaml"]["data"]["exp-worker.toml"]
    assert "set OSERVICES_EXP_WORKER__TOKEN" in toml  # left out, and said where it comes from
    containers = {
        name: manifest["spec"]["template"]["spec"]["containers"][0]
        for name, manifest in found.items()
        if manifest["kind"] == "Deployment"
    }
    references = {
        name: [e["name"] for e in container["env"] if "valueFrom" in e]
        for name, container in containers.items()
    }
    assert references == {
        "deployment-exp-api.yaml": [],
        "deployment-exp-db.yaml": [],
        "deployment-exp-worker.yaml": ["OSERVICES_EXP_WORKER__TOKEN"],
    }


def test_deployments_and_services_map_the_components(demo: Demo) -> None:
    found = manifests(demo)
    db = found["deployment-exp-db.yaml"]["spec"]["template"]["spec"]
    worker = found["deployment-exp-worker.yaml"]["spec"]["template"]["spec"]
    port = db["containers"][0]["ports"][0]["containerPort"]
    probe = {"tcpSocket": {"port": port}}
    assert db["containers"][0]["readinessProbe"]["tcpSocket"] == probe["tcpSocket"]
    assert db["containers"][0]["livenessProbe"]["tcpSocket"] == probe["tcpSocket"]
    assert db["containers"][0]["startupProbe"]["failureThreshold"] == 30  # 60 s, every 2 s
    assert (db["terminationGracePeriodSeconds"], worker["terminationGracePeriodSeconds"]) == (4, 3)
    assert worker["containers"][0]["lifecycle"] == {"stopSignal": "SIGINT"}
    assert "readinessProbe" not in worker["containers"][0]  # a log line cannot be probed
    assert worker["containers"][0]["command"] == ["oservices", "run", "exp-worker"]
    mount = worker["containers"][0]["volumeMounts"][0]
    assert (mount["mountPath"], worker["volumes"][0]["configMap"]["name"]) == (
        "/srv/oservices/config",
        "shop-config",
    )
    # Each container gets only the configurations it reads; no exporter's.
    items = [item["key"] for item in worker["volumes"][0]["configMap"]["items"]]
    assert items == ["exp-worker.toml", "logging.toml"]
    assert sorted(found["configmap.yaml"]["data"]) == [
        "exp-api.toml",
        "exp-db.toml",
        "exp-worker.toml",
        "logging.toml",
    ]
    assert not any("#:schema" in text for text in found["configmap.yaml"]["data"].values())
    service = found["service-exp-shop.yaml"]
    api = found["deployment-exp-api.yaml"]
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    api_port = api["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert service["spec"]["ports"][0]["port"] == api_port


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shop-api", "shop-api"),
        ("shop_api.v2", "shop-api-v2"),
        ("2fa", "c-2fa"),
        ("x" * 70, "x" * 63),
    ],
)
def test_resource_names_are_dns_labels(name: str, expected: str) -> None:
    assert resource_name(name) == expected


def test_the_init_job_runs_once_and_the_pods_wait_for_it(demo: Demo) -> None:
    found = manifests(demo)
    job = found["job-init.yaml"]
    assert (job["apiVersion"], job["metadata"]["name"]) == ("batch/v1", "shop-init")
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"] == ["oservices", "init"]
    assert pod["restartPolicy"] == "OnFailure"
    for name in ("deployment-exp-api.yaml", "deployment-exp-db.yaml", "deployment-exp-worker.yaml"):
        spec = found[name]["spec"]["template"]["spec"]
        (wait,) = spec["initContainers"]
        assert wait["command"][:3] == ["kubectl", "wait", "--for=condition=complete"]
        assert wait["command"][-1] == "job/shop-init"
        assert spec["serviceAccountName"] == "shop-init-wait"
    assert found["role.yaml"]["rules"][0]["resources"] == ["jobs"]
    subject = found["rolebinding.yaml"]["subjects"][0]
    assert (subject["name"], subject["namespace"]) == ("shop-init-wait", "default")


def test_no_component_is_pid_1_and_dev_stays_behind(demo: Demo) -> None:
    found = manifests(demo)
    pods = [
        m["spec"]["template"]["spec"] for m in found.values() if m["kind"] in ("Deployment", "Job")
    ]
    assert len(pods) == 4
    # The pause container is PID 1 of a pod that shares one process namespace.
    assert {pod["shareProcessNamespace"] for pod in pods} == {True}
    for pod in pods:
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["OSERVICES_ENVIRONMENT"] == "prod"  # the build ran in "dev"


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("OSERVICES_KUBERNETES__NAMESPACE", "Prod_1", "namespace"),
        ("OSERVICES_KUBERNETES__NAMESPACE", "prod\nx", "namespace"),
        ("OSERVICES_KUBERNETES__NAMESPACE", "пrod", "namespace"),
        ("OSERVICES_KUBERNETES__DATABASE_SECRET", "db.secret$", "database_secret"),
    ],
)
def test_names_are_checked_against_kubernetes_rules(
    tmp_path: Path, variable: str, value: str, key: str
) -> None:
    demo = make_demo(tmp_path)
    demo.system()
    result = demo.oservices(
        "build", env=ENV | {"OSERVICES_KUBERNETES__ENABLED": "1", variable: value}
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"configuration 'kubernetes': {key}: expected an RFC 1123 label" in result.stderr
    assert not (demo.output / "kubernetes").exists()


def test_database_urls_come_from_the_users_secret(tmp_path: Path) -> None:
    demo = with_store(make_demo(tmp_path))
    demo.build("kubernetes", env=ENV | {"OSERVICES_KUBERNETES__DATABASE_SECRET": "shop-db"})
    found = manifests(demo)
    variable = "OSERVICES_EXP_STORE__DATABASE_URL"
    assert variable not in found["secret.yaml"]["stringData"]  # not the build's SQLite file
    for name in ("deployment-exp-store.yaml", "job-init.yaml"):
        env = found[name]["spec"]["template"]["spec"]["containers"][0]["env"]
        (entry,) = [e for e in env if e["name"] == variable]
        assert entry["valueFrom"] == {"secretKeyRef": {"name": "shop-db", "key": variable}}
    worker = found["deployment-exp-worker.yaml"]["spec"]["template"]["spec"]["containers"][0]
    assert variable not in [e["name"] for e in worker["env"]]  # it does not read it
    assert validate(*(demo.output / "kubernetes").iterdir()).returncode == 0


def test_servers_bind_all_and_clients_reach_the_service(tmp_path: Path) -> None:
    demo = with_store(make_demo(tmp_path))
    text = (demo.home / "system.toml").read_text()
    port = int(text.split("[configurations.exp-api]\nport = ")[1].split()[0])
    env = ENV | {
        "OSERVICES_EXP_STORE__API_URL": f"http://localhost:{port}",
        "OSERVICES_KUBERNETES__NAMESPACE": "shop",
    }
    demo.build("kubernetes", env=env)
    store = tomllib.loads(manifests(demo)["configmap.yaml"]["data"]["exp-store.toml"])
    assert store["host"] == "0.0.0.0"  # noqa: S104 - what is asserted
    assert store["api_url"] == f"http://exp-shop:{port}"  # the service's Service
    assert store["allowed_hosts"] == [
        "exp-shop",
        "exp-shop.shop.svc",
        "exp-shop.shop.svc.cluster.local",
    ]


def test_a_system_name_too_long_for_its_objects_is_refused(tmp_path: Path) -> None:
    demo = make_demo(tmp_path)
    path = demo.system()
    path.write_text(path.read_text().replace('name = "shop"', f'name = "{"s" * 60}"'))
    result = demo.oservices("build", env=ENV | {"OSERVICES_KUBERNETES__ENABLED": "1"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "kubernetes export: system name: expected an RFC 1123 label" in result.stderr
