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
import tarfile
import urllib.request
import zipfile
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
    # The slowest tests are listed: the run's time has a ceiling (CONTRIBUTING.md).
    report = ("--cov-report=term-missing", "--durations=20")
    session.run("pytest", "--cov", "--cov-branch", *report, *session.posargs,
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
def build(session: nox.Session) -> None:
    """Build and check the distributions of oservices and of the demo shop (examples/shop).

    For each: ``python -m build`` (the sdist, then the wheel built from that sdist),
    ``twine check --strict``; the sdist holds every file git tracks in its project (the
    tests and docs among them) and nothing else; the wheel holds only the packages and
    its metadata. Both wheels are then installed into a fresh venv, where
    ``oservices --version`` names the built version and ``oservices plugins`` loads
    every plugin the two distributions declare.
    """
    session.install(*group("build"))
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    projects = {"oservices": Path(), "oservices-demo-shop": Path("examples/shop")}
    # What each sdist must hold besides its packages (its tests, so that they run from it).
    required = {"oservices": ("tests/", "docs/", "LICENSE", "CHANGELOG.md", "CONTRIBUTING.md"),
                "oservices-demo-shop": ("tests/", "README.md")}
    wheels, plugins = {}, {}
    for name, root in projects.items():
        out = dist / name
        session.run("python", "-m", "build", "--outdir", str(out), str(root))
        (sdist,) = out.glob("*.tar.gz")
        (wheel,) = out.glob("*.whl")
        session.run("twine", "check", "--strict", str(sdist), str(wheel))
        project = nox.project.load_toml(root / "pyproject.toml")
        tracked = _tracked(session, root)
        _check_sdist(session, sdist, tracked, required[name])
        packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
        _check_wheel(session, wheel, packages, tracked)
        wheels[name] = wheel
        plugins[name] = set(project["project"]["entry-points"]["oservices"])
    fresh = tmp / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    session.run("python", "-m", "venv", str(fresh))
    pip = [str(fresh / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    oservices = str(fresh / "bin" / "oservices")
    version = wheels["oservices"].name.split("-")[1]
    with session.chdir(tmp):  # not the clone: only what is installed can be imported
        session.run(*pip, str(wheels["oservices"]), external=True)
        said = session.run(oservices, "--version", external=True, silent=True)
        if str(said).strip() != f"oservices {version}":
            session.error(f"oservices --version said {said!r}, not 'oservices {version}'")
        _check_plugins(session, oservices, {"oservices": plugins["oservices"]})
        session.run(*pip, str(wheels["oservices"]), str(wheels["oservices-demo-shop"]),
                    external=True)
        _check_plugins(session, oservices, plugins)
    session.log(f"checked: {', '.join(str(wheel.parent) for wheel in wheels.values())}")


def _tracked(session: nox.Session, root: Path) -> set[str]:
    """The files git tracks under one project's root, relative to it."""
    listed = session.run("git", "-C", str(root), "ls-files", "-z", external=True, silent=True)
    return {name for name in str(listed).split("\0") if name}


def _check_sdist(session: nox.Session, sdist: Path, tracked: set[str],
                 required: tuple[str, ...]) -> None:
    """The sdist holds the tracked files of its project (tests and docs too), and only them."""
    with tarfile.open(sdist) as archive:
        # Every member sits under one folder, "name-version/".
        held = {member.name.partition("/")[2] for member in archive.getmembers()
                if member.isfile()}
    # hatchling adds the metadata, and the .gitignore that chose the files (the clone's).
    missing, extra = sorted(tracked - held), sorted(held - tracked - {"PKG-INFO", ".gitignore"})
    absent = [prefix for prefix in required if not any(name.startswith(prefix) for name in held)]
    if missing or extra or absent:
        session.error(f"{sdist.name}: missing tracked files {missing}, untracked files {extra}, "
                      f"nothing under {absent}")
    session.log(f"{sdist.name}: {len(held)} files, every tracked file and nothing else")


def _check_wheel(session: nox.Session, wheel: Path, packages: list[str],
                 tracked: set[str]) -> None:
    """The wheel holds the packages' tracked files and its metadata, nothing else."""
    with zipfile.ZipFile(wheel) as archive:
        held = set(archive.namelist())
    metadata = "-".join(wheel.name.split("-")[:2]) + ".dist-info/"
    stray = sorted(name for name in held
                   if not name.startswith((metadata, *(f"{package}/" for package in packages))))
    shipped = {name for name in tracked if name.startswith(tuple(f"{p}/" for p in packages))}
    missing = sorted(shipped - held)
    licensed = [f"{metadata}licenses/{name}" for name in tracked if name.startswith("LICENSE")]
    unlicensed = sorted(set(licensed) - held)
    if stray or missing or unlicensed or not shipped:
        session.error(f"{wheel.name}: files outside {packages} {stray}, missing {missing}, "
                      f"license files missing {unlicensed}")
    session.log(f"{wheel.name}: {len(held)} files, only {', '.join(packages)} and metadata")


def _check_plugins(session: nox.Session, oservices: str, plugins: dict[str, set[str]]) -> None:
    """``oservices plugins`` loads the installed distributions' entry points, and only them."""
    listed = json.loads(str(session.run(oservices, "plugins", "--json", external=True,
                                        silent=True)))
    found = {(plugin["name"], plugin["distribution"], plugin["state"]) for plugin in listed}
    expected = {(name, distribution, "loaded") for distribution, names in plugins.items()
                for name in names}
    if found != expected:
        session.error(f"oservices plugins: expected {sorted(expected)}, found {sorted(found)}")
    session.log(f"oservices plugins: {len(found)} loaded, from {', '.join(plugins)}")


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
