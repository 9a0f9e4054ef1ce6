"""End-to-end figures: ``oservices up -d``, ``stop`` and ``status`` timed as users run them.

``start_50``, ``stop_50`` and ``idle_cpu`` (:mod:`bench.administrator`) time the
Administrator's methods inside a warmed-up process. The figures here time the
commands: each one from the moment the benchmark spawns it to the moment it
exits, a fresh process each time, so the interpreter's start, the imports, the
loading of the plugins, the detaching and the polling all count.

The beds
--------
Once per run, outside timing, a wheelhouse is made with ``pip wheel`` (the project,
built from the repository root, its dependencies and supervisor). Each bed is a
virtual environment of its own, installed from that wheelhouse with ``pip`` (no
index, no bytecode compiled: the warm-up's imports write it, as a user's first run
does), holding the project, supervisor and exactly one plugin wheel made here,
so that each system is every installed component, as a user's would be:

- ``benche2e`` with 50 or 300 components: the components of ``bench.administrator``
  (``bench-NN``: each module imports pydantic and declares its own 20-field
  configuration; ``main`` checks it, calls ``notify_ready()`` and sleeps until a signal);
- ``benchtrivial`` with 50 or 1000 components ``t-NNNN``: no configuration; ``main``
  calls ``notify_ready()`` and sleeps. Each has a module of its own.

Each bed has its own ``OSERVICES_HOME`` (no ``system.toml``: the system is every
installed component) and runs its commands there, with an ordinary environment:
the benchmark's own minus every ``PYTHON*`` and ``OSERVICES_*`` variable (this
machine sets ``PYTHONDONTWRITEBYTECODE``), ``NOTIFY_SOCKET`` and ``VIRTUAL_ENV``,
plus what activating the venv sets (``VIRTUAL_ENV``, its ``bin`` first on ``PATH``),
``OSERVICES_HOME``, and the run's unique token ``BENCH_E2E_TOKEN``. The 300 bed
adds ``BENCH_PAD``, 4096 characters, to every command's environment, ours and the
floor's. Commands write their output to files.

The state timed is the second start: before timing, one ``oservices up -d`` in the
fresh home (its time is a note: it builds every configuration file and runs the
init stage) and one ``oservices stop``, and one cycle of each other subject. A
timed ``up -d`` finds the build and init up to date; it still checks them, as a
user's second ``up -d`` does.

The fork floor
--------------
``python floor.py start`` (``bench/_e2e_floor.py``, copied into the bed and run by
the venv's python, in the same home and environment as ``oservices``): from the
process's start, it imports pydantic and every component's module through the
entry points of the bed's plugin distribution, reads and parses each component's
TOML file written by the build, binds a unix datagram socket, forks one child per
component, and exits once each child has validated its configuration with its
class (``model_validate``) and sent ``READY=1`` (checked by the sender's
credentials). Timed from spawn to exit, like ``up -d``, whose own process also
returns only when every component is ready. The children live on, as
``up -d``'s components do. ``python floor.py stop``: a fresh interpreter that
sends SIGTERM to each child through a pidfd and returns once each has ended;
timed from spawn to exit, like ``oservices stop``.

So the floor pays what any implementation pays (an interpreter, pydantic, the
components' modules, one fork and one validation per component) and nothing
else: no Administrator, no template, no control socket, no log files, no restarts.

The figures
-----------
In every round each subject runs once (a start, then its stop), in a rotating
order; a figure is the median of per-round ratios.

- ``start_50_e2e``: ``oservices up -d`` with 50 ``bench-NN`` components, from
  spawn to exit (every component ready) over ``floor start``. Goal <= 2.
- ``stop_50_e2e``: ``oservices stop`` with those 50 running, from spawn to exit,
  then checked: no process carrying the run's token is left (the Administrator,
  its template, the components) over ``floor stop``. Goal <= 3.
- ``start_300_e2e``: as ``start_50_e2e`` with 300 components and ``BENCH_PAD``
  in the environment of both. Goal <= 3.
- ``start_1000``: ``oservices up -d`` of 1000 ``t-NNNN`` components, its seconds
  per component over the same for 50 such components (two beds, same rounds).
  Goal <= 1.5. With ``--quick``: one timed round, no warm-up cycle at 1000
  (``oservices build`` and ``oservices init`` make the home up to date instead).
- ``idle_cpu_1000``: in the last round of ``start_1000``, before its stop, with
  the 1000 running and ready, the Administrator's process (its pid file; user +
  system time of every thread) over a window after a settling time, over the
  window: a fraction of one core. Goal < 1%. Notes: USS (``memory_full_info``) of
  each component, of the template and of the Administrator.
- ``status_50``: ``oservices status`` with the 50 ``bench-NN`` running under the
  Administrator, over ``supervisorctl status`` on the same 50 programs run by
  supervisord (``python -m benche2e.run bench-NN``), both running at once, both
  commands from the venv, fresh processes, output to a file. Goal <= 1.

Failures and leftovers
----------------------
Every command has a timeout (``COMMAND_TIMEOUT``). A command that fails, times
out, or reports fewer components ready, a stop after which a process carrying
the token is still running: the figure is reported failed with the command, its
exit status and the end of its output and of the Administrator's log, and the
run goes on. After each figure, and when the benchmark exits, every process
carrying the run's token is killed. While a figure runs, the benchmark's process
is a child subreaper (``PR_SET_CHILD_SUBREAPER``), as a service manager is: the
Administrator that ``up -d`` leaves behind and the floor's children are re-parented
to it and reaped (this machine's init does not reap).

Rounds and wall time
--------------------
Full run: 9 rounds at 50, 5 at 300, 3 at 1000 (after a warm-up cycle at each size),
25 for ``status_50``, an idle window of 30 s after 5 s. ``--quick``: 3, 2 and 1
(no warm-up cycle at 1000), 5, and 10 s after 2 s. Setup (the wheelhouse, four
venvs of a few seconds each, the two at 1000 and 50 trivial side by side) is not
timed. On two shared cores, with today's code failing at 300 and 1000, the six
figures took 3 min 43 s in a full run and 2 min 38 s with ``--quick``; the figures
and the date are in ``docs/administrator.md`` (Performance).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import final

import psutil

from bench import Failed, Figure, Ratio, Timing, failed, ratio
from bench.administrator import COMPONENT_MODULE, RUN_MODULE, supervisord_head
from bench.components_list import FIELDS, ROOT, write_wheel

__all__ = ["run_idle_1000", "run_start_50", "run_start_300", "run_start_1000", "run_status_50",
           "run_stop_50"]

FLOOR_SCRIPT = Path(__file__).with_name("_e2e_floor.py")
TOKEN = "BENCH_E2E_TOKEN"  # noqa: S105 - names the variable whose per-run value finds leftovers
PAD, PAD_SIZE = "BENCH_PAD", 4096
CONF, TRIVIAL = "benche2e", "benchtrivial"  # the plugin distributions
COMMAND_TIMEOUT = 300.0  # seconds for any one command; then it is killed, the figure fails
GONE_GRACE = 5.0  # seconds a stopped process may linger after its stop returned (an incident)
GOAL_START_50, GOAL_STOP_50, GOAL_START_300 = 2.0, 3.0, 3.0
GOAL_SCALING, GOAL_STATUS, GOAL_IDLE_CPU = 1.5, 1.0, 0.01
UP, STOP, STATUS = "oservices up -d", "oservices stop", "oservices status"
FLOOR_START, FLOOR_STOP = "floor start", "floor stop"
SUPERVISORCTL = "supervisorctl status"
ADMINISTRATOR, ONE_CORE = "administrator", "one core"
TEMPLATE_NAME = "oservices-tmpl"  # the template's process name (docs/administrator.md)
_PR_SET_CHILD_SUBREAPER = 36

TRIVIAL_MODULE = '''\
"""Trivial benchmark component {n:04d}: no configuration."""

from oservices_core import Component

component = Component(name="t-{n:04d}", main="{package}.main:main", ready="notify")
'''
TRIVIAL_MAIN = '''\
"""The trivial components' main: report ready, then idle until a signal."""

import signal


def main():
    from oservices_core import notify_ready

    notify_ready()
    while True:
        signal.pause()
'''


@final
@dataclass(frozen=True, slots=True)
class _Plan:
    """Rounds and windows: ``--quick`` or not."""

    rounds_50: int
    rounds_300: int
    rounds_1000: int
    warm_1000: bool  # a full warm-up cycle at 1000, or only build and init
    status_rounds: int
    settle: float  # seconds between ready and the idle window
    window: float  # seconds of the idle window


QUICK = _Plan(3, 2, 1, False, 5, 2.0, 10.0)
FULL = _Plan(9, 5, 3, True, 25, 5.0, 30.0)


@final
@dataclass(frozen=True, slots=True)
class _Bed:
    """One venv with one plugin distribution, its home and its environment."""

    root: Path
    python: Path
    home: Path
    env: Mapping[str, str]
    distribution: str
    count: int

    @property
    def label(self) -> str:
        return f"{self.count} {self.distribution}"

    def oservices(self, *args: str) -> list[str]:
        return [str(self.python.parent / "oservices"), *args]

    def floor(self, *args: str) -> list[str]:
        return [str(self.python), str(self.root / "floor.py"), *args]

    @property
    def pidfile(self) -> Path:
        return self.root / "floor.pids"


@dataclass(slots=True)
class _Samples:
    """Per-subject seconds of complete rounds, and what happened on the way."""

    rounds: int = 0
    seconds: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)
    error: str = ""

    def add_round(self, measured: Mapping[str, float]) -> None:
        for name, value in measured.items():
            self.seconds.setdefault(name, []).append(value)
        self.rounds += 1

    def timings(self) -> dict[str, Timing]:
        return {name: Timing(tuple(values)) for name, values in self.seconds.items() if values}

    def all_notes(self) -> tuple[str, ...]:
        seconds = "seconds, median (rounds): " + "; ".join(
            f"{name} {statistics.median(values):.3f} ({' '.join(f'{v:.3f}' for v in values)})"
            for name, values in self.seconds.items() if values)
        incidents = (f"INCIDENTS: {'; '.join(self.incidents[:5])}"
                     + (f" (and {len(self.incidents) - 5} more)" if len(self.incidents) > 5
                        else ""),) if self.incidents else ()
        return (seconds, *incidents, *self.notes) if self.seconds else (*incidents, *self.notes)


# --- the figures ---------------------------------------------------------------------


def run_start_50(quick: bool) -> Figure:
    """``start_50_e2e``: ``oservices up -d`` with 50 components, over the fork floor."""
    measured = _cycles(CONF, 50, pad=False, quick=quick)
    description = ("`oservices up -d`, 50 components (pydantic, a 20-field configuration "
                   "each), from spawn to exit with all ready; the build up to date")
    return _figure("start_50_e2e", description, measured,
                   (Ratio(UP, FLOOR_START, None, GOAL_START_50),))


def run_stop_50(quick: bool) -> Figure:
    """``stop_50_e2e``: ``oservices stop`` of the 50, over the floor's stop."""
    measured = _cycles(CONF, 50, pad=False, quick=quick)
    description = ("`oservices stop` with the 50 running, from spawn to exit; then no "
                   "component, template or Administrator left")
    return _figure("stop_50_e2e", description, measured,
                   (Ratio(STOP, FLOOR_STOP, None, GOAL_STOP_50),))


def run_start_300(quick: bool) -> Figure:
    """``start_300_e2e``: ``up -d`` of 300 with a 4 KB variable, over the floor at 300."""
    measured = _cycles(CONF, 300, pad=True, quick=quick)
    description = (f"`oservices up -d`, 300 components, {PAD} ({PAD_SIZE} characters) in "
                   "the environment, from spawn to exit with all ready")
    return _figure("start_300_e2e", description, measured,
                   (Ratio(UP, FLOOR_START, None, GOAL_START_300),
                    Ratio(STOP, FLOOR_STOP, None)))


def run_start_1000(quick: bool) -> Figure:
    """``start_1000``: seconds per component of ``up -d`` at 1000 over the same at 50."""
    measured = _scaling(quick)
    description = ("`oservices up -d` of 1000 trivial components: seconds per component, "
                   "over the same for 50 trivial components")
    return _figure("start_1000", description, measured.samples,
                   (Ratio(_per(UP, 1000), _per(UP, 50), None, GOAL_SCALING),))


def run_idle_1000(quick: bool) -> Figure:
    """``idle_cpu_1000``: the Administrator's CPU with 1000 components running."""
    measured = _scaling(quick)
    goal = Ratio(ADMINISTRATOR, ONE_CORE, None, GOAL_IDLE_CPU, strict=True)
    description = ("the Administrator's process CPU (every thread) with 1000 idle components, "
                   "as a fraction of one core; memory per component")
    if measured.idle is None:
        error = measured.samples.error or "the idle window was not reached"
        return failed("idle_cpu_1000", description, error, (goal,),
                      notes=tuple(measured.samples.notes))
    cpu, window, notes = measured.idle
    timings = {ADMINISTRATOR: Timing((cpu,)), ONE_CORE: Timing((window,))}
    value = Ratio(ADMINISTRATOR, ONE_CORE, cpu / window, GOAL_IDLE_CPU, strict=True)
    return Figure("idle_cpu_1000", description, 1, timings, (value,), notes)


def run_status_50(quick: bool) -> Figure:
    """``status_50``: ``oservices status`` over ``supervisorctl status``, 50 programs each."""
    plan = QUICK if quick else FULL
    description = ("`oservices status` with 50 components running, over `supervisorctl "
                   "status` with the same 50 programs under supervisord; fresh processes")
    samples = _Samples()
    with _subreaper():
        try:
            bed = _bed(CONF, 50, pad=False)
            _status_rounds(bed, plan.status_rounds, samples)
        except Failed as error:
            samples.error = str(error)
        finally:
            _cleanup(samples)
    return _figure("status_50", description, samples,
                   (Ratio(STATUS, SUPERVISORCTL, None, GOAL_STATUS),))


def _figure(name: str, description: str, samples: _Samples,
            goals: tuple[Ratio, ...]) -> Figure:
    timings = samples.timings()
    notes = samples.all_notes()
    if samples.error:
        return failed(name, description, samples.error, goals, rounds=samples.rounds,
                      timings=timings, notes=notes)
    ratios = tuple(ratio(timings, goal.candidate, goal.baseline, limit=goal.limit,
                         strict=goal.strict) for goal in goals)
    return Figure(name, description, samples.rounds, timings, ratios, notes)


def _per(subject: str, count: int) -> str:
    return f"{subject} {count} (per component)"


# --- the measurements ----------------------------------------------------------------


@functools.cache
def _cycles(distribution: str, count: int, *, pad: bool, quick: bool) -> _Samples:
    """Start and stop cycles of ``oservices`` and of the floor, interleaved."""
    plan = QUICK if quick else FULL
    rounds = plan.rounds_50 if count <= 50 else plan.rounds_300
    samples = _Samples()
    bed: _Bed | None = None
    with _subreaper():
        try:
            bed = _bed(distribution, count, pad=pad)
            subjects: dict[str, Callable[[], tuple[tuple[str, float], tuple[str, float]]]] = {
                "oservices": lambda: ((UP, _up(bed, samples)), (STOP, _stop(bed, samples))),
                "floor": lambda: ((FLOOR_START, _floor_start(bed)),
                                  (FLOOR_STOP, _floor_stop(bed, samples))),
            }
            samples.notes.append(_first_start(bed, samples))
            subjects["floor"]()  # warm-up: checks it works
            names = list(subjects)
            for round_ in range(rounds):
                _progress(f"{bed.label}: round {round_ + 1} of {rounds}")
                shift = round_ % len(names)
                measured: dict[str, float] = {}
                for name in names[shift:] + names[:shift]:
                    measured.update(subjects[name]())
                samples.add_round(measured)
        except Failed as error:
            samples.error = str(error)
            _cleanup(samples)
            if bed is not None and samples.rounds == 0:  # what ours is compared with, still
                _floor_alone(bed, samples, min(rounds, 3))
        finally:
            _cleanup(samples)
    samples.notes.append(f"{count} components of {distribution}"
                         + (f", {PAD} of {PAD_SIZE} characters in every environment"
                            if pad else ""))
    return samples


def _floor_alone(bed: _Bed, samples: _Samples, rounds: int) -> None:
    """After ``oservices`` failed: the floor's own times, as a note (the figure failed)."""
    config = bed.home / "config"
    missing = [name for name in _names(bed.distribution, bed.count)
               if not (config / f"{name}.toml").is_file()]
    if missing:
        samples.notes.append(f"the floor was not timed either: the build wrote no "
                             f"configuration file for {len(missing)} components")
        return
    starts, stops = [], []
    try:
        for _ in range(rounds + 1):  # the first is a warm-up
            starts.append(_floor_start(bed))
            stops.append(_floor_stop(bed, samples))
    except Failed as error:
        samples.notes.append(f"the floor alone failed too: {error}")
        return
    samples.notes.append(
        f"the floor alone, after the failure ({rounds} rounds after a warm-up): {FLOOR_START} "
        f"median {statistics.median(starts[1:]):.3f} s, {FLOOR_STOP} median "
        f"{statistics.median(stops[1:]):.3f} s")


@final
@dataclass(frozen=True, slots=True)
class _Scaling:
    samples: _Samples
    idle: tuple[float, float, tuple[str, ...]] | None  # CPU seconds, window seconds, notes


@functools.cache
def _scaling(quick: bool) -> _Scaling:
    """``up -d`` of 50 and of 1000 trivial components, interleaved; the idle window last."""
    plan = QUICK if quick else FULL
    samples = _Samples()
    idle = None
    with _subreaper():
        try:
            _token(), _wheelhouse()  # once, before the two beds are made side by side
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                made = {count: pool.submit(_bed, TRIVIAL, count, pad=False)
                        for count in (50, 1000)}
            beds = {count: future.result() for count, future in made.items()}
            samples.notes.append(_first_start(beds[50], samples))
            if plan.warm_1000:
                samples.notes.append(_first_start(beds[1000], samples))
            else:  # the same state, without paying for a start of 1000
                for stage in ("build", "init"):
                    _command(beds[1000], beds[1000].oservices(stage), f"oservices {stage}")
                samples.notes.append("1000: no warm-up cycle (--quick); `oservices build` and "
                                     "`oservices init` made the home up to date")
            sizes = list(beds)
            for round_ in range(plan.rounds_1000):
                _progress(f"50 and 1000 {TRIVIAL}: round {round_ + 1} of {plan.rounds_1000}")
                shift = round_ % len(sizes)
                measured: dict[str, float] = {}
                for count in sizes[shift:] + sizes[:shift]:
                    bed = beds[count]
                    seconds = _up(bed, samples)
                    measured[f"{UP} {count}"] = seconds
                    measured[_per(UP, count)] = seconds / count
                    last = round_ == plan.rounds_1000 - 1 and count == 1000
                    if last:  # the idle window, once, with the 1000 running
                        idle = _idle(bed, plan)
                    measured[f"{STOP} {count}"] = _stop(bed, samples)
                samples.add_round(measured)
        except Failed as error:
            samples.error = str(error)
        finally:
            _cleanup(samples)
    samples.notes.append("trivial components: no configuration; main notifies READY=1, sleeps")
    return _Scaling(samples, idle)


def _progress(message: str) -> None:
    print(f"  e2e: {message}", file=sys.stderr, flush=True)


def _first_start(bed: _Bed, samples: _Samples) -> str:
    """The warm-up cycle: ``up -d`` in the fresh home (it builds), then ``stop``."""
    _progress(f"{bed.label}: warm-up cycle")
    first = _up(bed, samples)
    stop = _stop(bed, samples)
    return (f"{bed.count}: first `oservices up -d` in a fresh home (builds every file, runs "
            f"init; not timed in the figure): {first:.3f} s; its stop {stop:.3f} s")


def _idle(bed: _Bed, plan: _Plan) -> tuple[float, float, tuple[str, ...]]:
    """The Administrator's CPU over a window, then memory of its processes."""
    administrator = psutil.Process(int((bed.home / "run" / "oservices.pid").read_text()))
    time.sleep(plan.settle)
    before = _cpu(administrator)
    started = time.perf_counter()
    time.sleep(plan.window)
    window = time.perf_counter() - started
    cpu = _cpu(administrator) - before
    templates = [child for child in administrator.children() if child.name() == TEMPLATE_NAME]
    components = [child for template in templates for child in template.children()]
    reading = time.perf_counter()
    uss = [memory for process in components if (memory := _uss(process)) is not None]
    reading = time.perf_counter() - reading
    mib = 1024 * 1024
    mine = administrator.memory_full_info()
    notes = [
        f"administrator CPU {cpu * 1000:.0f} ms over {window:.1f} s = {100 * cpu / window:.2f}% "
        f"of one core (user + system, every thread), the window starting {plan.settle:g} s "
        f"after `up -d` returned; ticks of {1000 / os.sysconf('SC_CLK_TCK'):.0f} ms",
        f"administrator memory: USS {mine.uss / mib:.1f} MiB, RSS {mine.rss / mib:.1f} MiB, "
        f"{administrator.num_threads()} threads",
    ]
    if templates:
        template = templates[0].memory_full_info()
        notes.append(f"template ({TEMPLATE_NAME}): USS {template.uss / mib:.1f} MiB, RSS "
                     f"{template.rss / mib:.1f} MiB")
    else:
        notes.append(f"no child process named {TEMPLATE_NAME} found")
    if uss:
        notes.append(
            f"components: {len(uss)} found under the template; USS per component median "
            f"{statistics.median(uss) / mib:.2f} MiB (min {min(uss) / mib:.2f}, max "
            f"{max(uss) / mib:.2f}), {sum(uss) / mib:.0f} MiB in all; read in {reading:.1f} s")
    return cpu, window, tuple(notes)


def _status_rounds(bed: _Bed, rounds: int, samples: _Samples) -> None:
    _up(bed, samples)
    directory = bed.root / "supervisord"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    conf = directory / "supervisord.conf"
    conf.write_text(_supervisord_conf(bed, directory))
    ctl = [str(bed.python.parent / "supervisorctl"), "-c", str(conf), "status"]
    log = directory / "supervisord.out"
    with log.open("wb") as sink:
        daemon = subprocess.Popen([str(bed.python.parent / "supervisord"), "-n", "-c", str(conf)],
                                  env=dict(bed.env), cwd=directory, stdin=subprocess.DEVNULL,
                                  stdout=sink, stderr=sink)
    try:
        _await_supervised(bed, ctl, daemon, log)
        subjects: dict[str, Callable[[], float]] = {
            STATUS: lambda: _status(bed), SUPERVISORCTL: lambda: _supervisorctl(bed, ctl)}
        for subject in subjects.values():  # warm-up, and checks
            subject()
        names = list(subjects)
        for round_ in range(rounds):
            shift = round_ % len(names)
            samples.add_round({name: subjects[name]() for name in names[shift:] + names[:shift]})
        samples.notes.append(
            "both running at once: the Administrator with its 50 components, supervisord with "
            "the same 50 programs (`python -m benche2e.run NAME`, autostart); checked: each "
            "command exits 0 and lists the 50 as RUNNING")
    finally:  # supervisord first: its programs carry the token too
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        _stop(bed, samples)


def _supervisord_conf(bed: _Bed, directory: Path) -> str:
    head = supervisord_head(directory)
    programs = [f"""
[program:{name}]
command={bed.python} -m {CONF}.run {name}
directory={bed.home}
autostart=true
autorestart=false
startsecs=0
stopsignal=TERM
stdout_logfile={directory}/{name}.out
stderr_logfile={directory}/{name}.err
""" for name in _names(CONF, bed.count)]
    return head + "".join(programs)


def _await_supervised(bed: _Bed, ctl: list[str], daemon: subprocess.Popen[bytes],
                      log: Path) -> None:
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while True:
        done = subprocess.run(ctl, env=dict(bed.env), cwd=bed.home, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, check=False,
                              timeout=COMMAND_TIMEOUT)
        if done.returncode == 0 and done.stdout.count(" RUNNING ") == bed.count:
            return
        if daemon.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"supervisord did not run the {bed.count} programs (exit "
                               f"{daemon.returncode}): {done.stdout[-2000:]}\n"
                               f"{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)


# --- the subjects: one command each ------------------------------------------------------


def _up(bed: _Bed, samples: _Samples) -> float:
    seconds, output = _command(bed, bed.oservices("up", "-d"), UP)
    ready = _running_rows(output)
    if ready != bed.count:
        raise Failed(f"`{UP}` ({bed.label}) exited 0 but listed {ready} of {bed.count} "
                     f"components RUNNING and ready{_tails(bed, output)}")
    return seconds


def _stop(bed: _Bed, samples: _Samples) -> float:
    seconds, _ = _command(bed, bed.oservices("stop"), STOP)
    _check_gone(bed, STOP, samples)
    _reap()
    return seconds


def _status(bed: _Bed) -> float:
    seconds, output = _command(bed, bed.oservices("status"), STATUS)
    if (ready := _running_rows(output)) != bed.count:
        raise Failed(f"`{STATUS}` listed {ready} of {bed.count} RUNNING and ready"
                     f"{_tails(bed, output)}")
    return seconds


def _supervisorctl(bed: _Bed, ctl: list[str]) -> float:
    seconds, output = _command(bed, ctl, SUPERVISORCTL)
    if (running := output.count(" RUNNING ")) != bed.count:
        raise Failed(f"`{SUPERVISORCTL}` listed {running} of {bed.count} RUNNING")
    return seconds


def _floor_start(bed: _Bed) -> float:
    seconds, output = _command(bed, bed.floor("start", bed.distribution, str(bed.home / "config"),
                                              str(bed.pidfile)), FLOOR_START)
    pids = bed.pidfile.read_text().split()
    if len(pids) != bed.count:
        raise RuntimeError(f"the floor reported {len(pids)} of {bed.count} ready: {output}")
    return seconds


def _floor_stop(bed: _Bed, samples: _Samples) -> float:
    seconds, _ = _command(bed, bed.floor("stop", str(bed.pidfile)), FLOOR_STOP)
    _check_gone(bed, FLOOR_STOP, samples)
    _reap()
    return seconds


def _command(bed: _Bed, command: Sequence[str], label: str) -> tuple[float, str]:
    """Seconds from spawn to exit, and what it printed (both streams); ``Failed`` unless 0."""
    output = bed.root / "command.out"
    with output.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=dict(bed.env), cwd=bed.home,
                                   stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
        try:
            code = process.wait(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            text = output.read_text(errors="replace")
            raise Failed(f"`{label}` ({bed.label}) did not return within "
                         f"{COMMAND_TIMEOUT:g} s{_tails(bed, text)}") from None
        seconds = time.perf_counter() - started
    text = output.read_text(errors="replace")
    if code:
        raise Failed(f"`{label}` ({bed.label}) exited {code} after {seconds:.1f} s"
                     f"{_tails(bed, text)}")
    return seconds, text


def _running_rows(output: str) -> int:
    """Rows of the status table that say RUNNING and ready."""
    return sum(1 for line in output.splitlines() if line.split()[1:3] == ["RUNNING", "yes"])


def _tails(bed: _Bed, output: str, lines: int = 12) -> str:
    """The end of a command's output and of the Administrator's log, for an error."""
    text = f"\n--- its output, last lines:\n{_last(output, lines)}"
    log = bed.home / "log" / "_administrator.log"
    if log.is_file():
        text += f"\n--- {log.name}, last lines:\n{_last(log.read_text(errors='replace'), lines)}"
    return text


def _last(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(nothing)"


# --- the beds --------------------------------------------------------------------------


@functools.cache
def _workdir() -> Path:
    keep = tempfile.TemporaryDirectory(prefix="oservices-bench-e2e-")
    atexit.register(keep.cleanup)
    return Path(keep.name)


@functools.cache
def _token() -> str:
    atexit.register(_sweep)  # whatever happens, nothing started here outlives the benchmark
    return uuid.uuid4().hex


@functools.cache
def _wheelhouse() -> Path:
    """The project's wheel, its dependencies' and supervisor's: every bed installs from it."""
    wheels = _workdir() / "wheels"
    _progress("making the wheelhouse (pip wheel: the project, its dependencies, supervisor)")
    _pip(sys.executable, "wheel", "--quiet", "--wheel-dir", str(wheels), str(ROOT), "supervisor")
    return wheels


@functools.cache
def _bed(distribution: str, count: int, *, pad: bool) -> _Bed:
    wheels = _wheelhouse()
    started = time.perf_counter()
    _progress(f"making the venv of {count} {distribution}")
    root = _workdir() / f"{distribution}-{count}"
    venv, home = root / "venv", root / "home"
    home.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    wheel = _wheel(root, distribution, count)
    # No bytecode compiled here: the warm-up's imports write it, as a user's first run does.
    _pip(str(python), "install", "--quiet", "--no-compile", "--no-index", "--find-links",
         str(wheels), "oservices", "supervisor", str(wheel))
    shutil.copyfile(FLOOR_SCRIPT, root / "floor.py")
    env = {name: value for name, value in os.environ.items()
           if not name.upper().startswith(("OSERVICES_", "PYTHON"))
           and name not in ("VIRTUAL_ENV", "NOTIFY_SOCKET", TOKEN)}
    env |= {"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "OSERVICES_HOME": str(home), TOKEN: _token()}
    if pad:
        env[PAD] = "x" * PAD_SIZE
    _progress(f"venv of {count} {distribution} made in {time.perf_counter() - started:.1f} s")
    return _Bed(root, python, home, env, distribution, count)


def _pip(python: str, *args: str) -> None:
    """``pip`` run by this interpreter, for ``python`` (pip's ``--python``)."""
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    if python != sys.executable:
        command += ["--python", python]
    done = subprocess.run([*command, *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"pip {' '.join(args)} exited {done.returncode}:\n{done.stderr}")


def _names(distribution: str, count: int) -> list[str]:
    if distribution == CONF:
        return [f"bench-{n:02d}" for n in range(count)]
    return [f"t-{n:04d}" for n in range(count)]


def _wheel(directory: Path, distribution: str, count: int) -> Path:
    """One plugin distribution declaring ``count`` components by entry points."""
    files: dict[str, str] = {f"{distribution}/__init__.py": ""}
    if distribution == CONF:
        files[f"{distribution}/run.py"] = RUN_MODULE.format(package=distribution)
        for n in range(count):
            fields = "\n".join(f"    {kind}_{copy}: {annotation} = {default(n + copy)}"
                               for copy in range(2) for kind, annotation, default in FIELDS)
            files[f"{distribution}/c{n:02d}.py"] = COMPONENT_MODULE.format(
                n=n, fields=fields, package=distribution)
        entries = [f"bench-{n:02d} = {distribution}.c{n:02d}:component" for n in range(count)]
    else:
        files[f"{distribution}/main.py"] = TRIVIAL_MAIN
        for n in range(count):
            files[f"{distribution}/c{n:04d}.py"] = TRIVIAL_MODULE.format(n=n, package=distribution)
        entries = [f"t-{n:04d} = {distribution}.c{n:04d}:component" for n in range(count)]
    info = f"{distribution}-1.0.dist-info"
    files |= {
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n"
                             "Requires-Dist: oservices>=0.1\n"),
        f"{info}/WHEEL": ("Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
                          "Tag: py3-none-any\n"),
        f"{info}/entry_points.txt": "[oservices]\n" + "".join(f"{e}\n" for e in entries),
    }
    return write_wheel(directory / f"{distribution}-1.0-py3-none-any.whl", info, files)


# --- leftovers -------------------------------------------------------------------------


def _carrying_token() -> list[psutil.Process]:
    """Every live process of the machine whose environment has this run's token."""
    if not _token.cache_info().currsize:
        return []
    token, found = _token(), []
    for process in psutil.process_iter():
        try:
            if process.environ().get(TOKEN) == token:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _describe(processes: Sequence[psutil.Process], shown: int = 5) -> str:
    named = []
    for process in processes[:shown]:
        try:
            named.append(f"{process.pid} {process.name()}")
        except psutil.Error:
            named.append(f"{process.pid} (gone)")
    more = f" and {len(processes) - shown} more" if len(processes) > shown else ""
    return ", ".join(named) + more


def _check_gone(bed: _Bed, label: str, samples: _Samples) -> None:
    """After a stop returned: nothing carrying the token; lingering is an incident."""
    left = _carrying_token()
    if not left:
        return
    waited = time.perf_counter()
    _gone, alive = psutil.wait_procs(left, timeout=GONE_GRACE)
    if alive:
        raise Failed(f"`{label}` ({bed.label}) returned, {len(alive)} processes still running "
                     f"{GONE_GRACE:g} s later: {_describe(alive)}")
    samples.incidents.append(f"`{label}` ({bed.label}) returned with {len(left)} processes "
                             f"still running ({_describe(left)}), gone "
                             f"{time.perf_counter() - waited:.2f} s later")


def _sweep() -> list[str]:
    """Kill every process carrying the token; what was killed."""
    left = _carrying_token()
    for process in left:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(left, timeout=10)
    _reap()
    return [f"{process.pid}" for process in left]


def _cleanup(samples: _Samples) -> None:
    """After a figure: what a failure left running, given time to go by itself, is killed."""
    left = _carrying_token()
    if left:
        named = _describe(left)
        _gone, alive = psutil.wait_procs(left, timeout=GONE_GRACE)
        samples.notes.append(
            f"after the failure, {len(left)} processes carried the run's token ({named}); "
            f"{len(alive)} still ran {GONE_GRACE:g} s later: killed")
    _sweep()


def _reap() -> None:
    """Wait for the zombie children this process adopted as a subreaper."""
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error, ChildProcessError):
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, os.WNOHANG)


@contextlib.contextmanager
def _subreaper() -> Iterator[None]:
    """Adopt orphaned descendants while a figure runs; reap them; clean up on the way out."""
    prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        _sweep()
        prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _uss(process: psutil.Process) -> int | None:
    try:
        return int(process.memory_full_info().uss)
    except psutil.Error:
        return None
