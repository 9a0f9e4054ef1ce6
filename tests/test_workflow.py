"""The workflow runner: stage planning, configure hooks in provenance, writes, failures."""

from __future__ import annotations

import io
import os
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from oservices_core import (
    Registry,
    Settings,
    StageError,
    System,
    get_plugin_manager,
    run_workflow,
)
from oservices_core._workflow.run import plan

SHOP = """
from pydantic import BaseModel, SecretStr
from oservices_core import Component, Configuration, Service

class Db(BaseModel):
    url: str = "sqlite:///x"
    password: SecretStr = SecretStr("")

class ApiConfiguration(Configuration):
    port: int = 8100
    workers: int = 1
    db: Db = Db()

api = Component(name="shop-api", configuration=ApiConfiguration)
shop = Service(name="shop", components=["shop-api"], api="shop-api")
"""
HOOKS = """
from oservices_core import hookimpl

CALLS = []
ACTIVATED = []

@hookimpl
def oservices_settings_activated(settings):
    from oservices_core import active_settings
    ACTIVATED.append(active_settings() is settings)

@hookimpl
def oservices_configure(name, configuration):
    if name == "shop-api":
        configuration.port = 9200
        configuration.db.url = "postgresql://db/shop"

@hookimpl
def oservices_configure_service(service):
    CALLS.append(service.name)

@hookimpl
def oservices_build(context):
    context.write_file("extra/hello.txt", "hello\\n")
"""
FAILING = """
from oservices_core import hookimpl

# trylast, and registered before toml: pluggy calls it after toml has written.
@hookimpl(trylast=True)
def oservices_build(context):
    context.write_file("early.txt", "written before the failure\\n")
    raise RuntimeError("the disk is full of bees")
"""


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    src = tmp_path / "src"
    src.mkdir()
    for name, text in {"wf_shop": SHOP, "wf_hooks": HOOKS, "wf_failing": FAILING}.items():
        (src / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(src))
    yield src
    for name in ("wf_shop", "wf_hooks", "wf_failing"):
        sys.modules.pop(name, None)


def system_of(settings: Settings, *extra: tuple[str, str]) -> System:
    points = [
        ("shop-api", "wf_shop:api"),
        ("shop", "wf_shop:shop"),
        ("toml", "oservices_plugins.toml"),
        *extra,
    ]
    eps = [EntryPoint(name=n, value=v, group="oservices") for n, v in points]
    return System.from_registry(Registry(get_plugin_manager(settings, entry_points=eps)))


def test_plan_brings_what_a_stage_needs() -> None:
    assert [s.name for s in plan(["build"])] == ["configure", "build"]
    assert [s.name for s in plan(["init"])] == ["configure", "setup", "init"]
    assert [s.name for s in plan(["build", "setup"])] == ["configure", "setup", "build"]
    with pytest.raises(ValueError, match="unknown stage 'deploy'"):
        plan(["deploy"])


@pytest.mark.usefixtures("modules")
def test_configure_hook_values_are_recorded_and_env_still_wins(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSERVICES_SHOP_API__PORT", "9300")
    system = system_of(settings, ("hooks", "wf_hooks"))
    context, _ = run_workflow(system, ["configure"])
    value = context.configurations["shop-api"]
    assert (value.port, value.db.url) == (9300, "postgresql://db/shop")  # type: ignore[attr-defined]
    resolved = context.resolved["shop-api"]
    assert resolved.explain("db.url").source.detail == "plugin hooks"
    port = resolved.explain("port")
    assert port.source.kind == "environment"
    assert [(s.kind, v) for s, v in port.hidden][:1] == [("plugin", 9200)]
    assert sys.modules["wf_hooks"].CALLS == ["shop"]
    assert sys.modules["wf_hooks"].ACTIVATED == [True]  # called once, with them active


@pytest.mark.usefixtures("modules")
def test_build_writes_then_writes_nothing(settings: Settings) -> None:
    system = system_of(settings, ("hooks", "wf_hooks"))
    _, reports = run_workflow(system, ["build"])
    build = reports[-1]
    assert sorted((a.path.name, a.plugin, a.status) for a in build.artifacts) == [
        ("hello.txt", "hooks", "created"),
        ("shop-api.schema.json", "toml", "created"),
        ("shop-api.toml", "toml", "created"),
    ]
    written = settings.config_dir / "shop-api.toml"
    text = written.read_text()
    assert 'url = "postgresql://db/shop"' in text  # decided by a plugin: a key
    assert "# workers = 1  (default)" in text  # everything else: a comment with its source
    before = {p: p.stat().st_mtime_ns for p in settings.config_dir.rglob("*") if p.is_file()}
    _, again = run_workflow(system, ["build"])
    assert {a.status for a in again[-1].artifacts} == {"unchanged"}
    after = {p: p.stat().st_mtime_ns for p in settings.config_dir.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.usefixtures("modules")
def test_a_secret_set_by_the_file_keeps_the_file_private(settings: Settings) -> None:
    settings.config_dir.mkdir(parents=True)
    (settings.config_dir / "shop-api.toml").write_text('[db]\npassword = "pw-in-file"\n')
    run_workflow(system_of(settings), ["build"])
    written = settings.config_dir / "shop-api.toml"
    assert os.stat(written).st_mode & 0o777 == 0o600
    assert 'password = "pw-in-file"' in written.read_text()


@pytest.mark.usefixtures("modules")
def test_dry_run_prints_a_diff_and_writes_nothing(settings: Settings) -> None:
    out = io.StringIO()
    system = system_of(settings, ("hooks", "wf_hooks"))
    _, reports = run_workflow(system, ["build"], dry_run=True, out=out)
    assert not settings.config_dir.exists()
    assert {a.status for a in reports[-1].artifacts} == {"would create"}
    assert "+++ " + str(settings.config_dir / "extra" / "hello.txt") in out.getvalue()
    assert "+hello" in out.getvalue()


@pytest.mark.usefixtures("modules")
def test_a_failing_hook_names_stage_plugin_hook_and_rolls_back(settings: Settings) -> None:
    system = system_of(settings, ("failing", "wf_failing"))
    settings.config_dir.mkdir(parents=True)
    (settings.config_dir / "early.txt").write_text("the user's old file\n")
    with pytest.raises(StageError) as caught:
        run_workflow(system, ["build"])
    error = caught.value
    assert (error.stage, error.plugin, error.hook) == ("build", "failing", "oservices_build")
    assert isinstance(error.__cause__, RuntimeError)
    assert "the disk is full of bees" in str(error)
    assert (settings.config_dir / "early.txt").read_text() == "the user's old file\n"
    assert not (settings.config_dir / "shop-api.toml").exists()  # toml's writes undone too
    assert sorted(p.name for p in settings.config_dir.iterdir()) == ["early.txt"]


FAILING_SERVICE = """
from oservices_core import hookimpl

@hookimpl
def oservices_configure_service(service):
    raise LookupError("no such service, says the plugin")
"""


@pytest.mark.usefixtures("modules")
def test_a_failing_second_hook_of_a_stage_is_the_one_named(
    settings: Settings, modules: Path
) -> None:
    (modules / "wf_failing_service.py").write_text(textwrap.dedent(FAILING_SERVICE))
    system = system_of(settings, ("failing-service", "wf_failing_service"))
    try:
        with pytest.raises(StageError) as caught:
            run_workflow(system, ["configure"])
    finally:
        sys.modules.pop("wf_failing_service", None)
    error = caught.value
    assert (error.stage, error.plugin) == ("configure", "failing-service")
    assert error.hook == "oservices_configure_service"
    assert isinstance(error.__cause__, LookupError)


def test_stages_are_data_the_runner_names_none() -> None:
    import inspect

    from oservices_core import STAGES
    from oservices_core._workflow import run

    assert STAGES[0].hooks == ("oservices_configure", "oservices_configure_service")
    assert all(stage.hook == stage.hooks[0] for stage in STAGES)
    assert [stage.name for stage in STAGES if stage.incremental] == ["build"]
    for function in (run.run_workflow, run._incremental, run._run_stage, run._failures):
        source = inspect.getsource(function).split('"""')[-1]  # the body: not a default
        for stage in STAGES:
            assert repr(stage.name) not in source
            assert f'"{stage.name}"' not in source
        assert "getattr(pm.hook" not in source


@pytest.mark.usefixtures("modules")
def test_a_build_with_more_than_it_needs_is_not_up_to_date(settings: Settings) -> None:
    system = system_of(settings, ("hooks", "wf_hooks"))
    run_workflow(system, ["build"])
    assert run_workflow(system, ["build"])[1][-1].up_to_date
    reports = run_workflow(system, ["setup", "build"])[1]
    assert [r.name for r in reports] == ["configure", "setup", "build"]
    assert not any(r.up_to_date for r in reports)
    assert run_workflow(system, [])[1] == []


@pytest.mark.usefixtures("modules")
def test_dry_run_shows_no_line_of_a_private_file(settings: Settings) -> None:
    settings.config_dir.mkdir(parents=True)
    (settings.config_dir / "shop-api.toml").write_text('[db]\npassword = "pw-in-file"\n')
    out = io.StringIO()
    run_workflow(system_of(settings), ["build"], dry_run=True, out=out)
    assert "shop-api.toml: private file, diff not shown" in out.getvalue()
    assert "pw-in-file" not in out.getvalue()


@pytest.mark.usefixtures("modules")
def test_an_unchanged_build_is_up_to_date_until_an_input_changes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = system_of(settings, ("hooks", "wf_hooks"))
    first = run_workflow(system, ["build"])[1][-1]
    assert not first.up_to_date
    again = run_workflow(system, ["build"])[1][-1]
    assert again.up_to_date
    assert sorted(a.path for a in again.artifacts) == sorted(a.path for a in first.artifacts)
    assert run_workflow(system, ["build"], force=True)[1][-1].up_to_date is False
    monkeypatch.setenv("OSERVICES_SHOP_API__WORKERS", "3")  # an input changed
    assert run_workflow(system, ["build"])[1][-1].up_to_date is False
    assert run_workflow(system, ["build"])[1][-1].up_to_date is True
    (settings.config_dir / "extra" / "hello.txt").write_text("edited\n")  # an output changed
    rebuilt = run_workflow(system, ["build"])[1][-1]
    assert not rebuilt.up_to_date
    assert (settings.config_dir / "extra" / "hello.txt").read_text() == "hello\n"


def test_stash_keys_type_and_separate_values() -> None:
    from oservices_core import Stash, StashKey

    counts, names = StashKey[int](), StashKey[list[str]]()
    stash = Stash()
    assert stash.get(counts, 0) == 0
    assert counts not in stash
    stash[counts] = 3
    stash[names] = ["a"]
    assert (stash[counts], stash[names], counts in stash) == (3, ["a"], True)
    with pytest.raises(KeyError):
        Stash()[counts]
    started = Stash({counts: 1, names: []})
    assert (started[counts], started.setdefault(names, ["b"]), len(started)) == (1, [], 2)
    del started[counts]
    assert counts not in started
    with pytest.raises(TypeError, match="StashKey"):
        Stash({"counts": 1})  # type: ignore[dict-item]  # wrong on purpose
