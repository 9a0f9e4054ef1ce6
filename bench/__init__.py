"""Benchmarks of oservices, each figure a ratio against baselines timed in the same run.

Machines are shared and noisy, so no figure is an absolute time: every round runs
the candidate and its baselines once each, in a rotating order, and a figure is
the median over many rounds of the candidate's time over the baseline's in the
same round (pairing the two cancels most of the drift of a shared machine's
load). ``python -m bench`` reports; it never fails because a goal is missed.

Each benchmark is a module with ``run(quick: bool) -> Figure``; importing any of
them does no work. A figure the product could not produce (a command that failed,
timed out or left processes behind) is a :class:`Figure` with ``error`` set and
its ratios marked failed: the run goes on with the next figure.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, final

__all__ = ["STATISTIC", "Failed", "Figure", "Ratio", "Timing", "failed", "interleave",
           "ratio"]

STATISTIC = "ratio: median of per-round ratios; times: median"


class Failed(Exception):  # noqa: N818 - a figure's outcome, as in "the figure failed"
    """What a benchmark raises when the product, not the benchmark, failed: its message
    says which command, how, and what it printed. The figure is reported failed."""


@final
@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds per sample of one subject, over every round."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    def as_json(self) -> dict[str, Any]:
        return {"median_s": self.median, "min_s": self.min, "samples": len(self.samples)}


@final
@dataclass(frozen=True, slots=True)
class Ratio:
    """Candidate time over a baseline's; ``None`` when the baseline is unavailable (``note``)
    or when the measurement failed (``failed``; ``note`` says why)."""

    candidate: str
    baseline: str
    value: float | None
    limit: float | None = None  # the goal, if any: value <= limit (or < when strict)
    strict: bool = False
    note: str = ""
    failed: bool = False

    @property
    def goal(self) -> str:
        return "" if self.limit is None else f"{'<' if self.strict else '<='} {self.limit:g}"

    @property
    def passed(self) -> bool | None:
        if self.failed:
            return False
        if self.limit is None or self.value is None:
            return None
        return self.value < self.limit if self.strict else self.value <= self.limit

    def as_json(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "baseline": self.baseline, "ratio": self.value,
                "goal": self.goal or None, "passed": self.passed, "note": self.note or None,
                "failed": self.failed}


@final
@dataclass(frozen=True, slots=True)
class Figure:
    """One benchmark's result: the timings of its subjects and the ratios between them."""

    name: str
    description: str
    rounds: int
    timings: Mapping[str, Timing]
    ratios: tuple[Ratio, ...]
    notes: tuple[str, ...] = field(default=())
    error: str = ""  # why the figure failed: then every ratio is marked failed

    def as_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "failed": bool(self.error),
            "error": self.error or None,
            "statistic": f"{STATISTIC}; {self.rounds} interleaved rounds",
            "timings": {name: timing.as_json() for name, timing in self.timings.items()},
            "ratios": [ratio.as_json() for ratio in self.ratios],
            "notes": list(self.notes),
        }


def failed(name: str, description: str, error: str, ratios: tuple[Ratio, ...], *,
           rounds: int = 0, timings: Mapping[str, Timing] | None = None,
           notes: tuple[str, ...] = ()) -> Figure:
    """A figure that could not be measured: each ratio keeps its goal, has no value, fails."""
    first = error.splitlines()[0] if error else "failed"
    marked = tuple(Ratio(r.candidate, r.baseline, None, r.limit, r.strict, first, failed=True)
                   for r in ratios)
    return Figure(name, description, rounds, dict(timings or {}), marked, notes, error)


def ratio(timings: Mapping[str, Timing], candidate: str, baseline: str, *,
          limit: float | None = None, strict: bool = False) -> Ratio:
    """Median over rounds of ``candidate``'s time over ``baseline``'s in the same round."""
    pairs = zip(timings[candidate].samples, timings[baseline].samples, strict=True)
    value = statistics.median(mine / theirs for mine, theirs in pairs)
    return Ratio(candidate, baseline, value, limit, strict)


def interleave(subjects: Mapping[str, Callable[[], object]], rounds: int) -> dict[str, Timing]:
    """Time every subject once per round, rotating the order so none always runs first.

    As in :mod:`timeit`, the garbage collector is off while a subject runs and a
    collection runs before each, so one subject does not pay for another's garbage.
    """
    names = list(subjects)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(_time_once(subjects[name]))
    return {name: Timing(tuple(values)) for name, values in samples.items()}


def _time_once(subject: Callable[[], object]) -> float:
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        subject()
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()
