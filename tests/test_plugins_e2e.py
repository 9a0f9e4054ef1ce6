"""End to end: real plugin distributions, installed in a fresh virtual environment.

Once per session, the plugin trees under ``tests/plugins/`` and the project
itself are built into wheels by hatchling, and installed with pip into a new
virtual environment; every test then runs that environment's real
``oservices`` command (or its Python) in a temporary home, with no
``OSERVICES_*`` variable inherited from the machine.

The virtual environment doubles as the build environment: it gets hatchling
and the project's dependencies in one pip run, then builds every wheel
without build isolation (isolation costs several seconds per wheel). pip runs
from this interpreter with ``--python``, so the new environment needs no pip
of its own. pip fetches hatchling and the dependencies from the package index
(or its cache).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _run import run_in
from _venv import ROOT, TREES, checked, new_venv, pip, wheel

from oservices_core import __version__

# Plugin trees installed with their dependencies; "incompatible" requires oservices>=99,
# which pip refuses to resolve, so it is installed with --no-deps.
WITH_DEPS = ("good", "broken", "blocked", "twin", "impure")
NO_DEPS = ("incompatible",)
APART = ("clash",)  # built, but installed only by the tests that use it

BROKEN = ("oservices-test-broken", "0.3.0")
GOOD = ("oservices-test-good", "1.2.0")
# Every entry point of the test distributions, in the order they load (distribution,
# then entry-point name), as `oservices plugins --json` reports them.
OUTCOMES: list[dict[str, Any]] = [
    {
        "name": "blocked-one",
        "distribution": "oservices-test-blocked",
        "version": "0.1.0",
        "state": "loaded",
        "reason": "",
        "kind": "component",
        "hooks": [],
    },
    {
        "name": "broken-hooks",
        "distribution": BROKEN[0],
        "version": BROKEN[1],
        "state": "failed",
        "reason": "unknown hook oservices_nope",
        "kind": "hooks",
        "hooks": [],
    },
    {
        "name": "broken-import",
        "distribution": BROKEN[0],
        "version": BROKEN[1],
        "state": "failed",
        "reason": (
            "import failed: ImportError: oservices-test-broken needs the missing module frobnicate"
        ),
        "kind": "",
        "hooks": [],
    },
    *(
        {
            "name": name,
            "distribution": GOOD[0],
            "version": GOOD[1],
            "state": "loaded",
            "reason": "",
            "kind": kind,
            "hooks": hooks,
        }
        for name, kind, hooks in [
            ("shop", "service", []),
            ("shop-api", "component", []),
            ("shop-hooks", "hooks", ["oservices_configurations", "oservices_setup"]),
            ("shop-worker", "component", []),
        ]
    ),
    {
        "name": "impure-one",
        "distribution": "oservices-test-impure",
        "version": "0.1.0",
        "state": "loaded",
        "reason": "",
        "kind": "component",
        "hooks": [],
    },
    {
        "name": "incompatible-one",
        "distribution": "oservices-test-incompatible",
        "version": "0.1.0",
        "state": "failed",
        "reason": f"requires oservices>=99, but {__version__} is installed",
        "kind": "",
        "hooks": [],
    },
    {
        "name": "twin-api",
        "distribution": "oservices-test-twin",
        "version": "0.2.0",
        "state": "failed",
        "reason": "component name 'shop-api' is already taken by plugin 'shop-api'",
        "kind": "component",
        "hooks": [],
    },
]
# How each failure is named on stderr: plugin, distribution, version, reason.
FAILURES = [
    f"plugin {o['name']!r} ({o['distribution']} {o['version']}): {o['reason']}"
    for o in OUTCOMES
    if o["state"] == "failed"
]
WARNINGS = [f"oservices: warning: {failure}" for failure in FAILURES]
# Variables that would make the environment's interpreter import something else.


@dataclass(frozen=True)
class Installation:
    """The virtual environment, and the wheels built for it."""

    venv: Path
    wheelhouse: Path


@pytest.fixture(scope="session")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    """A virtual environment with the project's and the plugins' wheels installed."""
    base = tmp_path_factory.mktemp("e2e")
    venv, wheelhouse = base / "venv", base / "wheelhouse"
    installer = new_venv(venv, [TREES / name for name in WITH_DEPS + NO_DEPS + APART])
    trees = [str(TREES / name) for name in WITH_DEPS + NO_DEPS + APART]
    build = ["wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheelhouse)]
    checked([*installer, *build, *trees, str(ROOT)], "building wheels")
    wheels = [wheel(wheelhouse, f"oservices-test-{name}") for name in WITH_DEPS]
    checked([*installer, "install", wheel(wheelhouse, "oservices"), *wheels], "installing wheels")
    incompatible = [wheel(wheelhouse, f"oservices-test-{name}") for name in NO_DEPS]
    checked([*installer, "install", "--no-deps", *incompatible], "installing without dependencies")
    return Installation(venv, wheelhouse)


@dataclass(frozen=True)
class Cli:
    """Runs the environment's ``oservices`` (or ``python``) in a temporary home."""

    venv: Path
    home: Path

    def __call__(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "oservices"), *args, env=env)

    def python(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "python"), "-c", code, *args)

    def run(
        self, program: str, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_in(self.home, [program, *args], env)


@pytest.fixture
def cli(installation: Installation, tmp_path: Path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return Cli(installation.venv, home)


@pytest.fixture(scope="session")
def clash(installation: Installation, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``PYTHONPATH`` that adds oservices-test-clash, installed apart from the environment."""
    target = tmp_path_factory.mktemp("clash")
    clash = wheel(installation.wheelhouse, "oservices-test-clash")
    install = ["install", "--no-deps", "--target", str(target), clash]
    checked([*pip(installation.venv), *install], "pip install --target")
    return {"PYTHONPATH": str(target)}


def _ours(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outcomes of the test distributions (built-in plugins may come and go)."""
    return [o for o in outcomes if o["distribution"].startswith("oservices-test-")]


def _table(stdout: str) -> dict[str, dict[str, str]]:
    """A listing table by its first column, each row by header; cells cut at header columns."""
    header, *rows = stdout.splitlines()
    columns = list(re.finditer(r"\S+(?: \S+)*", header))  # names may hold single spaces
    starts = [column.start() for column in columns]
    names = [column.group() for column in columns]
    table: dict[str, dict[str, str]] = {}
    for row in rows:
        cells = [row[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        table[cells[0]] = dict(zip(names, cells, strict=True))
    return table


# oservices plugins ---------------------------------------------------------------


def test_plugins_json_reports_each_entry_point_in_order(cli: Cli) -> None:
    result = cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    outcomes = json.loads(result.stdout)
    assert _ours(outcomes) == OUTCOMES
    order = [(re.sub(r"[-_.]+", "-", o["distribution"]).lower(), o["name"]) for o in outcomes]
    assert order == sorted(order)


def test_plugins_table_shows_hooks_of_loaded_and_reasons_of_failed(cli: Cli) -> None:
    result = cli("plugins")
    assert result.returncode == 0, result.stderr
    table = _table(result.stdout)
    assert table["shop-hooks"] == {
        "PLUGIN": "shop-hooks",
        "DISTRIBUTION": "oservices-test-good",
        "VERSION": "1.2.0",
        "KIND": "hooks",
        "STATE": "loaded",
        "HOOKS / REASON": "oservices_configurations, oservices_setup",
    }
    assert table["broken-hooks"]["STATE"] == "failed"
    assert table["broken-hooks"]["HOOKS / REASON"] == "unknown hook oservices_nope"


def test_disable_plugins_blocks_by_entry_point_name(cli: Cli) -> None:
    env = {"OSERVICES_DISABLE_PLUGINS": "blocked-one"}
    outcomes = _ours(json.loads(cli("plugins", "--json", env=env).stdout))
    blocked = [o for o in outcomes if o["state"] == "blocked"]
    assert blocked == [
        {
            "name": "blocked-one",
            "distribution": "oservices-test-blocked",
            "version": "0.1.0",
            "state": "blocked",
            "reason": "blocked by name (disable_plugins)",
            "kind": "",  # never imported, so what it names is unknown
            "hooks": [],
        }
    ]
    assert "blocked-one" in _table(cli("components").stdout)
    result = cli("components", env=env)
    assert result.returncode == 0, result.stderr
    assert set(_table(result.stdout)) >= {"shop-api", "shop-worker"}
    assert "blocked-one" not in _table(result.stdout)


def test_autoload_off_loads_only_the_listed_plugins(cli: Cli) -> None:
    env = {"OSERVICES_AUTOLOAD_PLUGINS": "0", "OSERVICES_PLUGINS": "shop,shop-api,shop-worker"}
    result = cli("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    loaded = [o["name"] for o in outcomes if o["state"] == "loaded"]
    assert loaded == ["shop", "shop-api", "shop-worker"]
    others = {(o["state"], o["reason"]) for o in outcomes if o["name"] not in loaded}
    # Not even imported: the broken ones are blocked, not failed.
    assert others == {("blocked", "autoload is off and the plugin is not listed")}
    components = cli("components", env=env)
    assert (components.returncode, components.stderr) == (0, "")
    assert list(_table(components.stdout)) == ["shop-api", "shop-worker"]


# oservices components ------------------------------------------------------------


def test_components_lists_services_and_api_and_warns_about_failures(cli: Cli) -> None:
    result = cli("components")
    assert result.returncode == 0
    table = _table(result.stdout)
    assert table["shop-api"] == {
        "COMPONENT": "shop-api",
        "SERVICE": "shop",
        "API": "yes",
        "CONFIGURATION": "shop-api",
        "PLUGIN": "shop-api",
    }
    assert table["shop-worker"] == {
        "COMPONENT": "shop-worker",
        "SERVICE": "shop",
        "API": "",
        "CONFIGURATION": "-",
        "PLUGIN": "shop-worker",
    }
    assert table["blocked-one"]["SERVICE"] == "-"
    assert result.stderr.splitlines() == WARNINGS


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--strict", "components"), {}), (("components",), {"OSERVICES_STRICT": "1"})],
    ids=["--strict", "OSERVICES_STRICT=1"],
)
def test_strict_fails_listing_every_failure(
    cli: Cli, args: tuple[str, ...], env: dict[str, str]
) -> None:
    result = cli(*args, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"oservices: error: {len(FAILURES)} plugin(s) failed to load:",
        *(f"  {failure}" for failure in FAILURES),
        "fix or uninstall them, or block them with OSERVICES_DISABLE_PLUGINS=name,...",
    ]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param(("config", "show", "shop-api"), {"OSERVICES_STRICT": "1"}, id="env"),
        pytest.param(("--strict", "config", "show", "shop-api"), {}, id="flag"),
    ],
)
def test_strict_applies_to_config_commands(
    cli: Cli, args: tuple[str, ...], env: dict[str, str]
) -> None:
    result = cli(*args, env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[0] == (
        f"oservices: error: {len(FAILURES)} plugin(s) failed to load:"
    )


# oservices describe --------------------------------------------------------------


def test_describe_shows_api_port_components_and_configuration_file(cli: Cli) -> None:
    result = cli("describe", "shop")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Service shop: A small shop.",
        "  API component: shop-api on port 8400, at http://127.0.0.1:8400/",
        "  Components:",
        "    shop-api [API]",
        "      The shop's public API.",
        "    shop-worker (depends on shop-api)",
        "  Configurations:",
        "    shop-api: oservices_test_good.shop.ShopApiConfiguration"
        f" in {cli.home / 'config' / 'shop-api.toml'}",
    ]


def test_describe_unknown_service_suggests_the_closest(cli: Cli) -> None:
    result = cli("describe", "shpo")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "found unknown service 'shpo'. did you mean shop?" in result.stderr.splitlines()[-1]


# oservices config ----------------------------------------------------------------

PORT_ENV = {"OSERVICES_SHOP_API__PORT": "9100"}


def test_config_show_resolves_a_component_configuration_by_name(cli: Cli) -> None:
    result = cli("config", "show", "shop-api", env=PORT_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "#:schema ./shop-api.schema.json",
        "# Configuration 'shop-api' (oservices_test_good.shop.ShopApiConfiguration)",
        "# The shop API.",
        "",
        "# Port the shop API listens on.",
        "port = 9100",
    ]


def test_config_explain_names_the_environment_variable_and_what_it_hides(cli: Cli) -> None:
    # The file `oservices describe shop` names for shop-api.
    path = cli.home / "config" / "shop-api.toml"
    path.parent.mkdir()
    path.write_text("# the shop API\nport = 9200\n", encoding="utf-8")
    result = cli("config", "explain", "shop-api.port", env=PORT_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "shop-api.port = 9100",
        "  from: environment variable OSERVICES_SHOP_API__PORT",
        f"  hides: {path}:2 = 9200",
        "  hides: default = 8400",
    ]


def test_config_show_a_package_configuration_from_a_hook(cli: Cli) -> None:
    result = cli("config", "show", "shop-common")
    assert result.returncode == 0, result.stderr
    assert 'currency = "EUR"' in result.stdout.splitlines()
    assert "(oservices_test_good.hooks.ShopCommonConfiguration)" in result.stdout


# System.load ---------------------------------------------------------------------

LOAD_SYSTEM = """
import sys
from oservices_core import ConfigurationError, Registry, System, get_plugin_manager

try:
    system = System.load(sys.argv[1], Registry(get_plugin_manager()))
except ConfigurationError as exc:
    print(exc)
    raise SystemExit(3) from None
print(list(system.services), list(system.components))
"""
SYSTEM = """\
name = "shop"
services = ["shop"]
components = [
    "blocked-one",
    "{name}",
]
"""


def test_system_file_loads_services_and_components(cli: Cli) -> None:
    path = cli.home / "system.toml"
    path.write_text(SYSTEM.format(name="impure-one"), encoding="utf-8")
    result = cli.python(LOAD_SYSTEM, str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "['shop'] ['shop-api', 'shop-worker', 'blocked-one', 'impure-one']\n"


def test_system_file_with_an_unknown_component_names_file_line_and_closest(cli: Cli) -> None:
    path = cli.home / "system.toml"
    path.write_text(SYSTEM.format(name="shop-wroker"), encoding="utf-8")
    result = cli.python(LOAD_SYSTEM, str(path))
    assert result.returncode == 3, result.stderr
    head, problem = result.stdout.splitlines()
    assert head == f"1 problem in {path}:"
    assert problem.startswith(f"  {path}:5: shop-wroker: expected a known component (")
    assert problem.endswith("found unknown component 'shop-wroker'. did you mean shop-worker?")


# Plugin commands -----------------------------------------------------------------

MARKER = "shop-report-imported.marker"  # written by oservices_test_good.commands on import


def command_help(lines: list[str], name: str) -> str:
    """A command's help in ``--help``: beside its name, or below it where argparse wraps it
    (Python 3.13 counts the commands' indent in the help column; 3.11 and 3.12 wrap this one)."""
    index = next(i for i, line in enumerate(lines) if line.split()[:1] == [name])
    return lines[index].strip().removeprefix(name).strip() or lines[index + 1].strip()


def test_help_lists_plugin_commands_without_importing_plugins(cli: Cli) -> None:
    result = cli("--help", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    # The distribution as its .dist-info directory spells it (see the report: not normalized).
    assert re.fullmatch(
        r"\(plugin command from oservices[-_]test[-_]good\)", command_help(lines, "shop-report")
    )
    assert not (cli.home / MARKER).exists()
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "oservices_core._cli.commands" in imported  # the import profile is really there
    assert not {name for name in imported if name.startswith("oservices_test_")}
    assert not imported & {"pydantic", "pluggy"}


def test_help_names_the_distribution_as_the_plugin_listing_does(cli: Cli) -> None:
    listed = command_help(cli("--help").stdout.splitlines(), "shop-report")
    assert listed.startswith("(plugin command from oservices-test-good")


@pytest.mark.parametrize(("args", "code"), [(("a", "--b", "c d"), 0), (("--exit", "3"), 3)])
def test_plugin_command_gets_its_arguments_and_gives_its_exit_code(
    cli: Cli, args: tuple[str, ...], code: int
) -> None:
    result = cli("shop-report", *args)
    assert (result.returncode, result.stderr) == (code, "")
    assert json.loads(result.stdout) == list(args)
    assert (cli.home / MARKER).exists()  # imported only now, when it runs


def test_builtin_command_wins_over_a_plugin_command_of_its_name(
    cli: Cli, clash: dict[str, str]
) -> None:
    result = cli("config", "explain", "shop-api.port", env=clash)
    assert result.returncode == 0
    # config commands warn about the plugins that failed, like every command that loads them
    assert all(
        line.startswith("oservices: warning: plugin ") for line in result.stderr.splitlines()
    )
    assert result.stdout.splitlines()[0] == "shop-api.port = 8400"
    other = cli("clash-report", "x", env=clash)  # the clash distribution is really there
    assert (other.returncode, other.stdout) == (0, "clash-report ['x']\n")


def test_help_survives_a_plugin_command_named_like_a_builtin(
    cli: Cli, clash: dict[str, str]
) -> None:
    result = cli("--help", env=clash)
    assert result.returncode == 0
    assert "Traceback" not in result.stderr  # a warning about the ignored command is welcome
    commands = [line.split(maxsplit=1) for line in result.stdout.splitlines()]
    configs = [command for command in commands if command[:1] == ["config"]]
    assert configs == [["config", "show, explain, check and sample configurations"]]
    assert any(command[:1] == ["clash-report"] for command in commands)


# oservices check neutral ---------------------------------------------------------


def test_check_neutral_passes_the_good_plugin_modules(cli: Cli) -> None:
    result = cli("check", "neutral", "oservices_test_good.shop", "oservices_test_good.hooks")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "oservices_test_good.shop: neutral",
        "oservices_test_good.hooks: neutral",
        "2 neutral, 0 not neutral",
    ]


def test_check_neutral_names_the_environment_read_and_the_thread(cli: Cli) -> None:
    result = cli("check", "neutral", "oservices_test_impure")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "oservices_test_impure: NOT NEUTRAL",
        "  - read the environment: IMPURE_LEVEL",
        "  - started thread 'impure-ticker'",
        "0 neutral, 1 not neutral",
    ]


def test_check_neutral_defaults_to_every_installed_plugin_module(cli: Cli) -> None:
    result = cli("check", "neutral")
    assert result.returncode == 1
    verdicts = {
        line.partition(": ")[0]: line.partition(": ")[2]
        for line in result.stdout.splitlines()
        if line.startswith("oservices_test_")
    }
    assert verdicts == {
        "oservices_test_blocked": "neutral",
        "oservices_test_broken.explodes": "NOT NEUTRAL",
        "oservices_test_broken.nope": "neutral",
        "oservices_test_good.hooks": "neutral",
        "oservices_test_good.shop": "neutral",
        "oservices_test_impure": "NOT NEUTRAL",
        "oservices_test_incompatible": "neutral",
        "oservices_test_twin": "neutral",
    }
    assert (
        "  - import failed: ImportError: oservices-test-broken needs the missing module frobnicate"
        in result.stdout.splitlines()
    )
