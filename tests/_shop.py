"""The demo shop (``examples/shop``) from its source, for the engines' tests.

No wheel is built: the shop's package goes on ``PYTHONPATH`` beside a
``dist-info`` whose entry points are the ones its ``pyproject.toml`` declares,
so the real ``oservices`` of this interpreter finds its components as it would
find an installed shop. Django, gunicorn and psycopg come from the test group.
The home is fresh: nothing in it is made by hand, ``oservices build`` writes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _venv import ROOT

SHOP = ROOT / "examples" / "shop"
COMPONENTS = ("shop-api", "shop-worker", "shop-scheduler")


@dataclass
class Shop:
    """A fresh home and the environment in which ``oservices`` sees the shop."""

    home: Path
    env: dict[str, str]

    def oservices(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run ``oservices ARGS`` in the home; it must succeed. Its output."""
        result = subprocess.run(
            [sys.executable, "-m", "oservices_core", *args],
            cwd=self.home,
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == 0, f"oservices {args}:\n{result.stdout}\n{result.stderr}"
        return result.stdout + result.stderr

    def log(self, name: str) -> str:
        path = self.home / "log" / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    def logs(self, *extra: str) -> str:
        return "\n".join(f"--- {n}\n{self.log(n)}" for n in (*extra, *COMPONENTS))


def make_shop(root: Path, port: int) -> Shop:
    """The shop's source on the path, its dist-info under ``root``, a fresh home."""
    meta = tomllib.loads((SHOP / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = root / "site" / f"oservices_demo_shop-{meta['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
    )
    points = meta["entry-points"]["oservices"]
    lines = [f"{name} = {target}" for name, target in points.items()]
    (info / "entry_points.txt").write_text("[oservices]\n" + "\n".join(lines) + "\n")
    home = root / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("OSERVICES_", "DJANGO_")) and k != "NOTIFY_SOCKET"
    }
    env |= {
        "PYTHONPATH": os.pathsep.join([str(SHOP), str(root / "site")]),
        "OSERVICES_HOME": str(home),
        "OSERVICES_BASE_PORT": str(port),
    }
    return Shop(home, env)


def call(url: str, body: dict[str, Any] | None = None) -> Any:
    """The JSON answer of the shop's API (POST when ``body`` is given)."""
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(url, data=data, timeout=10) as answer:  # noqa: S310 - our test server
        return json.loads(answer.read())


def answers(url: str) -> bool:
    """Whether ``url`` answers (connection refused, reset, 5xx: not yet)."""
    try:
        call(url)
    except OSError:
        return False
    return True
