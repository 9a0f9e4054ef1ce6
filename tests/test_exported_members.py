"""The public API is exactly ``__all__``, and importing it is neutral."""

from __future__ import annotations

import subprocess
import sys

import pytest

import oservices_core
import oservices_plugins

# The contract: adding or removing a public name is a decision made here too.
PUBLIC = {
    "Component",
    "Configuration",
    "ConfigurationError",
    "Context",
    "FromSettings",
    "OservicesError",
    "PluginLoadError",
    "PluginManager",
    "PluginOutcome",
    "Problem",
    "Provenance",
    "Registry",
    "Resolved",
    "Resolver",
    "Service",
    "Settings",
    "Source",
    "System",
    "__version__",
    "active_settings",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "load_settings",
    "start_thread",
    "STAGES",
    "Artifact",
    "Stage",
    "StageError",
    "StageReport",
    "Stash",
    "StashKey",
    "run_workflow",
    "Administrator",
    "ComponentStatus",
    "Readiness",
    "Restart",
    "notify_ready",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(oservices_core.__all__) == PUBLIC
    assert sorted(dir(oservices_core)) == sorted(PUBLIC)
    for name in oservices_core.__all__:
        assert getattr(oservices_core, name) is not None


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NotAThing"):
        getattr(oservices_core, "NotAThing")  # noqa: B009 - a name mypy must not see


def test_plugins_package_exports_nothing_yet() -> None:
    assert oservices_plugins.__all__ == []


def test_import_is_neutral() -> None:
    code = (
        "import sys, threading, oservices_core, oservices_plugins;"
        "heavy = [m for m in ('pydantic', 'pydantic_settings', 'django', 'tomli_w')"
        " if m in sys.modules];"
        "print(heavy, threading.active_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] 1"


def test_every_public_class_is_reachable_from_its_home() -> None:
    for name in oservices_core.__all__:
        value = getattr(oservices_core, name)
        if isinstance(value, type):
            assert value.__module__.startswith(("oservices_core._", "oservices_core.hookspecs"))
        assert name in PUBLIC
