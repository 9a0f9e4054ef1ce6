"""A demo system for the export tests: a real distribution, run by the real command line.

The distribution (a module and a ``dist-info`` on ``PYTHONPATH``, as the Django
tests do) declares a service ``exp-shop`` (``exp-api``, its API, ready by
notify, which depends on ``exp-db``, ready by TCP) and a loose component
``exp-worker`` (ready by a log line, stopped by SIGINT, with a secret field).
``exp-api`` starts a child process, which must die with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from _processes import free_port

SECRET = "tok-3x9-very-secret-value"  # noqa: S105 - a test's
PLUGINS = (
    "toml,logging,supervisord,systemd,compose,kubernetes,"
    "exp-db,exp-api,exp-worker,exp-shop"  # nothing else installed interferes
)

FILES = {
    "exp_demo.py": """
        import os
        import socket
        import subprocess
        import sys
        import time

        from pydantic import Field, SecretStr

        from oservices_core import Component, Configuration, Restart, Service, notify_ready


        class DbConfiguration(Configuration):
            port: int = Field(0, description="Where the database listens.")


        class ApiConfiguration(Configuration):
            port: int = Field(0, description="Where the API listens.")


        class WorkerConfiguration(Configuration):
            token: SecretStr = Field(SecretStr("dev-token"), description="A secret.")
            label: str = Field("100% $HOME", description="Text with characters engines expand.")


        def serve(port):
            server = socket.create_server(("127.0.0.1", port))
            while True:
                connection, _ = server.accept()
                connection.close()


        def db_main(configuration):
            serve(configuration.port)


        def api_main(configuration):
            # A child that must die with the component (its process group is stopped).
            code = "import time; time.sleep(600)  # exp-api-child"
            subprocess.Popen([sys.executable, "-c", code])
            server = socket.create_server(("127.0.0.1", configuration.port))
            notify_ready()
            while True:
                connection, _ = server.accept()
                connection.close()


        def worker_main(configuration):
            print("worker ready", flush=True)
            while True:
                time.sleep(1)


        quick = Restart(policy="always", stable_after=1, success_codes=(0, 3))
        db = Component(
            name="exp-db", configuration=DbConfiguration, main=db_main, ready="tcp",
            restart=quick, stop_timeout=4,
        )
        api = Component(
            name="exp-api", configuration=ApiConfiguration, main=api_main, ready="notify",
            depends_on=["exp-db"], restart=Restart(policy="on-failure", stable_after=1),
            start_timeout=30,
        )
        worker = Component(
            name="exp-worker", configuration=WorkerConfiguration, main=worker_main,
            ready="log:worker ready", stop_signal="SIGINT", stop_timeout=2.5,
            restart=Restart(policy="never", stable_after=1),
        )
        shop = Service(name="exp-shop", components=[api, db], api=api)
    """,
    "exp_demo-0.1.dist-info/METADATA": """
        Metadata-Version: 2.1
        Name: exp-demo
        Version: 0.1
    """,
    "exp_demo-0.1.dist-info/entry_points.txt": """
        [oservices]
        exp-db = exp_demo:db
        exp-api = exp_demo:api
        exp-worker = exp_demo:worker
        exp-shop = exp_demo:shop
    """,
}


@dataclass
class Demo:
    """A home with the demo installed; runs the real ``oservices`` against it."""

    home: Path
    src: Path
    env: dict[str, str]

    @property
    def output(self) -> Path:
        return self.home / "config"

    def oservices(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "oservices_core", *args],
            cwd=self.home,
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def system(self, text: str = "", ports: tuple[int, int] | None = None) -> Path:
        """Write ``system.toml``: the service, the worker, ``text``, and the ports of
        ``exp-db`` and ``exp-api`` (default: free ones)."""
        db, api = ports or (free_port(), free_port())
        path = self.home / "system.toml"
        path.write_text(
            'name = "shop"\nservices = ["exp-shop"]\ncomponents = ["exp-worker"]\n'
            + textwrap.dedent(text)
            + f"\n[configurations.exp-db]\nport = {db}\n"
            + f"\n[configurations.exp-api]\nport = {api}\n"
        )
        return path

    def build(self, *exports: str, env: dict[str, str] | None = None) -> str:
        """``oservices build`` with ``exports`` enabled; must succeed. Its output."""
        enable = {f"OSERVICES_{name.upper()}__ENABLED": "1" for name in exports}
        result = self.oservices("build", env=enable | (env or {}))
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr


def make_demo(root: Path, home_name: str = "home") -> Demo:
    """Write the demo distribution under ``root/src`` and an empty home."""
    src, home = root / "src", root / home_name
    for name, text in FILES.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("OSERVICES_") and k not in ("PYTHONPATH", "NOTIFY_SOCKET")
    }
    env |= {
        "OSERVICES_HOME": str(home),
        "OSERVICES_AUTOLOAD_PLUGINS": "false",
        "OSERVICES_PLUGINS": PLUGINS,
        "PYTHONPATH": str(src),
    }
    return Demo(home, src, env)
