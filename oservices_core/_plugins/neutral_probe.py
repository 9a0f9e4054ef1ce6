"""Run in a fresh interpreter: import one module and report what the import did.

``python -m oservices_core._plugins.neutral_probe MODULE`` prints one JSON object:
``{"module": ..., "findings": [...], "error": ...}``. A neutral module's import
opens no file but code, reads neither the environment nor settings, starts no
thread or process, opens no socket and does not configure Django.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

_CODE = (".py", ".pyc", ".so", ".pyd", ".pth", ".pyi")
_PROCESS = (
    "subprocess.Popen",
    "os.fork",
    "os.forkpty",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
)
_SOCKET = ("socket.bind", "socket.connect")
_EVERY = "(every variable)"
# Read by libraries on every class definition (pydantic checks it per model class):
# defining models at import is neutral, so these reads are not the module's doing.
_LIBRARY_VARIABLES = frozenset({"PYDANTIC_DISABLE_PLUGINS"})


def _watch_environment(names: list[str]) -> None:
    """Note every read of ``os.environ`` (and ``os.environb``) while the probe is active.

    The methods of the environment's own type are wrapped, rather than the object
    replaced, so code that needs the real mapping (subprocess) keeps working.
    """
    environ_type = type(os.environ)
    getitem, iterate = environ_type.__getitem__, environ_type.__iter__

    def watched_getitem(self: Any, key: Any) -> Any:
        if _Probe.active:
            names.append(key.decode() if isinstance(key, bytes) else str(key))
        return getitem(self, key)

    def watched_iter(self: Any) -> Iterator[Any]:
        if _Probe.active:
            names.append(_EVERY)
        return iterate(self)

    environ_type.__getitem__ = watched_getitem  # type: ignore[method-assign]  # watch reads
    environ_type.__iter__ = watched_iter  # type: ignore[method-assign]  # watch reads


class _Probe:
    active = False

    def __init__(self) -> None:
        self.findings: list[str] = []

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if not _Probe.active:
            return
        if event == "open":
            self._open(args)
        elif event.startswith(_PROCESS):
            self.findings.append(f"started a process ({event}: {args[0]!r})")
        elif event in _SOCKET:
            self.findings.append(f"opened a socket ({event} {args[1]!r})")

    def _open(self, args: tuple[Any, ...]) -> None:
        if isinstance(args[0], int):
            return  # a descriptor wrapped in a file object: its own opening was seen
        path, mode = str(args[0]), args[1]
        parent, _, name = path.rpartition("/")
        if parent.endswith("__pycache__") and ".pyc" in name:
            return  # the import system caching bytecode (a temporary file, then renamed)
        writing = isinstance(mode, str) and any(flag in mode for flag in "wax+")
        if writing or not (path.endswith(_CODE) or ".dist-info" in path):
            self.findings.append(f"opened file {path} (mode {mode!r})")


def _settings_watch(findings: list[str]) -> None:
    from oservices_core._config import settings as _settings

    for name in ("active_settings", "load_settings"):
        original = getattr(_settings, name)

        def watched(*args: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
            if _Probe.active:
                findings.append(f"read settings ({_name})")
            return _original(*args, **kw)

        setattr(_settings, name, watched)


def _django_findings() -> list[str]:
    if "django" not in sys.modules:
        return []
    from django.apps import apps
    from django.conf import settings

    found = ["configured Django (settings.configure)"] if settings.configured else []
    return found + (["set up Django (django.setup)"] if apps.ready else [])


def _environment_finding(names: list[str]) -> list[str]:
    names = [name for name in names if name not in _LIBRARY_VARIABLES]
    if not names:
        return []
    if _EVERY in names:
        return ["read the whole environment"]
    return ["read the environment: " + ", ".join(dict.fromkeys(names))]


def _watch_threads(findings: list[str]) -> None:
    # A thread may end before the import does; catch it when it starts.
    start = threading.Thread.start

    def watched(thread: threading.Thread) -> None:
        if _Probe.active:
            findings.append(f"started thread {thread.name!r}")
        start(thread)

    threading.Thread.start = watched  # type: ignore[method-assign,assignment]  # watch starts


def probe(module: str) -> dict[str, Any]:
    """Import ``module`` with everything watched; return what it did."""
    state = _Probe()
    environment: list[str] = []
    _settings_watch(state.findings)
    _watch_threads(state.findings)
    sys.addaudithook(state.audit)
    _watch_environment(environment)
    threads = set(threading.enumerate())
    error = None
    _Probe.active = True
    try:
        importlib.import_module(module)
    except BaseException as exc:  # noqa: BLE001 - a failing import is reported, not raised
        error = f"{type(exc).__name__}: {exc}"
    finally:
        _Probe.active = False
    started = [f"started thread {t.name!r}" for t in threading.enumerate() if t not in threads]
    findings = [*_environment_finding(environment), *dict.fromkeys(state.findings + started)]
    return {"module": module, "findings": findings + _django_findings(), "error": error}


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1])))
