"""End to end: the workflow stages through the real ``oservices`` command.

Once per session, the project and two plugin trees are built into wheels by
hatchling (the approach of ``test_plugins_e2e.py``, copied in its minimal
parts): ``tests/plugins/workflow_thirdparty`` (distribution
``oservices-test-workflow``: a component ``wf-api`` and hooks ``wf-hooks`` that
configure its greeting and build ``wf-extra.txt``, with the motto ``wf-api``
declares in its extension slot under the plugin's key) is installed with the
project in a fresh virtual environment; ``tests/plugins/workflow_failing``
(``oservices-test-failing``: a build hook that writes, then raises) is
installed apart with ``pip install --target`` and put on ``PYTHONPATH`` only by
the tests that want it, so one environment serves every test.

Every test runs the environment's ``oservices`` in a temporary home, with no
``OSERVICES_*`` variable inherited from the machine. The project's other
built-in plugins may come and go and write files of their own: the tests look
at the files of ``toml`` for ``wf-api`` and of ``wf-hooks``, and count the rest.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _run import run_in
from _venv import ROOT, TREES, checked, new_venv, wheel

INSTALLED = "workflow_thirdparty"
APART = "workflow_failing"  # installed with --target, on PYTHONPATH only when wanted

WORKFLOW = ("oservices-test-workflow", "0.5.0")
FAILING = ("oservices-test-failing", "0.2.1")
GREETING = "configured by plugin"  # what wf-hooks assigns during configure
GREETING_KEY = f'greeting = "{GREETING}"'  # the line that decides it in wf-api.toml
SECRET = "wf-default-token-0451"  # noqa: S105 - wf-api's default token: never shown
MOTTO = "motto of wf-api: declared in the extension slot"  # wf-hooks reads wf-api's declaration
EXTRA = f"greeting: {GREETING}\nport: 8000\n{MOTTO}\n"  # wf-extra.txt, as first built
BUILT = ("wf-api.schema.json", "wf-api.toml", "wf-extra.txt")
TOOK = re.compile(r" in \d+\.\d\ds$")


@dataclass(frozen=True)
class Installation:
    """The virtual environment, and where the failing distribution lies apart."""

    venv: Path
    failing: Path


@pytest.fixture(scope="session")
def workflow_installation(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    """A virtual environment with the project and oservices-test-workflow installed."""
    base = tmp_path_factory.mktemp("workflow-e2e")
    venv, wheelhouse, failing = base / "venv", base / "wheelhouse", base / "failing"
    installer = new_venv(venv, [TREES / INSTALLED, TREES / APART])
    build = ["wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheelhouse)]
    trees = [str(TREES / INSTALLED), str(TREES / APART), str(ROOT)]
    checked([*installer, *build, *trees], "building wheels")
    wheels = [wheel(wheelhouse, "oservices"), wheel(wheelhouse, WORKFLOW[0])]
    checked([*installer, "install", *wheels], "installing wheels")
    apart = ["install", "--no-deps", "--target", str(failing), wheel(wheelhouse, FAILING[0])]
    checked([*installer, *apart], "pip install --target")
    return Installation(venv, failing)


@dataclass(frozen=True)
class Cli:
    """Runs the environment's ``oservices`` (or ``python``) in a temporary home."""

    venv: Path
    home: Path
    failing: Path

    @property
    def config(self) -> Path:
        return self.home / "config"

    def __call__(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "oservices"), *args, env=env)

    def python(
        self, code: str, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "python"), "-c", code, *args, env=env)

    def with_failing(self) -> dict[str, str]:
        """The environment that adds oservices-test-failing to the installed plugins."""
        return {"PYTHONPATH": str(self.failing)}

    def run(
        self, program: str, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_in(self.home, [program, *args], env)


@pytest.fixture
def cli(workflow_installation: Installation, tmp_path: Path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return Cli(workflow_installation.venv, home, workflow_installation.failing)


Snapshot = dict[str, tuple[bytes, int, int, int]]


def snapshot(root: Path) -> Snapshot:
    """Every file and directory under ``root``: bytes, modification time, inode and mode."""
    found: Snapshot = {}
    for path in sorted(root.rglob("*")):
        st = path.stat()
        data = path.read_bytes() if path.is_file() else b"<dir>"
        found[str(path.relative_to(root))] = (data, st.st_mtime_ns, st.st_ino, st.st_mode)
    return found


def contents(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Each file under ``directory``: its bytes and permission bits (what a rollback restores)."""
    return {
        str(path.relative_to(directory)): (path.read_bytes(), path.stat().st_mode & 0o777)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file())


def ours(report: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """A stage report's artifacts of wf-api's and wf-hooks' files, sorted, as tuples."""
    return sorted(
        (a["path"], a["plugin"], a["stage"], a["status"], a["mode"])
        for a in report["artifacts"]
        if Path(a["path"]).name in BUILT
    )


def diffs(stdout: str) -> dict[str, list[str]]:
    """The changed lines of a dry run's unified diffs, by the file each diff is about."""
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("+++ "):
            current = found.setdefault(line[4:], [])
        elif line[:1] in "+-" and not line.startswith("--- "):
            current.append(line)
    return found


def summary(stdout: str) -> list[str]:
    """The human summary lines, without their timing."""
    return [TOOK.sub("", line) for line in stdout.splitlines()]


def built(cli: Cli, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run ``oservices build ARGS``, which must succeed quietly; its standard output."""
    result = cli("build", *args, env=env)
    assert (result.returncode, result.stderr) == (0, ""), result.stdout + result.stderr
    return result.stdout


def line_of(path: Path, text: str) -> int:
    """The number of the line of ``path`` that is exactly ``text``."""
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


def no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text


# oservices build -------------------------------------------------------------------


def test_build_writes_plugin_values_as_keys_and_the_rest_as_comments(cli: Cli) -> None:
    stdout = built(cli)
    written = files(cli.config)
    assert summary(stdout) == [
        "configure: done",
        f"build: wrote {len(written)} files ({len(written)} created), 0 unchanged",
    ]
    assert set(BUILT) <= {path.name for path in written}
    toml = (cli.config / "wf-api.toml").read_text(encoding="utf-8")
    lines = toml.splitlines()
    assert GREETING_KEY in lines  # decided by a plugin: a key
    assert "# port = 8000  (default)" in lines  # everything else follows its source
    assert lines[0] == "#:schema ./wf-api.schema.json"
    assert tomllib.loads(toml) == {"greeting": GREETING}
    assert (cli.config / "wf-extra.txt").read_text() == EXTRA
    schema = json.loads((cli.config / "wf-api.schema.json").read_text())
    assert sorted(schema["properties"]) == ["greeting", "port", "token"]
    # The default token is not decided for this installation: masked, so the file stays 0644.
    no_secret(stdout, *(path.read_text() for path in written))
    assert {(cli.config / name).stat().st_mode & 0o777 for name in BUILT} == {0o644}


def test_a_plugin_reads_what_a_component_declares_in_its_extension_slot(cli: Cli) -> None:
    built(cli)
    assert (cli.config / "wf-extra.txt").read_text().splitlines()[-1] == MOTTO
    code = (
        "from importlib.metadata import entry_points\n"
        "from oservices_test_workflow.hooks import MOTTO\n"
        "(point,) = entry_points(group='oservices', name='wf-api')\n"
        "component = point.load()\n"
        "print(component.extensions[MOTTO], MOTTO in component.extensions)\n"
    )
    result = cli.python(code)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "declared in the extension slot True\n"


def test_build_json_reports_each_artifact_with_its_plugin_and_status(cli: Cli) -> None:
    def artifacts(stdout: str) -> list[tuple[str, str, str, str, str]]:
        configure, build = json.loads(stdout)
        assert (configure["stage"], configure["artifacts"]) == ("configure", [])
        assert build["stage"] == "build"
        assert isinstance(build["seconds"], float)
        assert len(build["artifacts"]) == len(files(cli.config))  # every file, once
        return ours(build)

    first = artifacts(built(cli, "--json"))
    plugins = {"wf-api.schema.json": "toml", "wf-api.toml": "toml", "wf-extra.txt": "wf-hooks"}
    assert first == [
        (str(cli.config / name), plugins[name], "build", "created", "0o644") for name in BUILT
    ]
    again = artifacts(built(cli, "--json"))
    assert again == [(*row[:3], "unchanged", row[4]) for row in first]


def test_second_build_changes_nothing_and_touches_no_file(cli: Cli) -> None:
    built(cli)
    before = snapshot(cli.home)
    stdout = built(cli)
    assert summary(stdout) == [
        "configure: done",
        f"build: nothing changed ({len(files(cli.config))} files up to date)",
    ]
    assert snapshot(cli.home) == before  # bytes, mtimes, inodes, modes, directories too


def test_build_into_another_directory(cli: Cli) -> None:
    built(cli, "--output", "out")
    assert set(BUILT) <= {path.name for path in files(cli.home / "out")}
    assert not cli.config.exists()


NESTED = """
import json, sys, types
from importlib.metadata import EntryPoint
from pydantic import BaseModel
from oservices_core import Component, Configuration, Registry, System, get_plugin_manager
from oservices_core import run_workflow

class Endpoint(BaseModel):
    host: str = "localhost"
    port: int = 80

class NestedConfiguration(Configuration):
    endpoint: Endpoint = Endpoint(port=3)  # a default that is not the model's own

module = types.ModuleType("nested_plugin")
module.component = Component(name="nested", configuration=NestedConfiguration)
sys.modules["nested_plugin"] = module
points = [
    EntryPoint(name="nested", value="nested_plugin:component", group="oservices"),
    EntryPoint(name="toml", value="oservices_plugins.toml", group="oservices"),
]
system = System.from_registry(Registry(get_plugin_manager(entry_points=points)))
found = []
for _ in range(2):
    context, reports = run_workflow(system, ["build"])
    statuses = sorted(a.status for a in reports[-1].artifacts if a.path.name.startswith("nested"))
    found.append([statuses, context.configurations["nested"].endpoint.port])
print(json.dumps(found))
"""


def test_a_nested_model_default_survives_the_built_file(cli: Cli) -> None:
    result = cli.python(NESTED)
    assert (result.returncode, result.stderr) == (0, "")
    assert (cli.config / "nested.toml").read_text().splitlines()[-1] == "# port = 3  (default)"
    assert json.loads(result.stdout) == [
        [["created", "created"], 3],
        [["unchanged", "unchanged"], 3],  # nothing changed, nothing written, same value
    ]


# config explain and the environment ------------------------------------------------

CONFIGURE = """
import json
from oservices_core import Registry, System, get_plugin_manager, run_workflow

system = System.from_registry(Registry(get_plugin_manager()))
context, _ = run_workflow(system, ["configure"])
found = context.resolved["wf-api"].explain("greeting")
where = lambda source: source.where(("greeting",))
print(json.dumps([found.value, where(found.source), [[where(s), v] for s, v in found.hidden]]))
"""
ENV = {"OSERVICES_WF_API__GREETING": "env"}
FROM_ENV = "environment variable OSERVICES_WF_API__GREETING"


def test_explain_after_build_names_the_built_file(cli: Cli) -> None:
    built(cli)
    path = cli.config / "wf-api.toml"
    result = cli("config", "explain", "wf-api.greeting")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        f"wf-api.greeting = {GREETING!r}",
        f"  from: {path}:{line_of(path, GREETING_KEY)}",
        "  hides: default = 'hello'",
    ]


def test_configure_records_the_plugin_and_the_environment_still_wins(cli: Cli) -> None:
    result = cli.python(CONFIGURE)
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == [GREETING, "plugin wf-hooks", [["default", "hello"]]]
    result = cli.python(CONFIGURE, env=ENV)
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == [
        "env",
        FROM_ENV,
        [["plugin wf-hooks", GREETING], ["default", "hello"]],
    ]
    configure = cli("configure", "--json", env=ENV)
    assert (configure.returncode, configure.stderr) == (0, "")
    (report,) = json.loads(configure.stdout)  # configure writes nothing; it reports no values
    assert (report["stage"], report["artifacts"]) == ("configure", [])


def test_environment_wins_over_the_plugin_value_in_the_build_and_explain(cli: Cli) -> None:
    built(cli)
    path = cli.config / "wf-api.toml"
    line = line_of(path, GREETING_KEY)
    result = cli("config", "explain", "wf-api.greeting", env=ENV)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "wf-api.greeting = 'env'",
        f"  from: {FROM_ENV}",
        f"  hides: {path}:{line} = {GREETING!r}",
        "  hides: default = 'hello'",
    ]
    built(cli, env=ENV)
    assert (cli.config / "wf-extra.txt").read_text() == f"greeting: env\nport: 8000\n{MOTTO}\n"


@pytest.mark.parametrize(
    ("file", "key", "raw", "value", "kept"),
    [
        pytest.param(
            None,
            "greeting",
            "env",
            "env",
            GREETING,
            id="plugin-value",
        ),
        pytest.param(
            "port = 9200\n",
            "port",
            "9100",
            9100,
            9200,
            id="users-file-value",
        ),
    ],
)
def test_a_build_with_a_variable_set_keeps_decided_values_in_the_file(
    cli: Cli, file: str | None, key: str, raw: str, value: Any, kept: Any
) -> None:
    """The variable wins while it is set; the file must still hold what was decided."""
    path = cli.config / "wf-api.toml"
    if file is not None:
        cli.config.mkdir()
        path.write_text(file, encoding="utf-8")
    variable = f"OSERVICES_WF_API__{key.upper()}"
    built(cli, env={variable: raw})
    result = cli("config", "explain", f"wf-api.{key}", env={variable: raw})
    assert result.stdout.splitlines()[:2] == [
        f"wf-api.{key} = {value!r}",
        f"  from: environment variable {variable}",
    ]
    assert tomllib.loads(path.read_text(encoding="utf-8")).get(key) == kept
    result = cli("config", "explain", f"wf-api.{key}")  # the variable is gone: the file serves
    assert result.stdout.splitlines()[:2] == [
        f"wf-api.{key} = {kept!r}",
        f"  from: {path}:{line_of(path, f'{key} = {json.dumps(kept)}')}",
    ]


# --dry-run ---------------------------------------------------------------------------


def test_dry_run_prints_a_diff_of_new_files_and_writes_nothing(cli: Cli) -> None:
    before = snapshot(cli.home)
    result = cli("build", "--dry-run")
    assert (result.returncode, result.stderr) == (0, "")
    assert snapshot(cli.home) == before
    assert not cli.config.exists()
    lines = result.stdout.splitlines()
    toml = str(cli.config / "wf-api.toml")
    start = lines.index(f"+++ {toml}")
    assert lines[start - 1] == "--- /dev/null"
    assert lines[start + 1].startswith("@@ -0,0 +1,")
    assert f"+{GREETING_KEY}" in lines
    assert "+# port = 8000  (default)" in lines
    assert f"+++ {cli.config / 'wf-extra.txt'}" in lines
    assert f"+greeting: {GREETING}" in lines
    created = len(diffs(result.stdout))
    assert created >= len(BUILT)
    assert summary(result.stdout)[-2:] == [
        "configure: done",
        f"build: would write {created} files ({created} would create), 0 unchanged",
    ]
    no_secret(result.stdout)


def test_dry_run_after_a_build_diffs_only_the_change_and_writes_nothing(cli: Cli) -> None:
    built(cli)
    before = snapshot(cli.home)
    result = cli("build", "--dry-run", "--set", "wf-api.port=9001")
    assert (result.returncode, result.stderr) == (0, "")
    assert snapshot(cli.home) == before
    lines = result.stdout.splitlines()
    for name in ("wf-api.toml", "wf-extra.txt"):
        start = lines.index(f"--- {cli.config / name}")
        assert lines[start + 1] == f"+++ {cli.config / name}"
    assert diffs(result.stdout) == {
        str(cli.config / "wf-extra.txt"): ["-port: 8000", "+port: 9001"],
        str(cli.config / "wf-api.toml"): [
            "-# port = 8000  (default)",
            "+# port = 9001  (from --set wf-api.port=9001)",
        ],
    }
    unchanged = len(files(cli.config)) - 2
    assert summary(result.stdout)[-1] == (
        f"build: would write 2 files (2 would update), {unchanged} unchanged"
    )


def test_dry_run_json_prints_json(cli: Cli) -> None:
    result = cli("build", "--dry-run", "--json")
    assert result.returncode == 0
    reports = json.loads(result.stdout)
    assert {a["status"] for a in reports[-1]["artifacts"]} == {"would create"}


# Blocking the built-in toml plugin ---------------------------------------------------


def test_blocking_toml_builds_only_the_third_party_file(cli: Cli) -> None:
    stdout = built(cli, env={"OSERVICES_DISABLE_PLUGINS": "toml"})
    written = files(cli.config)
    assert (
        summary(stdout)[-1]
        == f"build: wrote {len(written)} files ({len(written)} created), 0 unchanged"
    )
    assert "wf-extra.txt" in {path.name for path in written}
    assert [path for path in written if path.name.endswith((".toml", ".schema.json"))] == []
    assert (cli.config / "wf-extra.txt").read_text() == EXTRA


# A failing build hook ----------------------------------------------------------------

FAILED = (
    "oservices: error: stage 'build' failed in plugin 'failing-hooks' "
    f"({FAILING[0]} {FAILING[1]}), hook oservices_build: RuntimeError: boom in build"
)


def test_failing_hook_names_stage_plugin_distribution_hook_and_rolls_back(cli: Cli) -> None:
    built(cli)  # the previous, good build
    good = contents(cli.home)
    # A change, so that every hook updates a file before the failing one raises.
    result = cli("build", "--set", "wf-api.port=9001", env=cli.with_failing())
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [FAILED]  # one line: no traceback, no warning
    assert contents(cli.home) == good  # updates undone, new files gone, no temporary file
    again = cli("build", "--json", env=cli.with_failing())
    assert (again.returncode, again.stdout, again.stderr.splitlines()) == (2, "", [FAILED])
    assert contents(cli.home) == good


def test_failing_hook_on_a_fresh_home_leaves_no_file(cli: Cli) -> None:
    result = cli("build", env=cli.with_failing())
    assert (result.returncode, result.stderr.splitlines()) == (2, [FAILED])
    assert contents(cli.home) == {}


def test_failing_plugin_is_installed_apart(cli: Cli) -> None:
    """The failing distribution is listed only where PYTHONPATH adds it."""
    ours = {
        (o["distribution"], o["version"], o["name"], o["state"])
        for o in json.loads(cli("plugins", "--json", env=cli.with_failing()).stdout)
    }
    assert {(*WORKFLOW, "wf-api", "loaded"), (*FAILING, "failing-hooks", "loaded")} <= ours
    listed = json.loads(cli("plugins", "--json").stdout)
    assert FAILING[0] not in {o["distribution"] for o in listed}
