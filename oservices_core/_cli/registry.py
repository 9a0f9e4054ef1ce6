"""Commands about what is installed: ``plugins``, ``components``, ``describe``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from oservices_core._plugins.manager import PluginOutcome
from oservices_core._plugins.registry import Registry, load_registry

if TYPE_CHECKING:
    from oservices_core._config.resolve import Resolver
    from oservices_core._plugins.policy import Listen

__all__ = ["components", "describe", "mocks", "neutral", "plugins"]


def plugins(args: argparse.Namespace) -> int:
    """Every plugin with distribution, version, hooks and state."""
    outcomes = load_registry(warn=False).plugin_manager.outcomes
    if args.json:
        print(json.dumps([outcome.as_dict() for outcome in outcomes], indent=2))
        return 0
    rows: list[tuple[str, ...]] = [
        ("PLUGIN", "DISTRIBUTION", "VERSION", "KIND", "STATE", "HOOKS / REASON")
    ]
    rows += [_plugin_row(outcome) for outcome in outcomes]
    _table(rows)
    return 0


def _plugin_row(outcome: PluginOutcome) -> tuple[str, ...]:
    detail = outcome.reason if outcome.state != "loaded" else ", ".join(outcome.hooks) or "-"
    return (
        outcome.name,
        outcome.distribution,
        outcome.version,
        outcome.kind or "-",
        outcome.state,
        detail,
    )


def components(args: argparse.Namespace) -> int:
    """Components with their service, which one is the API, and their plugin."""
    registry = load_registry()
    if args.names or args.services:
        _print_names(registry, services=args.services)
        return 0
    if args.configurations or args.keys:
        _print_configurations(registry, keys=args.keys)
        return 0
    names = dict(registry.plugin_manager.list_name_plugin())
    plugin_of = {id(plugin): name for name, plugin in names.items()}
    found: list[dict[str, Any]] = []
    for name, component in registry.components.items():
        service = registry.service_of(name)
        found.append(
            {
                "name": name,
                "service": service.name if service else None,
                "api": service is not None and service.api == name,
                "configuration": name if component.configuration is not None else None,
                "plugin": plugin_of.get(id(component)),
            }
        )
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    rows: list[tuple[str, ...]] = [("COMPONENT", "SERVICE", "API", "CONFIGURATION", "PLUGIN")]
    rows += [
        (
            c["name"],
            c["service"] or "-",
            "yes" if c["api"] else "",
            c["configuration"] or "-",
            c["plugin"] or "?",
        )
        for c in found
    ]
    _table(rows)
    return 0


def _print_names(registry: Registry, *, services: bool) -> None:
    """One name a line, as shell completion reads them."""
    for name in registry.services if services else registry.components:
        print(name)


def _print_configurations(registry: Registry, *, keys: bool) -> None:
    """Configurations' names, or their keys ``NAME.FIELD``, one a line (shell completion)."""
    for name, entry in registry.configurations.items():
        if not keys:
            print(name)
            continue
        for field in entry.cls.model_fields:
            print(f"{name}.{field}")


def describe(args: argparse.Namespace) -> int:
    """What a service is made of: components, API component and port, configuration files."""
    from oservices_core._config.resolution import resolver as resolver_here

    registry = load_registry()
    service = registry.service(args.service)
    resolver = resolver_here()
    listen = _listen(registry, service.api, resolver)
    configurations = [
        (name, entry, resolver.file_for(name))
        for name in (service.name, *service.components)
        if (entry := registry.configurations.get(name)) is not None
    ]
    if args.json:
        described = {
            "name": service.name,
            "description": service.description or None,
            "api": service.api,
            "port": listen.port if listen is not None else None,
            "url": listen.url() if listen is not None else None,
            "components": [
                {
                    "name": name,
                    "api": name == service.api,
                    "depends_on": list(registry.components[name].depends_on),
                    "description": registry.components[name].description or None,
                }
                for name in service.components
            ],
            "configurations": [
                {
                    "name": name,
                    "class": f"{entry.cls.__module__}.{entry.cls.__qualname__}",
                    "file": str(file),
                }
                for name, entry, file in configurations
            ],
        }
        print(json.dumps(described, indent=2))
        return 0
    address = f" on port {listen.port}, at {listen.url()}" if listen is not None else ""
    print(f"Service {service.name}" + (f": {service.description}" if service.description else ""))
    print(f"  API component: {service.api or '(none)'}{address}")
    print("  Components:")
    for name in service.components:
        component = registry.components[name]
        depends = f" (depends on {', '.join(component.depends_on)})" if component.depends_on else ""
        print(f"    {name}{' [API]' if name == service.api else ''}{depends}")
        if component.description:
            print(f"      {component.description}")
    print("  Configurations:")
    for name, entry, file in configurations:
        print(f"    {name}: {entry.cls.__module__}.{entry.cls.__qualname__} in {file}")
    return 0


def _listen(registry: Registry, api: str | None, resolver: Resolver) -> Listen | None:
    component = registry.components.get(api) if api else None
    if component is None:
        return None
    cls = component.configuration
    return component.listen(resolver.resolve(cls, component.name).value if cls else None)


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def neutral(args: argparse.Namespace) -> int:
    """Exit 0 when importing every module is neutral, 1 naming each one that is not."""
    from oservices_core._plugins.neutral import check_neutral, plugin_modules

    verdicts = check_neutral(args.modules or plugin_modules())
    for verdict in verdicts:
        print(f"{verdict.module}: {'neutral' if verdict.neutral else 'NOT NEUTRAL'}")
        for finding in verdict.findings:
            print(f"  - {finding}")
        if verdict.error:
            print(f"  - import failed: {verdict.error}")
    bad = sum(not verdict.neutral for verdict in verdicts)
    print(f"{len(verdicts) - bad} neutral, {bad} not neutral")
    return 1 if bad else 0


def mocks(args: argparse.Namespace) -> int:
    """Exit 0 when every Mock offers its Client's interface, 1 naming each difference."""
    from oservices_core._errors import ConfigurationError
    from oservices_core._plugins.mocks import check_mocks
    from oservices_core._plugins.registry import unknown_name

    registry = load_registry()
    for name in args.names:
        if name not in registry.components:
            raise ConfigurationError(
                unknown_name("component", name, registry.components, "command line")
            )
    chosen = [registry.components[n] for n in args.names or registry.components]
    differences: list[str] = []
    checked = 0
    for component in chosen:
        if component.client is None:
            continue  # nothing to drift from
        checked += 1
        if component.mock is None:
            differences.append(
                f"{component.name}: a Client ({component.client.__name__}) but no Mock"
            )
        else:
            differences += check_mocks(component)
    for line in differences:
        print(line)
    noun = "component" if checked == 1 else "components"
    print(f"{checked} {noun} with a Client checked, {len(differences)} differences")
    return 1 if differences else 0
