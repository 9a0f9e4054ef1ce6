"""Malformed inputs, walked through the real command line.

Each row of ``CASES`` is one bad input: a file, an environment variable, a
settings source, a ``--set`` or a NAME. The command runs as a process
(``python -m oservices_core``) in a temporary home with a clean environment,
and must end with exit status 2 and one located problem line: where (file and
line, environment variable, override), the dotted key when there is one, what
was expected and what was found. No traceback, no secret text, and no file in
the home touched (bytes and mode of every file, before and after).

Rows marked ``xfail`` are inputs the core does not yet report well; each reason
says what goes wrong. ``xfail_strict`` makes a fixed one fail until its mark goes.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SHOPCONF = '''\
"""Configurations the malformed-input test imports by ``shopconf:ShopConfiguration``."""
import datetime as dt
import enum
from ipaddress import IPv4Address
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

from oservices_core import Configuration


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Database(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "localhost"
    port: int = 5432
    password: SecretStr = SecretStr("")


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str
    quantity: int = 1


class ShopConfiguration(Configuration):
    """A shop."""

    name: str
    workers: Annotated[int, Field(ge=1, le=64)] = 4
    mode: Literal["fast", "safe"] = "safe"
    color: Color = Color.RED
    homepage: HttpUrl = HttpUrl("https://shop.example")
    bind: IPv4Address = IPv4Address("127.0.0.1")
    opens_at: dt.datetime = dt.datetime(2024, 1, 1, 9, 0)
    tags: list[str] = []
    ports: list[int] = []
    items: list[Item] = []
    limits: dict[str, int] = {}
    database: Database = Database()
    api_key: SecretStr = SecretStr("")


class NotAConfiguration:
    pass


not_a_class = 3
'''

TARGET = "shopconf:ShopConfiguration"
CHECK = ("config", "check", "shop.toml", "--as", TARGET)
SHOW = ("config", "show", TARGET)
SETTINGS = ("config", "show", "settings")
VALID = 'name = "corner"\n'
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass(frozen=True)
class Case:
    """One malformed input and the located problem it must give."""

    args: tuple[str, ...]
    where: str  # the location: "file:LINE:", a variable's name, the override
    key: str | None  # the dotted key, or None when the input has none
    expected: str  # a fragment of what was expected
    found: str  # a fragment of what was found
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()
    modes: Mapping[str, int] = field(default_factory=dict)
    hint: str | None = None  # e.g. a "did you mean" suggestion
    absent: tuple[str, ...] = ()  # text that must not show (secrets)


def row(
    name: str,
    *args: str,
    xfail: str | None = None,
    skip_root: str | None = None,
    **fields: Any,
) -> object:
    """One row: ``oservices ARGS`` with the :class:`Case` ``fields``, under id ``name``."""
    marks: list[pytest.MarkDecorator] = []
    if xfail:
        marks.append(pytest.mark.xfail(strict=True, reason=xfail))
    if skip_root:
        marks.append(pytest.mark.skipif(AS_ROOT, reason=skip_root))
    return pytest.param(Case(args, **fields), id=name, marks=marks)


def check(name: str, text: str | bytes, **fields: Any) -> object:
    """`config check shop.toml --as shopconf:ShopConfiguration` on ``text``."""
    return row(name, *CHECK, files={"shop.toml": text}, **fields)


def env(name: str, variables: Mapping[str, str], **fields: Any) -> object:
    """`config show shopconf:ShopConfiguration` under ``variables``, over a valid file."""
    return row(name, *SHOW, env=variables, files={"config/shop.toml": VALID}, **fields)


# The table stays one row per input: ruff format would spread each over ten lines.
# fmt: off
CASES = [
    # -- TOML syntax: the file, the line, "valid TOML", the parser's complaint ------------------
    check("syntax-unclosed-string", 'name = "corner\nworkers = 2\n',
          where="shop.toml:1:", key=None, expected="valid TOML", found="Illegal character"),
    check("syntax-unclosed-array-at-eof", 'name = "corner"\ntags = ["a", "b"\n',
          where="shop.toml:2:", key=None, expected="valid TOML", found="Unclosed array"),
    check("syntax-unclosed-array-at-eof-no-final-newline", 'name = "corner"\ntags = ["a", "b"',
          where="shop.toml:2:", key=None, expected="valid TOML", found="Unclosed array"),
    check("syntax-unterminated-multiline-string", 'workers = 2\nname = """corner\n',
          where="shop.toml:2:", key=None, expected="valid TOML", found="Unterminated string"),
    check("syntax-duplicate-key", 'name = "corner"\nworkers = 2\nname = "deli"\n',
          where="shop.toml:3:", key="name", expected="valid TOML", found="Cannot overwrite"),
    check("syntax-duplicate-table", 'name = "c"\n[database]\nhost = "h"\n[database]\nport = 1\n',
          where="shop.toml:4:", key=None, expected="valid TOML",
          found="Cannot declare ('database',) twice"),
    check("syntax-bad-date", 'name = "corner"\nopens_at = 2024-02-30T10:00:00\n',
          where="shop.toml:2:", key=None, expected="valid TOML", found="Invalid date"),
    check("syntax-bare-word-value", 'name = "corner"\nmode = fast\n',
          where="shop.toml:2:", key=None, expected="valid TOML", found="Invalid value"),
    check("syntax-missing-value", 'workers = 2\nname =\n',
          where="shop.toml:2:", key=None, expected="valid TOML", found="Invalid value"),
    check("syntax-invalid-escape", 'name = "corner\\qshop"\n',
          where="shop.toml:1:", key=None, expected="valid TOML", found="Unescaped '\\'"),
    check("syntax-inline-table-trailing-comma", 'name = "c"\ndatabase = { host = "h", }\n',
          where="shop.toml:2:", key=None, expected="valid TOML",
          found="Invalid initial character for a key part"),
    check("syntax-inline-table-duplicate-key", 'name = "c"\ndatabase = {host = "h", host = "i"}\n',
          where="shop.toml:2:", key=None, expected="valid TOML",
          found="Duplicate inline table key 'host'"),
    check("syntax-inline-table-unclosed", 'name = "c"\ndatabase = { host = "h"\nworkers = 2\n',
          where="shop.toml:2:", key=None, expected="valid TOML", found="Unclosed inline table"),
    check("syntax-inline-table-extended-later", 'name = "c"\ndatabase = { host = "h" }\n'
          'database.port = 1\n', where="shop.toml:3:", key=None, expected="valid TOML",
          found="Cannot mutate immutable namespace"),
    # -- wrong types: top level, nested, inside lists and tables --------------------------------
    check("type-string-for-int", 'name = "corner"\nworkers = "many"\n',
          where="shop.toml:2:", key="workers", expected="a valid integer", found="'many'"),
    check("type-nested-table", 'name = "c"\n[database]\nhost = "h"\nport = "five"\n',
          where="shop.toml:4:", key="database.port", expected="a valid integer", found="'five'"),
    check("type-list-item", 'name = "c"\nports = [80, "two"]\n',
          where="shop.toml:2:", key="ports.1", expected="a valid integer", found="'two'"),
    check("type-table-in-list", 'name = "c"\nitems = [{ sku = "a", quantity = "x" }]\n',
          where="shop.toml:2:", key="items.0.quantity", expected="a valid integer", found="'x'"),
    check("type-array-of-tables-first-entry",
          'name = "c"\n[[items]]\nsku = "a"\nquantity = "x"\n[[items]]\nsku = "b"\n',
          where="shop.toml:4:", key="items.0.quantity", expected="a valid integer", found="'x'"),
    check("type-dict-value", 'name = "c"\nlimits = { orders = "many" }\n',
          where="shop.toml:2:", key="limits.orders", expected="a valid integer", found="'many'"),
    # -- unknown keys, with close-name suggestions ----------------------------------------------
    check("unknown-top-level-did-you-mean", 'name = "c"\ncolour = "red"\n',
          where="shop.toml:2:", key="colour", expected="one of the known keys",
          found="unknown key 'colour'", hint="did you mean color"),
    check("unknown-top-level-no-close-name", 'name = "c"\nzzz = 1\n',
          where="shop.toml:2:", key="zzz", expected="one of the known keys",
          found="unknown key 'zzz'", hint="remove it"),
    check("unknown-nested-did-you-mean", 'name = "c"\n[database]\nhots = "h"\n',
          where="shop.toml:3:", key="database.hots", expected="one of the known keys: host",
          found="unknown key 'hots'", hint="did you mean host"),
    check("unknown-in-list-item", 'name = "c"\nitems = [{ sku = "a", quantiti = 2 }]\n',
          where="shop.toml:2:", key="items.0.quantiti", expected="one of the known keys",
          found="unknown key 'quantiti'", hint="did you mean quantity"),
    # -- missing required values ----------------------------------------------------------------
    check("missing-required-field", "workers = 2\n",
          where="shop.toml:", key="name", expected="a value", found="nothing"),
    check("missing-required-in-list-item", 'name = "c"\nitems = [{ quantity = 2 }]\n',
          where="shop.toml:2:", key="items.0.sku", expected="a value", found="nothing"),
    # -- values of the right type but not allowed -----------------------------------------------
    check("bad-literal", 'name = "c"\nmode = "turbo"\n',
          where="shop.toml:2:", key="mode", expected="'fast' or 'safe'", found="'turbo'"),
    check("bad-enum", 'name = "c"\ncolor = "blue"\n',
          where="shop.toml:2:", key="color", expected="'red' or 'green'", found="'blue'"),
    check("bad-url", 'name = "c"\nhomepage = "not a url"\n',
          where="shop.toml:2:", key="homepage", expected="a valid URL", found="'not a url'"),
    check("bad-ip-address", 'name = "c"\nbind = "300.1.1.1"\n',
          where="shop.toml:2:", key="bind", expected="valid IPv4 address", found="'300.1.1.1'"),
    check("bad-datetime", 'name = "c"\nopens_at = "next tuesday"\n',
          where="shop.toml:2:", key="opens_at", expected="a valid datetime",
          found="'next tuesday'"),
    check("int-above-field-maximum", 'name = "c"\nworkers = 100\n',
          where="shop.toml:2:", key="workers", expected="less than or equal to 64", found="100"),
    # -- the configuration file in CONFIG_DIR ---------------------------------------------------
    row("config-dir-file-wrong-type", *SHOW,
        files={"config/shop.toml": 'name = "c"\nworkers = "many"\n'},
        where="config/shop.toml:2:", key="workers", expected="a valid integer", found="'many'"),
    row("config-dir-from-OSERVICES_CONFIG_DIR", *SHOW,
        files={"etc/shop.toml": 'name = "c"\n\n[database]\nport = "five"\n'},
        env={"OSERVICES_CONFIG_DIR": "etc"},
        where="etc/shop.toml:4:", key="database.port", expected="a valid integer", found="'five'"),
    row("config-dir-entry-is-a-directory", *SHOW, dirs=("config/shop.toml",),
        where="config/shop.toml:", key=None, expected="a file", found="a directory"),
    # -- a configuration's environment variables ------------------------------------------------
    env("env-wrong-type", {"OSERVICES_SHOP__WORKERS": "many"},
        where="environment variable OSERVICES_SHOP__WORKERS", key="workers",
        expected="a valid integer", found="'many'"),
    env("env-bad-json-for-list", {"OSERVICES_SHOP__TAGS": "[a, b"},
        where="environment variable OSERVICES_SHOP__TAGS", key="tags",
        expected="a JSON (or TOML inline) list or table", found="'[a, b'"),
    env("env-list-item-wrong-type", {"OSERVICES_SHOP__PORTS": '[80, "two"]'},
        where="environment variable OSERVICES_SHOP__PORTS", key="ports.1",
        expected="a valid integer", found="'two'"),
    env("env-unknown-field-did-you-mean", {"OSERVICES_SHOP__WORKRS": "3"},
        where="environment variable OSERVICES_SHOP__WORKRS", key="workrs",
        expected="one of the known keys", found="unknown key 'workrs'",
        hint="did you mean workers"),
    env("env-nested-unknown-field", {"OSERVICES_SHOP__DATABASE__HOTS": "db"},
        where="environment variable OSERVICES_SHOP__DATABASE__HOTS", key="database.hots",
        expected="one of the known keys: host", found="unknown key 'hots'",
        hint="did you mean host"),
    # -- settings: environment, oservices.toml, [tool.oservices], .env --------------------------
    row("settings-env-base-port-not-a-number", *SETTINGS, env={"OSERVICES_BASE_PORT": "abc"},
        where="environment variable OSERVICES_BASE_PORT", key="base_port",
        expected="a valid integer", found="'abc'"),
    row("settings-env-base-port-zero", *SETTINGS, env={"OSERVICES_BASE_PORT": "0"},
        where="environment variable OSERVICES_BASE_PORT", key="base_port",
        expected="greater than or equal to 1", found="'0'"),
    row("settings-env-base-port-too-high", *SETTINGS, env={"OSERVICES_BASE_PORT": "70000"},
        where="environment variable OSERVICES_BASE_PORT", key="base_port",
        expected="less than or equal to 65535", found="'70000'"),
    row("settings-env-bad-while-showing-a-configuration", *SHOW,
        files={"config/shop.toml": VALID}, env={"OSERVICES_BASE_PORT": "abc"},
        where="environment variable OSERVICES_BASE_PORT", key="base_port",
        expected="a valid integer", found="'abc'"),
    row("settings-file-wrong-type", *SETTINGS,
        files={"oservices.toml": 'environment = "dev"\nbase_port = "abc"\n'},
        where="oservices.toml:2:", key="base_port", expected="a valid integer", found="'abc'"),
    row("settings-file-syntax-error", *SETTINGS,
        files={"oservices.toml": 'environment = "dev"\nbase_port =\n'},
        where="oservices.toml:2:", key=None, expected="valid TOML", found="Invalid value"),
    row("settings-file-from-OSERVICES_SETTINGS_FILE", *SETTINGS,
        files={"site.toml": '# site\n\nbase_port = 70000\n'},
        env={"OSERVICES_SETTINGS_FILE": "site.toml"},
        where="site.toml:3:", key="base_port", expected="less than or equal to 65535",
        found="70000"),
    row("settings-file-named-but-missing", *SETTINGS,
        env={"OSERVICES_SETTINGS_FILE": "missing-site.toml"},
        where="OSERVICES_SETTINGS_FILE", key=None, expected="an existing",
        found="missing-site.toml"),
    row("settings-file-not-utf8", *SETTINGS,
        files={"oservices.toml": b'environment = "d\xffv"\n'},
        where="oservices.toml", key=None, expected="UTF-8", found="not UTF-8"),
    row("pyproject-tool-oservices-bad-value", *SETTINGS,
        files={"pyproject.toml": '[project]\nname = "shop"\n\n[tool.oservices]\nbase_port = 0\n'},
        where="pyproject.toml:5:", key="base_port", expected="greater than or equal to 1",
        found="0"),
    row("pyproject-syntax-error", *SETTINGS,
        files={"pyproject.toml": '[project]\nname = "shop"\n\n[tool.oservices\nbase_port = 1\n'},
        where="pyproject.toml:4:", key=None, expected="valid TOML", found="Expected ']'"),
    row("dotenv-bad-value", *SETTINGS,
        files={".env": "# local\nOSERVICES_BASE_PORT=abc\n"},
        where=".env:2", key="base_port", expected="a valid integer", found="'abc'"),
    row("dotenv-bad-value-spaced-assignment", *SETTINGS,
        files={".env": "# local\nOSERVICES_BASE_PORT = abc\n"},
        where=".env:2", key="base_port", expected="a valid integer", found="'abc'"),
    row("dotenv-not-utf8", *SETTINGS,
        files={".env": b"OSERVICES_ENVIRONMENT=d\xffv\n"},
        where=".env", key=None, expected="UTF-8", found="not UTF-8"),
    # -- --set overrides ------------------------------------------------------------------------
    row("set-without-dot", *SHOW, "--set", "workers=3", files={"config/shop.toml": VALID},
        where="--set", key="workers", expected="NAME.FIELD=VALUE", found="'workers=...'"),
    row("set-unknown-field", *SHOW, "--set", "shop.workrs=3", files={"config/shop.toml": VALID},
        where="override shop.workrs", key="workrs", expected="one of the known keys",
        found="unknown key 'workrs'", hint="did you mean workers"),
    row("set-wrong-type", *SHOW, "--set", "shop.workers=many", files={"config/shop.toml": VALID},
        where="--set shop.workers=many", key="workers", expected="a valid integer",
        found="'many'"),
    row("set-bad-json-for-list", *SHOW, "--set", "shop.tags=[a",
        files={"config/shop.toml": VALID}, where="override shop.tags", key="tags",
        expected="a JSON (or TOML inline) list or table", found="'[a'"),
    row("set-wrong-type-on-explain", "config", "explain", f"{TARGET}.workers",
        "--set", "shop.workers=x", files={"config/shop.toml": VALID},
        where="--set shop.workers=x", key="workers", expected="a valid integer", found="'x'"),
    row("set-names-another-configuration", *SHOW, "--set", "other.workers=3",
        files={"config/shop.toml": VALID},
        where="--set", key="other.workers", expected="'shop'", found="'other'"),
    # -- files given to `config check` ----------------------------------------------------------
    row("check-missing-file", "config", "check", "nowhere.toml", "--as", TARGET,
        where="nowhere.toml:", key=None, expected="an existing file", found="no such file"),
    row("check-a-directory", *CHECK, dirs=("shop.toml",),
        where="shop.toml:", key=None, expected="a file", found="a directory"),
    check("check-invalid-utf8", b'name = "corner"\nmode = "s\xffe"\n',
          where="shop.toml:2:", key=None, expected="UTF-8 text", found="not UTF-8"),
    row("check-unreadable-file", *CHECK, files={"shop.toml": VALID}, modes={"shop.toml": 0},
        where="shop.toml:", key=None, expected="a readable file", found="Permission denied",
        skip_root="root reads a chmod 000 file anyway"),
    # -- NAME on the command line ---------------------------------------------------------------
    row("name-unknown", "config", "show", "no-such-configuration",
        where="command line", key="no-such-configuration", expected="configuration",
        found="configuration"),
    row("name-module-not-importable", "config", "sample", "nosuchmodule:Shop",
        where="command line", key="nosuchmodule:Shop", expected="a configuration",
        found="module 'nosuchmodule' cannot be imported"),
    row("name-module-raises-on-import", "config", "show", "broken:Shop",
        files={"broken.py": 'raise RuntimeError("half-installed")\n'},
        where="command line", key="broken:Shop", expected="a configuration",
        found="cannot be imported"),
    row("name-module-with-syntax-error", "config", "schema", "syntaxbad:Shop",
        files={"syntaxbad.py": "def (\n"},
        where="command line", key="syntaxbad:Shop", expected="a configuration",
        found="cannot be imported"),
    row("name-empty-module", "config", "show", ":ShopConfiguration",
        where="command line", key=":ShopConfiguration", expected="a configuration",
        found="cannot be imported"),
    row("name-class-not-a-configuration", "config", "show", "shopconf:NotAConfiguration",
        where="command line", key="shopconf:NotAConfiguration", expected="a configuration",
        found="is not a Configuration class"),
    row("explain-without-field", "config", "explain", TARGET,
        where="command line", key=TARGET, expected="NAME.FIELD", found=repr(TARGET)),
    row("explain-unknown-field", "config", "explain", f"{TARGET}.workrs",
        files={"config/shop.toml": VALID},
        where="configuration 'shop'", key="workrs", expected="one of the keys",
        found="no such key"),
    # -- secrets: a wrong-typed secret is described, never shown --------------------------------
    check("secret-wrong-type-in-file", 'name = "c"\napi_key = 86753091\n',
          where="shop.toml:2:", key="api_key", expected="a valid string",
          found="a value of type int (secret, not shown)", absent=("86753091",)),
    check("secret-nested-in-file", 'name = "c"\n[database]\npassword = 31415926\n',
          where="shop.toml:3:", key="database.password", expected="a valid string",
          found="a value of type int", absent=("31415926",)),
    env("secret-in-env-json-table", {"OSERVICES_SHOP__DATABASE": '{"password": 27182818}'},
        where="environment variable OSERVICES_SHOP__DATABASE", key="database.password",
        expected="a valid string", found="a value of type int", absent=("27182818",)),
    env("secret-in-env-table-with-bad-json",
        {"OSERVICES_SHOP__DATABASE": '{"password": "hunter2-env", "port": 5432'},
        where="environment variable OSERVICES_SHOP__DATABASE", key="database",
        expected="a JSON (or TOML inline) list or table", found="secret, not shown",
        absent=("hunter2",)),
    row("secret-in-set-table-with-bad-field", *SHOW,
        "--set", 'shop.database={"password": "hunter2-set", "port": "abc"}',
        files={"config/shop.toml": VALID},
        where="--set shop.database=", key="database.port", expected="a valid integer",
        found="'abc'", absent=("hunter2",)),
]
# fmt: on


def _environ(home: Path, extra: Mapping[str, str]) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith("OSERVICES_")}
    environ |= {"OSERVICES_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1", **extra}
    return environ


def _snapshot(home: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under ``home``: its mode, and its bytes when it is a file."""
    entries: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(home.rglob("*")):
        info = path.lstat()
        content: bytes | None = None
        if stat.S_ISREG(info.st_mode):
            try:
                content = path.read_bytes()
            except PermissionError:  # the unreadable-file row, when not root
                content = b"<unreadable>"
        entries[str(path.relative_to(home))] = (info.st_mode, content)
    return entries


def _problem_line(stderr: str, case: Case) -> str | None:
    """The stderr line that holds the whole located problem, if any."""
    for line in stderr.splitlines():
        expected_at = line.find("expected ")
        found_at = line.find("found ")
        if min(expected_at, found_at) < 0 or case.where not in line[:expected_at]:
            continue
        if case.key is not None and f" {case.key}:" not in line[:expected_at]:
            continue
        if case.expected in line[expected_at:] and case.found in line[found_at:]:
            return line
    return None


@pytest.mark.parametrize("case", CASES)
def test_malformed_input_is_a_located_error(case: Case, tmp_path: Path) -> None:
    (tmp_path / "shopconf.py").write_text(SHOPCONF)
    for name, content in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    for name in case.dirs:
        (tmp_path / name).mkdir(parents=True)
    for name, mode in case.modes.items():
        (tmp_path / name).chmod(mode)
    before = _snapshot(tmp_path)

    result = subprocess.run(
        [sys.executable, "-m", "oservices_core", *case.args],
        cwd=tmp_path,
        env=_environ(tmp_path, case.env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    stderr = result.stderr
    assert "Traceback" not in stderr, stderr
    assert result.returncode == 2, f"exit {result.returncode}\n{stderr}"
    assert _problem_line(stderr, case), (
        f"no line names {case.where!r}, key {case.key!r}, expected {case.expected!r}, "
        f"found {case.found!r}:\n{stderr}"
    )
    if case.hint:
        assert case.hint in stderr, stderr
    for secret in case.absent:
        assert secret not in stderr + result.stdout, stderr
    assert result.stdout == "", result.stdout
    after = _snapshot(tmp_path)
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    assert not changed, f"changed in the home: {changed}"
