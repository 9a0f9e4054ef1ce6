"""Hostile values through every reader of outside text, secrets in errors, atomic writes.

Every reader (configuration, system and settings files, ``pyproject.toml``, ``.env``,
settings and configuration environment variables, ``--set``) bounds how deep values
nest and how long integers are, in one place (``_config/bounds.py``): values nested
3000 deep, 60000 ``[``, a 5000-digit integer end with a located problem and exit
status 2, never a traceback. Text with bytes that are not UTF-8, newlines, quotes,
``%`` or ``$`` is shown escaped on one line. No secret value shows in an error,
whatever shape the wrong value has. Atomic writes go through symbolic links and
clean up after writers that were killed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import tomli_w
from _run import environ
from hypothesis import strategies as st
from pydantic import Field, ValidationError

from oservices_core import Configuration, ConfigurationError
from oservices_core._config.atomic import write_atomic
from oservices_core._config.bounds import MAX_DEPTH, parse_bounded
from oservices_core._config.resolve import Resolver
from oservices_core._config.settings import Settings

HOSTILECONF = '''\
"""The configuration the hostile-value tests import as ``hostileconf:HostileConfiguration``."""
from pydantic import BaseModel, ConfigDict, Secret, SecretStr, field_validator, model_validator

from oservices_core import Configuration


class Database(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "localhost"
    port: int = 5432
    password: SecretStr = SecretStr("")


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = "u"
    password: SecretStr = SecretStr("")


class HostileConfiguration(Configuration):
    """Plain fields, and secrets of every shape."""

    name: str = "x"
    workers: int = 4
    tags: list[str] = []
    limits: dict[str, int] = {}
    database: Database = Database()
    api_key: SecretStr = SecretStr("")
    tokens: list[SecretStr] = []
    vault: dict[str, SecretStr] = {}
    maybe: SecretStr | None = None
    accounts: list[Account] = []
    by_user: dict[str, Account] = {}
    pin: Secret[int] | None = None
    checked: SecretStr = SecretStr("")

    @field_validator("checked")
    @classmethod
    def _echoes(cls, value: SecretStr) -> SecretStr:
        # A careless validator that quotes the value it refuses.
        if value.get_secret_value().startswith("bad"):
            raise ValueError(f"refused {value.get_secret_value()!r}")
        return value

    @model_validator(mode="after")
    def _whole(self) -> "HostileConfiguration":
        # A model-level error: pydantic's input is every value, the secrets included.
        if self.name == "reject":
            raise ValueError("name 'reject' is refused")
        return self
'''

TARGET = "hostileconf:HostileConfiguration"
SHOW = ("config", "show", TARGET)
SETTINGS = ("config", "show", "settings")

DEEP_ARRAY = "[" * 3000 + "]" * 3000
DEEP_JSON = '{"a":' * 3000 + "1" + "}" * 3000
DEEP_TABLE = "{a=" * 3000 + "1" + "}" * 3000  # TOML inline tables
OPEN = "[" * 60000
LONG_INT = "9" * 5000
DEEP_KEY = "a" + ".a" * 3000  # dotted keys nest without any bracket

TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
TOO_LONG = "an integer of more than"
BOUND = f"values nested at most {MAX_DEPTH} deep"


@dataclass(frozen=True)
class Case:
    """One hostile input, and the located problem it must give."""

    args: tuple[str, ...]
    where: str
    expected: str
    found: str
    key: str | None = None
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)


def _cases() -> list[Any]:
    """Each reader with each structural hostile value."""
    values = {
        "3000-nested-arrays": (DEEP_ARRAY, TOO_DEEP),
        "3000-nested-tables": (DEEP_TABLE, TOO_DEEP),
        "60000-open-brackets": (OPEN, TOO_DEEP),
        "5000-digit-integer": (LONG_INT, TOO_LONG),
    }
    json_values = values | {"3000-nested-json": (DEEP_JSON, TOO_DEEP)}
    cases: list[Any] = []

    def add(name: str, case: Case) -> None:
        cases.append(pytest.param(case, id=name))

    for name, (value, found) in values.items():
        add(
            f"config-file-{name}",
            Case(
                SHOW,
                "config/hostile.toml:2:",
                f"TOML with {BOUND}",
                found,
                key="tags",
                files={"config/hostile.toml": f'name = "n"\ntags = {value}\n'},
            ),
        )
        add(
            f"config-check-{name}",
            Case(
                ("config", "check", "h.toml", "--as", TARGET),
                "h.toml:1:",
                f"TOML with {BOUND}",
                found,
                key="limits",
                files={"h.toml": f"limits = {value}\n"},
            ),
        )
        add(
            f"system-file-{name}",
            Case(
                SHOW,
                "system.toml:2:",
                f"TOML with {BOUND}",
                found,
                key="configurations.hostile.tags",
                files={"system.toml": f"[configurations.hostile]\ntags = {value}\n"},
            ),
        )
        add(
            f"settings-file-{name}",
            Case(
                SETTINGS,
                "oservices.toml:1:",
                f"TOML with {BOUND}",
                found,
                key="environment",
                files={"oservices.toml": f"environment = {value}\n"},
            ),
        )
        add(
            f"pyproject-{name}",
            Case(
                SETTINGS,
                "pyproject.toml:2:",
                f"TOML with {BOUND}",
                found,
                key="tool.oservices.environment",
                files={"pyproject.toml": f"[tool.oservices]\nenvironment = {value}\n"},
            ),
        )
    for name, (value, found) in json_values.items():
        for field_name in ("tags", "limits"):
            variable = f"OSERVICES_HOSTILE__{field_name.upper()}"
            add(
                f"config-env-{field_name}-{name}",
                Case(
                    SHOW,
                    f"environment variable {variable}",
                    f"a JSON (or TOML inline) list or table with {BOUND}",
                    found,
                    key=field_name,
                    env={variable: value},
                ),
            )
        add(
            f"set-{name}",
            Case(
                (*SHOW, "--set", f"hostile.tags={value}"),
                "override hostile.tags",
                f"a JSON (or TOML inline) list or table with {BOUND}",
                found,
                key="tags",
            ),
        )
    # Settings are plain values: hostile text is a wrong integer, never a crash.
    for name, value in (("nested", DEEP_JSON), ("open", OPEN), ("digits", LONG_INT)):
        add(
            f"settings-env-{name}",
            Case(
                SETTINGS,
                "environment variable OSERVICES_BASE_PORT",
                "integer",
                repr(value[:20])[:-1],
                key="base_port",
                env={"OSERVICES_BASE_PORT": value},
            ),
        )
        add(
            f"dotenv-{name}",
            Case(
                SETTINGS,
                ".env:1",
                "integer",
                repr(value[:20])[:-1],
                key="base_port",
                files={".env": f"OSERVICES_BASE_PORT={value}\n"},
            ),
        )
    add(
        "config-file-3000-dotted-keys",
        Case(
            SHOW,
            "config/hostile.toml:2:",
            f"TOML with {BOUND}",
            TOO_DEEP,
            files={"config/hostile.toml": f'name = "n"\nlimits.{DEEP_KEY} = 1\n'},
        ),
    )
    add(
        "system-file-3000-dotted-table-header",
        Case(
            SHOW,
            "system.toml:1:",
            f"TOML with {BOUND}",
            TOO_DEEP,
            files={"system.toml": f"[configurations.hostile.limits.{DEEP_KEY}]\n"},
        ),
    )
    add(
        "pyproject-tool-is-not-a-table",
        Case(
            SETTINGS,
            "pyproject.toml:1:",
            "a table",
            "a value of type int",
            key="tool",
            files={"pyproject.toml": "tool = 3\n"},
        ),
    )
    add(
        "set-key-60000-open-brackets",
        Case((*SHOW, "--set", f"hostile.{OPEN}=1"), "--set", "NAME.FIELD=VALUE", "'hostile.[[["),
    )
    return cases


def _run(
    home: Path, args: tuple[str, ...], files: Mapping[str, str | bytes], env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    (home / "hostileconf.py").write_text(HOSTILECONF)
    for name, content in files.items():
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return subprocess.run(
        [sys.executable, "-m", "oservices_core", *args],
        cwd=home,
        env=environ(home, {"PYTHONDONTWRITEBYTECODE": "1", **env}),
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=120,
        check=False,
    )


def _assert_located(result: subprocess.CompletedProcess[str], case: Case) -> None:
    stderr = result.stderr
    assert "Traceback" not in stderr, stderr[-3000:]
    assert result.returncode == 2, f"exit {result.returncode}\n{stderr[-3000:]}"
    assert result.stdout == "", result.stdout[:500]
    lines = stderr.splitlines()
    # One problem per line: hostile text never breaks a line, nor makes one endless.
    assert all(line.startswith(("oservices: error:", "  ")) for line in lines), stderr[:3000]
    assert all(len(line) < 1000 for line in lines), max(len(line) for line in lines)
    for line in lines:
        expected_at, found_at = line.find(" expected "), line.find(", found ")
        if min(expected_at, found_at) < 0 or case.where not in line[:expected_at]:
            continue
        if case.key is not None and f" {case.key}:" not in line[:expected_at]:
            continue
        if case.expected in line[expected_at:found_at] and case.found in line[found_at:]:
            return
    pytest.fail(
        f"no line names {case.where!r}, key {case.key!r}, expected {case.expected!r}, "
        f"found {case.found!r}:\n{stderr[:3000]}"
    )


@pytest.mark.parametrize("case", _cases())
def test_a_hostile_value_is_a_located_error(case: Case, tmp_path: Path) -> None:
    result = _run(tmp_path, case.args, case.files, case.env)
    _assert_located(result, case)


# -- text that is not UTF-8, or holds newlines, quotes, % and $ --------------------------------

NOT_UTF8 = "a\udcffb"  # how os.environ and sys.argv hold the byte 0xff
AWKWARD = {
    "newline": "a\nb",
    "quotes": "a\"'b",
    "percent": "%s%(x)s%d",
    "dollar": "$HOME${x}$(id)",
}


@pytest.mark.parametrize(
    ("args", "env", "where", "key"),
    [
        (SHOW, {"OSERVICES_HOSTILE__NAME": NOT_UTF8}, "OSERVICES_HOSTILE__NAME", "name"),
        (SHOW, {"OSERVICES_HOSTILE__TAGS": NOT_UTF8}, "OSERVICES_HOSTILE__TAGS", "tags"),
        ((*SHOW, "--set", f"hostile.name={NOT_UTF8}"), {}, "override hostile.name", "name"),
    ],
    ids=["config-env-string", "config-env-list", "set-string"],
)
def test_text_that_is_not_utf8_is_refused_where_it_comes_from(
    args: tuple[str, ...], env: dict[str, str], where: str, key: str, tmp_path: Path
) -> None:
    """Accepted, it would reach the build's files and fail there (a stage error)."""
    result = _run(tmp_path, args, {}, env)
    _assert_located(result, Case(args, where, "UTF-8 text", "not UTF-8", key=key))


def test_settings_text_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    case = Case(SETTINGS, "OSERVICES_ENVIRONMENT", "a valid string", r"a\udcffb", key="environment")
    _assert_located(_run(tmp_path, SETTINGS, {}, {"OSERVICES_ENVIRONMENT": NOT_UTF8}), case)


@pytest.mark.parametrize("text", AWKWARD.values(), ids=AWKWARD.keys())
def test_awkward_text_is_shown_escaped_on_one_line(text: str, tmp_path: Path) -> None:
    shown = repr(text)[1:-1]
    in_where = text if text.isprintable() else shown  # a location is escaped only if need be
    cases = [
        Case(SHOW, "OSERVICES_HOSTILE__WORKERS", "integer", shown, "workers", {},
             {"OSERVICES_HOSTILE__WORKERS": text}),
        Case(SHOW, "OSERVICES_HOSTILE__TAGS", "list or table", shown, "tags", {},
             {"OSERVICES_HOSTILE__TAGS": text}),
        Case((*SHOW, "--set", f"hostile.workers={text}"), f"--set hostile.workers={in_where}",
             "integer", shown, "workers"),
        Case(SETTINGS, "OSERVICES_BASE_PORT", "integer", shown, "base_port", {},
             {"OSERVICES_BASE_PORT": text}),
    ]  # fmt: skip
    for case in cases:
        _assert_located(_run(tmp_path, case.args, case.files, case.env), case)


def test_a_hostile_system_file_stops_a_build(tmp_path: Path) -> None:
    """The build reads the system file through the same reader: exit 2, nothing written."""
    programs = Path(__file__).resolve().parent / "programs"
    text = f'components = ["obedient"]\n\n[configurations.obedient]\ngreeting = {OPEN}\n'
    (tmp_path / "system.toml").write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "oservices_core", "build"],
        cwd=tmp_path,
        env=environ(tmp_path, {"PYTHONPATH": str(programs)}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    case = Case(("build",), "system.toml:4:", f"TOML with {BOUND}", TOO_DEEP)
    _assert_located(result, case)
    assert not (tmp_path / "config").exists()


# -- the bound itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (json.loads, "[" * MAX_DEPTH + "]" * MAX_DEPTH),
        (json.loads, "9" * 4300),
        (lambda t: __import__("tomllib").loads(t), "x = " + "[" * (MAX_DEPTH - 1) + "]" * 99),
    ],
    ids=["json-at-the-depth-bound", "json-4300-digits", "toml-at-the-depth-bound"],
)
def test_values_within_the_bound_are_read(parse: Callable[[str], Any], text: str) -> None:
    parse_bounded(parse, text)


def test_a_settings_field_that_takes_json_reads_it_within_the_bound(
    monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    """Settings have no list or table field today; a subclass's is read by the same bound."""

    class Wider(Settings):
        tags: list[str] = Field(default_factory=list)

    monkeypatch.setenv("OSERVICES_TAGS", '["a", "b"]')
    assert Wider().tags == ["a", "b"]
    for value, found in ((DEEP_JSON, TOO_DEEP), (f"[{LONG_INT}]", TOO_LONG), ("[a", "")):
        monkeypatch.setenv("OSERVICES_TAGS", value)
        with pytest.raises(ValidationError) as caught:
            Wider()
        (error,) = caught.value.errors()
        assert error["loc"] == ("tags",)
        assert error["msg"].startswith("a JSON list or table"), error["msg"]
        assert found in error["msg"]


# -- secrets: never in an error, whatever the wrong value's shape -------------------------------

_SECRET_CORE = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=10, max_size=16)
_SECRET_DECOR = st.text(alphabet="\n\"'\\ %$\t{}[]=é", max_size=4)


@st.composite
def secrets(draw: st.DrawFn) -> tuple[str, str]:
    """A secret with awkward characters around a distinctive core; the core is what no
    rendering (repr, JSON, TOML escapes) can hide, so it is what must never show."""
    core = "Q" + draw(_SECRET_CORE)
    return core, draw(_SECRET_DECOR) + core + draw(_SECRET_DECOR)


def _shapes(secret: str) -> list[tuple[str, Any]]:
    """(field, wrong value holding ``secret``) for every secret field of the configuration."""
    return [
        ("api_key", [secret]),
        ("api_key", {"k": secret}),
        ("api_key", [[secret], {"x": secret}]),
        ("maybe", [secret]),
        ("maybe", {"inner": [secret]}),
        ("tokens", secret),
        ("tokens", [[secret]]),
        ("tokens", [{"k": secret}]),
        ("vault", secret),
        ("vault", [secret]),
        ("vault", {"k": [secret]}),
        ("database", secret),
        ("database", [secret]),
        ("database", {"password": [secret], "port": "x"}),
        ("database", {"password": secret, "port": "x", "extra": 1}),
        ("accounts", secret),
        ("accounts", [secret]),
        ("accounts", [{"password": {"k": secret}}]),
        ("by_user", {"user": secret}),  # a dict key that is also a field's name
        ("by_user", {"k": {"password": [secret]}}),
        ("pin", secret),
        ("pin", [secret]),
        ("checked", "bad" + secret),
    ]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[Configuration]]:
    """The configuration class, imported in this process from a module of its own."""
    path = tmp_path_factory.mktemp("module") / "hostile_conf.py"
    path.write_text(HOSTILECONF)
    spec = importlib.util.spec_from_file_location("hostile_conf", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["hostile_conf"] = module  # pydantic resolves annotations through it
    spec.loader.exec_module(module)
    yield module.HostileConfiguration
    del sys.modules["hostile_conf"]


@pytest.fixture(scope="module")
def plain_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"))


def _error_text(action: Callable[[], object], *, may_pass: bool = False) -> str:
    """The error ``action`` raises (or "" when ``may_pass`` and it raises none)."""
    try:
        action()
    except (ConfigurationError, ValidationError) as exc:
        return str(exc)
    assert may_pass, "no error raised"
    return ""


@pytest.mark.parametrize("shape", range(len(_shapes(""))))
@hypothesis.settings(max_examples=15, deadline=None)
@hypothesis.given(secret=secrets())
def test_no_secret_in_an_error_whatever_its_shape(
    hostile: type[Configuration], plain_settings: Settings, secret: tuple[str, str], shape: int
) -> None:
    core, text = secret
    name, value = _shapes(text)[shape]
    toml_text = tomli_w.dumps({"name": "n", name: value})
    as_text = value if isinstance(value, str) else json.dumps(value)
    # pydantic's own text (construction, assignment) holds no input, but it does hold a
    # validator's message: one that quotes its secret is the validator's doing.
    raw = name != "checked"
    errors = [
        _error_text(lambda: hostile.from_toml(toml_text, source="h.toml")),
        _error_text(lambda: hostile(**{name: value}), may_pass=not raw),
        _error_text(lambda: setattr(hostile(), name, value), may_pass=not raw),
        _error_text(
            lambda: (
                Resolver(plain_settings, environ={f"OSERVICES_HOSTILE__{name}": as_text})
                .resolve(hostile, "hostile")
                .value
            ),
            may_pass=True,  # text is a fine value for a plain secret field
        ),
        _error_text(
            lambda: (
                Resolver(plain_settings, environ={}, overrides={f"hostile.{name}": as_text})
                .resolve(hostile, "hostile")
                .value
            ),
            may_pass=True,  # text is a fine value for a plain secret field
        ),
    ]
    for error in errors if raw else errors[:1] + errors[3:]:
        assert core not in error, error


def test_a_model_level_error_does_not_show_the_secrets_among_its_input(
    hostile: type[Configuration],
) -> None:
    text = 'name = "reject"\napi_key = "Qhunter2hunter2"\n'
    error = _error_text(lambda: hostile.from_toml(text, source="h.toml"))
    assert "Qhunter2hunter2" not in error
    assert "secret, not shown" in error


@hypothesis.settings(max_examples=6, deadline=None)
@hypothesis.given(secret=secrets(), shape=st.integers(min_value=0, max_value=100))
def test_no_secret_on_the_command_line_output(
    secret: tuple[str, str], shape: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    core, text = secret
    shapes = _shapes(text)
    name, value = shapes[shape % len(shapes)]
    as_text = value if isinstance(value, str) else json.dumps(value)
    home = tmp_path_factory.mktemp("home")
    runs = [
        _run(home, SHOW, {"config/hostile.toml": tomli_w.dumps({name: value})}, {}),
        _run(home, SHOW, {}, {f"OSERVICES_HOSTILE__{name.upper()}": as_text}),
        _run(home, (*SHOW, "--set", f"hostile.{name}={as_text}"), {}, {}),
    ]
    assert runs[0].returncode == 2, runs[0].stderr
    for result in runs:  # text is a fine value for a plain secret field: shown masked
        assert result.returncode in (0, 2), result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        assert core not in result.stdout + result.stderr, result.stderr


# -- atomic writes ------------------------------------------------------------------------------


def test_a_symlinked_file_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real"
    links = tmp_path / "links"
    real.mkdir()
    links.mkdir()
    (real / "shop.toml").write_text("old\n")
    link = links / "shop.toml"
    link.symlink_to(Path("..") / "real" / "shop.toml")
    inode = (real / "shop.toml").stat().st_ino

    write_atomic(link, b"new\n", mode=0o600)

    assert link.is_symlink()
    assert os.readlink(link) == str(Path("..") / "real" / "shop.toml")
    assert (real / "shop.toml").read_bytes() == b"new\n"
    assert (real / "shop.toml").stat().st_ino != inode  # replaced by a rename, not rewritten
    assert (real / "shop.toml").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in real.iterdir()) == ["shop.toml"]
    assert sorted(p.name for p in links.iterdir()) == ["shop.toml"]


def test_a_configuration_dumped_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    class Shop(Configuration):
        workers: int = 1

    (tmp_path / "real.toml").write_text("")
    (tmp_path / "shop.toml").symlink_to("real.toml")
    Shop(workers=3).dump(tmp_path / "shop.toml")
    assert (tmp_path / "shop.toml").is_symlink()
    assert Shop.load(tmp_path / "real.toml").workers == 3


def _temp_name(target: str, pid: int, host: str | None = None) -> str:
    from oservices_core._config.atomic import _host

    return f".{target}.oservices-{host or _host()}-{pid}-abcd_123.tmp"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_write_removes_the_temporary_files_of_dead_writers_only(tmp_path: Path) -> None:
    dead = _dead_pid()
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            stale = tmp_path / _temp_name("a.toml", dead)
            alive = tmp_path / _temp_name("b.toml", live.pid)
            mine = tmp_path / _temp_name("c.toml", os.getpid())
            elsewhere = tmp_path / _temp_name("d.toml", dead, host="another-host")
            unknown = tmp_path / ".e.toml.x1y2z3.tmp"  # not named by this writer: not ours
            for path in (stale, alive, mine, elsewhere, unknown):
                path.write_text("half")

            write_atomic(tmp_path / "f.toml", b"new\n")

            left = {p.name for p in tmp_path.iterdir()}
            assert stale.name not in left
            assert {alive.name, mine.name, elsewhere.name, unknown.name, "f.toml"} == left
        finally:
            live.kill()


def test_a_killed_write_leaves_a_temporary_file_the_next_write_removes(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from oservices_core._config.atomic import write_atomic

        def stuck(fd):
            print("writing", flush=True)
            time.sleep(60)

        os.fsync = stuck
        write_atomic(Path({str(tmp_path / "shop.toml")!r}), b"half")
        """
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert writer.stdout is not None
    assert writer.stdout.readline() == "writing\n"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1, left
    assert f"-{writer.pid}-" in left[0], left
    assert left[0].endswith(".tmp"), left

    write_atomic(tmp_path / "other.toml", b"whole\n")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.toml"]


def test_temporary_files_name_their_host_and_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    original = os.replace

    def spy(source: Any, target: Any) -> None:
        seen.append(Path(source).name)
        original(source, target)

    monkeypatch.setattr(os, "replace", spy)
    write_atomic(tmp_path / "shop.toml", b"x")
    (name,) = seen
    assert name.startswith(".shop.toml.oservices-"), name
    assert f"-{os.getpid()}-" in name, name
    assert name.endswith(".tmp"), name
    assert socket.gethostname()[:5].replace(".", "-") in name, name
