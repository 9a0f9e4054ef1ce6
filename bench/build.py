"""``build_1000`` and ``rebuild_noop``: the build stage for a system of 1000 components.

Once per run, outside timing, 1000 :class:`Component` objects are made in memory,
each with its own :class:`Configuration` class of 20 fields (the ten kinds of
field of the other benchmarks, each twice), in a module registered in
``sys.modules``; a :class:`Registry` is built from ``get_plugin_manager`` with
an :class:`importlib.metadata.EntryPoint` per component plus the built-in
``toml`` entry point, and ``System.from_registry`` makes the system.

Three subjects, timed in interleaved rounds (the public API, in this process):

- ``oservices build``: ``run_workflow(system, ["build"])`` into a fresh, empty
  configuration directory (``Settings(config_dir=...)``), new each round;
- ``atomic-write floor``: the same 2000 files written without oservices, into a
  fresh directory: for each configuration ``tomli_w.dumps(model.model_dump(mode="json",
  exclude_none=True))`` (TOML has no null) and its JSON Schema as the ``toml``
  plugin prints it, each file written atomically with our syscall pattern (temporary
  file, fchmod, write, fsync, rename, fsync of the directory). The TOML text
  differs (ours is commented); the files, their names and the schemas are the same;
- ``oservices rebuild (no change)``: the same build again into one directory
  built before timing, where nothing has changed: it must write nothing.

Only the workflow call is timed; making the registry (1001 entry points) is
timed once apart and reported in a note. Each round's fresh directories are made
before and removed after its timed calls. Both figures come from one measurement.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, final

import tomli_w
from pydantic import create_model

from bench import Figure, Timing, interleave, ratio
from bench.config_resolve import KINDS
from oservices_core import (
    Component,
    Configuration,
    Registry,
    Settings,
    System,
    get_plugin_manager,
    run_workflow,
)

__all__ = ["run_build", "run_noop"]

COMPONENTS = 1000
GOAL_VS_FLOOR = 2.0
GOAL_NOOP_VS_BUILD = 0.1
BUILD = "oservices build"
FLOOR = "atomic-write floor"
NOOP = "oservices rebuild (no change)"
MODULE = "bench_build_components"  # the in-memory module the entry points name


# The same ten kinds of field as config_resolve, each twice: 20 fields per component.


def run_build(quick: bool) -> Figure:
    """``build_1000``: the build of 1000 configurations against the atomic-write floor."""
    measured = _measure(quick)
    description = (
        f"run_workflow(system, ['build']) for {COMPONENTS} components of a 20-field "
        "configuration each, into a fresh configuration directory"
    )
    vs_floor = ratio(measured.timings, BUILD, FLOOR, limit=GOAL_VS_FLOOR)
    return Figure(
        "build_1000",
        description,
        measured.rounds,
        {name: measured.timings[name] for name in (BUILD, FLOOR)},
        (vs_floor,),
        measured.build_notes,
    )


def run_noop(quick: bool) -> Figure:
    """``rebuild_noop``: the same build where nothing changed, against the full build."""
    measured = _measure(quick)
    description = (
        f"the build of {COMPONENTS} components again, nothing changed: it must write nothing"
    )
    vs_build = ratio(measured.timings, NOOP, BUILD, limit=GOAL_NOOP_VS_BUILD)
    return Figure(
        "rebuild_noop",
        description,
        measured.rounds,
        {name: measured.timings[name] for name in (NOOP, BUILD)},
        (vs_build,),
        measured.noop_notes,
    )


@final
@dataclass(frozen=True, slots=True)
class _Measurement:
    rounds: int
    timings: Mapping[str, Timing]
    build_notes: tuple[str, ...]
    noop_notes: tuple[str, ...]


Maker = Callable[[Path], Callable[[], object]]  # a fresh directory -> the call to time


@functools.cache
def _measure(quick: bool) -> _Measurement:
    with tempfile.TemporaryDirectory(prefix="oservices-bench-") as temp:
        root = Path(temp)
        started = time.perf_counter()
        classes = _classes()
        made = time.perf_counter() - started
        sys.modules[MODULE] = _module(classes)
        try:
            return _measure_in(root, classes, made, quick)
        finally:
            del sys.modules[MODULE]


def _measure_in(
    root: Path, classes: Mapping[str, type[Configuration]], made: float, quick: bool
) -> _Measurement:
    settings = Settings(home=root, config_dir=root / "unused")
    registries = []
    for _ in range(3):
        started = time.perf_counter()
        system = _system(settings)
        registries.append(time.perf_counter() - started)
    noop_dir = root / "noop"
    _build(system, root, noop_dir)()  # the first build: checked, then built again
    build_notes = [
        f"made once, not timed: {COMPONENTS} configuration classes ({made:.1f} s); the registry "
        f"and system from {COMPONENTS + 1} entry points: {min(registries) * 1000:.0f} ms "
        f"(best of {len(registries)})",
        *_check_floor(noop_dir, root / "check-floor", classes),
        f"directories on {_filesystem(root)}: every write is fsync'ed twice (file, directory)",
    ]
    noop_notes = _settle(system, noop_dir)
    before = _stats(noop_dir)
    makers: dict[str, Maker] = {
        BUILD: lambda fresh: _build(system, root, fresh),
        FLOOR: lambda fresh: functools.partial(_floor, classes, fresh),
        NOOP: lambda _fresh: _build(system, root, noop_dir),
    }
    rounds = 2 if quick else 7
    timings, cpu = _rounds(makers, rounds, root)
    build_notes.append(_cpu_note(cpu, BUILD, FLOOR))
    noop_notes.append(_cpu_note(cpu, NOOP, BUILD))
    if _stats(noop_dir) != before:
        raise AssertionError(f"a rebuild with nothing changed wrote into {noop_dir}")
    noop_notes.append(
        f"checked: after {rounds} timed rebuilds, the {len(before) - 1} files and their "
        "directory keep their inodes and modification times"
    )
    return _Measurement(rounds, timings, tuple(build_notes), tuple(noop_notes))


def _classes() -> dict[str, type[Configuration]]:
    """A configuration class per component, by component name."""
    classes: dict[str, type[Configuration]] = {}
    for i in range(COMPONENTS):
        fields: dict[str, Any] = {
            f"{kind}_{copy}": (annotation, default(i + copy))
            for copy in range(2)
            for kind, annotation, default in KINDS
        }
        classes[f"bench-{i:04d}"] = create_model(
            f"Bench{i:04d}Configuration", __base__=Configuration, __module__=MODULE, **fields
        )
    return classes


def _module(classes: Mapping[str, type[Configuration]]) -> types.ModuleType:
    module = types.ModuleType(MODULE, "Components of the build benchmark, made in memory.")
    for index, (name, cls) in enumerate(classes.items()):
        setattr(module, f"c{index:04d}", Component(name=name, configuration=cls))
    return module


def _system(settings: Settings) -> System:
    points = [
        EntryPoint(name=f"bench-{i:04d}", value=f"{MODULE}:c{i:04d}", group="oservices")
        for i in range(COMPONENTS)
    ]
    points.append(EntryPoint(name="toml", value="oservices_plugins.toml", group="oservices"))
    pm = get_plugin_manager(settings, entry_points=points, strict=True)
    return System.from_registry(Registry(pm))


def _build(system: System, root: Path, config_dir: Path) -> Callable[[], object]:
    settings = Settings(home=root, config_dir=config_dir)  # made before the timed call
    return lambda: run_workflow(system, ["build"], settings=settings)


def _floor(classes: Mapping[str, type[Configuration]], directory: Path) -> None:
    directory.mkdir()
    for name, cls in classes.items():
        model = cls()
        toml = tomli_w.dumps(model.model_dump(mode="json", exclude_none=True))
        _write_atomic(directory / f"{name}.toml", toml.encode())
        schema = json.dumps(cls.model_json_schema(), indent=2, sort_keys=True) + "\n"
        _write_atomic(directory / f"{name}.schema.json", schema.encode())


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """What ``oservices_core._config.atomic.write_atomic`` does, syscall for syscall."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _rounds(
    makers: Mapping[str, Maker], rounds: int, root: Path
) -> tuple[dict[str, Timing], dict[str, list[float]]]:
    """``interleave``, one round at a time: fresh directories before, removed after.

    Also the CPU time of this process in each call, by subject.
    """
    names = list(makers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        order = names[shift:] + names[:shift]
        fresh = {name: root / f"round-{round_}-{index}" for index, name in enumerate(order)}
        calls = {name: _on_cpu(makers[name](fresh[name]), cpu[name]) for name in order}
        for name, timing in interleave(calls, 1).items():
            samples[name] += timing.samples
        for directory in fresh.values():
            shutil.rmtree(directory, ignore_errors=True)
    return {name: Timing(tuple(values)) for name, values in samples.items()}, cpu


def _on_cpu(call: Callable[[], object], seconds: list[float]) -> Callable[[], object]:
    def timed() -> object:
        started = time.process_time()
        try:
            return call()
        finally:
            seconds.append(time.process_time() - started)

    return timed


def _cpu_note(cpu: Mapping[str, list[float]], *names: str) -> str:
    shown = ", ".join(f"{name} {statistics.median(cpu[name]):.2f} s" for name in names)
    return f"CPU time of this process (median): {shown}; the rest of the wall time waits on I/O"


def _check_floor(ours: Path, floor: Path, classes: Mapping[str, type[Configuration]]) -> list[str]:
    """Both write the same files, schemas alike; what ``Configuration.load`` reads back.

    ``ours`` holds a build; the floor writes into ``floor``, removed afterwards.
    """
    _floor(classes, floor)
    names = sorted(path.name for path in ours.iterdir())
    if names != sorted(path.name for path in floor.iterdir()) or len(names) != 2 * COMPONENTS:
        raise AssertionError("oservices build and the floor write different files")
    for name in names:
        if (
            name.endswith(".schema.json")
            and (ours / name).read_bytes() != (floor / name).read_bytes()
        ):
            raise AssertionError(f"{name}: oservices writes another schema than the floor")
    differ = [
        name
        for name, cls in classes.items()
        if cls.load(ours / f"{name}.toml") != cls.load(floor / f"{name}.toml")
    ]
    shutil.rmtree(floor)
    notes = [f"checked: both write the same {len(names)} files, the JSON Schemas byte for byte"]
    if differ:
        notes.append(
            f"BUG: {len(differ)} of {COMPONENTS} TOML files oservices writes read back "
            f"(Configuration.load) as other values than the floor's (first: {differ[0]}): "
            "an all-commented [endpoint_N] table replaces the field's default model"
        )
    else:
        notes.append("checked: every TOML file of both reads back as the same configuration")
    return notes


def _settle(system: System, directory: Path) -> list[str]:
    """Build into ``directory`` (built once) again until a build writes nothing.

    The second build should already write nothing; when it does, a note says so.
    """
    settings = Settings(home=directory.parent, config_dir=directory)
    history: list[Counter[str]] = []
    for _ in range(2):
        _, reports = run_workflow(system, ["build"], settings=settings)
        history.append(Counter(artifact.status for artifact in reports[-1].artifacts))
        if set(history[-1]) == {"unchanged"}:
            break
    else:
        raise AssertionError(f"three builds into {directory}, and the third still wrote")
    notes = []
    if len(history) > 1:
        second = history[0]
        wrote = sum(n for status, n in second.items() if status != "unchanged")
        shown = ", ".join(f"{n} {status}" for status, n in sorted(second.items()))
        notes.append(
            f"BUG: the second build, nothing changed, wrote {wrote} files ({shown}); "
            "the third wrote none: the timed rebuilds start from there"
        )
    notes.append(
        f"checked: before timing, a build into the directory found all "
        f"{history[-1]['unchanged']} files up to date"
    )
    return notes


def _stats(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Inode, modification time and size of ``directory`` and of each file in it."""
    paths = [directory, *sorted(directory.iterdir())]
    return {
        str(path): (path.stat().st_ino, path.stat().st_mtime_ns, path.stat().st_size)
        for path in paths
    }


def _filesystem(path: Path) -> str:
    """The type of the filesystem holding ``path``, from /proc/mounts (Linux), if known."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "an unknown filesystem"
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) > 2 and resolved.startswith(fields[1]) and len(fields[1]) > len(best):
            best, kind = fields[1], fields[2]
    return f"{kind} ({best})"
