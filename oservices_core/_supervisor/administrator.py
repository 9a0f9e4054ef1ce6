"""The Administrator: runs a pool of components in processes.

One loop thread owns every component's state (:mod:`oservices_core._supervisor.loop`).
Processes come from the template (:mod:`oservices_core._supervisor.template`), which is
their parent, reaps them, and kills them all if the Administrator dies.
Around that, this module decides: the start order from ``depends_on``,
readiness, restarts by policy, stops (signal, grace, SIGKILL to the group,
complete only when the group is gone), reloads, and the control socket.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, final

from oservices_core._errors import (
    AdministratorError,
    ConfigurationError,
    NotFoundError,
    OservicesError,
    Problem,
)
from oservices_core._supervisor import procutil as _procutil
from oservices_core._supervisor import template as _template
from oservices_core._supervisor.forking import Forked
from oservices_core._supervisor.instance import TERMINAL, ComponentStatus, Instance, describe_exit
from oservices_core._supervisor.logfiles import RotatingLog, log_path
from oservices_core._supervisor.loop import Loop
from oservices_core._supervisor.notify import NotifyListener

if TYPE_CHECKING:
    from oservices_core._config.configuration import Configuration
    from oservices_core._config.settings import Settings
    from oservices_core._plugins.component import Component
    from oservices_core._plugins.hooks import Hooks
    from oservices_core._plugins.system import System
    from oservices_core._supervisor.control import ControlServer
    from oservices_core._supervisor.http import HttpServer

__all__ = ["Administrator"]

_GROUP_POLL = 0.005
_EARLY_MAX = 4096
_PROBE_FIRST, _PROBE_MAX = 0.02, 0.5
_LOG_RETRY = 1.0
_LOOK_EVERY = 0.01
Event = Callable[[str, str], None]
T = TypeVar("T")
P = ParamSpec("P")
_DONE = ("FATAL", "EXITED")


@final
class Administrator:
    """Runs the components of a system in processes, and keeps them running.

    From code, ``with Administrator(system) as admin:`` starts every component
    (the loop runs in a background thread and installs no signal handlers),
    and leaving the block stops them all. :meth:`run` is the foreground form
    behind ``oservices up``: it handles SIGTERM, SIGINT and SIGHUP.

    ``template="fork"`` forks the template from this process, when it has a
    single thread, instead of starting a fresh interpreter: components start
    sooner, but they inherit this process's modules and whatever it changed
    in them (a test's monkeypatches, a framework set up by the setup stage). ``oservices up``
    asks for it; a test or an embedding program should not, unless its
    process holds nothing the components must not see.

    ``restarts=N`` caps the restarts of each component at N, whatever its own
    policy (``restarts=0``: a component that exits or fails to start is FATAL at
    once): the testing toolkit fails fast with it. ``None`` leaves each policy alone.
    """

    def __init__(
        self,
        system: System,
        *,
        settings: Settings | None = None,
        on_event: Event | None = None,
        control: bool = True,
        template: Literal["exec", "fork"] = "exec",
        restarts: int | None = None,
    ) -> None:
        from oservices_core._config.settings import active_settings

        self.system = system
        self.settings = settings or active_settings()
        system.check(self.settings)
        self.order = system.start_order()
        self.instances = {name: Instance(system.components[name]) for name in self.order}
        self.on_event = on_event
        self.control = control
        if template not in ("exec", "fork"):
            where = "Administrator(template=...)"
            raise ConfigurationError(Problem(where, "template", "'exec' or 'fork'", repr(template)))
        self.template = template
        self.restarts = restarts
        self.token = secrets.token_hex(8)
        self._loop = Loop()
        self._template: subprocess.Popen[bytes] | Forked | None = None
        self._tsock: socket.socket | None = None
        self._notify: NotifyListener | None = None
        self._control: ControlServer | None = None
        self._http: HttpServer | None = None  # the HTTP endpoint, when admin_http is set
        self._lock_fd: int | None = None
        self._by_spawn: dict[int, Instance] = {}
        self._by_pid: dict[int, Instance] = {}
        self._spawns = 0
        self._shutting_down = False
        self._finished: Future[None] = Future()
        self._signals: list[int] = []
        self._early: set[int] = set()  # process groups that said READY before we knew them
        # Requests for the template, in order, until its socket takes them: it
        # never blocks the loop, and back-pressure only delays them.
        self._outbox: deque[_Outgoing] = deque()
        self._nofile: int | None = None  # the descriptor limit components get back
        self._changed = threading.Condition()
        self._version = 0  # counts events, so a waiter knows whether it missed one
        self._interrupts = 0
        self.event_errors = 0  # events the ``on_event`` callback failed to take
        self._failing_logs: set[Instance] = set()
        self._log_retry: int | None = None

    # The public API (any thread) ---------------------------------------------

    def start(self) -> None:
        """Start the template, then every component in order; returns at once."""
        self._open()
        thread = threading.Thread(target=self._serve, name="oservices-administrator", daemon=True)
        self._loop.thread = thread
        thread.start()
        self._loop.submit(self._start_all).result()

    def wait_ready(self, names: Iterable[str] | None = None, timeout: float = 60.0) -> None:
        """Block until the components named (default: all) are running and ready."""
        wanted = list(names) if names is not None else list(self.order)
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                seen = self._version
            if self._finished.done():
                raise AdministratorError("the Administrator stopped before all were ready")
            states = self._call(lambda: {n: self._brief(n) for n in wanted})
            failed = [f"{n} is {s}: {why}" for n, (s, _, why) in states.items() if s in _DONE]
            if failed:
                raise AdministratorError("; ".join(failed))
            if all(s == "RUNNING" and ready for s, ready, _ in states.values()):
                return
            if time.monotonic() > deadline:
                late = [f"{n} ({s[0]})" for n, s in states.items() if not s[1]]
                raise AdministratorError(f"not ready after {timeout:g}s: {', '.join(late)}")
            with self._changed:  # woken by the next event; the timeout is a safety net
                if self._version == seen:
                    self._changed.wait(0.5)
            # At most one look per _LOOK_EVERY: a thousand starts make thousands of events.
            time.sleep(_LOOK_EVERY)

    @property
    def http_url(self) -> str | None:
        """Where the HTTP endpoint listens (``admin_http``); None when it is off."""
        return None if self._http is None else self._http.url

    def _brief(self, name: str) -> tuple[str, bool, str]:
        instance = self.instances[name]
        return instance.state, instance.ready, instance.reason

    def status(self, *, usage: bool = True) -> list[ComponentStatus]:
        """Every component's status, in start order; ``usage=False``: without CPU and memory,
        which cost a few reads of ``/proc`` per component."""
        return self._call(lambda: [i.status(usage=usage) for i in self.instances.values()])

    def stop(self, name: str | None = None, *, timeout: float | None = None) -> None:
        """Stop one component, or all of them and the Administrator; returns when done."""
        if self._finished.done():
            return
        if name is None:
            self._loop.submit(self._shutdown)
            self._finished.result(timeout)
        else:
            self._call(lambda: self._stop(self._instance(name))).result(timeout)

    def restart(self, name: str, *, timeout: float | None = None) -> None:
        """Stop a component if it runs, then start it (it need not have been running)."""
        self._call(lambda: self._stop(self._instance(name))).result(timeout)
        self._call(lambda: self._want(self._instance(name)))

    def reload(self, settings: Settings | None = None) -> list[str]:
        """Reload settings and configurations; restart the components whose own changed.

        A component's own: its configuration and its service's.
        """
        return self._call(lambda: self._reload(settings))

    def run(self) -> int:
        """Run in the foreground until stopped; handles SIGTERM, SIGINT and SIGHUP."""
        # Should the template die, what its components leave is re-parented here.
        _procutil.set_subreaper()
        self._open()
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        # Past a file-size limit, a write fails (and is retried) rather than killing the pool.
        previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        old_fd = signal.set_wakeup_fd(self._loop.wake_w)
        try:
            self._start_all()
            self._serve()
        finally:
            signal.set_wakeup_fd(old_fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if any(i.state == "FATAL" for i in self.instances.values()) else 0

    def __enter__(self) -> Administrator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, call: Callable[[], T]) -> T:
        if self._finished.done() or (
            self._loop.thread is not None and self._loop.thread.ident == threading.get_ident()
        ):
            return call()  # no loop to run it, or already in it
        future = self._loop.submit(call)
        while True:
            try:
                return future.result(timeout=0.1)
            except FutureTimeout:
                if self._finished.done() and future.cancel():
                    return call()  # the loop ended before it got there; the state is final

    def _instance(self, name: str) -> Instance:
        try:
            return self.instances[name]
        except KeyError:
            known = ", ".join(self.instances)
            raise NotFoundError(
                f"no component {name!r} under this Administrator ({known})"
            ) from None

    # Opening and closing -----------------------------------------------------

    def preload(self) -> None:
        """Take the run directory and start the template now, without waiting for it.

        ``oservices up`` calls this before its build, so the template's imports
        happen while the build runs. :meth:`start` and :meth:`run` call it too.
        """
        if self._template is not None:
            return
        run_dir = self.settings.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        if self.control:
            from oservices_core._supervisor.control import ControlServer, lock

            self._lock_fd = lock(run_dir)
            # Listening from now on: a request sent while ``up`` builds waits in the backlog.
            self._control = ControlServer(self._loop, run_dir, set(self.instances), self._dispatch)
        if self.settings.admin_http:
            from oservices_core._supervisor.http import serve

            try:
                self._http = serve(
                    self._loop, self.settings, self._dispatch, lambda: self.instances,
                    lambda: self.event_errors,
                )
            except OservicesError:  # its address is taken, or not this machine's
                if self._control is not None:
                    self._control.close()  # no socket left behind that nobody answers
                raise
        self._env = self._environment()
        self._nofile = _procutil.raise_nofile_limit()
        self._launch_template()

    def _open(self) -> None:
        self.preload()
        self._await_template()
        self._notify = NotifyListener(self.token)
        self._loop.add_reader(self._notify.sock, self._on_notify)
        # Requests that came while the template loaded (or ``up`` built) are answered
        # before anything starts, so that a ``stop`` among them is not lost.
        for _ in range(64):
            if not self._loop.run_once(timeout=0):
                break

    def _launch_template(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        system_file = str(self.system.file) if self.system.file else ""
        if self.template == "fork":
            held = [] if self._lock_fd is None else [self._lock_fd]  # the lock is ours alone
            loaded = (self.settings, self.system)  # loaded here: not again in the template
            self._template = _template.fork(theirs, system_file or None, self._env, held, loaded)
        if self._template is None:  # asked for, or threads here: a fresh interpreter
            self._template = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "oservices_core._supervisor.template", str(theirs.fileno()),
                 system_file],
                pass_fds=[theirs.fileno()],
                env=self._env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a signal to the Administrator's group leaves the keeper
            )
        theirs.close()
        self._tsock = ours

    def _await_template(self) -> None:
        assert self._tsock is not None
        assert self._template is not None
        self._tsock.settimeout(120)
        data = self._tsock.recv(1 << 20) or b'{"event": "load_failed", "error": "it exited"}'
        hello = json.loads(data)
        if hello["event"] != "ready":
            self._template.wait()
            raise AdministratorError(
                f"the template process could not load plugins: {hello['error']}"
            )
        self._tsock.setblocking(False)
        self._loop.add_reader(self._tsock, self._on_template)

    def _serve(self) -> None:
        self._loop.thread = threading.current_thread()
        try:
            while not self._finished.done():
                self._loop.run_once()
                self._handle_signals()
                if self._shutting_down and self._all_down():
                    self._close()
        except BaseException as exc:
            self._kill_everything()
            self._close()
            if not self._finished.done():
                self._finished.set_exception(exc)
            raise

    def _close(self) -> None:
        for outgoing in self._outbox:  # never sent: their descriptors are ours to close
            for fd in outgoing.fds:
                os.close(fd)
        self._outbox.clear()
        if self._tsock is not None:
            self._tsock.close()  # the template sees the end, sweeps what is left, exits
            self._tsock = None
        if self._template is not None:
            _procutil.wait_exit(self._template, 5.0)
        for closing in (self._notify, self._control, self._http):
            if closing is not None:
                closing.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        for instance in self.instances.values():
            if instance.log is not None:
                instance.log.close()
        self._loop.close()
        if not self._finished.done():
            self._finished.set_result(None)

    # Starting ----------------------------------------------------------------

    def _start_all(self) -> None:
        if self._shutting_down:  # stopped before it started
            self._event("administrator", "stopped before starting anything")
            return
        for name in self.order:
            self._want(self.instances[name])

    def _want(self, instance: Instance) -> None:
        instance.wanted = True
        if instance.state in ("STOPPED", "EXITED", "FATAL"):  # a fresh start: no backoff left
            instance.failures.clear()
            instance.quick = 0
            instance.reason = ""
        self._maybe_start(instance)

    def _maybe_start(self, instance: Instance) -> None:
        if not instance.wanted or self._shutting_down:
            return
        if instance.state in ("STARTING", "RUNNING", "STOPPING", "BACKOFF"):
            return
        waiting = [d for d in instance.component.depends_on if not self.instances[d].ready]
        if waiting:
            instance.state = "WAITING"
            instance.reason = f"waiting for {', '.join(waiting)}"
            return
        self._spawn(instance)

    def _spawn(self, instance: Instance) -> None:
        assert self._tsock is not None
        assert self._notify is not None
        try:
            instance.fingerprint = self._fingerprint(instance.component)
            instance.address = self._tcp_address(instance)
        except OservicesError as exc:
            self._settle(instance, "FATAL", f"configuration: {exc}")
            return
        self._spawns += 1
        instance.spawn_id = self._spawns
        self._by_spawn[self._spawns] = instance
        self._hook(self._hooks.component_starting, component=instance.component)
        # Only what differs from the environment the template already holds.
        own = {
            _template.INSTANCE_VARIABLE: f"{self.token}.{instance.name}.{self._spawns}",
            "OSERVICES_COMPONENT": instance.name,
            "NOTIFY_SOCKET": self._notify.address,
        }
        request = {
            "op": "spawn",
            "id": self._spawns,
            "name": instance.name,
            "set": own,
            "exec": instance.component.spawn == "exec",
            "nofile": self._nofile,
        }
        self._outbox.append(_Outgoing(request, instance, self._spawns))
        self._flush_outbox()
        instance.state = "STARTING"
        instance.ready = False
        instance.reason = ""
        instance.started = time.monotonic()
        self._set_timer(
            instance, instance.component.start_timeout, lambda: self._start_timed_out(instance)
        )
        self._event(instance.name, "starting")

    def _flush_outbox(self) -> None:
        """Send what the template's socket takes now; wait for it to be writable for the rest."""
        if self._tsock is None:
            return
        while self._outbox:
            outgoing = self._outbox[0]
            instance = outgoing.instance
            read_end = write_end = -1
            fds = list(outgoing.fds)
            if instance is not None:  # its output pipe exists only once the request leaves
                try:
                    read_end, write_end = os.pipe()
                except OSError as exc:  # out of descriptors: this start fails, the pool goes on
                    self._outbox.popleft()
                    instance.reason = f"could not start: {exc.strerror or exc}"
                    self._exited(instance, outgoing.spawn_id, None, 1)
                    continue
                fds.append(write_end)
            try:
                socket.send_fds(self._tsock, [json.dumps(outgoing.request).encode()], fds)
            except BlockingIOError:
                if instance is not None:
                    os.close(read_end)
                    os.close(write_end)
                self._loop.add_writer(self._tsock, self._flush_outbox)
                return
            self._outbox.popleft()
            for fd in fds:
                os.close(fd)
            if instance is not None:
                self._watch_output(instance, read_end)
        self._loop.remove_writer(self._tsock)

    def _unqueue(self, instance: Instance) -> bool:
        """Take back a start the template has not been sent yet; whether there was one."""
        for outgoing in self._outbox:
            if outgoing.instance is instance and outgoing.spawn_id == instance.spawn_id:
                self._outbox.remove(outgoing)
                self._by_spawn.pop(outgoing.spawn_id, None)
                return True
        return False

    def _on_spawned(self, instance: Instance, pid: int) -> None:
        early = pid in self._early
        self._early.discard(pid)
        instance.pid = instance.pgid = pid
        self._by_pid[pid] = instance
        self._event(instance.name, f"started, pid {pid}")
        if instance.state == "STOPPING":  # stopped while the fork was under way
            self._signal_group(instance, instance.component.stop_signal)
            return
        kind = instance.component.ready.kind
        if kind == "none":  # started once it has stayed alive through its start window
            window = instance.component.start_seconds
            self._set_timer(instance, window, lambda: self._became_ready(instance))
        elif kind == "notify" and early:
            self._became_ready(instance)
        elif kind == "tcp":
            self._probe(instance, _PROBE_FIRST)

    def _became_ready(self, instance: Instance) -> None:
        if instance.ready or instance.state != "STARTING" or instance.pid is None:
            return
        instance.ready = True
        instance.state = "RUNNING"
        self._cancel_timer(instance)
        self._event(instance.name, "ready")
        self._hook(self._hooks.component_ready, component=instance.component, pid=instance.pid)
        for other in self.instances.values():
            if other.state == "WAITING":
                self._maybe_start(other)

    def _start_timed_out(self, instance: Instance) -> None:
        if instance.state == "STARTING":
            instance.reason = f"not ready within {instance.component.start_timeout:g}s"
            self._event(instance.name, instance.reason)
            if self._unqueue(instance):  # the template never got to it
                self._exited(instance, instance.spawn_id, None, 1)
            else:
                self._signal_group(instance, signal.SIGKILL)

    # Readiness ---------------------------------------------------------------

    def _on_notify(self) -> None:
        assert self._notify is not None
        while (message := self._notify.receive()) is not None:
            pid, states = message
            if states.get("READY") != "1":
                continue
            group = _procutil.pgid_of(pid) or -1
            instance = self._by_pid.get(pid) or self._by_pid.get(group)
            if instance is not None:
                self._became_ready(instance)
            elif len(self._early) < _EARLY_MAX:
                # The component spoke before the template's "spawned" reached us.
                self._early.add(group)

    def _probe(self, instance: Instance, delay: float) -> None:
        def probe() -> None:
            if instance.state != "STARTING":
                return
            if instance.address is not None and self._listening(instance, *instance.address):
                self._became_ready(instance)
            else:
                self._probe(instance, min(delay * 2, _PROBE_MAX))

        self._set_timer(instance, delay, probe)

    def _listening(self, instance: Instance, host: str, port: int) -> bool:
        """Whether the component's own processes listen on its port: another program's
        listener there does not make it ready."""
        if instance.pid is None:
            return False
        owned = _procutil.listener_owned(instance.pid, port)
        return _procutil.connects(host, port) if owned is None else owned

    def _tcp_address(self, instance: Instance) -> tuple[str, int] | None:
        if instance.component.ready.kind != "tcp":
            return None
        listen = instance.component.listen(self._configuration(instance))
        return listen.probe if listen is not None else None

    def _watch_output(self, instance: Instance, fd: int) -> None:
        os.set_blocking(fd, False)
        if instance.log is None:
            instance.log = RotatingLog(log_path(self.settings.log_dir, instance.name))
        log = instance.log
        pattern = instance.component.ready.pattern
        spawn_id = instance.spawn_id
        pending = bytearray()

        def read() -> None:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            if not data:
                self._loop.remove_reader(fd)
                os.close(fd)
                return
            if not log.write(data):
                self._log_failed(instance)
            if pattern is not None and instance.spawn_id == spawn_id and not instance.ready:
                pending.extend(data)
                *lines, rest = bytes(pending).split(b"\n")
                pending[:] = rest[-65536:]
                if any(pattern.search(line.decode(errors="replace")) for line in lines):
                    self._became_ready(instance)

        self._loop.add_reader(fd, read)

    def _log_failed(self, instance: Instance) -> None:
        """A component's output could not be written: say so once, and retry until it can."""
        if instance in self._failing_logs:
            return
        self._failing_logs.add(instance)
        assert instance.log is not None
        self._event(
            instance.name,
            f"its output could not be written to {instance.log.path}: {instance.log.error}; "
            "kept in memory and retried",
        )
        if self._log_retry is None:
            self._log_retry = self._loop.call_later(_LOG_RETRY, self._retry_logs)

    def _retry_logs(self) -> None:
        self._log_retry = None
        for instance in list(self._failing_logs):
            log = instance.log
            if log is None or log.retry():
                self._failing_logs.discard(instance)
                lost = f"; {log.dropped} bytes were lost" if log is not None and log.dropped else ""
                self._event(instance.name, f"its output is written again{lost}")
        if self._failing_logs:
            self._log_retry = self._loop.call_later(_LOG_RETRY, self._retry_logs)

    # The template's events ---------------------------------------------------

    def _on_template(self) -> None:
        assert self._tsock is not None
        while True:
            try:
                data = self._tsock.recv(1 << 20)
            except BlockingIOError:
                return
            if not data:
                self._template_died()
                return
            self._template_event(json.loads(data))

    def _template_event(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        instance = self._by_spawn.get(event.get("id", -1))
        if kind == "spawned" and instance is not None:
            self._on_spawned(instance, event["pid"])
        elif kind == "spawn_failed" and instance is not None:
            instance.reason = f"could not start: {event['error']}"
            self._exited(instance, event["id"], None, 1)
        elif kind == "exited" and instance is not None:
            self._exited(instance, event["id"], event["pid"], event["returncode"])
        elif kind == "reload_failed":
            self._event("administrator", f"reload failed in the template: {event['error']}")

    def _template_died(self) -> None:
        assert self._tsock is not None
        self._loop.remove_reader(self._tsock)
        self._event("administrator", "the template process died; stopping everything")
        self._kill_everything()
        # What escaped the components' groups was the template's to find; it is gone.
        names = {_procutil.kept_name(name) for name in self.instances}
        leaders = [i.pid for i in self.instances.values() if i.pid is not None]
        _template.sweep(f"{self.token}.", names, _template.KEEPER_SECONDS, leaders)
        raise AdministratorError("the template process died")

    # Exits and restarts ------------------------------------------------------

    def _exited(self, instance: Instance, spawn_id: int, pid: int | None, returncode: int) -> None:
        self._by_spawn.pop(spawn_id, None)
        if pid is not None:
            self._by_pid.pop(pid, None)
            self._hook(
                self._hooks.component_exited,
                component=instance.component,
                pid=pid,
                returncode=returncode,
            )
        if spawn_id != instance.spawn_id:
            return
        self._cancel_timer(instance)
        instance.last_exit = returncode
        instance.pid = None
        # Gone before it was ready (or killed for being late): a failed start, whatever its code.
        instance.failed_start = instance.state == "STARTING" and not instance.ready
        if instance.failed_start and not instance.reason:
            instance.reason = f"ended with {describe_exit(returncode)} before it was ready"
        instance.ready = False
        self._event(instance.name, f"exited with {describe_exit(returncode)}")
        pgid = instance.pgid
        if pgid is None:
            self._after_exit(instance)
        else:
            self._await_group_gone(instance, pgid, time.monotonic() + 1.0)

    def _await_group_gone(self, instance: Instance, pgid: int, kill_at: float) -> None:
        if not _procutil.group_alive(pgid):
            instance.pgid = None
            self._after_exit(instance)
            return
        if time.monotonic() > kill_at:
            _procutil.kill_group(pgid, signal.SIGKILL)
        self._set_timer(
            instance, _GROUP_POLL, lambda: self._await_group_gone(instance, pgid, kill_at)
        )

    def _after_exit(self, instance: Instance) -> None:
        if instance.state == "STOPPING" or not instance.wanted or self._shutting_down:
            self._settle(instance, "STOPPED")
            return
        self._restart_by_policy(instance, instance.last_exit or 0)

    def _restart_by_policy(self, instance: Instance, returncode: int) -> None:
        policy = instance.component.restart
        now = time.monotonic()
        if now - instance.started >= policy.stable_after:
            instance.failures.clear()
            instance.quick = 0
        else:
            instance.quick += 1  # even a clean exit backs off when it comes this soon
        if not policy.succeeded(returncode) or instance.failed_start:
            instance.failures.append(now)
        while instance.failures and now - instance.failures[0] > policy.window:
            instance.failures.popleft()
        if not policy.wants_restart(returncode):
            ended = f"exited with {describe_exit(returncode)}"
            self._settle(instance, "EXITED", instance.reason if instance.failed_start else ended)
        elif len(instance.failures) >= policy.max_failures:
            reason = (
                f"{len(instance.failures)} failures within {policy.window:g}s, "
                f"last {describe_exit(returncode)}; not restarted"
            )
            self._settle(instance, "FATAL", reason)
        elif self.restarts is not None and instance.restarts >= self.restarts:
            ended = f"exited with {describe_exit(returncode)}"
            ended = instance.reason if instance.failed_start else ended
            self._settle(instance, "FATAL", f"{ended}; not restarted (restarts={self.restarts})")
        else:
            delay = policy.delay(max(len(instance.failures), instance.quick))
            instance.state = "BACKOFF"
            instance.reason = f"restarting in {delay:g}s after {describe_exit(returncode)}"
            instance.restarts += 1
            self._event(instance.name, instance.reason)
            self._set_timer(instance, delay, lambda: self._restart_now(instance))

    def _restart_now(self, instance: Instance) -> None:
        if instance.state == "BACKOFF":
            instance.state = "STOPPED"
            self._maybe_start(instance)

    def _settle(self, instance: Instance, state: Any, reason: str | None = None) -> None:
        instance.state = state
        if reason is not None:
            instance.reason = reason
            self._event(instance.name, f"{state}: {reason}")
        else:
            self._event(instance.name, state.lower())
        waiters, instance.waiters = instance.waiters, []
        for waiter in waiters:
            waiter.set_result(None)
        if self._shutting_down:
            self._advance_shutdown()

    # Stopping ----------------------------------------------------------------

    def _stop(self, instance: Instance) -> Future[None]:
        done: Future[None] = Future()
        instance.wanted = False
        if instance.state in ("WAITING", "BACKOFF"):
            self._cancel_timer(instance)
            instance.state = "STOPPED"
        if instance.state in TERMINAL:
            done.set_result(None)
            return done
        if instance.state == "STARTING" and self._unqueue(instance):
            self._cancel_timer(instance)
            instance.state = "STOPPED"  # never sent: nothing to signal or wait for
            done.set_result(None)
            self._event(instance.name, "stopped")
            return done
        instance.waiters.append(done)
        if instance.state in ("STARTING", "RUNNING"):
            instance.state = "STOPPING"
            self._event(instance.name, "stopping")
            if instance.pid is not None:
                self._signal_group(instance, instance.component.stop_signal)
            self._set_timer(
                instance, instance.component.stop_timeout, lambda: self._stop_timed_out(instance)
            )
        return done

    def _stop_timed_out(self, instance: Instance) -> None:
        if instance.state == "STOPPING" and instance.pgid is not None:
            self._event(instance.name, "did not stop in time; SIGKILL to its process group")
            _procutil.kill_group(instance.pgid, signal.SIGKILL)

    def _signal_group(self, instance: Instance, sig: int) -> None:
        if instance.pgid is not None:
            _procutil.kill_group(instance.pgid, sig)

    def _shutdown(self) -> None:
        """Stop every component in reverse dependency order, then end the loop."""
        if not self._shutting_down:
            self._shutting_down = True
            self._event("administrator", "stopping every component")
            self._advance_shutdown()

    def _advance_shutdown(self) -> None:
        for name in reversed(self.order):
            instance = self.instances[name]
            if instance.state in TERMINAL or instance.state == "STOPPING":
                continue
            dependents = [i for i in self.instances.values() if name in i.component.depends_on]
            if all(d.state in TERMINAL for d in dependents):
                self._stop(instance)
        self._loop.wake()

    def _all_down(self) -> bool:
        return all(i.state in TERMINAL and i.pgid is None for i in self.instances.values())

    def _kill_everything(self) -> None:
        for instance in self.instances.values():
            self._signal_group(instance, signal.SIGKILL)

    # Signals -----------------------------------------------------------------

    def _on_signal(self, sig: int, _frame: object) -> None:
        self._signals.append(sig)  # handled by the loop, outside the signal handler

    def _handle_signals(self) -> None:
        while self._signals:
            sig = self._signals.pop(0)
            if sig == signal.SIGHUP:
                with contextlib.suppress(OservicesError):  # reported by _reload; keep running
                    self._reload(None)
            elif sig == signal.SIGINT and self._shutting_down:
                self._event("administrator", "second interrupt: SIGKILL to every component")
                self._kill_everything()
            else:
                self._shutdown()

    # Reloading ---------------------------------------------------------------

    def _reload(self, settings: Settings | None) -> list[str]:
        """Read settings and the system file again; restart what changed, start what was
        added, stop what was removed. Everything is read and checked before anything changes:
        a bad file, whatever is in it, keeps the old state."""
        try:
            new, system, changed = self._read_again(settings)
        except Exception as exc:
            message = str(exc) if isinstance(exc, OservicesError) else f"{type(exc).__name__}"
            self._event("administrator", f"reload refused, nothing changed: {message}")
            if isinstance(exc, OservicesError):
                raise
            raise AdministratorError(f"reload refused: {message}") from None
        added = [n for n in system.start_order() if n not in self.instances]
        removed = [n for n in self.instances if n not in system.components]
        self.settings, self.system = new, system
        self.order = system.start_order()
        kept = {n: self.instances[n] for n in self.order if n in self.instances}
        for name, instance in kept.items():
            instance.component = system.components[name]
        self.instances = {
            **{n: kept.get(n) or Instance(system.components[n]) for n in self.order},
            **{n: self.instances[n] for n in removed},  # until they have stopped
        }
        self._env = self._environment()
        self._send_environment("reload")  # before any start: the template knows the new ones
        self._names_changed()
        said = [f"restarting {', '.join(changed) or 'nothing'}"]
        said += [f"starting {', '.join(added)}"] if added else []
        said += [f"stopping {', '.join(removed)}"] if removed else []
        self._event("administrator", f"reloaded; {'; '.join(said)}")
        for name in changed:
            instance = self.instances[name]
            self._stop(instance).add_done_callback(self._start_again(instance))
        for name in removed:
            self._stop(self.instances[name]).add_done_callback(self._forget(name))
        for name in added:
            self._want(self.instances[name])
        return changed

    def _read_again(self, settings: Settings | None) -> tuple[Settings, System, list[str]]:
        from oservices_core._config.settings import load_settings
        from oservices_core._plugins.system import load_system

        new = settings or load_settings()
        system = self.system
        if system.file is not None:  # a system made in code has no file to read again
            with new.activate():
                system = load_system(system.file)
        system.check(new)
        system.start_order()
        running = [
            i for i in self.instances.values()
            if i.state in ("STARTING", "RUNNING") and i.name in system.components
        ]
        changed = [
            i.name for i in running
            if self._fingerprint(system.components[i.name], new, system) != i.fingerprint
        ]
        return new, system, changed

    def _forget(self, name: str) -> Callable[[Future[None]], None]:
        def forget(_: Future[None]) -> None:
            instance = self.instances.get(name)
            if instance is not None and name not in self.system.components:
                del self.instances[name]
                if instance.log is not None:
                    instance.log.close()
                self._names_changed()
                self._event(name, "removed")

        return forget

    def _names_changed(self) -> None:
        if self._control is not None:
            self._control.names = set(self.instances)

    def _start_again(self, instance: Instance) -> Callable[[Future[None]], None]:
        def start(_: Future[None]) -> None:
            self._want(instance)

        return start

    def _send_environment(self, op: str) -> None:
        """Send the template a new environment, in a memory file: it may be any size."""
        fd = os.memfd_create("oservices-environment", os.MFD_CLOEXEC)
        with os.fdopen(os.dup(fd), "wb") as file:
            file.write(json.dumps(self._env).encode())
        self._outbox.append(_Outgoing({"op": op}, fds=(fd,)))
        self._flush_outbox()

    def _environment(self) -> dict[str, str]:
        """The environment of the template and components: the settings, and the system
        file this pool runs, so a component's ``CONF`` resolves as its ``main`` is given."""
        env = {**os.environ, **self.settings.environ()}
        if self.system.file is not None:
            env["OSERVICES_SYSTEM_FILE"] = os.path.abspath(self.system.file)
        return env

    def _configuration(self, instance: Instance, settings: Settings | None = None) -> Any:
        configuration = instance.component.configuration
        if configuration is None:
            return None
        resolver = self.system.resolver(settings or self.settings)
        return resolver.resolve(configuration, instance.name).value

    def _fingerprint(
        self, component: Component, settings: Settings | None = None, system: System | None = None
    ) -> str:
        """A digest of what the component starts with, as resolved now.

        Its configuration, its service's, and the package configurations of the
        plugins whose setup hook runs in every component's process: a change to
        any restarts it.
        """
        system = system or self.system
        resolver = system.resolver(settings or self.settings)
        owned = [(component.configuration, component.name)]
        service = system.registry.service_of(component.name)
        if service is not None and service.name in system.services:
            owned.append((service.configuration, service.name))
        owned += self._setup_configurations(system)
        dumped = [
            resolver.resolve(cls, name).value.model_dump(mode="python")
            for cls, name in owned
            if cls is not None
        ]
        if not dumped:
            return ""
        text = json.dumps(dumped, sort_keys=True, default=_reveal)
        return hashlib.sha256(text.encode()).hexdigest()

    def _setup_configurations(self, system: System) -> list[tuple[type[Configuration], str]]:
        """Package configurations of the plugins whose setup hook runs in every component."""
        pm = system.registry.plugin_manager
        setup = {impl.plugin_name for impl in pm.hook.oservices_setup.get_hookimpls()}
        return [(cls, name) for name, (cls, plugin) in pm.package_configurations.items()
                if plugin in setup]

    # The control socket ------------------------------------------------------

    def _dispatch(
        self, command: str, name: str | None, reply: Callable[[dict[str, Any]], None]
    ) -> None:
        def ok(result: Any = None) -> None:
            reply({"ok": True, "result": result})

        if command == "status":
            ok([i.status().as_dict() for i in self.instances.values()])
        elif command == "reload":
            ok(self._reload(None))
        elif command == "stop" and name is None:
            ok("stopping")
            self._shutdown()
        elif command == "stop":
            self._stop(self._instance(str(name))).add_done_callback(lambda _: ok(None))
        elif command == "start":
            self._want(self._instance(str(name)))
            ok(None)
        else:  # restart
            instance = self._instance(str(name))
            self._event(instance.name, "restart requested")

            def started(_: object) -> None:
                self._want(instance)
                ok(None)

            self._stop(instance).add_done_callback(started)

    # Plumbing ----------------------------------------------------------------

    def _set_timer(self, instance: Instance, delay: float, callback: Callable[[], None]) -> None:
        """Make ``callback`` the component's one pending timer, replacing any other."""
        self._loop.cancel(instance.timer)

        def fire() -> None:
            instance.timer = None
            callback()

        instance.timer = self._loop.call_later(delay, fire)

    def _cancel_timer(self, instance: Instance) -> None:
        self._loop.cancel(instance.timer)
        instance.timer = None

    @property
    def _hooks(self) -> Hooks:
        """The typed facade over the system's hooks."""
        return self.system.registry.plugin_manager.hooks

    def _hook(self, hook: Callable[P, None], /, *args: P.args, **kwargs: P.kwargs) -> None:
        """Call ``hook``, a method of :attr:`_hooks`; what a plugin raises becomes an event."""
        try:
            hook(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the pool
            self._event("administrator", f"hook oservices_{hook.__name__} failed: {exc!r}")

    def _event(self, name: str, message: str) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()
        if self._http is not None:
            self._http.publish(name, message)  # never blocks: a client that lags is dropped
        if self.on_event is not None:
            try:
                self.on_event(name, message)
            except Exception:  # noqa: BLE001 - a full disk under the caller's log must not stop the pool
                self.event_errors += 1


@dataclass(slots=True)
class _Outgoing:
    """A request waiting for the template's socket, with descriptors to pass along."""

    request: dict[str, Any]
    instance: Instance | None = None
    spawn_id: int = 0
    fds: tuple[int, ...] = ()


def _reveal(value: Any) -> str:
    secret = getattr(value, "get_secret_value", None)
    return str(secret() if callable(secret) else value)

