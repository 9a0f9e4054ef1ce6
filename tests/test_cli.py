"""The real command line, run as a process in a temporary home."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _run import oservices_in

from oservices_core import __version__

MODULE = '''
from typing import Annotated
from pydantic import BaseModel, Field, SecretStr
from oservices_core import Configuration, FromSettings

class Db(BaseModel):
    url: str = "sqlite:///shop.db"
    password: SecretStr = SecretStr("pw-default")

class ShopConfiguration(Configuration):
    """The shop API."""
    port: Annotated[int, FromSettings(lambda s: s.base_port + 1)] = Field(
        8000, description="Port the API listens on.")
    name: str
    db: Db = Db()
'''
TARGET = "shopconf:ShopConfiguration"


def oservices(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return oservices_in(home, *args, env=env)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    (tmp_path / "shopconf.py").write_text(MODULE)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "shop.toml").write_text('name = "corner"\n\n[db]\nurl = "sqlite:///x"\n')
    return tmp_path


def _imported(*args: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "oservices_core", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_stay_light(flag: str) -> None:
    imported = _imported(flag)
    heavy = {"pydantic", "pydantic_settings", "django", "pluggy", "tomli_w", "oservices_plugins"}
    assert not imported & heavy
    assert "argparse" in imported or flag == "--version"


def test_version(tmp_path: Path) -> None:
    assert oservices(tmp_path, "--version").stdout.strip() == f"oservices {__version__}"


def test_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("oservices")
    found = str(script) if script.exists() else shutil.which("oservices")
    assert found, "the console script 'oservices' is not installed"
    out = subprocess.run([found, "--help"], capture_output=True, text=True, check=True)
    assert "config" in out.stdout


def test_no_command_prints_help_and_exits_2(tmp_path: Path) -> None:
    result = oservices(tmp_path)
    assert result.returncode == 2
    assert "usage: oservices" in result.stdout


def test_show_masks_secrets(shop: Path) -> None:
    result = oservices(
        shop, "config", "show", TARGET, env={"OSERVICES_SHOP__DB__PASSWORD": "hunter2"}
    )
    assert result.returncode == 0, result.stderr
    assert 'name = "corner"' in result.stdout
    assert "port = 8001" in result.stdout
    assert 'password = "**********"' in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def test_show_json_masks_secrets(shop: Path) -> None:
    result = oservices(
        shop, "config", "show", TARGET, "--json", env={"OSERVICES_SHOP__DB__PASSWORD": "hunter2"}
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "port": 8001,
        "name": "corner",
        "db": {"url": "sqlite:///x", "password": "**********"},
    }
    assert "hunter2" not in result.stdout + result.stderr


def test_show_settings_json(tmp_path: Path) -> None:
    result = oservices(tmp_path, "config", "show", "settings", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["config_dir"] == str(tmp_path / "config")


def test_explain_names_source_and_hidden_layers(shop: Path) -> None:
    result = oservices(
        shop,
        "config",
        "explain",
        f"{TARGET}.port",
        "--set",
        "shop.port=9100",
        env={"OSERVICES_SHOP__PORT": "9000"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "shop.port = 9100",
        "  from: --set shop.port=9100",
        "  hides: environment variable OSERVICES_SHOP__PORT = '9000'",
        "  hides: settings = 8001",
        "  hides: default = 8000",
    ]


def test_explain_file_value_gives_line(shop: Path) -> None:
    result = oservices(shop, "config", "explain", f"{TARGET}.db.url")
    assert result.returncode == 0, result.stderr
    assert f"  from: {shop / 'config' / 'shop.toml'}:4" in result.stdout


def test_explain_secret_is_masked(shop: Path) -> None:
    result = oservices(
        shop,
        "config",
        "explain",
        f"{TARGET}.db.password",
        env={"OSERVICES_SHOP__DB__PASSWORD": "hunter2"},
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert "shop.db.password = **********" in result.stdout


def test_sample_is_commented_and_checks_back(shop: Path) -> None:
    result = oservices(shop, "config", "sample", TARGET)
    assert result.returncode == 0, result.stderr
    assert "# Port the API listens on.\nport = 8001\n" in result.stdout
    assert "# name = ...  (required)" in result.stdout
    sample = shop / "sample.toml"
    sample.write_text(result.stdout.replace("# name = ...  (required)", 'name = "x"'))
    checked = oservices(shop, "config", "check", str(sample), "--as", TARGET)
    assert checked.returncode == 0, checked.stderr


def test_schema_is_json_schema(shop: Path) -> None:
    result = oservices(shop, "config", "schema", TARGET)
    schema = json.loads(result.stdout)
    assert schema["required"] == ["name"]
    assert schema["properties"]["port"]["description"] == "Port the API listens on."


def test_check_reports_and_exits_2(shop: Path) -> None:
    bad = shop / "bad.toml"
    bad.write_text('name = 3\nport = "x"\n')
    result = oservices(shop, "config", "check", str(bad), "--as", TARGET)
    assert result.returncode == 2
    assert f"{bad}:1: name:" in result.stderr
    assert f"{bad}:2: port:" in result.stderr
    assert "Traceback" not in result.stderr


def test_show_settings(tmp_path: Path) -> None:
    result = oservices(tmp_path, "config", "show", "settings", env={"OSERVICES_BASE_PORT": "7000"})
    assert result.returncode == 0, result.stderr
    assert "base_port = 7000" in result.stdout
    assert f'config_dir = "{tmp_path / "config"}"' in result.stdout


def _stderr_of_build(home: Path, *, terminal: bool) -> str:
    import pty

    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OSERVICES_")}
    env |= {
        "OSERVICES_HOME": str(home),
        "OSERVICES_AUTOLOAD_PLUGINS": "0",
        "OSERVICES_PLUGINS": "logging,toml",
    }
    command = [sys.executable, "-m", "oservices_core", "build"]
    if not terminal:
        return subprocess.run(
            command, cwd=home, env=env, capture_output=True, text=True, check=True
        ).stderr
    main, child = pty.openpty()
    with subprocess.Popen(command, cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=child):
        os.close(child)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 1024)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
    os.close(main)
    return b"".join(chunks).decode()


def test_progress_shows_on_a_terminal_only(tmp_path: Path) -> None:
    # Two fresh homes: a second build in one home would be up to date and show nothing.
    (tmp_path / "tty").mkdir()
    (tmp_path / "pipe").mkdir()
    assert "configure: 1/1" in _stderr_of_build(tmp_path / "tty", terminal=True)
    assert _stderr_of_build(tmp_path / "pipe", terminal=False) == ""
    assert (tmp_path / "pipe" / "config" / "logging.toml").is_file()  # it did build
