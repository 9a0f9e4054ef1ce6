"""Configuration: names, dump and load on disk, atomic writes, secrets kept out of sight."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, Secret, SecretStr

from oservices_core import Configuration, ConfigurationError, OservicesError


class ShopConfiguration(Configuration):
    """The shop's API."""

    port: int = Field(8000, ge=1, le=65535, description="Port the API listens on.")
    token: SecretStr = SecretStr("t0ps3cret")


class Titled(Configuration):
    model_config = ConfigDict(title="shop.worker")
    jobs: int = 1


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("cls", "name"),
    [(ShopConfiguration, "shop"), (Titled, "shop.worker")],
)
def test_configuration_name(cls: type[Configuration], name: str) -> None:
    assert cls.configuration_name() == name
    assert cls.schema_file_name() == f"{name}.schema.json"


def test_dump_writes_toml_and_schema(tmp_path: Path) -> None:
    target = tmp_path / "shop.toml"
    ShopConfiguration(port=9000).dump(target)
    text = target.read_text()
    assert text.splitlines()[:2] == [
        "#:schema ./shop.schema.json",
        f"# Configuration 'shop' ({__name__}.ShopConfiguration)",
    ]
    assert "# Port the API listens on.\nport = 9000\n" in text
    assert "t0ps3cret" not in text
    assert _mode(target) == 0o644
    schema = json.loads((tmp_path / "shop.schema.json").read_text())
    assert schema["properties"]["port"]["maximum"] == 65535
    assert ShopConfiguration.load(target).port == 9000


def test_secret_written_only_on_purpose_and_0600(tmp_path: Path) -> None:
    target = tmp_path / "shop.toml"
    ShopConfiguration().dump(target, include_secrets=True)
    assert _mode(target) == 0o600
    assert ShopConfiguration.load(target).token.get_secret_value() == "t0ps3cret"


def test_secret_never_in_repr_str_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    config = ShopConfiguration()
    logging.getLogger("test").warning("config %s %r", config, config)
    assert "t0ps3cret" not in repr(config) + str(config) + caplog.text


def test_dump_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "shop.toml"
    ShopConfiguration(port=1).dump(target)
    inode = target.stat().st_ino
    ShopConfiguration(port=2).dump(target)
    assert target.stat().st_ino != inode  # a new file renamed over the old one
    assert ShopConfiguration.load(target).port == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.schema.json", "shop.toml"]


def test_failed_dump_leaves_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "shop.toml"
    ShopConfiguration(port=1).dump(target)
    before = target.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        ShopConfiguration(port=2).dump(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.schema.json", "shop.toml"]


def test_load_reports_every_problem_at_once(tmp_path: Path) -> None:
    target = tmp_path / "shop.toml"
    target.write_text('port = "eighty"\ntoken = 12345\nhost = "x"\n')
    with pytest.raises(ConfigurationError) as caught:
        ShopConfiguration.load(target)
    error = caught.value
    assert isinstance(error, OservicesError)
    assert isinstance(error, ValueError)
    keys = sorted(problem.key for problem in error.problems)
    assert keys == ["host", "port", "token"]
    where = {problem.key: problem.where for problem in error.problems}
    assert where == {"port": f"{target}:1", "token": f"{target}:2", "host": f"{target}:3"}
    assert "12345" not in str(error)
    assert "'eighty'" in str(error)


def test_none_rule(tmp_path: Path) -> None:
    class Optionals(Configuration):
        maybe: int | None = None
        other: int | None = 3

    text = Optionals().to_toml()
    assert "# maybe: None (unset; TOML has no null)" in text
    assert Optionals.from_toml(text) == Optionals()
    with pytest.raises(ConfigurationError, match="other"):
        Optionals(other=None).to_toml()


def test_assignment_is_validated() -> None:
    config = ShopConfiguration()
    with pytest.raises(ValueError, match="less than or equal to 65535"):
        config.port = 70000


def test_unknown_keys_are_errors() -> None:
    with pytest.raises(ConfigurationError, match="did you mean port"):
        ShopConfiguration.from_toml("prot = 1\n", source="inline")


class Server(BaseModel):
    host: str = "h" * 70  # long enough that a writer would make it a [[servers]] table
    port: int = 1


class Cluster(Configuration):
    servers: list[Server] = Field(default_factory=lambda: [Server(), Server(port=2)])
    workers: int = 5


def test_lists_of_models_stay_inline_so_later_keys_stay_top_level() -> None:
    cluster = Cluster(workers=7)
    text = cluster.to_toml()
    assert "[[" not in text
    assert Cluster.from_toml(text) == cluster


def test_explain_shows_a_hidden_none(home: Path) -> None:
    from oservices_core import Resolver, load_settings

    class Named(Configuration):
        owner: str | None = None

    resolved = Resolver(load_settings(), environ={"OSERVICES_NAMED__OWNER": "bob"}).resolve(Named)
    story = resolved.explain("owner")
    assert story.shown() == "'bob'"
    assert story.shown(story.hidden[-1][1]) == "None"


def test_a_password_in_a_url_is_not_shown() -> None:
    class Linked(Configuration):
        port: int = 1

    with pytest.raises(ConfigurationError) as caught:
        Linked.from_toml('port = "postgresql://shop:hunter2@db/x"\n')
    assert "hunter2" not in str(caught.value)
    assert "shop:**********@db" in str(caught.value)


def test_explain_a_key_inside_a_table(home: Path) -> None:
    from oservices_core import Resolver, load_settings

    class Tabled(Configuration):
        extra: dict[str, int] = Field(default_factory=dict)

    resolved = Resolver(load_settings(), environ={"OSERVICES_TABLED__EXTRA": '{"A": 1}'}).resolve(
        Tabled
    )
    assert resolved.explain("extra.A").value == 1


class Inner(BaseModel):
    note: str | None = None


class Outer(Configuration):
    inner: Inner = Inner(note="")


def test_a_none_inside_a_nested_default_round_trips() -> None:
    # Read literally: the omitted key takes Inner's default (None), not the field default's ("").
    model = Outer(inner=Inner(note=None))
    assert Outer.from_toml(model.to_toml()) == model


def test_resolution_merges_a_partial_table_into_the_field_default(home: Path) -> None:
    from oservices_core import Resolver, load_settings

    class Endpointed(Configuration):
        inner: Inner = Inner(note="kept")
        port: int = 1

    (home / "config").mkdir()
    (home / "config" / "endpointed.toml").write_text("port = 2\n\n[inner]\n")
    value = Resolver(load_settings(), environ={}).resolve(Endpointed).value
    assert (value.port, value.inner.note) == (2, "kept")


class _Pinned(Configuration):
    """A generic secret (pydantic's ``Secret[int]``)."""

    pin: Secret[int] = Secret(1234)


def test_a_generic_secret_is_written_only_when_asked() -> None:
    assert "1234" not in _Pinned().to_toml()
    assert "pin = 1234" in _Pinned().to_toml(include_secrets=True)
