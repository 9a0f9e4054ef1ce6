"""``oservices check neutral``: real imports in fresh interpreters, each side effect caught."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MODULES = {
    "n_clean": """
        from pydantic import Field
        from oservices_core import Component, Configuration

        class CleanConfiguration(Configuration):
            port: int = Field(8000, description="port")

        component = Component(name="clean", configuration=CleanConfiguration)
    """,
    "n_env": "import os\nLEVEL = os.environ.get('N_ENV_LEVEL', 'info')\n",
    "n_file": "open(__file__ + '.log', 'a').close()\n",
    "n_read_data": "DATA = open(__file__.replace('.py', '.txt')).read()\n",
    "n_thread": "import threading as t\nt.Thread(target=lambda: None, name='n-worker').start()\n",
    "n_process": "import subprocess\nsubprocess.run(['true'], check=True)\n",
    "n_socket": "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.close()\n",
    "n_settings": "from oservices_core import active_settings\nHOME = active_settings().home\n",
    "n_django": """
        from django.conf import settings
        settings.configure(DEBUG=True)
    """,
    "n_broken": "raise ImportError('missing piece')\n",
}
EXPECTED = {
    "n_env": "read the environment: N_ENV_LEVEL",
    "n_file": "opened file",
    "n_read_data": "n_read_data.txt (mode 'r')",
    "n_thread": "started thread 'n-worker'",
    "n_process": "started a process (subprocess.Popen: 'true')",
    "n_socket": "opened a socket (socket.bind ('127.0.0.1', 0))",
    "n_settings": "read settings (active_settings)",
    "n_django": "configured Django (settings.configure)",
    "n_broken": "import failed: ImportError: missing piece",
}


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("neutral")
    for name, source in MODULES.items():
        (directory / f"{name}.py").write_text(textwrap.dedent(source))
    (directory / "n_read_data.txt").write_text("data")
    return directory


def check(directory: Path, *modules: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSERVICES_")}
    env["PYTHONPATH"] = str(directory)
    return subprocess.run(
        [sys.executable, "-m", "oservices_core", "check", "neutral", *modules],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_neutral_module_passes(plugin_dir: Path) -> None:
    result = check(plugin_dir, "n_clean")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["n_clean: neutral", "1 neutral, 0 not neutral"]


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_each_side_effect_is_named(plugin_dir: Path, module: str) -> None:
    if module == "n_django":
        pytest.importorskip("django", reason="Django is the `django` extra")
    result = check(plugin_dir, module)
    assert result.returncode == 1
    assert f"{module}: NOT NEUTRAL" in result.stdout
    assert EXPECTED[module] in result.stdout


def test_all_modules_at_once_report_each(plugin_dir: Path) -> None:
    result = check(plugin_dir, "n_clean", "n_env", "n_thread")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "1 neutral, 2 not neutral"


def test_the_project_s_own_plugins_are_neutral(tmp_path: Path) -> None:
    modules = [f"oservices_plugins.{name}" for name in ("toml", "logging", "files", "django")]
    result = check(tmp_path, *modules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "4 neutral, 0 not neutral"
