"""Built-in ``kubernetes`` plugin: the build writes Kubernetes manifests for the whole system.

Enabled by the package configuration ``kubernetes`` (``enabled = true`` and the
``image`` that has the system installed), it writes in the output directory's
``kubernetes/``:

- ``configmap.yaml``: a ConfigMap holding one ``NAME.toml`` per configuration, as
  this build resolves it for the containers (every layer folded in, secret fields
  left out), mounted as each container's configuration directory;
- ``secret.yaml`` (mode 0600): a Secret holding the secret values that are not
  defaults, as the ``OSERVICES_NAME__FIELD`` variables that set them; each
  container gets only those of the configurations it reads;
- ``deployment-NAME.yaml``: a Deployment per component;
- ``service-NAME.yaml``: a Service per service whose API component has a port.

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
    configuration_file,
    configuration_names,
    container_command,
    container_environment,
    enabled,
    listen_port,
    moved_settings,
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


class KubernetesConfiguration(Configuration):
    """Export to Kubernetes: a Deployment per component, a Service per service API."""

    enabled: bool = Field(False, description="Write kubernetes/*.yaml at build.")
    image: str = Field("", description="The container image that has the system installed.")
    home: str = Field("/srv/oservices", description="The oservices home inside the containers.")
    namespace: str = Field("", description="The namespace of every object; empty: kubectl's.")
    replicas: int = Field(1, ge=0, description="Replicas of each Deployment.")
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="The port of the Administrator's /metrics in each pod (its admin_http), "
        "published and annotated for Prometheus (prometheus.io/*); 0: none.",
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
    settings = moved_settings(context.settings, configuration.home)
    system = context.system
    names = _names(system.components)
    prefix = resource_name(system.name)
    files = {f"{n}.toml": configuration_file(context, n, settings) for n in context.resolved}
    secrets = {n: secret_variables(context, n, settings) for n in context.resolved}
    found: dict[str, dict[str, Any]] = {
        "configmap.yaml": _object(configuration, "ConfigMap", f"{prefix}-config", data=files),
    }
    if any(secrets.values()):
        values = {k: v for variables in secrets.values() for k, v in variables.items()}
        secret = _object(configuration, "Secret", f"{prefix}-secrets", type="Opaque")
        found["secret.yaml"] = secret | {"stringData": dict(sorted(values.items()))}
    for component in system.components.values():
        wanted = [v for n in configuration_names(system, component) for v in secrets.get(n, {})]
        deployment = _deployment(
            context,
            component,
            settings=settings,
            configuration=configuration,
            names=names,
            secrets=wanted,
        )
        found[f"deployment-{names[component.name]}.yaml"] = deployment
    for service in system.services.values():
        manifest = _service(context, service, settings, configuration, names)
        if manifest is not None:
            found[f"service-{manifest['metadata']['name']}.yaml"] = manifest
    return found


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
    return {"apiVersion": "apps/v1" if kind == "Deployment" else "v1", "kind": kind} | {
        "metadata": metadata,
        **fields,
    }


def _labels(system: str, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": resource_name(system)}


def _deployment(
    context: Context,
    component: Component,
    *,
    settings: Settings,
    configuration: KubernetesConfiguration,
    names: dict[str, str],
    secrets: list[str],
) -> dict[str, Any]:
    name = names[component.name]
    labels = _labels(context.system.name, name)
    deployment = _object(configuration, "Deployment", name)
    deployment["metadata"]["labels"] |= labels
    pod: dict[str, Any] = {
        # Kubernetes sends the stop signal, waits this long, then SIGKILLs the container.
        "terminationGracePeriodSeconds": math.ceil(component.stop_timeout),
        "containers": [
            _container(
                context,
                component,
                settings=settings,
                configuration=configuration,
                name=name,
                secrets=secrets,
            )
        ],
        "volumes": [
            {
                "name": "config",
                "configMap": {"name": resource_name(context.system.name) + "-config"},
            }
        ],
    }
    if component.stop_signal.name != "SIGTERM":
        pod["os"] = {"name": "linux"}  # a container stop signal needs the pod's OS
    deployment["spec"] = {
        "replicas": configuration.replicas,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels} | _scraped(configuration), "spec": pod},
    }
    return deployment


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


def _container(
    context: Context,
    component: Component,
    *,
    settings: Settings,
    configuration: KubernetesConfiguration,
    name: str,
    secrets: list[str],
) -> dict[str, Any]:
    secret_name = f"{resource_name(context.system.name)}-secrets"
    variables = sorted(container_environment(settings).items())
    env: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in variables]
    env += [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}
        for key in sorted(secrets)
    ]
    container: dict[str, Any] = {
        "name": name,
        "image": configuration.image,
        "command": container_command(component.name),
        "env": env,
        "volumeMounts": [
            {"name": "config", "mountPath": str(settings.config_dir), "readOnly": True}
        ],
    }
    port = listen_port(component, resolved_at(context, component.name, settings))
    if port is not None:
        container["ports"] = [{"name": "tcp", "containerPort": port}]
    if configuration.metrics_port:
        metrics = {"name": "metrics", "containerPort": configuration.metrics_port}
        container["ports"] = [*container.get("ports", []), metrics]
    if component.ready.kind == "tcp" and port is not None:
        container |= _probes(component, port)
    if component.stop_signal.name != "SIGTERM":
        # Honoured where the ContainerStopSignals feature is on; elsewhere it is SIGTERM.
        container["lifecycle"] = {"stopSignal": component.stop_signal.name}
    return container


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
