"""The Administrator's Prometheus metrics, through the official client library.

A custom collector reads the components' state when Prometheus scrapes (in
the Administrator's loop, which owns that state), on a registry of its own
with the process collector for the Administrator's own process. Only the
Administrator process imports :mod:`prometheus_client`, and only when it
serves HTTP: ``oservices --help`` and the other commands never load it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, final, get_args

from oservices_core._supervisor.instance import State

if TYPE_CHECKING:
    from oservices_core._supervisor.instance import Instance

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATES: tuple[str, ...] = get_args(State)


@final
class Metrics:
    """A registry holding the components' collector and the Administrator's process figures."""

    def __init__(
        self, instances: Callable[[], Iterable[Instance]], event_errors: Callable[[], int]
    ) -> None:
        from prometheus_client import CollectorRegistry, ProcessCollector

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Components(instances, event_errors))
        ProcessCollector(registry=self.registry)

    def exposition(self) -> bytes:
        """Every series, in Prometheus's text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


@final
class _Components:
    """The series of every component, read when collected."""

    def __init__(
        self, instances: Callable[[], Iterable[Instance]], event_errors: Callable[[], int]
    ) -> None:
        self.instances = instances
        self.event_errors = event_errors

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        def family(
            kind: Any, name: str, text: str, labels: tuple[str, ...] = ("component",)
        ) -> Any:
            return kind(f"oservices_component_{name}", text, labels=list(labels))

        up = family(GaugeMetricFamily, "up", "1 when the component's process runs")
        ready = family(GaugeMetricFamily, "ready", "1 when the component is ready")
        restarts = family(CounterMetricFamily, "restarts", "Restarts by the restart policy")
        cpu = family(CounterMetricFamily, "cpu_seconds", "CPU seconds of its process tree")
        memory = family(GaugeMetricFamily, "memory_bytes", "Resident memory of its process tree")
        logs = family(CounterMetricFamily, "log_write_errors", "Failed writes to its output file")
        state = family(
            GaugeMetricFamily, "state", "1 for the component's state", ("component", "state")
        )
        for instance in self.instances():
            name = [instance.name]
            _, rss, seconds = instance.figures()
            up.add_metric(name, 1.0 if instance.pid else 0.0)
            ready.add_metric(name, 1.0 if instance.ready else 0.0)
            restarts.add_metric(name, instance.restarts)
            cpu.add_metric(name, seconds or 0.0)
            memory.add_metric(name, rss or 0)
            logs.add_metric(name, instance.log.errors if instance.log is not None else 0)
            for each in STATES:
                state.add_metric([instance.name, each], 1.0 if instance.state == each else 0.0)
        events = CounterMetricFamily(
            "oservices_event_errors", "Events the Administrator's own output failed to take"
        )
        events.add_metric([], self.event_errors())
        yield from (up, ready, restarts, cpu, memory, state, logs, events)
