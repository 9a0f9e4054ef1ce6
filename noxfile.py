"""Developer sessions: ``nox`` runs tests, lint, typecheck and docs; ``nox -s bench`` the benchmark.

``tests`` runs once per Python of the matrix, the versions named by the classifiers
of ``pyproject.toml`` (``tests-3.11``, ``tests-3.12``, ...); a version with no
interpreter on this machine is skipped, except under CI (the ``CI`` variable), where
it fails the run. Every other session runs on the interpreter that runs nox.
Dependencies come from the ``[dependency-groups]`` of ``pyproject.toml``, so they
are written only there.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import urllib.request
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typecheck", "docs"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
# The matrix: "Programming Language :: Python :: 3.X" classifiers, oldest first.
PYTHONS = nox.project.python_versions(PYPROJECT)


def group(name: str) -> tuple[str, ...]:
    """The requirements of one dependency group of pyproject.toml."""
    return nox.project.dependency_groups(PYPROJECT, name)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite with branch coverage on one Python of the matrix; arguments go to pytest.

    The test group names Django 5.2 for Python 3.11 and Django 6 for 3.12 and newer.
    """
    session.install("-e", ".", *group("test"))
    # Absolute: a process forked in a test's own directory saves its data here too.
    data = str(Path(".coverage").resolve())
    session.run("pytest", "--cov", "--cov-branch", "--cov-report=term-missing", *session.posargs,
                env={"COVERAGE_FILE": data})


@nox.session
def lint(session: nox.Session) -> None:
    """Check the code with ruff, and its imports with import-linter (both set in pyproject.toml)."""
    # import-linter builds the import graph of the packages it finds, so they are installed.
    session.install("-e", ".", *group("lint"))
    session.run("ruff", "check", ".")
    session.run("lint-imports")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check with mypy in strict mode (files and options in pyproject.toml)."""
    session.install("-e", ".", *group("typecheck"))
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site; any warning (a broken link, a page not in nav) fails."""
    session.install("-e", ".", *group("docs"))
    site = session.create_tmp() + "/site"
    # Material prints a banner about its end of life on every build; it is news, not a warning.
    env = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", "--site-dir", site, env=env)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmark (``python -m bench``); arguments go to it."""
    session.install("-e", ".", *group("bench"))
    session.run("python", "-m", "bench", *session.posargs)


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """Install the demo shop (examples/shop) next to oservices and run it with ``oservices up``.

    It runs in a fresh home under .nox/demo/tmp, on ``OSERVICES_BASE_PORT`` when
    that is set, else on a free port; it requests the API, then stops everything.
    """
    session.install(".", "./examples/shop")
    home = Path(session.create_tmp()).resolve() / "home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    port = os.environ.get("OSERVICES_BASE_PORT") or str(_free_port())
    env = {"OSERVICES_HOME": str(home), "OSERVICES_BASE_PORT": port}
    with session.chdir(home):
        try:
            session.run("oservices", "up", "-d", "--timeout", "60", env=env)
            address = f"http://127.0.0.1:{port}"
            session.log(f"demo home: {home}")
            with urllib.request.urlopen(f"{address}/api/health", timeout=10) as answer:  # noqa: S310 - our own server
                health = json.loads(answer.read())
            session.log(f"GET {address}/api/health -> {answer.status} {health}")
            if health != {"status": "ok"}:
                session.error(f"the API answered {health}, not {{'status': 'ok'}}")
        finally:
            session.run("oservices", "stop", env=env, success_codes=[0, 2])


def _free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
