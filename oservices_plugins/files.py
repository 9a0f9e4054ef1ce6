"""Built-in ``files`` plugin: the initialize stage makes directories and components' files.

Directories, each created if missing; one that exists is only ever tightened
(its mode becomes ``current & wanted``), never loosened::

    DATA_DIR     0750
    LOG_DIR      0750
    RUN_DIR      0700   it holds sockets
    CONFIG_DIR   0700 if it holds a private file (no group or other bits), else 0755

Then each file a component declares under this plugin's key, :data:`FILES`,
is created under the data directory with its content::

    from oservices_plugins.files import FILES

    notes = Component(name="notes", extensions={FILES: {"notes/notes.ini": "[notes]\\n"}})

A user's change always wins: the manifest ``DATA_DIR/.oservices-files.json``
keeps the sha256 of what oservices last wrote to each file, and a file whose
bytes match neither that hash nor the declared content was changed by someone
else, so it is kept (said in the stage's output, as the directories are, and
listed in the stash under :data:`KEPT`). A file still as oservices wrote it follows the declared
content; a missing one is created. With nothing changed, nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from oservices_core import ConfigurationError, Context, Problem, StashKey, hookimpl

if TYPE_CHECKING:
    from oservices_core import Component, Settings

__all__ = ["FILES", "KEPT", "MANIFEST", "oservices_initialize"]

MANIFEST = ".oservices-files.json"
FILES = StashKey[Mapping[str, str]]()
"""A component's files: ``Component(extensions={FILES: {path: content}})``, each path
relative to the data directory, each content the text the file starts with."""
KEPT = StashKey[list[Path]]()  # files a user changed, which the last initialize left alone
_KEY = "extensions[FILES]"  # where a component declares its files, for messages
_PRIVATE = 0o077  # group and other bits: a file with none of them is private


@hookimpl(trylast=True)
def oservices_initialize(context: Context) -> None:
    """Create the installation's directories, then the files components declare."""
    declared = _declared(context.system.components.values())
    for directory, mode in _directories(context.settings):
        _make_directory(context, directory, mode)
    context.stash[KEPT] = _write_files(context, declared)


# Declared files ---------------------------------------------------------------


def _declared(components: Iterable[Component]) -> dict[str, tuple[str, str]]:
    """Relative path -> (component, content), every path checked before anything is written."""
    declared: dict[str, tuple[str, str]] = {}
    problems = []
    for component in components:
        for path, content in _files_of(component).items():
            relative = _relative(path)
            if relative is None:
                problems.append(_escaping(component.name, path))
            elif relative in declared and declared[relative][1] != content:
                problems.append(_clash(component.name, path, declared[relative][0]))
            else:
                declared.setdefault(relative, (component.name, content))
    if problems:
        raise ConfigurationError(problems, subject="declared files")
    return declared


def _files_of(component: Component) -> Mapping[str, str]:
    """What ``component`` declares under :data:`FILES` (often nothing), checked."""
    files: object = component.extensions.get(FILES, {})
    if not isinstance(files, Mapping):
        found = f"a {type(files).__name__}"
    else:
        wrong = [item for item in files.items() if not all(isinstance(x, str) for x in item)]
        if not wrong:
            return files
        path, content = wrong[0]
        found = f"{path!r}: a {type(content).__name__}"
    raise ConfigurationError(
        Problem(
            f"component {component.name!r}",
            _KEY,
            "a mapping of relative paths to their text (str: str)",
            found,
            hint='for example extensions={FILES: {"notes/notes.ini": "[notes]\\n"}}',
        )
    )


def _relative(path: str) -> str | None:
    """``path`` normalized, or None when it could leave the data directory."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or not pure.parts:
        return None
    relative = pure.as_posix()
    return None if relative == MANIFEST else relative


def _escaping(component: str, path: str) -> Problem:
    return Problem(
        f"component {component!r}",
        _KEY,
        "a relative path inside the data directory, without '..'",
        repr(path),
        hint=f"{MANIFEST} is oservices' own: choose another name"
        if PurePosixPath(path).as_posix() == MANIFEST
        else f"declare it relative to DATA_DIR, for example {component}/settings.ini",
    )


def _clash(component: str, path: str, other: str) -> Problem:
    return Problem(
        f"component {component!r}",
        _KEY,
        f"a path no other component declares with other content (component {other!r} does)",
        repr(path),
        hint="give each component its own file, for example under a directory of its name",
    )


# Directories --------------------------------------------------------------------


def _directories(settings: Settings) -> list[tuple[Path, int]]:
    config_mode = 0o700 if _holds_private_file(settings.config_dir) else 0o755
    return [
        (settings.data_dir, 0o750),
        (settings.log_dir, 0o750),
        (settings.run_dir, 0o700),
        (settings.config_dir, config_mode),
    ]


def _holds_private_file(directory: Path) -> bool:
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return False
    return any(entry.is_file() and not entry.stat().st_mode & _PRIVATE for entry in entries)


def _make_directory(context: Context, directory: Path, mode: int) -> None:
    """Create ``directory`` with ``mode``; tighten an existing one to ``current & mode``."""
    current = _mode(directory)
    if current is not None and not directory.is_dir():
        raise ConfigurationError(
            Problem(
                "settings", _setting_of(context, directory), "a directory", f"a file {directory}"
            )
        )
    wanted = mode if current is None else current & mode
    if wanted == current:
        return
    verb, done = ("create", "created") if current is None else ("tighten", "tightened")
    if context.dry_run:
        context.out.write(f"would {verb} directory {directory} (mode {wanted:#o})\n")
        return
    if current is None:
        directory.mkdir(mode=mode, parents=True, exist_ok=True)
    os.chmod(directory, wanted)  # exactly, whatever the umask
    # Where, and as, the stage reports what it would do: one style for the command's output.
    context.out.write(f"{done} directory {directory} (mode {wanted:#o})\n")


def _setting_of(context: Context, directory: Path) -> str:
    names = ("data_dir", "log_dir", "run_dir", "config_dir")
    return next(n for n in names if getattr(context.settings, n) == directory)


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


# Files ----------------------------------------------------------------------------


def _write_files(context: Context, declared: dict[str, tuple[str, str]]) -> list[Path]:
    """Create or update each declared file unless a user changed it; return the kept ones."""
    data_dir = context.settings.data_dir
    manifest = _read_manifest(context, data_dir / MANIFEST)
    kept = []
    for relative, (component, content) in declared.items():
        target, data = data_dir / relative, content.encode()
        written = _hash(data)
        found = _read(target)
        current = None if found is None else _hash(found)
        ours = current == manifest.get(relative) and not target.is_symlink()
        if current is None or current == written or ours:
            mode = _mode(target)  # an update keeps the file's mode
            context.write_file(target, data, mode=0o644 if mode is None else mode)
        else:
            kept.append(target)
            context.keep(target)
            context.out.write(
                f"kept {target} (component {component}): it differs from what oservices last "
                "wrote, so someone changed it; remove it to get the declared content\n"
            )
            continue
        manifest[relative] = written
    if declared or manifest:
        context.write_file(data_dir / MANIFEST, _manifest_text(manifest))
    return kept


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _hash(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _read_manifest(context: Context, path: Path) -> dict[str, str]:
    """The manifest's hashes; an unreadable one is empty, so every changed file is kept."""
    try:
        parsed: Any = json.loads(path.read_bytes())
        files = parsed["files"]
        return {str(k): str(v) for k, v in files.items()}
    except FileNotFoundError:
        return {}
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        context.out.write(
            f"ignored {path} ({exc}): files that differ from their declared content are kept\n"
        )
        return {}


def _manifest_text(manifest: dict[str, str]) -> str:
    document = {
        "about": "sha256 of what oservices last wrote to each file under the data directory; "
        "a file whose content differs was changed by a user and is never overwritten",
        "files": dict(sorted(manifest.items())),
    }
    return json.dumps(document, indent=2) + "\n"
