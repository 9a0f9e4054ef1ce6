"""A component for the container export tests whose configuration holds a database URL.

``exp-store`` (a module and a ``dist-info`` beside the export demo's, on its
``PYTHONPATH``): its ``database_url``, a secret, defaults to an SQLite file; it
binds ``host``, reaches ``exp-api`` at ``api_url`` and answers the ``allowed_hosts``.
"""

from __future__ import annotations

from _export_demo import Demo

__all__ = ["with_store"]

STORE = """
from pydantic import Field, SecretStr

from oservices_core import Component, Configuration


class StoreConfiguration(Configuration):
    database_url: SecretStr = Field(SecretStr("sqlite:///data/store.sqlite3"))
    host: str = Field("127.0.0.1", description="Where it binds.")
    api_url: str = Field("http://127.0.0.1:1", description="Where it reaches exp-api.")
    allowed_hosts: list[str] = Field(default_factory=list, description="Names it answers.")


def main(configuration):
    pass


store = Component(name="exp-store", configuration=StoreConfiguration, main=main)
"""


def with_store(demo: Demo) -> Demo:
    """The demo with ``exp-store``, a component whose configuration holds a database URL."""
    (demo.src / "exp_store.py").write_text(STORE)
    info = demo.src / "exp_store-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: exp-store\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[oservices]\nexp-store = exp_store:store\n")
    demo.env["OSERVICES_PLUGINS"] += ",exp-store"
    demo.system()
    path = demo.home / "system.toml"
    path.write_text(
        path.read_text().replace(
            'components = ["exp-worker"]', 'components = ["exp-worker", "exp-store"]'
        )
    )
    return demo
