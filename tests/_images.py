"""Container images for the podman tests, built locally: no registry is reachable here.

The base is Debian bookworm from ``debootstrap --variant=minbase`` (Debian's
packages are reachable), with Python and PostgreSQL, imported into podman with
``tar -C ROOTFS -c . | podman import``. Two images come from it:

- the PostgreSQL image: the base whose command is a small entrypoint that, like the
  official ``postgres`` image, initdb's as the ``postgres`` user on a first start and
  honours ``POSTGRES_PASSWORD``, ``POSTGRES_USER`` and ``POSTGRES_DB``;
- the system's image: the base with a virtual environment, ``/opt/oservices``, holding
  the given wheels and their dependencies (downloaded here for bookworm's Python 3.11,
  installed inside without an index), its ``bin`` first on ``PATH``.

Building takes minutes, so everything is cached outside the tree: the base root file
system as a tar in ``~/.cache/oservices-tests/images`` (key: the recipe), the images in
podman's storage under tags that are their keys (the recipe, and the wheels' hashes).
The second Python's session of a CI run finds them built. A file lock keeps two
sessions from building the same thing at once.

Sandbox runtime settings live in a ``containers.conf`` of the tests' own, given to
podman through ``CONTAINERS_CONF``; the machine's configuration is never touched.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

__all__ = ["CACHE", "Images", "engine_environment", "images", "missing_tools"]

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "oservices-tests"
_TOOLS = ("podman", "runc", "debootstrap", "podman-compose")
_SUITE = "bookworm"
_MIRROR = "http://deb.debian.org/debian"
_PACKAGES = ("python3", "python3-venv", "postgresql", "ca-certificates")
_VENV = "/opt/oservices"
_PATH = f"{_VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# bookworm's glibc is 2.36: wheels for any manylinux up to it, for its CPython 3.11.
_PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(17, 37)] + [
    "manylinux2014_x86_64",
    "linux_x86_64",
]

# The sandbox needs these (see the notes on engines): crun could not set rlimits here,
# and refuses the hybrid cgroup layout; runc runs.
CONTAINERS_CONF = """\
[containers]
default_ulimits = []

[engine]
runtime = "runc"
"""

# Like the official image's entrypoint, for what the tests use: a first start makes the
# cluster (as the postgres user: the server refuses root), its user and its database.
POSTGRES_ENTRYPOINT = r"""#!/bin/sh
set -eu
bin=/usr/lib/postgresql/15/bin
data=${PGDATA:-/var/lib/postgresql/data}
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
mkdir -p "$data" /run/postgresql
chown postgres:postgres "$data" /run/postgresql
chmod 700 "$data"
if [ ! -s "$data/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?the PostgreSQL image needs POSTGRES_PASSWORD}"
    secret=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$secret"
    chown postgres "$secret"
    as_postgres "$bin/initdb" -D "$data" -U "$user" --pwfile="$secret" -E UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$secret"
    echo "host all all all scram-sha-256" >> "$data/pg_hba.conf"
    if [ "$db" != postgres ]; then
        as_postgres "$bin/postgres" --single -D "$data" -j postgres >/dev/null <<EOF
CREATE DATABASE "$db" OWNER "$user"
EOF
    fi
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups \
    "$bin/postgres" -D "$data" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql
"""

_INSTALL = (
    f"python3 -m venv {_VENV} && {_VENV}/bin/pip install --quiet --no-index "
    "--find-links /wheels /wheels/*.whl"
)

_BASE_RECIPE = "\n".join([_SUITE, _MIRROR, *_PACKAGES, POSTGRES_ENTRYPOINT, "1"])
_APP_RECIPE = "\n".join([_INSTALL, _PATH, *_PLATFORMS, "1"])


class Images:
    """The tags of the two images, once built."""

    def __init__(self, system: str, postgres: str) -> None:
        self.system = system
        self.postgres = postgres
        self.seconds = 0.0  # how long finding or building them took


def missing_tools() -> list[str]:
    """The engines and tools these tests need that this machine lacks."""
    # podman-compose may be beside this interpreter, in a virtual environment not on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = [tool for tool in _TOOLS if shutil.which(tool, path=path) is None]
    return found + ([] if Path("/usr/libexec/podman/catatonit").exists() else ["catatonit"])


def engine_environment() -> dict[str, str]:
    """This process's environment with the tests' own ``containers.conf``."""
    conf = CACHE / "containers.conf"
    if not conf.exists() or conf.read_text(encoding="utf-8") != CONTAINERS_CONF:
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(CONTAINERS_CONF, encoding="utf-8")
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def images(wheels: Sequence[Path], requirements: Sequence[str], log: Path) -> Images:
    """The PostgreSQL image and the image of ``wheels`` (plus ``requirements``, downloaded
    with their dependencies), built if not cached; each step's output goes to ``log``."""
    base_key = _digest(_BASE_RECIPE)
    with _locked(), log.open("a", encoding="utf-8") as out:
        base = f"localhost/oservices-test-base:{base_key}"
        postgres = f"localhost/oservices-test-postgres:{base_key}"
        if not _exists(base) or not _exists(postgres):
            tar = _base_tar(base_key, out)
            _import(tar, base, [], out)
            _import(tar, postgres, ['CMD ["/usr/local/bin/postgres-entrypoint"]'], out)
            _prune("localhost/oservices-test-base", base, out)
            _prune("localhost/oservices-test-postgres", postgres, out)
        with tempfile.TemporaryDirectory(prefix="oservices-wheels-") as wheelhouse:
            _download(wheels, requirements, Path(wheelhouse), out)
            hashes = sorted(_digest_file(path) for path in Path(wheelhouse).iterdir())
            system = f"localhost/oservices-test-system:{_digest(base_key, _APP_RECIPE, *hashes)}"
            if not _exists(system):
                _install(base, system, Path(wheelhouse), out)
                _prune("localhost/oservices-test-system", system, out)
    return Images(system, postgres)


def _base_tar(key: str, out: TextIO) -> Path:
    tar = CACHE / "images" / f"base-{key}.tar"
    if tar.exists():
        return tar
    tar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="oservices-rootfs-", dir=tar.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(_PACKAGES)}",
                _SUITE,
                str(rootfs),
                _MIRROR,
            ],
            out,
            timeout=1800,
        )
        # Debian starts a cluster on install: the image's entrypoint makes its own.
        shutil.rmtree(rootfs / "var/lib/postgresql/15", ignore_errors=True)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*.deb"):
                item.unlink()
        entrypoint = rootfs / "usr/local/bin/postgres-entrypoint"
        entrypoint.write_text(POSTGRES_ENTRYPOINT, encoding="utf-8")
        entrypoint.chmod(0o755)
        partial = tar.with_suffix(".partial")
        _run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], out)
        partial.rename(tar)  # whole or absent: an interrupted build leaves no cache entry
    for older in tar.parent.glob("base-*.tar"):
        if older != tar:
            older.unlink()  # another recipe's: 400 MB each
    return tar


def _import(tar: Path, tag: str, changes: list[str], out: TextIO) -> None:
    flags = [arg for change in [f"ENV PATH={_PATH}", *changes] for arg in ("--change", change)]
    _run(["podman", "import", *flags, str(tar), tag], out)


def _download(wheels: Sequence[Path], requirements: Sequence[str], into: Path, out: TextIO) -> None:
    platforms = [arg for tag in _PLATFORMS for arg in ("--platform", tag)]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(into)]
    target = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp"]
    _run([*command, *target, *platforms, *map(str, wheels), *requirements], out, timeout=900)


def _install(base: str, tag: str, wheelhouse: Path, out: TextIO) -> None:
    name = f"oservices-test-build-{os.getpid()}"
    _run(["podman", "rm", "--force", "--ignore", name], out)
    try:
        mount = ["-v", f"{wheelhouse}:/wheels:ro"]
        run = ["podman", "run", "--name", name, "--network", "none", *mount]
        _run([*run, base, "sh", "-c", _INSTALL], out, timeout=900)
        _run(["podman", "commit", "--quiet", name, tag], out)
    finally:
        _run(["podman", "rm", "--force", "--ignore", name], out)


def _prune(repository: str, keep: str, out: TextIO) -> None:
    """Remove the other tags of ``repository``: images of older wheels (one in use stays)."""
    listed = subprocess.run(
        ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", repository],
        env=engine_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    for tag in set(listed.stdout.split()) - {keep}:
        out.write(f"$ podman rmi {tag}\n")
        out.flush()
        subprocess.run(
            ["podman", "rmi", tag],
            env=engine_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=120,
        )


def _exists(tag: str) -> bool:
    found = subprocess.run(
        ["podman", "image", "exists", tag], env=engine_environment(), check=False, timeout=60
    )
    return found.returncode == 0


def _run(command: list[str], out: TextIO, timeout: float = 600) -> None:
    out.write(f"$ {' '.join(command)}\n")
    out.flush()
    done = subprocess.run(
        command,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=engine_environment(),
        check=False,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): see {out.name}")


@contextmanager
def _locked() -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "images.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _digest_file(path: Path) -> str:
    return path.name + ":" + hashlib.sha256(path.read_bytes()).hexdigest()
