"""The Administrator's side of ``bench.administrator``, run by the benchmark venv's python.

``python _administrator_driver.py cycle|idle WINDOW`` in the benchmark's home
(``OSERVICES_HOME``): loads the installed components (not timed), then

- ``cycle``: times ``Administrator(...)``, ``start()`` and ``wait_ready()`` (start),
  then ``stop()`` (stop);
- ``idle``: starts the components, waits until ready, lets the Administrator
  settle, then reads this process's CPU time and memory over ``WINDOW`` seconds.

The Administrator is made with ``template="fork"``, as ``oservices up`` makes it.
It prints one JSON object on its last line. It imports only what the venv has
(``oservices_core``, ``psutil``): the venv has no ``bench`` package.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import psutil

from oservices_core import (
    Administrator,
    Registry,
    Settings,
    System,
    get_plugin_manager,
    load_settings,
)
from oservices_core._supervisor.template import NAME as TEMPLATE_NAME

READY_TIMEOUT = 120.0
SETTLE = 2.0  # seconds after ready before the idle window: startup work is not idle work
# Events every start or stop sends; any other one (a timeout, a restart...) is reported.
ROUTINE = {"start": ("starting", "started, pid", "ready"),
           "stop": ("stopping", "exited with", "stopped")}


class _Events:
    """The Administrator's events that a clean start, then stop, would not send."""

    def __init__(self) -> None:
        self.phase = "start"
        self.incidents: list[str] = []
        self.last = 0.0  # when the latest event came: in the stop phase, the last "stopped"

    def __call__(self, name: str, message: str) -> None:
        self.last = time.perf_counter()
        if not message.startswith(ROUTINE[self.phase]):
            self.incidents.append(f"{self.phase}: {name}: {message}")


def main(argv: list[str]) -> int:
    mode, window = argv[1], float(argv[2])
    settings = load_settings()
    with settings.activate():
        system = System.from_registry(Registry(get_plugin_manager()))
        result = _cycle(system, settings) if mode == "cycle" else _idle(system, settings, window)
    print(json.dumps(result))
    return 0


def _cycle(system: System, settings: Settings) -> dict[str, Any]:
    events = _Events()
    me = psutil.Process()
    cpu = _cpu(me)
    started = time.perf_counter()
    administrator = Administrator(system, settings=settings, on_event=events, template="fork")
    administrator.start()
    administrator.wait_ready(timeout=READY_TIMEOUT)
    ready = time.perf_counter()
    cpu = _cpu(me) - cpu  # this process's CPU while starting: the loop competes with the forks
    count = _ready(administrator)  # checked between the timed parts
    template = _template_origin(me)
    events.phase = "stop"
    stopping = time.perf_counter()
    administrator.stop()
    stopped = time.perf_counter()
    return {"start_s": ready - started, "stop_s": stopped - stopping, "ready": count,
            "start_cpu_s": cpu, "incidents": events.incidents, "template": template,
            "stopped_s": events.last - stopping}  # until the last component event of the stop


def _idle(system: System, settings: Settings, window: float) -> dict[str, Any]:
    administrator = Administrator(system, settings=settings, on_event=_Events(), template="fork")
    administrator.start()
    try:
        administrator.wait_ready(timeout=READY_TIMEOUT)
        count = _ready(administrator)
        time.sleep(SETTLE)
        me = psutil.Process()
        pids = _component_pids(administrator)
        descendants = me.children(recursive=True)
        # Helpers: the template process and anything else that is not a component.
        helpers = [process for process in descendants if process.pid not in pids]
        components = [process for process in descendants if process.pid in pids]
        before = {"me": _cpu(me), "helpers": _cpu_all(helpers), "components": _cpu_all(components)}
        started = time.perf_counter()
        time.sleep(window)
        elapsed = time.perf_counter() - started
        after = {"me": _cpu(me), "helpers": _cpu_all(helpers), "components": _cpu_all(components)}
        memory = me.memory_full_info()
        return {
            "cpu_s": after["me"] - before["me"], "window_s": elapsed, "settle_s": SETTLE,
            "ready": count, "rss": memory.rss, "uss": memory.uss, "threads": me.num_threads(),
            "helpers": len(helpers), "helpers_cpu_s": after["helpers"] - before["helpers"],
            "helpers_rss": sum(_rss(process) for process in helpers),
            "components": len(components),
            "components_cpu_s": after["components"] - before["components"],
            "components_pss": sum(_pss(process) for process in components),
            # Where start time goes: what each fork used from birth to idle, and the template.
            "components_start_cpu_s": before["components"],
            "helpers_start_cpu_s": before["helpers"],
        }
    finally:
        administrator.stop()


def _ready(administrator: Administrator) -> int:
    """How many components the Administrator reports running and ready."""
    return sum(status.healthy for status in administrator.status())


def _template_origin(me: psutil.Process) -> str:
    """"forked" when the template shares this process's command line, else "exec"."""
    templates = [child for child in me.children() if child.name() == TEMPLATE_NAME]
    if len(templates) != 1:
        raise AssertionError(f"expected one template process, found {len(templates)}")
    return "forked" if templates[0].cmdline() == me.cmdline() else "exec"


def _component_pids(administrator: Administrator) -> set[int]:
    return {status.pid for status in administrator.status() if status.pid is not None}


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _cpu_all(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            total += _cpu(process)
        except psutil.NoSuchProcess:
            continue  # ended during the window: what it used is not counted
    return total


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def _pss(process: psutil.Process) -> int:
    try:
        return int(process.memory_full_info().pss)
    except psutil.NoSuchProcess:
        return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
