"""The template process: forks components, reaps them, and cleans up if orphaned.

The Administrator forks it from its own process when that is safe (:func:`fork`:
it then has the caller's imports already), else starts a fresh interpreter
(``python -m oservices_core._supervisor.template FD``). It loads oservices, pydantic and
every plugin's module before the first component starts, so a component costs
one ``fork``, not a fresh interpreter.
It is also:

- the parent of every component, and a child subreaper, so a descendant that
  escapes its process group (``setsid``) is re-parented here and found;
- the keeper: when the Administrator dies, even by SIGKILL, its end of the
  socket closes, and this process kills every component group and every
  descendant before it exits.

Messages are JSON, one per SOCK_SEQPACKET datagram. To the template:
``{"op": "spawn", "id", "name", "set", "exec", "nofile"}`` with the log pipe's
write end as an attached descriptor (``set``: the variables a component's
environment adds to the template's own, which it got once, when it started;
``nofile``: the descriptor limit to give it back), and ``{"op": "reload"}``
with a memory file holding the new environment as JSON. From it: ``ready``
(plugins loaded), ``spawned`` (id, pid), ``spawn_failed`` (id, error) and
``exited`` (id, pid, returncode).
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NoReturn

from oservices_core._supervisor import procutil as _procutil
from oservices_core._supervisor.forking import Forked, flush_streams, let_go, single_threaded

if TYPE_CHECKING:
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.system import System

__all__ = ["INSTANCE_VARIABLE", "KEEPER_SECONDS", "NAME", "fork", "main", "sweep"]

INSTANCE_VARIABLE = "OSERVICES_INSTANCE"
NAME = "oservices-tmpl"  # the process name ps and top show (15 bytes at most)
KEEPER_SECONDS = 1.5
_MAX_MESSAGE = 1 << 20


class _Template:
    """The template's state: its socket, the leaders it forked, the loaded system."""

    def __init__(self, sock: socket.socket, system_file: str | None) -> None:
        self.sock = sock
        self.system_file = system_file
        self.leaders: dict[int, tuple[int, _Mark]] = {}  # pid -> (spawn id, its processes' mark)
        self.dying: dict[_Mark, tuple[int, float]] = {}  # -> (pgid, sweep until)
        self.wake_r, self.wake_w = os.pipe()
        self.env = dict(os.environ)  # every component's environment, before its own variables
        self.settings: Settings | None = None
        self.system: System | None = None
        self.selector = selectors.DefaultSelector()

    def load(self, env: dict[str, str] | None = None) -> None:
        from oservices_core._config.settings import load_settings
        from oservices_core._plugins.system import load_system

        if env is not None:
            os.environ.clear()
            os.environ.update(env)
            self.env = dict(env)
        if self.system is None or env is not None:  # not handed over by a fork, or a reload
            self.settings = load_settings()
            with self.settings.activate():
                self.system = load_system(self.system_file)
        assert self.settings is not None
        with self.settings.activate():
            self._warm(self.system)

    def _warm(self, system: System) -> None:
        """Do now, once, the imports and first resolutions every component would repeat."""
        import logging.config  # noqa: F401 - the logging plugin configures every component

        import oservices_core._supervisor.child
        import oservices_core._workflow.run  # noqa: F401 - imported for the children

        resolver = system.resolver(self.settings)
        for entry_name, entry in system.configurations().items():
            with contextlib.suppress(Exception):  # fills per-class caches; errors show later
                resolver.resolve(entry.cls, entry_name)
        for component in system.components.values():
            with contextlib.suppress(Exception):  # the component reports its own failure
                component.load_main()  # a neutral module: importing it does no work
        # What is loaded now stays: the children's collections need not walk it
        # (which would also copy every page it touches).
        gc.collect()
        gc.freeze()

    def send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the Administrator is gone; the keeper acts next
            self.sock.send(json.dumps(message).encode())

    # Forking ---------------------------------------------------------------

    def spawn(self, request: dict[str, Any], fds: list[int]) -> None:
        log_fd = fds[0] if fds else os.open(os.devnull, os.O_WRONLY)
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(log_fd)
            self.send({"event": "spawn_failed", "id": request["id"], "error": str(exc)})
            return
        if pid == 0:
            self._child(request, log_fd)
        os.close(log_fd)
        with contextlib.suppress(OSError):  # the child may have done it, or exited already
            os.setpgid(pid, pid)
        token = request["set"].get(INSTANCE_VARIABLE, "")
        self.leaders[pid] = (request["id"], _Mark(token, _procutil.kept_name(request["name"])))
        self.send({"event": "spawned", "id": request["id"], "pid": pid})

    def _child(self, request: dict[str, Any], log_fd: int) -> None:
        code = 1
        try:
            parent = os.getppid()
            os.setpgid(0, 0)
            _procutil.set_name(request["name"])  # for ps and top, not the template's name
            _procutil.set_parent_death_signal()
            if os.getppid() != parent:  # the template died before the flag was set
                os._exit(1)
            self._detach(log_fd)
            code = self._run(request)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - whatever ends the component is its exit
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _detach(self, log_fd: int) -> None:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        signal.set_wakeup_fd(-1)
        for fd in (null, log_fd, self.wake_r, self.wake_w):
            os.close(fd)
        self.selector.close()
        self.sock.close()
        _procutil.reset_signals()

    def _run(self, request: dict[str, Any]) -> int:
        env: dict[str, str] = {**self.env, **request["set"]}
        _procutil.set_nofile_limit(request.get("nofile"))
        os.environ.clear()
        os.environ.update(env)
        name: str = request["name"]
        if request.get("exec"):
            argv = [sys.executable, "-m", "oservices_core", "run", name]
            if self.system_file:
                argv += ["--system", self.system_file]
            os.execve(sys.executable, argv, env)  # noqa: S606 - our own interpreter, no shell
        from oservices_core._supervisor.child import run_component

        assert self.system is not None
        assert self.settings is not None
        for stream in (sys.stdout, sys.stderr):  # a pipe: lines must not wait in a buffer
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(line_buffering=True)
        return run_component(self.system, name, self.settings)

    # Reaping ---------------------------------------------------------------

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            leader = self.leaders.pop(pid, None)
            if leader is not None:
                self._exited(pid, leader, os.waitstatus_to_exitcode(status))

    def _exited(self, pid: int, leader: tuple[int, _Mark], returncode: int) -> None:
        # Its children die with it: what is left of its group, and what escaped
        # the group but was re-parented here (this process is a subreaper).
        _procutil.kill_group(pid, signal.SIGKILL)
        mark = leader[1].ended()
        self._sweep(mark)
        # A descendant that escaped through a process still dying is re-parented
        # here only once that one is gone: sweep again until the group is.
        self.dying[mark] = (pid, time.monotonic() + KEEPER_SECONDS)
        self.send({"event": "exited", "id": leader[0], "pid": pid, "returncode": returncode})

    def _sweep(self, mark: _Mark | None) -> int:
        """Kill adopted descendants: those ``mark`` owns, or all when ``None``."""
        killed = 0
        for pid in _children() - set(self.leaders):
            if mark is None or mark.owns(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
        return killed

    # The keeper ------------------------------------------------------------

    def keep(self) -> None:
        """The Administrator is gone: kill everything it started, then exit."""
        for pid in list(self.leaders):
            _procutil.kill_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + KEEPER_SECONDS
        while time.monotonic() < deadline:
            self.reap_all()
            if not _children():
                return
            self._sweep(None)
            time.sleep(0.01)

    def reap_all(self) -> None:
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass

    # The loop --------------------------------------------------------------

    def serve(self) -> None:
        selector = self.selector
        selector.register(self.sock, selectors.EVENT_READ, "socket")
        selector.register(self.wake_r, selectors.EVENT_READ, "signal")
        while True:
            for key, _ in selector.select(0.02 if self.dying else None):
                if key.data == "signal":
                    os.read(self.wake_r, 4096)
                    self.reap()
                elif not self._receive():
                    selector.close()
                    self.keep()
                    return
            self._sweep_dying()

    def _sweep_dying(self) -> None:
        now = time.monotonic()
        for mark, (pgid, until) in list(self.dying.items()):
            self.reap()
            if not self._sweep(mark) and (not _procutil.group_alive(pgid) or now > until):
                del self.dying[mark]

    def _receive(self) -> bool:
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, _MAX_MESSAGE, 4)
        except OSError:
            return False
        if not data:
            return False
        request = json.loads(data)
        if request["op"] == "spawn":
            self.spawn(request, fds)
        elif request["op"] == "reload":
            self._reload(fds)
        return True

    def _reload(self, fds: list[int]) -> None:
        try:
            with os.fdopen(fds[0], "rb") as file:
                file.seek(0)
                env = json.loads(file.read())
            self.load(env)
        except Exception as exc:  # noqa: BLE001 - reported to the Administrator, which decides
            self.send({"event": "reload_failed", "error": str(exc)})
        else:
            self.send({"event": "reloaded"})


@dataclass(frozen=True, slots=True)
class _Mark:
    """How to tell one start of a component's processes among the template's adopted ones.

    A process that exec'd after the instance value was set carries it in
    ``/proc/PID/environ``. One that only forked shows the template's original
    environment there, but the component's name as its process name: it
    belongs to this start if it was born before this start ended (a later
    start of the same component has the same name).
    """

    token: str
    name: str
    until: float = math.inf  # CLOCK_BOOTTIME seconds, when the leader ended

    def ended(self) -> _Mark:
        return replace(self, until=time.clock_gettime(time.CLOCK_BOOTTIME))

    def owns(self, pid: int) -> bool:
        if self.token and _instance_of(pid) == self.token:
            return True
        name, born = _name_and_birth(pid)
        return name == self.name and born <= self.until


def _name_and_birth(pid: int) -> tuple[str, float]:
    """A process's name and when it started, in CLOCK_BOOTTIME seconds."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return "", math.inf
    # pid (name) state ppid ...: the name may hold spaces and parentheses.
    name = stat[stat.index(b"(") + 1 : stat.rindex(b")")].decode(errors="replace")
    ticks = int(stat[stat.rindex(b")") + 2 :].split()[19])  # field 22, starttime
    return name, ticks / os.sysconf("SC_CLK_TCK")


def _children() -> set[int]:
    """This process's children, read from /proc without scanning every process."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children", encoding="ascii") as file:
            return {int(pid) for pid in file.read().split()}
    except OSError:  # pragma: no cover - a kernel without CONFIG_PROC_CHILDREN
        import psutil

        return {child.pid for child in psutil.Process(me).children()}


def sweep(prefix: str, names: set[str], seconds: float, leaders: Collection[int] = ()) -> None:
    """Kill what is left of a pool whose template died, until nothing is.

    A process that exec'd carries an instance value starting with ``prefix``
    wherever it was re-parented; one that only forked has its component's
    name (one of ``names``) and is found among this process's children, where
    it lands if this process is a subreaper, as :meth:`Administrator.run` makes it.
    It lands there only once its own parent is gone: so the sweep goes on while
    any of ``leaders`` (the components' processes, killed already) still exists.
    """
    import psutil

    deadline = time.monotonic() + seconds
    me = os.getpid()
    while True:
        found = {pid for pid in psutil.pids()
                 if pid != me and (_instance_of(pid) or "").startswith(prefix)}
        adopted = {pid for pid in _children() if _name_and_birth(pid)[0] in names}
        for pid in found | adopted:
            with contextlib.suppress(OSError):  # gone already
                os.kill(pid, signal.SIGKILL)
        # Reaped here, the leaders and what was adopted free their children to come here too.
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        waiting = [pid for pid in leaders if _name_and_birth(pid)[0]]
        if (not found | adopted and not waiting) or time.monotonic() > deadline:
            return
        time.sleep(0.01)


def _instance_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            entries = file.read().split(b"\0")
    except OSError:
        return None
    prefix = f"{INSTANCE_VARIABLE}=".encode()
    for entry in entries:
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the template on the socket whose descriptor is ``argv[0]``."""
    args = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(args[0]))
    return _run(_Template(sock, args[1] if len(args) > 1 and args[1] else None))


def fork(
    sock: socket.socket,
    system_file: str | None,
    env: dict[str, str],
    drop: Collection[int] = (),
    loaded: tuple[Settings, System] | None = None,
) -> Forked | None:
    """Fork the template from this process, or ``None`` when that is not safe here.

    The child starts with every module this process has imported (oservices,
    pydantic, the plugins), which is most of a fresh template's start-up. It
    is only safe in a single-threaded process: a lock held by another thread
    at the fork would stay held in the child forever. ``drop`` names
    descriptors of files the template must not hold (the run directory's lock).
    ``loaded``: the settings and system this process loaded already, whose
    plugins it imported; the template takes them over rather than load them again.
    """
    if not single_threaded():
        return None
    flush_streams()
    pid = os.fork()
    if pid == 0:
        _become_template(sock, system_file, env, drop, loaded)
    return Forked(pid)


def _become_template(
    sock: socket.socket,
    system_file: str | None,
    env: dict[str, str],
    drop: Collection[int],
    loaded: tuple[Settings, System] | None,
) -> NoReturn:
    """The forked child's whole life: never return into the caller's code."""
    code = 1
    try:
        os.setsid()  # as the fresh template: a signal to the caller's group leaves the keeper
        _procutil.reset_signals()
        let_go({sock.fileno()}, drop)
        os.environ.clear()
        os.environ.update(env)
        template = _Template(sock, system_file)
        if loaded is not None:
            template.settings, template.system = loaded
        code = _run(template)
    except BaseException:  # noqa: BLE001 - whatever happens, it ends here
        traceback.print_exc()
    finally:
        os._exit(code)


def _run(template: _Template) -> int:
    _procutil.set_name(NAME)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only the Administrator tells it what to do
    os.set_blocking(template.wake_w, False)
    signal.set_wakeup_fd(template.wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    _procutil.set_subreaper()
    try:
        template.load()
    except Exception as exc:  # noqa: BLE001 - the Administrator reports it and stops
        template.send({"event": "load_failed", "error": str(exc)})
        return 1
    template.send({"event": "ready", "pid": os.getpid()})
    template.serve()
    # Nothing is left to clean up; skipping the interpreter's finalization makes
    # the Administrator's stop tens of milliseconds shorter.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
