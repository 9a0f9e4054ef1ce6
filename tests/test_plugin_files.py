"""The built-in ``files`` plugin: directories with their modes, and components' files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from _run import oservices_in

from oservices_core import (
    ConfigurationError,
    Registry,
    Settings,
    StageError,
    System,
    get_plugin_manager,
    load_settings,
    run_workflow,
)
from oservices_plugins.files import KEPT, MANIFEST

NOTES = """
from oservices_core import Component
from oservices_plugins.files import FILES

component = Component(name="notes", extensions={FILES: DECLARED})
"""
FIRST = """
from oservices_core import hookimpl

SEEN = []

@hookimpl
def oservices_initialize(context):
    SEEN.append(context.settings.data_dir.exists())
"""
V1 = {"notes/README.txt": "version one\n", "notes/todo.txt": "nothing yet\n"}
V2 = {"notes/README.txt": "version two\n", "notes/todo.txt": "still nothing\n"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def mtimes(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.fixture
def src(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for component modules the tests write."""
    directory = tmp_path / "src"
    directory.mkdir()
    monkeypatch.syspath_prepend(str(directory))
    written = set(sys.modules)
    yield directory
    for name in set(sys.modules) - written:
        if name.startswith("fl_"):
            del sys.modules[name]


def notes_module(src: Path, module: str, files: object, name: str = "notes") -> str:
    """Write a component module declaring ``files``; return its entry-point value."""
    text = NOTES.replace("DECLARED", repr(files)).replace('"notes"', repr(name))
    (src / f"{module}.py").write_text(textwrap.dedent(text))
    return f"{module}:component"


def system_of(settings: Settings, *points: tuple[str, str]) -> System:
    eps = [
        EntryPoint(name=n, value=v, group="oservices")
        for n, v in [("files", "oservices_plugins.files"), *points]
    ]
    return System.from_registry(Registry(get_plugin_manager(settings, entry_points=eps)))


def init(settings: Settings, src: Path, files: dict[str, str], module: str = "fl_v1") -> System:
    system = system_of(settings, ("notes", notes_module(src, module, files)))
    run_workflow(system, ["init"])
    return system


def test_directories_and_their_modes(settings: Settings) -> None:
    run_workflow(system_of(settings), ["init"])
    assert {p.name: mode(p) for p in settings.home.iterdir()} == {
        "data": 0o750,
        "log": 0o750,
        "run": 0o700,
        "config": 0o755,
    }
    assert list(settings.data_dir.iterdir()) == []  # no declared file: no manifest either


def test_modes_are_exact_whatever_the_umask(settings: Settings) -> None:
    previous = os.umask(0o077)
    try:
        run_workflow(system_of(settings), ["init"])
    finally:
        os.umask(previous)
    assert (mode(settings.data_dir), mode(settings.config_dir)) == (0o750, 0o755)


def test_existing_directories_are_tightened_never_loosened(settings: Settings) -> None:
    settings.data_dir.mkdir(mode=0o700)
    settings.log_dir.mkdir()
    os.chmod(settings.log_dir, 0o777)  # noqa: S103 - too open on purpose: init tightens it
    settings.config_dir.mkdir()
    (settings.config_dir / "shop.toml").write_text("")
    secret = settings.config_dir / "db.toml"
    secret.write_text("")
    os.chmod(secret, 0o600)
    out = io.StringIO()
    run_workflow(system_of(settings), ["init"], out=out)
    assert mode(settings.data_dir) == 0o700  # stricter than 0750: left alone
    assert mode(settings.log_dir) == 0o750
    assert f"tightened directory {settings.log_dir} (mode 0o750)\n" in out.getvalue()
    assert str(settings.data_dir) + " " not in out.getvalue(), "left alone: not reported"
    assert mode(settings.config_dir) == 0o700  # it holds a private file


def test_files_are_created_with_a_manifest(settings: Settings, src: Path) -> None:
    context, reports = run_workflow(
        system_of(settings, ("notes", notes_module(src, "fl_v1", V1))), ["init"]
    )
    notes = settings.data_dir / "notes"
    assert (notes / "README.txt").read_text() == "version one\n"
    assert (notes / "todo.txt").read_text() == "nothing yet\n"
    manifest = json.loads((settings.data_dir / MANIFEST).read_text())
    assert manifest["files"] == {p: sha256(text) for p, text in V1.items()}
    assert sorted((a.path.name, a.plugin, a.status) for a in reports[-1].artifacts) == [
        (MANIFEST, "files", "created"),
        ("README.txt", "files", "created"),
        ("todo.txt", "files", "created"),
    ]
    assert context.stash[KEPT] == []


def test_a_second_init_changes_nothing(settings: Settings, src: Path) -> None:
    system = init(settings, src, V1)
    before = mtimes(settings.home)
    _, reports = run_workflow(system, ["init"])
    assert {a.status for a in reports[-1].artifacts} == {"unchanged"}
    assert mtimes(settings.home) == before


def test_a_users_change_is_kept_and_the_rest_follows(settings: Settings, src: Path) -> None:
    init(settings, src, V1)
    readme = settings.data_dir / "notes" / "README.txt"
    readme.write_text("my own notes\n")
    os.chmod(readme, 0o600)
    system = system_of(settings, ("notes", notes_module(src, "fl_v2", V2)))
    out = io.StringIO()
    context, _ = run_workflow(system, ["init"], out=out)
    assert readme.read_text() == "my own notes\n"
    assert mode(readme) == 0o600
    assert (settings.data_dir / "notes" / "todo.txt").read_text() == "still nothing\n"
    assert context.stash[KEPT] == [readme]
    assert f"kept {readme} (component notes): it differs" in out.getvalue()
    manifest = json.loads((settings.data_dir / MANIFEST).read_text())["files"]
    assert manifest == {"notes/README.txt": sha256(V1["notes/README.txt"])} | {
        "notes/todo.txt": sha256(V2["notes/todo.txt"])
    }
    # Put back as oservices wrote it, the file follows the declared content again.
    readme.write_text(V1["notes/README.txt"])
    context, _ = run_workflow(system, ["init"])
    assert readme.read_text() == "version two\n"
    assert mode(readme) == 0o600  # an update keeps the file's mode
    assert context.stash[KEPT] == []


def test_a_missing_file_is_created_again(settings: Settings, src: Path) -> None:
    system = init(settings, src, V1)
    todo = settings.data_dir / "notes" / "todo.txt"
    todo.unlink()
    run_workflow(system, ["init"])
    assert todo.read_text() == "nothing yet\n"


def test_a_file_that_was_there_first_is_kept(settings: Settings, src: Path) -> None:
    readme = settings.data_dir / "notes" / "README.txt"
    readme.parent.mkdir(parents=True)
    readme.write_text("written by hand before oservices\n")
    init(settings, src, V1)
    assert readme.read_text() == "written by hand before oservices\n"
    (settings.data_dir / MANIFEST).unlink()  # a lost manifest: same content is adopted
    readme.write_text(V1["notes/README.txt"])
    init(settings, src, V1)
    assert json.loads((settings.data_dir / MANIFEST).read_text())["files"]["notes/README.txt"]


def test_a_broken_manifest_keeps_every_changed_file(settings: Settings, src: Path) -> None:
    init(settings, src, V1)
    (settings.data_dir / MANIFEST).write_text("{not json")
    system = system_of(settings, ("notes", notes_module(src, "fl_v2", V2)))
    out = io.StringIO()
    context, _ = run_workflow(system, ["init"], out=out)
    assert len(context.stash[KEPT]) == 2
    assert f"ignored {settings.data_dir / MANIFEST} (" in out.getvalue()
    assert (settings.data_dir / "notes" / "README.txt").read_text() == "version one\n"


@pytest.mark.parametrize(
    "path", ["../outside.txt", "/etc/outside.txt", "notes/../../outside.txt", "", MANIFEST]
)
def test_a_path_leaving_the_data_directory_is_rejected(
    settings: Settings, src: Path, path: str
) -> None:
    system = system_of(settings, ("bad", notes_module(src, "fl_bad", {path: "x"}, name="bad")))
    with pytest.raises(StageError) as caught:
        run_workflow(system, ["init"])
    error = caught.value.__cause__
    assert isinstance(error, ConfigurationError)
    (problem,) = error.problems
    assert problem.where == "component 'bad'"
    assert problem.found == repr(path)
    assert (caught.value.stage, caught.value.plugin) == ("init", "files")
    assert not settings.data_dir.exists()  # checked before anything is made
    assert not (settings.home.parent / "outside.txt").exists()


@pytest.mark.parametrize(
    ("declared", "found"),
    [
        (["notes/README.txt"], "a list"),
        ({"notes/README.txt": b"bytes\n"}, "'notes/README.txt': a bytes"),
        ({1: "one"}, "1: a str"),
    ],
)
def test_a_declaration_that_is_not_paths_to_text_is_located(
    settings: Settings, src: Path, declared: object, found: str
) -> None:
    system = system_of(settings, ("bad", notes_module(src, "fl_typed", declared, name="bad")))
    with pytest.raises(StageError) as caught:
        run_workflow(system, ["init"])
    error = caught.value.__cause__
    assert isinstance(error, ConfigurationError)
    (problem,) = error.problems
    assert (problem.where, problem.key, problem.found) == (
        "component 'bad'",
        "extensions[FILES]",
        found,
    )
    assert not settings.data_dir.exists()  # checked before anything is made


def test_two_components_declaring_one_path_differently(settings: Settings, src: Path) -> None:
    one = notes_module(src, "fl_one", {"shared.txt": "one"}, name="one")
    two = notes_module(src, "fl_two", {"shared.txt": "two"}, name="two")
    with pytest.raises(StageError, match=r"component 'two'.*component 'one'.*'shared\.txt'"):
        run_workflow(system_of(settings, ("one", one), ("two", two)), ["init"])


def test_dry_run_writes_nothing(settings: Settings, src: Path) -> None:
    system = system_of(settings, ("notes", notes_module(src, "fl_v1", V1)))
    out = io.StringIO()
    _, reports = run_workflow(system, ["init"], dry_run=True, out=out)
    assert sorted(p.name for p in settings.home.iterdir()) == ["src"]
    text = out.getvalue()
    assert f"would create directory {settings.data_dir} (mode 0o750)" in text
    assert "+version one" in text
    assert {a.status for a in reports[-1].artifacts} == {"would create"}


def test_blocked_by_name_creates_nothing(
    home: Path, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSERVICES_DISABLE_PLUGINS", "files")
    with load_settings().activate() as settings:
        system = system_of(settings, ("notes", notes_module(src, "fl_v1", V1)))
        outcome = system.registry.plugin_manager.outcome("files")
        assert outcome is not None
        assert outcome.state == "blocked"
        run_workflow(system, ["init"])
    assert sorted(p.name for p in home.iterdir()) == ["src"]


@pytest.mark.usefixtures("src")
def test_a_third_party_acts_first(settings: Settings, src: Path) -> None:
    (src / "fl_first.py").write_text(textwrap.dedent(FIRST))
    run_workflow(system_of(settings, ("first", "fl_first")), ["init"])
    assert sys.modules["fl_first"].SEEN == [False]  # called before files made the data dir
    assert settings.data_dir.is_dir()


# Through the real command line ----------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A sys.path entry holding an installed distribution that brings a component."""
    directory = tmp_path / "site"
    directory.mkdir()
    write_notes(directory, V1)
    info = directory / "fl_notes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fl-notes\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[oservices]\nnotes = fl_notes:component\n")
    return directory


def write_notes(site: Path, files: dict[str, str]) -> None:
    notes_module(site, "fl_notes", files)


def oservices(
    home: Path, site: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # Only the plugins under test: whatever else is installed stays out of the run.
    only = {
        "OSERVICES_AUTOLOAD_PLUGINS": "false",
        "OSERVICES_PLUGINS": "files,logging,notes",
        "OSERVICES_LOGGING__CONSOLE": "false",
        "PYTHONPATH": str(site),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return oservices_in(home, *args, env={**only, **(env or {})})


@pytest.fixture
def cli_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def test_cli_init_creates_keeps_and_then_changes_nothing(cli_home: Path, site: Path) -> None:
    first = oservices(cli_home, site, "init")
    assert first.returncode == 0, first.stderr
    assert "init: wrote 3 files (3 created)" in first.stdout
    # Reported as the stage's other output is, whatever the logging configuration says.
    assert f"created directory {cli_home / 'data'} (mode 0o750)\n" in first.stdout
    assert f"created directory {cli_home / 'run'} (mode 0o700)\n" in first.stdout
    assert {p.name: mode(p) for p in cli_home.iterdir()} == {
        "data": 0o750,
        "log": 0o750,
        "run": 0o700,
        "config": 0o755,
    }
    readme = cli_home / "data" / "notes" / "README.txt"
    assert readme.read_text() == "version one\n"

    before = mtimes(cli_home / "data")
    again = oservices(cli_home, site, "init")
    assert "init: nothing changed (3 files up to date)" in again.stdout, again.stdout
    assert "directory" not in again.stdout, "nothing to create or tighten"
    assert mtimes(cli_home / "data") == before

    readme.write_text("mine\n")
    write_notes(site, V2)
    changed = oservices(cli_home, site, "init")
    assert changed.returncode == 0, changed.stderr
    assert readme.read_text() == "mine\n"
    assert (cli_home / "data" / "notes" / "todo.txt").read_text() == "still nothing\n"
    # Said as the stage's other output is, not as a record of the logging configuration.
    assert changed.stdout.startswith(f"kept {readme} (component notes): it differs")
    assert "WARNING" not in changed.stdout + changed.stderr


def test_cli_dry_run_writes_nothing(cli_home: Path, site: Path) -> None:
    result = oservices(cli_home, site, "init", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "+version one" in result.stdout
    assert list(cli_home.iterdir()) == []


def test_cli_escaping_path_is_rejected(cli_home: Path, site: Path) -> None:
    write_notes(site, {"../../escape.txt": "x"})
    result = oservices(cli_home, site, "init")
    assert result.returncode == 2
    assert "component 'notes'" in result.stderr
    assert "'../../escape.txt'" in result.stderr
    assert not (cli_home / "data").exists()
    assert not (cli_home.parent.parent / "escape.txt").exists()


def test_cli_blocked_files_creates_nothing(cli_home: Path, site: Path) -> None:
    env = {"OSERVICES_DISABLE_PLUGINS": "files", "OSERVICES_LOGGING__TO_FILE": "false"}
    result = oservices(cli_home, site, "init", env=env)
    assert result.returncode == 0, result.stderr
    assert list(cli_home.iterdir()) == []
