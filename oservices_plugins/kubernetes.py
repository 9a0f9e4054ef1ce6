"""Built-in ``kubernetes`` plugin: the build writes Kubernetes manifests for the whole system.

Enabled by the package configuration ``kubernetes`` (``enabled = true`` and the
``image`` that has the system installed), it writes in the output directory's
``kubernetes/``:

- ``configmap.yaml``: a ConfigMap holding one ``NAME.toml`` per configuration a
  component reads, as this build resolves it for the containers (every layer folded
  in, secret fields left out); each container mounts those it reads in its
  configuration directory;
- ``secret.yaml`` (mode 0600): a Secret holding the secret values that are not
  defaults, as the ``OSERVICES_NAME__FIELD`` variables that set them; each
  container gets only those of the configurations it reads. Database URLs are not
  among them: containers share no files, so every container takes each database URL
  from the Secret the user provides, ``database_secret``, under its variable's name;
- ``job-init.yaml``: a Job that runs ``oservices init`` (migrations...) once; every
  Deployment's pods wait for it to complete in an init container
  (``kubectl wait``), with ``serviceaccount.yaml``, ``role.yaml`` and
  ``rolebinding.yaml`` that let them read Jobs;
- ``deployment-NAME.yaml``: a Deployment per component, bound to every interface,
  its pod sharing one process namespace, so the pause container is PID 1 and the
  component gets its stop signal as any process does;
- ``service-NAME.yaml``: a Service per service whose API component has a port; a
  client's loopback URL on that port names the Service.

``kubectl apply -f kubernetes/`` applies them all. See the exports page for how
each field is chosen.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from pydantic import Field

from oservices_core import Configuration, ConfigurationError, Context, Problem, Settings, hookimpl
from oservices_plugins._export import (
    Reach,
    check_label,
    container_command,
    container_configuration,
    container_configuration_names,
    container_environment,
    container_resolved,
    container_settings,
    database_variables,
    enabled,
    listen_port,
    require,
    resolved_at,
    secret_variables,
    to_yaml,
)

if TYPE_CHECKING:
    from oservices_core import Component, Service

__all__ = [
    "NAME",
    "KubernetesConfiguration",
    "manifests",
    "oservices_build",
    "oservices_configurations",
    "resource_name",
]

NAME = "kubernetes"
_LABEL_MAX = 63
_WAIT_TIMEOUT = "3600s"
_API_VERSIONS = {
    "Deployment": "apps/v1",
    "Job": "batch/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
}


class KubernetesConfiguration(Configuration):
    """Export to Kubernetes: a Deployment per component, a Service per service API."""

    enabled: bool = Field(False, description="Write kubernetes/*.yaml at build.")
    image: str = Field("", description="The container image that has the system installed.")
    home: str = Field("/srv/oservices", description="The oservices home inside the containers.")
    namespace: str = Field(
        "",
        description="The namespace of every object; empty: kubectl's (the init Job's "
        "RoleBinding then names the 'default' namespace).",
    )
    replicas: int = Field(1, ge=0, description="Replicas of each Deployment.")
    environment: str = Field(
        "prod",
        min_length=1,
        description="The settings' environment in the containers (never the build machine's).",
    )
    database_secret: str = Field(
        "",
        description="The Secret you create that holds each database URL, under its variable's "
        "name (OSERVICES_DJANGO__DATABASE_URL...). Default: SYSTEM-database.",
    )
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="The port of the Administrator's /metrics in each pod (its admin_http), "
        "published and annotated for Prometheus (prometheus.io/*); 0: none.",
    )
    kubectl_image: str = Field(
        "registry.k8s.io/kubectl:v1.31.0",
        description="The image of the init containers that wait for the init Job (kubectl wait).",
    )


@hookimpl(trylast=True)
def oservices_configurations() -> dict[str, type[Configuration]]:
    """The package configuration ``kubernetes``."""
    return {NAME: KubernetesConfiguration}


@hookimpl(trylast=True)
def oservices_build(context: Context) -> None:
    """Write the manifests of the whole system, when enabled."""
    configuration = enabled(context, NAME)
    if not isinstance(configuration, KubernetesConfiguration):
        return
    require(NAME, "image", configuration.image, "the container image that has the system installed")
    for path, manifest in manifests(context, configuration).items():
        secret = manifest["kind"] == "Secret"
        context.write_file(f"kubernetes/{path}", to_yaml(manifest), mode=0o600 if secret else 0o644)


def manifests(
    context: Context, configuration: KubernetesConfiguration
) -> dict[str, dict[str, Any]]:
    """Every manifest, by file name."""
    settings = container_settings(
        context.settings, configuration.home, configuration.environment, NAME
    )
    system = context.system
    names = _names(system.components)
    prefix = resource_name(system.name)
    _check(configuration, prefix)
    reach = _reach(context, settings, configuration)
    read = {c.name: container_configuration_names(system, c) for c in system.components.values()}
    everything = list(dict.fromkeys(n for found in read.values() for n in found))
    databases = set(database_variables(context, settings, everything))
    files = {f"{n}.toml": container_configuration(context, n, settings, reach) for n in everything}
    secrets = {
        n: {k: v for k, v in secret_variables(context, n, settings).items() if k not in databases}
        for n in everything
    }
    found: dict[str, dict[str, Any]] = {
        "configmap.yaml": _object(configuration, "ConfigMap", f"{prefix}-config", data=files),
    }
    if any(secrets.values()):
        values = {k: v for variables in secrets.values() for k, v in variables.items()}
        secret = _object(configuration, "Secret", f"{prefix}-secrets", type="Opaque")
        found["secret.yaml"] = secret | {"stringData": dict(sorted(values.items()))}
    pods = _Pods(context, settings, configuration, databases, reach)
    found["job-init.yaml"] = pods.job(everything, [v for n in everything for v in secrets[n]])
    found |= _rbac(configuration, prefix)
    for component in system.components.values():
        wanted = [v for n in read[component.name] for v in secrets[n]]
        found[f"deployment-{names[component.name]}.yaml"] = pods.deployment(
            component, names[component.name], read[component.name], wanted
        )
    for service in system.services.values():
        manifest = _service(context, service, settings, configuration, names)
        if manifest is not None:
            found[f"service-{manifest['metadata']['name']}.yaml"] = manifest
    return found


def _check(configuration: KubernetesConfiguration, prefix: str) -> None:
    # The longest name made from the system's (a Job's name is also a label value).
    hint = "give the system a shorter name (name in the system file)"
    check_label(f"{prefix}-init-wait", "kubernetes export", "system name", hint)
    where = f"configuration {NAME!r}"
    if configuration.namespace:
        hint = "set OSERVICES_KUBERNETES__NAMESPACE to a valid name, or leave it empty"
        check_label(configuration.namespace, where, "namespace", hint)
    secret = configuration.database_secret or f"{prefix}-database"
    hint = "set OSERVICES_KUBERNETES__DATABASE_SECRET to a valid name"
    check_label(secret, where, "database_secret", hint)


def _reach(context: Context, settings: Settings, configuration: KubernetesConfiguration) -> Reach:
    """A service API is reached by its Service's name (and, in a named namespace, the
    Service's DNS names); a client's loopback URL on its port names the Service."""
    ports: dict[int, list[str]] = {}
    for service in context.system.services.values():
        api = context.system.components.get(service.api or "")
        port = listen_port(api, resolved_at(context, api.name, settings)) if api else None
        if port is not None:
            ports.setdefault(port, []).append(resource_name(service.name))
    by_port = {port: found[0] for port, found in ports.items() if len(found) == 1}
    hosts = sorted(by_port.values())
    if configuration.namespace:
        space = configuration.namespace
        hosts += [f"{h}.{space}.svc{tail}" for h in hosts for tail in ("", ".cluster.local")]
    return Reach(by_port, hosts)


def resource_name(name: str) -> str:
    """``name`` as a Kubernetes object name (an RFC 1123 label; ``_`` and ``.`` become ``-``)."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:_LABEL_MAX].rstrip("-")
    # Services need a letter first (RFC 1035): every name gets one, so all agree.
    return cleaned if cleaned[:1].isalpha() else f"c-{cleaned}"[:_LABEL_MAX].rstrip("-")


def _names(components: dict[str, Component]) -> dict[str, str]:
    names = {name: resource_name(name) for name in components}
    seen: dict[str, str] = {}
    problems = []
    for name, cleaned in names.items():
        if cleaned in seen:
            problems.append(
                Problem(
                    "kubernetes export",
                    name,
                    "a component name that is its own Kubernetes name",
                    f"{cleaned!r}, also the name of {seen[cleaned]!r}",
                    hint="Kubernetes names allow only a-z, 0-9 and '-': rename one",
                )
            )
        seen.setdefault(cleaned, name)
    if problems:
        raise ConfigurationError(problems)
    return names


def _object(
    configuration: KubernetesConfiguration, kind: str, name: str, **fields: Any
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "labels": {"app.kubernetes.io/managed-by": "oservices"},
    }
    if configuration.namespace:
        metadata["namespace"] = configuration.namespace
    version = _API_VERSIONS.get(kind, "v1")
    return {"apiVersion": version, "kind": kind} | {
        "metadata": metadata,
        **fields,
    }


def _labels(system: str, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": resource_name(system)}


def _rbac(configuration: KubernetesConfiguration, prefix: str) -> dict[str, dict[str, Any]]:
    """What lets the pods' init containers wait for the init Job: read access to Jobs."""
    account = f"{prefix}-init-wait"
    rules = [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]}]
    role = _object(configuration, "Role", account, rules=rules)
    binding = _object(
        configuration,
        "RoleBinding",
        account,
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
        subjects=[
            {
                "kind": "ServiceAccount",
                "name": account,
                "namespace": configuration.namespace or "default",
            }
        ],
    )
    return {
        "serviceaccount.yaml": _object(configuration, "ServiceAccount", account),
        "role.yaml": role,
        "rolebinding.yaml": binding,
    }


class _Pods:
    """The pods of the system: the init Job's and each component's Deployment's."""

    def __init__(
        self,
        context: Context,
        settings: Settings,
        configuration: KubernetesConfiguration,
        databases: set[str],
        reach: Reach,
    ) -> None:
        self.context = context
        self.settings = settings
        self.configuration = configuration
        self.databases = databases
        self.reach = reach
        self.prefix = resource_name(context.system.name)

    def job(self, names: list[str], secrets: list[str]) -> dict[str, Any]:
        """The Job that runs the initialize stage once, before any component starts."""
        name = f"{self.prefix}-init"
        container = self._container(name, ["oservices", "init"], names, secrets)
        pod = self._pod([container], names) | {"restartPolicy": "OnFailure"}
        job = _object(self.configuration, "Job", name)
        job["spec"] = {"backoffLimit": 6, "template": {"spec": pod}}
        return job

    def deployment(
        self, component: Component, name: str, names: list[str], secrets: list[str]
    ) -> dict[str, Any]:
        """The Deployment of ``component``: its pods wait for the init Job."""
        labels = _labels(self.context.system.name, name)
        deployment = _object(self.configuration, "Deployment", name)
        deployment["metadata"]["labels"] |= labels
        container = self._container(name, container_command(component.name), names, secrets)
        listen = component.listen(
            container_resolved(self.context, component.name, self.settings, self.reach)
        )
        if listen is not None:
            container["ports"] = [{"name": "tcp", "containerPort": listen.port}]
        if self.configuration.metrics_port:
            metrics = {"name": "metrics", "containerPort": self.configuration.metrics_port}
            container["ports"] = [*container.get("ports", []), metrics]
        if component.ready.kind == "tcp" and listen is not None:
            container |= _probes(component, listen.port)
        if component.stop_signal.name != "SIGTERM":
            # Honoured where the ContainerStopSignals feature is on; elsewhere it is SIGTERM.
            container["lifecycle"] = {"stopSignal": component.stop_signal.name}
        pod = self._pod([container], names)
        pod |= {
            "serviceAccountName": f"{self.prefix}-init-wait",
            "initContainers": [self._wait()],
            # Kubernetes sends the stop signal, waits this long, then SIGKILLs the container.
            "terminationGracePeriodSeconds": math.ceil(component.stop_timeout),
        }
        if component.stop_signal.name != "SIGTERM":
            pod["os"] = {"name": "linux"}  # a container stop signal needs the pod's OS
        deployment["spec"] = {
            "replicas": self.configuration.replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels} | _scraped(self.configuration),
                "spec": pod,
            },
        }
        return deployment

    def _pod(self, containers: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
        items = [{"key": f"{n}.toml", "path": f"{n}.toml"} for n in names]
        return {
            # The pause container is PID 1: the component is not, so it gets its stop
            # signal's default action (a PID 1 ignores signals it installs no handler for).
            "shareProcessNamespace": True,
            "containers": containers,
            "volumes": [
                {"name": "config", "configMap": {"name": f"{self.prefix}-config", "items": items}}
            ],
        }

    def _wait(self) -> dict[str, Any]:
        wait = ["kubectl", "wait", "--for=condition=complete", "--timeout", _WAIT_TIMEOUT]
        return {
            "name": "wait-init",
            "image": self.configuration.kubectl_image,
            "command": [*wait, f"job/{self.prefix}-init"],
        }

    def _container(
        self, name: str, command: list[str], names: list[str], secrets: list[str]
    ) -> dict[str, Any]:
        variables = sorted(container_environment(self.settings).items())
        env: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in variables]
        env += [_from_secret(f"{self.prefix}-secrets", key) for key in sorted(secrets)]
        wanted = database_variables(self.context, self.settings, names)
        database = self.configuration.database_secret or f"{self.prefix}-database"
        env += [_from_secret(database, key) for key in wanted]
        return {
            "name": name,
            "image": self.configuration.image,
            "command": command,
            "env": env,
            "volumeMounts": [
                {"name": "config", "mountPath": str(self.settings.config_dir), "readOnly": True}
            ],
        }


def _scraped(configuration: KubernetesConfiguration) -> dict[str, Any]:
    """The annotations by which Prometheus's pod discovery finds the metrics port."""
    port = configuration.metrics_port
    if not port:
        return {}
    return {
        "annotations": {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }
    }


def _from_secret(secret: str, key: str) -> dict[str, Any]:
    return {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _probes(component: Component, port: int) -> dict[str, Any]:
    check = {"tcpSocket": {"port": port}}
    period = 2
    return {
        # Up to start_timeout to open the port, then checked for readiness and liveness.
        "startupProbe": check
        | {"periodSeconds": period, "failureThreshold": math.ceil(component.start_timeout / 2)},
        "readinessProbe": check | {"periodSeconds": period, "failureThreshold": 1},
        "livenessProbe": check | {"periodSeconds": 10, "failureThreshold": 3},
    }


def _service(
    context: Context,
    service: Service,
    settings: Settings,
    configuration: KubernetesConfiguration,
    names: dict[str, str],
) -> dict[str, Any] | None:
    api = context.system.components.get(service.api or "")
    if api is None:
        return None
    port = listen_port(api, resolved_at(context, api.name, settings))
    if port is None:
        return None
    manifest = _object(configuration, "Service", resource_name(service.name))
    manifest["spec"] = {
        "selector": _labels(context.system.name, names[api.name]),
        "ports": [{"name": "api", "port": port, "targetPort": port, "protocol": "TCP"}],
    }
    return manifest
