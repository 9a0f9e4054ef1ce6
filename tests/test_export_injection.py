"""Hostile values into the host engines' files, read back by the engines' own parsers.

Every value the supervisord file and the systemd units take from outside (the
``python`` of each exporter, the settings: home, host, environment; the system's
name; ``systemd.user`` and ``systemd.wanted_by``) gets hostile text: line breaks
with a section after them, quotes, ``%``, ``$``, ``;``, ``#``, spaces at either
end, non-ASCII. Either the build refuses it with a located error naming the
key, or the engine reads back exactly what was meant: supervisord's own
``ServerOptions`` (its parser, expansions and environment splitting) finds the
two programs with their exact command, environment and directory; systemd's
``systemd-analyze verify`` accepts the units (slower: a few examples), which hold
only the keys they should, with the values meant once unquoted.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any
from unittest import mock

import hypothesis
import pytest
from _engines import needed
from hypothesis import strategies as st

from oservices_core import (
    Component,
    ConfigurationError,
    Registry,
    Settings,
    StageError,
    System,
    get_plugin_manager,
    run_workflow,
)
from oservices_plugins.supervisord import INIT

API = Component(name="inj-api", main="builtins:print")

# Text an attacker would try: line breaks that open a section, quotes, the engines'
# expansions and comment characters, spaces at either end, non-ASCII, a NUL.
NASTY = [
    "\n[program:evil]\ncommand=/bin/sh -c 'touch /tmp/pwned'",
    "\nExecStartPre=/bin/sh -c 'touch /tmp/pwned'",
    "%(here)s",
    "%(ENV_HOME)s",
    "%h %n %%",
    "$HOME ${HOME} $$",
    "a ;comment",
    "a #comment",
    "a;b#c",
    "'single'",
    '"double"',
    "both ' and \"",
    " leading",
    "trailing ",
    "x\\ny",
    "ménage à trois ✓",
    "\r\n[x]",
    "a\x00b",
    "[program:x]",
]
ALPHABET = st.sampled_from(list("aZ09 _-./\\'\"%$;#[]=\n\t\rü✓,:()"))
HOSTILE = st.sampled_from(NASTY) | st.text(ALPHABET, min_size=1, max_size=12)
SEGMENT = HOSTILE.map(lambda text: "h" + text.replace("/", "_").replace("\x00", "_"))


PLAIN = {
    "home": "home",
    "host": "web1",
    "environment": "prod",
    "name": "shop",
    "user": "shop",
    "wanted_by": "multi-user.target",
}


def _hostile(keys: list[str]) -> st.SearchStrategy[dict[str, str]]:
    """One or two of ``keys`` with hostile values (the others stay plain): a refusal then
    names one of them, and an accepted value is read back beside plain ones."""
    values = {key: SEGMENT if key == "home" else HOSTILE for key in keys}
    return st.sets(st.sampled_from(keys), min_size=1, max_size=2).flatmap(
        lambda chosen: st.fixed_dictionaries({key: values[key] for key in chosen})
    )


def _registry(settings: Settings) -> Registry:
    points = [
        EntryPoint("supervisord", "oservices_plugins.supervisord", "oservices"),
        EntryPoint("systemd", "oservices_plugins.systemd", "oservices"),
        EntryPoint("inj-api", "test_export_injection:API", "oservices"),
    ]
    return Registry(get_plugin_manager(settings, entry_points=points))


@contextmanager
def _clean_environment() -> Iterator[None]:
    kept = {k: v for k, v in os.environ.items() if not k.upper().startswith("OSERVICES_")}
    with mock.patch.dict(os.environ, kept, clear=True):
        yield


def _build(
    root: Path, *, home: str, host: str, environment: str, name: str, sets: dict[str, str]
) -> tuple[Settings | None, Path, str]:
    """Build with these values: the settings, the output directory, and the refusal's text
    (empty when the build succeeded)."""
    output = root / uuid.uuid4().hex
    with _clean_environment():
        try:
            settings = Settings(home=root / home, host=host, environment=environment)
        except ValueError as exc:  # refused by the settings themselves: located there
            return None, output, str(exc)
        with settings.activate():
            system = System(_registry(settings), name=name)
            try:
                run_workflow(system, ["build"], output_dir=output, overrides=sets, force=True)
            except (StageError, ConfigurationError) as exc:
                return settings, output, str(exc)
    return settings, output, ""


def _located(refusal: str, keys: list[str]) -> None:
    """A refusal names one of the keys that held a hostile value, with expected and found."""
    assert "expected" in refusal, refusal
    assert "found" in refusal, refusal
    assert any(re.search(rf"\b{re.escape(key)}:", refusal) for key in keys), refusal
    assert "Traceback" not in refusal


# supervisord ------------------------------------------------------------------------


def _supervisor_programs(path: Path, settings: Settings) -> dict[str, Any]:
    """The programs supervisord's own ServerOptions reads from ``path``."""
    from supervisor.options import ServerOptions

    for directory in (settings.log_dir, settings.run_dir):
        directory.mkdir(parents=True, exist_ok=True)  # supervisord opens them at start
    options = ServerOptions()
    options.realize(args=["-c", str(path)])
    (group,) = options.process_group_configs
    return {config.name: config for config in group.process_configs}


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(hostile=_hostile(["home", "host", "environment", "name", "python"]))
def test_supervisord_reads_back_exactly_what_was_meant_or_the_build_refuses(
    tmp_path_factory: pytest.TempPathFactory, hostile: dict[str, str]
) -> None:
    values = PLAIN | {"python": sys.executable} | hostile
    home, host, environment, name, python = (
        values[key] for key in ("home", "host", "environment", "name", "python")
    )
    root = tmp_path_factory.mktemp("sv")
    sets = {"supervisord.enabled": "true", "supervisord.python": python}
    settings, output, refusal = _build(
        root, home=home, host=host, environment=environment, name=name, sets=sets
    )
    if refusal:
        _located(
            refusal,
            [
                "home",
                "host",
                "environment",
                "name",
                "python",
                "run_dir",
                "log_dir",
                "config_dir",
                "data_dir",
            ],
        )
        assert not (output / "supervisord").exists()
        hypothesis.event("refused, located")
        return
    hypothesis.event("read back by supervisord")
    assert settings is not None
    programs = _supervisor_programs(output / "supervisord" / "supervisord.conf", settings)
    assert sorted(programs) == sorted([INIT, "inj-api"])
    api, init = programs["inj-api"], programs[INIT]
    for program in (api, init):
        assert program.environment == settings.environ()
        assert program.directory == str(settings.home)
    gate = [python, "-m", "oservices_plugins.supervisord_gate", f"{_group(name)}:{INIT}", "--"]
    assert shlex.split(api.command) == [*gate, python, "-m", "oservices_core", "run", "inj-api"]
    assert shlex.split(init.command) == [python, "-m", "oservices_core", "init"]


def _group(name: str) -> str:
    kept = (c if (c.isascii() and c.isalnum()) or c in "_.-" else "-" for c in name)
    return "".join(kept) or "system"


# systemd --------------------------------------------------------------------------------


def _unquote(word: str) -> str:
    """One double-quoted word of a unit, as systemd reads it (C escapes, then ``%%``)."""
    assert (word[:1], word[-1:]) == ('"', '"'), word
    inner = word[1:-1]
    text = re.sub(r'\\(["\\n\\\\])', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), inner)
    return text.replace("%%", "%")


def _read_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    # As systemd reads it: a line that ends with a backslash goes on on the next one.
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            assert line.endswith("]"), line
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep, line
        assert re.fullmatch(r"[A-Za-z]+", key), line
        current.append((key, value))
    return sections


@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(
    hostile=_hostile(["home", "host", "environment", "name", "user", "wanted_by", "python"])
)
def test_systemd_reads_back_exactly_what_was_meant_or_the_build_refuses(
    tmp_path_factory: pytest.TempPathFactory, hostile: dict[str, str]
) -> None:
    analyze = needed("systemd-analyze", "Debian: apt-get install systemd")
    values = PLAIN | {"python": "python3"} | hostile
    home, host, environment, name, user, wanted_by = (
        values[key] for key in ("home", "host", "environment", "name", "user", "wanted_by")
    )
    root = tmp_path_factory.mktemp("sd")
    # verify checks that the interpreter exists: a hostile one is a link to the real one.
    python = str(root / ("p" + values["python"].replace("/", "_").replace("\x00", "_")))
    os.symlink(shutil.which("python3") or sys.executable, python)
    sets = {
        "systemd.enabled": "true",
        "systemd.python": python,
        "systemd.user": user,
        "systemd.wanted_by": wanted_by,
    }
    settings, output, refusal = _build(
        root, home=home, host=host, environment=environment, name=name, sets=sets
    )
    if refusal:
        located = [
            "home",
            "host",
            "environment",
            "name",
            "user",
            "wanted_by",
            "python",
            "run_dir",
            "log_dir",
            "config_dir",
            "data_dir",
        ]
        _located(refusal, located)
        assert not (output / "systemd").exists()
        hypothesis.event("refused, located")
        return
    hypothesis.event("read back: verified by systemd-analyze")
    assert settings is not None
    units = sorted((output / "systemd").iterdir())
    result = subprocess.run(
        [analyze, "verify", *map(str, units)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    for unit in units:
        sections = _read_unit(unit)
        assert set(sections) <= {"Unit", "Service", "Install"}, unit
        written = {key for key, _ in sections.get("Service", [])}
        assert not written & {"ExecStartPre", "ExecStartPost", "ExecStop", "ExecReload"}, unit
        environment_lines = [v for k, v in sections.get("Service", []) if k == "Environment"]
        if environment_lines:
            found = dict(_unquote(v).split("=", 1) for v in environment_lines)
            assert found == settings.environ(), unit
        described = dict(sections.get("Unit", []))["Description"].replace("%%", "%")
        assert described.endswith((f" {name}", f" {host}")), described
        for key, value in sections.get("Service", []):
            if key == "WorkingDirectory":
                assert value.replace("%%", "%") == str(settings.home)
            if key == "User":
                assert value == user
            if key == "ExecStart":
                words = re.findall(r'"(?:[^"\\]|\\.)*"', value)
                program, *args = [_unquote(word) for word in words]
                argv = [program, *(arg.replace("$$", "$") for arg in args)]
                assert argv[0] == python, value
                assert argv[3] in ("run", "init"), value
        for key, value in sections.get("Install", []):
            if unit.suffix == ".target":
                assert (key, value) == ("WantedBy", wanted_by)


@pytest.mark.parametrize(
    ("engine", "key"),
    [
        *(
            (engine, key)
            for engine in ("supervisord", "systemd")
            for key in ("home", "host", "environment", "name", "python")
        ),
        ("systemd", "user"),
        ("systemd", "name\\"),
    ],
)
def test_the_injections_found_are_refused_with_their_key(
    tmp_path: Path, engine: str, key: str
) -> None:
    # The findings: a newline then a section (supervisord) or a key (systemd).
    evil = NASTY[0] if engine == "supervisord" else NASTY[1]
    if key.endswith("\\"):  # a backslash at the end: systemd joins the next line to it
        key, evil = key[:-1], "\\"
    values = PLAIN | {"python": sys.executable, key: "h" + evil.replace("/", "_")}
    sets = {f"{engine}.enabled": "true", f"{engine}.python": values["python"]}
    if engine == "systemd":
        sets[f"{engine}.user"] = values["user"]
    _, output, refusal = _build(
        tmp_path,
        home=values["home"],
        host=values["host"],
        environment=values["environment"],
        name=values["name"],
        sets=sets,
    )
    _located(refusal, [key])
    assert any(text in refusal for text in ("printable text", "user name", "backslash")), refusal
    assert not output.exists()
