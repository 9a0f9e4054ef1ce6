"""Systems: from a system.toml, or every installed component; located errors for bad names."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from oservices_core import ConfigurationError, Registry, Settings, System, get_plugin_manager

SOURCE = """
from oservices_core import Component, Configuration, Service

class ApiConfiguration(Configuration):
    port: int = 8100

api = Component(name="shop-api", configuration=ApiConfiguration)
worker = Component(name="shop-worker", depends_on=["shop-api"])
cleaner = Component(name="cleaner")
shop = Service(name="shop", components=["shop-api", "shop-worker"], api="shop-api")
"""


@pytest.fixture
def registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> Iterator[Registry]:
    (tmp_path / "sys_shop.py").write_text(textwrap.dedent(SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [
        EntryPoint(name=n, value=f"sys_shop:{a}", group="oservices")
        for n, a in [
            ("shop-api", "api"),
            ("shop-worker", "worker"),
            ("cleaner", "cleaner"),
            ("shop", "shop"),
        ]
    ]
    yield Registry(get_plugin_manager(settings, entry_points=points))
    sys.modules.pop("sys_shop", None)


def test_without_a_file_every_component(registry: Registry) -> None:
    system = System.from_registry(registry)
    assert list(system.components) == ["cleaner", "shop-api", "shop-worker"]
    assert list(system.services) == ["shop"]
    assert sorted(system.configurations()) == ["shop-api"]
    assert system.name == "shop"  # its single service's: engines name groups after it


@pytest.mark.parametrize(
    ("file", "text", "name"),
    [
        ("system.toml", 'services = ["shop"]\n', "shop"),  # the single service's
        ("corner.toml", 'components = ["cleaner"]\n', "corner"),  # else the file's own
        ("system.toml", 'components = ["cleaner"]\n', "system"),
        ("corner.toml", 'name = "given"\nservices = ["shop"]\n', "given"),  # named: kept
    ],
)
def test_a_system_without_a_name_takes_one_of_its_own(
    registry: Registry, home: Path, file: str, text: str, name: str
) -> None:
    path = home / file
    path.write_text(text)
    assert System.load(path, registry).name == name


def test_file_picks_services_and_loose_components(registry: Registry, home: Path) -> None:
    path = home / "system.toml"
    path.write_text(
        textwrap.dedent("""
        name = "corner-shop"
        services = ["shop"]
        components = ["cleaner"]

        [configurations.shop-api]
        port = 9100

        [hosts.web1]
        components = ["shop-api", "shop-worker"]
    """)
    )
    system = System.load(path, registry)
    assert system.name == "corner-shop"
    assert list(system.components) == ["shop-api", "shop-worker", "cleaner"]
    assert system.hosts == {"web1": ["shop-api", "shop-worker"]}
    resolved = system.resolver().resolve(registry.configurations["shop-api"].cls, "shop-api")
    assert resolved.value.port == 9100  # type: ignore[attr-defined]
    assert resolved.explain("port").source.where(("port",)) == f"{path}:7"


@pytest.mark.parametrize(
    ("text", "line", "found", "close"),
    [
        ('components = ["shop-apy"]\n', 1, "unknown component 'shop-apy'", "shop-api"),
        ('services = [\n  "shop",\n  "shp",\n]\n', 3, "unknown service 'shp'", "shop"),
        (
            "[configurations.shop-apj]\nport = 1\n",
            1,
            "unknown configuration 'shop-apj'",
            "shop-api",
        ),
        ('[hosts.a]\ncomponents = ["claener"]\n', 2, "unknown component 'claener'", "cleaner"),
    ],
)
def test_unknown_names_are_located(
    registry: Registry, home: Path, text: str, line: int, found: str, close: str
) -> None:
    path = home / "system.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        System.load(path, registry)
    (problem,) = caught.value.problems
    assert problem.where == f"{path}:{line}"
    assert problem.found == found
    assert problem.hint == f"did you mean {close}?"


def test_a_missing_dependency_is_an_error(registry: Registry, home: Path) -> None:
    path = home / "system.toml"
    path.write_text('components = ["shop-worker"]\n')
    with pytest.raises(ConfigurationError, match=r"shop-worker\.depends_on.*'shop-api'"):
        System.load(path, registry)


def test_unknown_keys_and_types_in_the_file(registry: Registry, home: Path) -> None:
    path = home / "system.toml"
    path.write_text('name = 3\nservice = ["shop"]\n')
    with pytest.raises(ConfigurationError) as caught:
        System.load(path, registry)
    where = sorted((p.key, p.where) for p in caught.value.problems)
    assert where == [("name", f"{path}:1"), ("service", f"{path}:2")]
    assert "did you mean services" in str(caught.value)
