"""``start_50``, ``stop_50`` and ``idle_cpu``: the Administrator running 50 components.

Once per run, outside timing, a temporary virtual environment gets the project
(built from the repository root) and one plugin wheel made here, distribution
``benchadmin``, whose 50 entry points ``bench-NN`` in group ``oservices`` name
components ``Component(name="bench-NN", configuration=Conf20,
main="benchadmin.cNN:main", ready="notify")``: each module imports pydantic and
declares its own configuration of 20 fields (the ten kinds of field of
``components_list``, each twice); ``main(configuration)`` checks it got a
``Conf20``, calls ``oservices_core.notify_ready()`` (``READY=1`` to
``$NOTIFY_SOCKET``, the sd_notify protocol) and sleeps until a signal ends it.
``oservices build`` then writes each component's TOML file, so every subject
resolves the same configurations from the same files.

Three subjects run the same 50 programs, once each per round in a rotating order:

- ``administrator``: ``bench/_administrator_driver.py`` run by the venv's python
  (the venv has no ``bench``). Not timed: its interpreter, imports, plugin loading
  and ``System.from_registry``. Timed in that process: start is
  ``Administrator(system, settings=..., template="fork")`` (as ``oservices up``
  makes it), ``start()`` and ``wait_ready()`` until
  it returns; stop is ``stop()`` until it returns (every process group gone).
- ``Popen``: the bench binds a unix datagram socket and starts each program as
  ``subprocess.Popen([python, "-m", "benchadmin.run", "bench-NN"])``, a fresh
  interpreter that imports the component's module, resolves its configuration from
  its TOML file and calls its ``main``; start ends when 50 distinct pids have sent
  ``READY=1`` (the kernel's credentials name the sender); stop is SIGTERM to all,
  then ``wait()`` for all.
- ``supervisord``: started (not timed) with the same 50 programs, ``autostart=false``
  and the bench's ``NOTIFY_SOCKET`` in each program's ``environment=``; start is
  the XML-RPC call ``supervisor.startAllProcesses`` (what ``supervisorctl start all``
  sends, without paying supervisorctl's own interpreter) until the 50 ``READY=1``;
  stop is ``supervisor.stopAllProcesses`` (``supervisorctl stop all``) until it has
  returned and the 50 pids are gone. The daemon is shut down after each round, not timed.

Before timing, one round of every subject warms the file cache and checks them.
After each subject, no process of the machine may still carry the run's unique
token in its environment. ``start_50`` and ``stop_50`` come from one measurement.
Their notes give every round's seconds and, to explain the Administrator's figures,
any event of its cycles other than starting, started, ready, stopping, exited and
stopped (a start timeout, a restart), its own process's CPU during start, and
when its last component stopped within ``stop()``.

``idle_cpu``: the driver starts the 50 under the Administrator, waits until
ready, lets it settle, then reads its own process's CPU time (user + system,
every thread: the Administrator's loop runs in a background thread of it) before
and after a window of 30 seconds (5 with ``--quick``), and its memory.
"""

from __future__ import annotations

import functools
import http.client
import importlib.util
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import xmlrpc.client
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, final

import psutil

from bench import Figure, Ratio, Timing, ratio
from bench.components_list import FIELDS, ROOT, write_wheel

__all__ = ["run_idle", "run_start", "run_stop"]

PROGRAMS = 50
PACKAGE = "benchadmin"
DRIVER = Path(__file__).with_name("_administrator_driver.py")
TOKEN = "OSERVICES_BENCH_TOKEN"  # noqa: S105 - names the variable whose per-run value finds leftovers
READY_TIMEOUT = 120.0  # seconds; 50 fresh interpreters on two busy cores take several
GOAL_START_VS_POPEN = 0.2
GOAL_START_VS_SUPERVISORD = 0.1
GOAL_STOP_SECONDS = 1.0
GOAL_STOP_VS_SUPERVISORD = 0.1
GOAL_IDLE_CPU = 0.01  # of one core, strictly less
ADMINISTRATOR, POPEN, SUPERVISORD = "administrator", "Popen", "supervisord"
ONE_SECOND, ONE_CORE = "1 second", "one core"
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

COMPONENT_MODULE = '''\
"""Benchmark component {n:02d}: a configuration of 20 fields; main reports ready, then idles."""

import signal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from oservices_core import Component, Configuration


class Endpoint(BaseModel):
    host: str = "localhost"
    port: int = 80


class Conf20(Configuration):
{fields}


def main(configuration):
    from oservices_core import notify_ready

    if not isinstance(configuration, Conf20):
        raise TypeError(f"bench-{n:02d} got {{type(configuration).__name__}}, not Conf20")
    notify_ready()
    while True:  # until a signal ends the process
        signal.pause()


component = Component(
    name="bench-{n:02d}", configuration=Conf20, main="{package}.c{n:02d}:main", ready="notify"
)
'''
RUN_MODULE = '''\
"""Run one benchmark component as a plain program: ``python -m {package}.run bench-NN``."""

import importlib
import sys

from oservices_core import load_settings


def run(name):
    component = importlib.import_module("{package}.c" + name.removeprefix("bench-")).component
    with load_settings().activate():
        configuration = component.CONF  # resolved from its TOML file and defaults
    component.load_main()(configuration)


if __name__ == "__main__":
    run(sys.argv[1])
'''


@final
@dataclass(frozen=True, slots=True)
class Cycle:
    """One subject's start (until all ready) and stop (until all gone), in seconds."""

    start: float
    stop: float
    incidents: tuple[str, ...] = ()  # the Administrator's events that a clean cycle lacks
    start_cpu: float | None = None  # the Administrator's process's CPU time during start
    stopped: float | None = None  # from stop() to its last component event ("stopped")
    template: str = ""  # how the Administrator started its template: forked, or exec


@final
@dataclass(frozen=True, slots=True)
class _Bed:
    """The venv, its home and environment, shared by every subject of a run."""

    root: Path
    python: Path
    home: Path
    env: Mapping[str, str]  # without the token: each subject adds it where its programs get it
    token: str
    names: tuple[str, ...]
    keep: tempfile.TemporaryDirectory[str]  # removed when the bench process exits

    def program(self, name: str) -> list[str]:
        return [str(self.python), "-m", f"{PACKAGE}.run", name]


@final
@dataclass(frozen=True, slots=True)
class _Measurement:
    rounds: int
    timings: Mapping[str, Timing]  # "SUBJECT start" and "SUBJECT stop"
    notes: tuple[str, ...]  # for both figures
    start_notes: tuple[str, ...]
    stop_notes: tuple[str, ...]
    supervisord: str  # why supervisord is unavailable, or ""


# --- the figures ---------------------------------------------------------------------


def run_start(quick: bool) -> Figure:
    """``start_50``: the Administrator starting 50 components until all are ready."""
    measured = _measure(quick)
    timings = _pick(measured, "start")
    ratios = (ratio(timings, ADMINISTRATOR, POPEN, limit=GOAL_START_VS_POPEN),
              _against_supervisord(measured, timings, GOAL_START_VS_SUPERVISORD))
    description = (f"start {PROGRAMS} components (import pydantic, resolve a 20-field "
                   "configuration, notify READY=1) until every one is ready")
    return Figure("start_50", description, measured.rounds, timings, ratios,
                  (_absolute(timings), *measured.start_notes, *measured.notes))


def run_stop(quick: bool) -> Figure:
    """``stop_50``: the Administrator stopping the 50 until every process is gone."""
    measured = _measure(quick)
    timings = _pick(measured, "stop")
    seconds = timings[ADMINISTRATOR].median
    ratios = (Ratio(ADMINISTRATOR, ONE_SECOND, seconds, GOAL_STOP_SECONDS),  # seconds / 1 s
              _against_supervisord(measured, timings, GOAL_STOP_VS_SUPERVISORD),
              ratio(timings, ADMINISTRATOR, POPEN))
    description = f"stop the {PROGRAMS} ready components until every process is gone"
    return Figure("stop_50", description, measured.rounds, timings, ratios,
                  (_absolute(timings), *measured.stop_notes, *measured.notes))


def run_idle(quick: bool) -> Figure:
    """``idle_cpu``: the Administrator's CPU over a window with 50 idle components."""
    bed = _bed()
    window = 5.0 if quick else 30.0
    result = _drive(bed, "idle", window)
    _check_none_left(bed)
    cpu, elapsed = float(result["cpu_s"]), float(result["window_s"])
    timings = {ADMINISTRATOR: Timing((cpu,)), ONE_CORE: Timing((elapsed,))}
    ratios = (Ratio(ADMINISTRATOR, ONE_CORE, cpu / elapsed, GOAL_IDLE_CPU, strict=True),)
    mib = 1024 * 1024
    notes = (
        f"administrator CPU {cpu * 1000:.0f} ms over {elapsed:.1f} s = "
        f"{100 * cpu / elapsed:.2f}% of one core (user + system, every thread of the process "
        f"running the loop), the window starting {result['settle_s']:.0f} s after ready; "
        f"the kernel counts CPU in ticks of {1000 / os.sysconf('SC_CLK_TCK'):.0f} ms",
        f"administrator memory: RSS {result['rss'] / mib:.1f} MiB, "
        f"USS {result['uss'] / mib:.1f} MiB, {result['threads']} threads",
        f"its {result['helpers']} helper processes (the template: forks, reaps, keeps): CPU "
        f"{result['helpers_cpu_s'] * 1000:.0f} ms over the window, RSS "
        f"{result['helpers_rss'] / mib:.1f} MiB",
        f"the {result['components']} idle components: CPU "
        f"{result['components_cpu_s'] * 1000:.0f} ms over the window, PSS "
        f"{result['components_pss'] / mib:.1f} MiB in all (forked pages shared)",
        f"CPU before the window, from each process's birth: the components "
        f"{result['components_start_cpu_s'] * 1000:.0f} ms in all "
        f"({result['components_start_cpu_s'] * 1000 / PROGRAMS:.1f} ms each), the helpers "
        f"{result['helpers_start_cpu_s'] * 1000:.0f} ms",
    )
    return Figure("idle_cpu", f"the Administrator's own CPU time with {PROGRAMS} idle "
                  f"components, over {elapsed:.0f} s, as a fraction of one core", 1, timings,
                  ratios, notes)


def _pick(measured: _Measurement, phase: str) -> dict[str, Timing]:
    return {subject: timing for subject in (ADMINISTRATOR, POPEN, SUPERVISORD)
            if (timing := measured.timings.get(f"{subject} {phase}")) is not None}


def _against_supervisord(measured: _Measurement, timings: Mapping[str, Timing],
                         limit: float) -> Ratio:
    if measured.supervisord:
        return Ratio(ADMINISTRATOR, SUPERVISORD, None, limit, note=measured.supervisord)
    return ratio(timings, ADMINISTRATOR, SUPERVISORD, limit=limit)


def _absolute(timings: Mapping[str, Timing]) -> str:
    """Every sample in seconds: an outlier (a start that timed out) shows here."""
    return "seconds, median (rounds): " + "; ".join(
        f"{name} {timing.median:.3f} ({' '.join(f'{value:.3f}' for value in timing.samples)})"
        for name, timing in timings.items())


# --- the measurement -----------------------------------------------------------------


@functools.cache
def _measure(quick: bool) -> _Measurement:
    bed = _bed()
    subjects: dict[str, Callable[[_Bed], Cycle]] = {ADMINISTRATOR: _administrator, POPEN: _popen}
    unavailable = _supervisord_unavailable()
    if not unavailable:
        subjects[SUPERVISORD] = _supervisord
    for subject in subjects.values():  # warm the file cache; check every subject works
        subject(bed)
        _check_none_left(bed)
    rounds = 2 if quick else 5
    cycles = _rounds(bed, subjects, rounds)
    timings = {f"{name} {phase}": Timing(tuple(getattr(cycle, phase) for cycle in done))
               for name, done in cycles.items() for phase in ("start", "stop")}
    administrator = cycles[ADMINISTRATOR]
    incidents = [f"round {round_}: {incident}"
                 for round_, cycle in enumerate(administrator, 1) for incident in cycle.incidents]
    start_cpu = [cycle.start_cpu for cycle in administrator if cycle.start_cpu is not None]
    stopped = [cycle.stopped for cycle in administrator if cycle.stopped is not None]
    origins = sorted({cycle.template for cycle in administrator})
    start_notes = (
        f"administrator: CPU of its own process during start (its loop, wait_ready's polling; "
        f"not the template or the components): median {statistics.median(start_cpu):.3f} s",
        f"administrator: its template was {' / '.join(origins)} in the timed rounds (forked: "
        "from the single-threaded driver, with its imports; exec: a fresh interpreter)",
    )
    stop_notes = (
        "administrator: from stop() to its last component event ('stopped'): median "
        f"{statistics.median(stopped):.3f} s; the rest of stop() is the Administrator's own "
        "shutdown",
    )
    notes = (
        *_incidents(incidents),
        f"checked: each subject's {PROGRAMS} READY=1 come from {PROGRAMS} distinct processes "
        "(Popen, supervisord: the pids they started); after each subject no process carries "
        "the run's token",
        "administrator: timed inside its driver process (Administrator(), start(), "
        "wait_ready(); stop()); its interpreter, imports and plugin loading are not timed",
        "supervisord: started before timing with autostart=false; timed from the "
        "startAllProcesses / stopAllProcesses XML-RPC calls (what supervisorctl sends)",
        "setup (venv, project, one wheel of 50 components, oservices build) is not timed",
    )
    return _Measurement(rounds, timings, notes, start_notes, stop_notes, unavailable)


def _rounds(bed: _Bed, subjects: Mapping[str, Callable[[_Bed], Cycle]],
            rounds: int) -> dict[str, list[Cycle]]:
    """Every subject once per round, the order rotating so none always runs first."""
    names = list(subjects)
    cycles: dict[str, list[Cycle]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            cycles[name].append(subjects[name](bed))
            _check_none_left(bed)
    return cycles


def _incidents(incidents: Sequence[str], shown: int = 5) -> tuple[str, ...]:
    """A note on what went wrong in timed Administrator cycles (a timed-out start...)."""
    if not incidents:
        return ("administrator: every timed cycle was clean (no timeout, exit or restart)",)
    more = f" (and {len(incidents) - shown} more)" if len(incidents) > shown else ""
    return (f"administrator INCIDENTS: {'; '.join(incidents[:shown])}{more}",)


@functools.cache
def _bed() -> _Bed:
    keep = tempfile.TemporaryDirectory(prefix="oservices-bench-")
    root = Path(keep.name)
    python = _install(root)
    home = root / "home"
    home.mkdir()
    env = _environment(home)
    built = subprocess.run([str(python.parent / "oservices"), "build"], env=env, cwd=home,
                           capture_output=True, text=True, check=False)
    if built.returncode:
        raise AssertionError(f"oservices build exited {built.returncode}: {built.stderr}")
    names = tuple(f"bench-{n:02d}" for n in range(PROGRAMS))
    missing = [name for name in names if not (home / "config" / f"{name}.toml").is_file()]
    if missing:
        raise AssertionError(f"oservices build wrote no configuration file for {missing}")
    return _Bed(root, python, home, env, uuid.uuid4().hex, names, keep)


def _environment(home: Path) -> dict[str, str]:
    """This environment without ``OSERVICES_*``, Python paths or a notify socket; home set."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "NOTIFY_SOCKET")
    env = {name: value for name, value in os.environ.items()
           if not name.upper().startswith("OSERVICES_") and name not in dropped}
    return env | {"OSERVICES_HOME": str(home)}


def _install(root: Path) -> Path:
    """A venv holding the project and the ``benchadmin`` wheel; its python."""
    venv, wheels = root / "venv", root / "wheels"
    wheels.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = (str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    subprocess.run([*pip, str(ROOT)], check=True)
    subprocess.run([*pip, "--no-index", str(_wheel(wheels))], check=True)
    return python


def _wheel(directory: Path) -> Path:
    """One distribution, ``benchadmin``, declaring the 50 components by entry points."""
    info = f"{PACKAGE}-1.0.dist-info"
    files = {f"{PACKAGE}/__init__.py": "", f"{PACKAGE}/run.py": RUN_MODULE.format(package=PACKAGE)}
    for n in range(PROGRAMS):
        fields = "\n".join(f"    {kind}_{copy}: {annotation} = {default(n + copy)}"
                           for copy in range(2) for kind, annotation, default in FIELDS)
        files[f"{PACKAGE}/c{n:02d}.py"] = COMPONENT_MODULE.format(n=n, fields=fields,
                                                                  package=PACKAGE)
    entry_points = "".join(f"bench-{n:02d} = {PACKAGE}.c{n:02d}:component\n"
                           for n in range(PROGRAMS))
    files |= {
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 1.0\n"
                             "Requires-Dist: oservices>=0.1\n"),
        f"{info}/WHEEL": ("Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                          "Tag: py3-none-any\n"),
        f"{info}/entry_points.txt": f"[oservices]\n{entry_points}",
    }
    return write_wheel(directory / f"{PACKAGE}-1.0-py3-none-any.whl", info, files)


# --- the subjects --------------------------------------------------------------------


def _administrator(bed: _Bed) -> Cycle:
    result = _drive(bed, "cycle")
    return Cycle(float(result["start_s"]), float(result["stop_s"]), tuple(result["incidents"]),
                 float(result["start_cpu_s"]), float(result["stopped_s"]), str(result["template"]))


def _drive(bed: _Bed, mode: str, window: float = 0.0) -> dict[str, Any]:
    """Run the driver in the venv; the JSON object it prints last."""
    done = subprocess.run([str(bed.python), str(DRIVER), mode, str(window)],
                          env={**bed.env, TOKEN: bed.token}, cwd=bed.home,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if done.returncode:
        raise AssertionError(f"the Administrator driver ({mode}) exited {done.returncode}:\n"
                             f"{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    if result.get("ready") != PROGRAMS:
        raise AssertionError(f"the driver saw {result.get('ready')} of {PROGRAMS} ready")
    return result


def _popen(bed: _Bed) -> Cycle:
    with _notify_socket(bed.root / "popen-notify.sock") as (sock, address):
        env = {**bed.env, TOKEN: bed.token, "NOTIFY_SOCKET": address}
        quiet = subprocess.DEVNULL
        started = time.perf_counter()
        processes = [subprocess.Popen(bed.program(name), env=env, cwd=bed.home, stdin=quiet,
                                      stdout=quiet, stderr=quiet) for name in bed.names]
        try:
            senders = _await_ready(sock, lambda: _exited(processes))
            start = time.perf_counter() - started
            _check_senders(senders, {process.pid for process in processes}, POPEN)
            stopping = time.perf_counter()
            for process in processes:
                process.send_signal(signal.SIGTERM)
            codes = [process.wait() for process in processes]
            stop = time.perf_counter() - stopping
        finally:  # a failed check leaves no program behind
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    if set(codes) != {-signal.SIGTERM}:
        raise AssertionError(f"Popen programs ended with {sorted(set(codes))}, not SIGTERM")
    return Cycle(start, stop)


def _exited(processes: Sequence[subprocess.Popen[bytes]]) -> str:
    codes = [process.returncode for process in processes if process.poll() is not None]
    return f"{len(codes)} programs exited before ready: {codes}" if codes else ""


def _supervisord(bed: _Bed) -> Cycle:
    directory = Path(tempfile.mkdtemp(prefix="supervisord-", dir=bed.root))
    with _notify_socket(directory / "notify.sock") as (sock, address):
        conf = directory / "supervisord.conf"
        conf.write_text(_supervisord_conf(bed, directory, address))
        output = directory / "supervisord.out"  # its log, also echoed here in the foreground
        with output.open("wb") as sink:
            daemon = subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-n",
                                       "-c", str(conf)], env=dict(bed.env), cwd=directory,
                                      stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
        try:
            rpc = _supervisor(directory / "supervisor.sock", daemon, output)
            started = time.perf_counter()
            rpc.startAllProcesses(False)
            senders = _await_ready(sock, lambda: _daemon_exited(daemon))
            start = time.perf_counter() - started
            pids = {int(info["pid"]) for info in rpc.getAllProcessInfo()}
            _check_senders(senders, pids, SUPERVISORD)
            stopping = time.perf_counter()
            rpc.stopAllProcesses(True)  # returns once supervisord has reaped every program
            stop = time.perf_counter() - stopping
            if alive := [pid for pid in pids if psutil.pid_exists(pid)]:
                raise AssertionError(f"supervisord left programs running: {alive}")
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    return Cycle(start, stop)


def supervisord_head(directory: Path) -> str:
    """The [supervisord], server and control sections of a daemon kept in ``directory``."""
    return f"""\
[supervisord]
logfile={directory}/supervisord.log
pidfile={directory}/supervisord.pid
childlogdir={directory}
loglevel=warn

[unix_http_server]
file={directory}/supervisor.sock
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{directory}/supervisor.sock
"""


def _supervisord_conf(bed: _Bed, directory: Path, notify: str) -> str:
    head = supervisord_head(directory)
    # Like the Administrator: no restart, output to a log file per program, SIGTERM to stop.
    programs = [f"""
[program:{name}]
command={" ".join(bed.program(name))}
directory={bed.home}
autostart=false
autorestart=false
startsecs=0
stopsignal=TERM
stdout_logfile={directory}/{name}.out
stderr_logfile={directory}/{name}.err
environment=NOTIFY_SOCKET="{notify}",{TOKEN}="{bed.token}"
""" for name in bed.names]
    return head + "".join(programs)


def _supervisor(path: Path, daemon: subprocess.Popen[bytes], output: Path) -> Any:
    """supervisord's XML-RPC namespace once the daemon answers; Any, as XML-RPC is untyped."""
    proxy = xmlrpc.client.ServerProxy("http://localhost", transport=_UnixTransport(str(path)))
    deadline = time.monotonic() + 30
    while True:
        try:
            state: Any = proxy.supervisor.getState()
            if state["statename"] == "RUNNING":
                return proxy.supervisor
        except OSError:
            pass  # not listening yet
        if daemon.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"supervisord did not come up (exit {daemon.returncode}):\n"
                                 f"{output.read_text(errors='replace')}")
        time.sleep(0.05)


def _daemon_exited(daemon: subprocess.Popen[bytes]) -> str:
    return "" if daemon.poll() is None else f"supervisord exited {daemon.returncode}"


def _supervisord_unavailable() -> str:
    if importlib.util.find_spec("supervisor") is None:
        return f"supervisor is not installed for {sys.executable} (dependency group bench)"
    return ""


@final
class _UnixConnection(http.client.HTTPConnection):
    """HTTP over supervisord's unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self._path)
        self.sock = sock


@final
class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self._path)


# --- readiness and leftovers -----------------------------------------------------------


@contextmanager
def _notify_socket(path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket that receives each sender's credentials, and its address."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(str(path))
    try:
        yield sock, str(path)
    finally:
        sock.close()
        path.unlink(missing_ok=True)


def _await_ready(sock: socket.socket, failed: Callable[[], str]) -> set[int]:
    """The pids of the first ``PROGRAMS`` distinct senders of ``READY=1``."""
    ready: set[int] = set()
    deadline = time.monotonic() + READY_TIMEOUT
    while len(ready) < PROGRAMS:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{len(ready)} of {PROGRAMS} ready after {READY_TIMEOUT} s")
        sock.settimeout(min(remaining, 1.0))  # wake to notice programs that died
        try:
            data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(_UCRED.size))
        except TimeoutError:
            if problem := failed():
                raise AssertionError(problem) from None
            continue
        if "READY=1" in data.decode(errors="replace").splitlines():
            ready.add(_sender(ancillary))
    return ready


def _sender(ancillary: Sequence[tuple[int, int, bytes]]) -> int:
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid: int = _UCRED.unpack(payload[: _UCRED.size])[0]
            return pid
    raise AssertionError("a READY=1 datagram came without credentials")


def _check_senders(senders: set[int], started: set[int], subject: str) -> None:
    if senders != started:
        raise AssertionError(f"{subject}: READY=1 from {sorted(senders - started)}, "
                             f"none from {sorted(started - senders)}")


def _check_none_left(bed: _Bed) -> None:
    """No process of the machine carries the run's token: every program is gone."""
    left = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if process.environ().get(TOKEN) == bed.token:
                left.append(f"{process.pid} {' '.join(process.info['cmdline'] or ())}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    if left:
        raise AssertionError(f"{len(left)} processes left behind: {left[:5]}")
