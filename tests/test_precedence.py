"""Layer precedence: default < settings < file < system < environment < override.

Every pair of layers is checked (the higher one wins and the lower one is listed
as hidden), then merging of nested tables, whole replacement of lists, and
propagation of newly activated settings.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, Field, SecretStr

from oservices_core import Configuration, FromSettings, Resolver, Settings, load_settings

LAYERS = ("default", "settings", "file", "system", "environment", "override")


class Database(BaseModel):
    url: str = "sqlite:///db"
    password: SecretStr = SecretStr("default-pw")
    pool: int = 5


class LayeredConfiguration(Configuration):
    port: Annotated[int, FromSettings(lambda s: s.base_port + 7)] = 1
    tags: list[str] = Field(default_factory=lambda: ["default"])
    db: Database = Database()


class UnderivedConfiguration(LayeredConfiguration):
    """The same fields, but port does not derive from settings."""

    port: int = 1


NAME = "layered"


def _cls(layers: set[str]) -> type[LayeredConfiguration]:
    return LayeredConfiguration if "settings" in layers else UnderivedConfiguration


def _setup(home: Path, layers: set[str]) -> Resolver:
    """A resolver where each named layer sets port to its own number."""
    if "file" in layers:
        (home / "config").mkdir(exist_ok=True)
        (home / "config" / f"{NAME}.toml").write_text("port = 3\n")
    system = None
    if "system" in layers:
        system = home / "system.toml"
        system.write_text(f"[configurations.{NAME}]\nport = 4\n")
    environ = {"OSERVICES_LAYERED__PORT": "5"} if "environment" in layers else {}
    overrides = {f"{NAME}.port": "6"} if "override" in layers else {}
    settings = load_settings(base_port=1000)
    return Resolver(settings, environ=environ, system_file=system, overrides=overrides)


EXPECTED = {"default": 1, "settings": 1007, "file": 3, "system": 4, "environment": 5, "override": 6}


@pytest.mark.parametrize(("low", "high"), list(itertools.combinations(LAYERS, 2)))
def test_higher_layer_wins(home: Path, low: str, high: str) -> None:
    resolver = _setup(home, {low, high})
    with resolver.settings.activate():
        resolved = resolver.resolve(_cls({low, high}), NAME)
        assert resolved.value.port == EXPECTED[high]
        story = resolved.explain("port")
    assert story.source.kind == high
    hidden = [source.kind for source, _ in story.hidden]
    assert hidden == ([low] if low == "default" else [low, "default"])
    # Hidden values are shown as their layer gave them: text for variables and overrides.
    assert str(story.hidden[0][1]) == str(EXPECTED[low])


def test_all_layers_in_order(home: Path) -> None:
    resolver = _setup(home, set(LAYERS))
    with resolver.settings.activate():
        story = resolver.resolve(LayeredConfiguration).explain("port")
    assert story.value == 6
    kinds = [story.source.kind, *(source.kind for source, _ in story.hidden)]
    assert kinds == list(reversed(LAYERS))


def test_where_names_file_line_variable_and_override(home: Path) -> None:
    resolver = _setup(home, set(LAYERS))
    with resolver.settings.activate():
        story = resolver.resolve(LayeredConfiguration).explain("port")
    places = [source.where(("port",)) for source, _ in story.hidden]
    assert story.source.where(("port",)) == "--set layered.port=6"
    assert places[0] == "environment variable OSERVICES_LAYERED__PORT"
    assert places[1] == f"{home / 'system.toml'}:2"
    assert places[2] == f"{home / 'config' / 'layered.toml'}:1"


def test_nested_tables_merge_key_by_key(settings: Settings, home: Path) -> None:
    (home / "config").mkdir()
    (home / "config" / f"{NAME}.toml").write_text('[db]\nurl = "postgresql://h/db"\n')
    environ = {"OSERVICES_LAYERED__DB__POOL": "9"}
    resolved = Resolver(settings, environ=environ).resolve(LayeredConfiguration)
    db = resolved.value.db
    assert (db.url, db.pool, db.password.get_secret_value()) == (
        "postgresql://h/db",
        9,
        "default-pw",
    )
    assert resolved.explain("db.url").source.kind == "file"
    assert resolved.explain("db.pool").source.kind == "environment"
    assert resolved.explain("db.password").source.kind == "default"


def test_lists_are_replaced_whole(settings: Settings, home: Path) -> None:
    (home / "config").mkdir()
    (home / "config" / f"{NAME}.toml").write_text('tags = ["a", "b"]\n')
    environ = {"OSERVICES_LAYERED__TAGS": '["c"]'}
    resolved = Resolver(settings, environ=environ).resolve(LayeredConfiguration)
    assert resolved.value.tags == ["c"]
    assert [value for _, value in resolved.explain("tags").hidden] == [["a", "b"], ["default"]]


def test_override_from_code_keeps_its_type(settings: Settings) -> None:
    resolver = Resolver(settings, environ={}, overrides={f"{NAME}.tags": ["x", "y"]})
    assert resolver.resolve(LayeredConfiguration).value.tags == ["x", "y"]


def test_environment_names_are_case_insensitive(settings: Settings) -> None:
    resolver = Resolver(settings, environ={"oservices_layered__Port": "42"})
    assert resolver.resolve(LayeredConfiguration).value.port == 42


def test_secret_explained_masked(settings: Settings) -> None:
    resolver = Resolver(settings, environ={"OSERVICES_LAYERED__DB__PASSWORD": "s3cret"})
    story = resolver.resolve(LayeredConfiguration).explain("db.password")
    assert story.secret
    assert "s3cret" not in story.shown()
    assert "s3cret" not in repr(story.value)


def test_activating_settings_propagates(settings: Settings, home: Path) -> None:
    resolved = Resolver(settings, environ={}).resolve(LayeredConfiguration)
    assert resolved.value.port == 8007
    with load_settings(base_port=2000).activate():
        assert resolved.value.port == 2007
    assert resolved.value.port == 8007


def test_a_higher_layer_still_wins_after_propagation(settings: Settings) -> None:
    resolved = Resolver(settings, environ={"OSERVICES_LAYERED__PORT": "99"}).resolve(
        LayeredConfiguration
    )
    with load_settings(base_port=2000).activate():
        assert resolved.value.port == 99
        assert resolved.explain("port").hidden[0][1] == 2007


class Sub(BaseModel):
    path: Annotated[Path, FromSettings(lambda s: s.data_dir / "sub.db")] = Path("x")


class DerivedNested(Configuration):
    sub: Sub = Field(default_factory=Sub)


def test_settings_derive_nested_fields(settings: Settings) -> None:
    value = Resolver(settings, environ={}).resolve(DerivedNested).value
    assert value.sub.path == settings.data_dir / "sub.db"


def test_resolver_settings_serve_when_none_are_active(home: Path) -> None:
    # Nothing activated: the resolver's own settings derive the values.
    resolved = Resolver(load_settings(base_port=3000), environ={}).resolve(LayeredConfiguration)
    assert resolved.value.port == 3007


def test_equal_settings_do_not_revalidate(settings: Settings) -> None:
    resolved = Resolver(settings, environ={}).resolve(LayeredConfiguration)
    first = resolved.value
    with load_settings().activate():  # another object, equal values
        assert resolved.value is first
