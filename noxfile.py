"""Developer sessions: ``nox`` runs tests, lint, typecheck and docs; ``nox -s bench`` the benchmark.

Every session runs on the interpreter that runs nox. Dependencies come from the
``[dependency-groups]`` of ``pyproject.toml``, so they are written only there.
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typecheck", "docs"]

PYPROJECT = nox.project.load_toml("pyproject.toml")


def group(name: str) -> tuple[str, ...]:
    """The requirements of one dependency group of pyproject.toml."""
    return nox.project.dependency_groups(PYPROJECT, name)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite with branch coverage; arguments go to pytest."""
    session.install("-e", ".", *group("test"))
    session.run("pytest", "--cov", "--cov-branch", "--cov-report=term-missing", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check the code with ruff (rules in pyproject.toml)."""
    session.install(*group("lint"))
    session.run("ruff", "check", ".")


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
