"""The plugin manager factory, in process: load order, isolation, blocking, validation.

Plugins here are real modules written to a temporary directory and named by
real entry points; ``tests/test_plugins_e2e.py`` installs real distributions.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from oservices_core import (
    Component,
    ConfigurationError,
    PluginLoadError,
    PluginManager,
    Registry,
    Service,
    Settings,
    Stash,
    StashKey,
    get_plugin_manager,
    load_settings,
)

MODULES = {
    "plug_shop": """
        from oservices_core import Component, Configuration, Service

        class ApiConfiguration(Configuration):
            port: int = 8100

        api = Component(name="shop-api", configuration=ApiConfiguration)
        worker = Component(name="shop-worker", depends_on=["shop-api"])
        shop = Service(name="shop", components=["shop-api", "shop-worker"], api="shop-api")
        orphan = Service(name="orphan", components=["nobody"])
        twin = Component(name="shop-api")
        not_a_plugin = 42
    """,
    "plug_hooks": """
        from oservices_core import Configuration, hookimpl

        class CommonConfiguration(Configuration):
            level: str = "info"

        @hookimpl
        def oservices_configurations():
            return {"common": CommonConfiguration}

        @hookimpl
        def oservices_setup(context):
            pass
    """,
    "plug_unknown": """
        from oservices_core import hookimpl

        @hookimpl
        def oservices_not_a_hook():
            pass
    """,
    "plug_badsig": """
        from oservices_core import hookimpl

        @hookimpl
        def oservices_setup(context, extra):
            pass
    """,
    "plug_badconf": """
        from oservices_core import hookimpl

        @hookimpl
        def oservices_configurations():
            return {"shop-api": int}
    """,
    "plug_raises": "raise RuntimeError('boom at import')\n",
}


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, source in MODULES.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in MODULES:
        sys.modules.pop(name, None)


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group="oservices")


GOOD = [
    ep("shop-api", "plug_shop:api"),
    ep("shop-worker", "plug_shop:worker"),
    ep("shop", "plug_shop:shop"),
    ep("hooks", "plug_hooks"),
]


def manager(settings: Settings, entry_points: list[EntryPoint], **kw: bool) -> PluginManager:
    return get_plugin_manager(settings, entry_points=entry_points, **kw)


def states(pm: PluginManager) -> dict[str, str]:
    return {outcome.name: outcome.state for outcome in pm.outcomes}


@pytest.mark.usefixtures("modules")
def test_good_plugins_register(settings: Settings) -> None:
    pm = manager(settings, GOOD)
    assert states(pm) == dict.fromkeys(["hooks", "shop", "shop-api", "shop-worker"], "loaded")
    assert [o.name for o in pm.outcomes] == ["hooks", "shop", "shop-api", "shop-worker"]
    assert list(pm.components()) == ["shop-api", "shop-worker"]
    assert pm.outcome("hooks") is not None
    assert pm.outcome("hooks").hooks == ("oservices_configurations", "oservices_setup")  # type: ignore[union-attr]
    registry = Registry(pm)
    assert sorted(registry.configurations) == ["common", "shop-api"]
    assert registry.configurations["common"].owner == "package (plugin hooks)"
    assert registry.service_of("shop-worker") is registry.services["shop"]


@pytest.mark.usefixtures("modules")
@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        (ep("raises", "plug_raises"), "import failed: RuntimeError: boom at import"),
        (ep("missing", "plug_nowhere"), "import failed: ModuleNotFoundError"),
        (ep("unknown", "plug_unknown"), "unknown hook oservices_not_a_hook"),
        (ep("badsig", "plug_badsig"), "invalid:"),
        (
            ep("twin", "plug_shop:twin"),
            "component name 'shop-api' is already taken by plugin 'shop-api'",
        ),
        (ep("int", "plug_shop:not_a_plugin"), "names a int, not a Component, Service or module"),
        (ep("orphan", "plug_shop:orphan"), "service 'orphan' names unknown components: nobody"),
        (ep("badconf", "plug_badconf"), "oservices_configurations returned not Configuration"),
    ],
)
def test_a_failing_plugin_is_isolated(settings: Settings, entry: EntryPoint, reason: str) -> None:
    pm = manager(settings, [*GOOD, entry])
    outcome = pm.outcome(entry.name)
    assert outcome is not None
    assert outcome.state == "failed"
    assert reason in outcome.reason
    assert states(pm) | {entry.name: "failed"} == states(pm)
    assert all(states(pm)[good.name] == "loaded" for good in GOOD)
    assert pm.get_plugin(entry.name) is None
    with pytest.raises(PluginLoadError, match=entry.name):
        manager(settings, [*GOOD, entry], strict=True)


@pytest.mark.usefixtures("modules")
def test_strict_from_settings(home: Path) -> None:
    settings = load_settings(strict=True)
    with pytest.raises(PluginLoadError) as caught:
        manager(settings, [*GOOD, ep("raises", "plug_raises")])
    assert [f.name for f in caught.value.failures] == ["raises"]
    assert isinstance(caught.value, ImportError)


@pytest.mark.usefixtures("modules")
def test_blocked_by_name_is_not_imported(home: Path) -> None:
    settings = load_settings(disable_plugins="shop-worker, raises")
    pm = manager(settings, [*GOOD, ep("raises", "plug_raises")])
    assert states(pm)["shop-worker"] == "blocked"
    assert states(pm)["raises"] == "blocked"
    assert "plug_raises" not in sys.modules
    # The service needs the blocked component, so it fails instead of half-loading.
    assert states(pm)["shop"] == "failed"


@pytest.mark.usefixtures("modules")
def test_autoload_off_loads_only_listed(home: Path) -> None:
    settings = load_settings(autoload_plugins=False, plugins="shop-api,hooks")
    pm = manager(settings, GOOD)
    assert states(pm) == {
        "hooks": "loaded",
        "shop": "blocked",
        "shop-api": "loaded",
        "shop-worker": "blocked",
    }


@pytest.mark.usefixtures("modules")
def test_registration_does_not_touch_component_properties(settings: Settings) -> None:
    # CONF would resolve a configuration and Client would raise: neither may run.
    pm = manager(settings, GOOD)
    component = pm.components()["shop-worker"]
    assert isinstance(component, Component)
    with pytest.raises(Exception, match="declares no client"):
        component.Client  # noqa: B018 - the property is what is tested


@pytest.mark.usefixtures("modules")
def test_hooks_facade_calls_plugins(settings: Settings) -> None:
    pm = manager(settings, GOOD)
    assert pm.hooks.configurations()[0]["common"].__name__ == "CommonConfiguration"


def test_service_api_must_be_a_component() -> None:
    with pytest.raises(ValueError, match="api"):
        Service(name="s", components=["a"], api="b")


@pytest.mark.parametrize("name", ["", "Shop", "shop api", "-x"])
def test_bad_component_names(name: str) -> None:
    with pytest.raises(ValueError, match="lower-case letters"):
        Component(name=name)


# The extension slot: what a component declares for plugins --------------------------

LEVEL = StashKey[int]()
TAGS = StashKey[tuple[str, ...]]()


def test_extensions_hold_what_each_plugin_declares_under_its_key() -> None:
    component = Component(name="x", extensions={LEVEL: 3, TAGS: ("a", "b")})
    assert isinstance(component.extensions, Stash)
    assert (component.extensions[LEVEL], component.extensions[TAGS]) == (3, ("a", "b"))
    plain = Component(name="y")
    assert plain.extensions.get(TAGS, ()) == ()
    assert (LEVEL in plain.extensions, len(plain.extensions)) == (False, 0)
    with pytest.raises(KeyError):
        plain.extensions[LEVEL]


@pytest.mark.parametrize(
    ("extensions", "found"),
    [
        ({"files": {"a.txt": "a"}}, "the key 'files'"),
        ({LEVEL: 1, 2: "two"}, "the key 2"),
        ([(LEVEL, 1)], "a list"),
    ],
)
def test_extensions_are_keyed_by_stash_keys(extensions: object, found: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Component(name="x", extensions=extensions)  # type: ignore[arg-type]  # wrong on purpose
    (problem,) = caught.value.problems
    assert (problem.where, problem.key, problem.found) == (
        "component 'x' declaration",
        "extensions",
        found,
    )
    assert "StashKey" in problem.expected
    assert "component 'x' declaration: extensions: expected" in str(caught.value)
