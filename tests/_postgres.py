"""A real PostgreSQL server for the tests: the ``postgres`` fixture, once per session.

Debian's ``postgresql`` package gives ``initdb`` and ``pg_ctl``
(``/usr/lib/postgresql/VERSION/bin``). The server refuses to run as root: as
root, the fixture runs them as an unprivileged user of its own (``useradd``,
then ``runuser``). The cluster lives in a temporary directory, listens on
127.0.0.1 on a free port with its socket in that directory, trusts local
connections, and is stopped (``pg_ctl stop -m fast``) and removed at the end.
Each test asks for a database of its own (:meth:`Postgres.database`).

Missing PostgreSQL skips the tests here and fails them under CI (``.ci/run``
installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from _engines import missing
from _processes import free_port

__all__ = ["Postgres", "postgres"]

USER = "oservices-pg"  # the unprivileged account that runs the server when the tests are root
HINT = "Debian: apt-get install postgresql; and pip install 'psycopg[binary]'"


@dataclass(frozen=True)
class Postgres:
    """A running server: where it listens, and how to reach it as its superuser."""

    host: str
    port: int
    user: str
    directory: Path

    def url(self, database: str, password: str = "") -> str:
        """A ``postgresql://`` URL of ``database`` (a password is ignored: trust)."""
        secret = f":{password}" if password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its name."""
        import psycopg

        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def query(self, database: str, sql: str) -> list[tuple[object, ...]]:
        """The rows ``sql`` returns in ``database``."""
        import psycopg

        with psycopg.connect(self.url(database)) as connection:
            return list(connection.execute(sql.encode()).fetchall())


def _binary(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=_version)
    if found:
        return str(found[-1])
    path = shutil.which(name)
    if path is None:
        missing(f"PostgreSQL's {name}", HINT)
    assert path is not None
    return path


def _version(path: Path) -> tuple[int, ...]:
    version = path.parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _as_server_user() -> list[str]:
    """The prefix that runs a command as the server's user (none when not root)."""
    if os.geteuid() != 0:
        return []
    known = subprocess.run(["id", "-u", USER], capture_output=True, check=False)
    if known.returncode != 0:
        made = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
            capture_output=True,
            text=True,
            check=False,
        )
        # Another session may have made it meanwhile: only a user still missing is an error.
        if subprocess.run(["id", "-u", USER], capture_output=True, check=False).returncode:
            pytest.fail(f"useradd {USER} failed: {made.stderr}")
    return ["runuser", "-u", USER, "--"]


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        pytest.fail(f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server for the whole session."""
    try:
        import psycopg  # noqa: F401 - Django's driver; the server is no use without it
    except ImportError:
        missing("psycopg", HINT)
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    prefix = _as_server_user()
    # Not under pytest's temporary directory: root's is closed to the server's user.
    directory = Path(tempfile.mkdtemp(prefix="oservices-pg-"))
    if prefix:
        shutil.chown(directory, USER)
    data, port = directory / "data", free_port()
    _run(
        [*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        "initdb",
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {directory}"
    log = directory / "server.log"
    start = [*prefix, pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60"]
    _run([*start, "start"], "pg_ctl start")
    try:
        yield Postgres("127.0.0.1", port, "postgres", directory)
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            check=False,
            timeout=120,
        )
        shutil.rmtree(directory, ignore_errors=True)
