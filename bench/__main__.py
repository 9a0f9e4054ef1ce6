"""``python -m bench``: run the benchmarks, print a table, write JSON.

Exits 0 whether or not goals are met (the suite reports, it does not gate),
and when the product fails a figure (the figure is reported failed, with its
error). A crash of the benchmark itself is reported the same way for its figure,
the other figures still run, and the exit status is then 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import STATISTIC, Figure, Ratio, failed

FIGURES = {"cli_help": "bench.cli_help", "config_resolve": "bench.config_resolve",
           "components_list": "bench.components_list", "build_1000": "bench.build:run_build",
           "rebuild_noop": "bench.build:run_noop", "start_50": "bench.administrator:run_start",
           "stop_50": "bench.administrator:run_stop", "idle_cpu": "bench.administrator:run_idle",
           "start_50_e2e": "bench.e2e:run_start_50", "stop_50_e2e": "bench.e2e:run_stop_50",
           "start_300_e2e": "bench.e2e:run_start_300", "start_1000": "bench.e2e:run_start_1000",
           "idle_cpu_1000": "bench.e2e:run_idle_1000", "status_50": "bench.e2e:run_status_50"}
# A value names a module's run(), or module:function.
COLUMNS = ("figure", "ratio", "value", "goal", "result", "times (median)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = args.only or list(FIGURES)
    figures = []
    crashed = False
    for name in names:
        print(f"running {name}...", file=sys.stderr, flush=True)
        module, _, function = FIGURES[name].partition(":")
        try:
            figure = getattr(importlib.import_module(module), function or "run")(args.quick)
        except Exception as error:  # noqa: BLE001 - a crash fails its figure, not the run
            traceback.print_exc()
            crashed = True
            reason = f"the benchmark crashed: {type(error).__name__}: {error}"
            figure = failed(name, "(crashed)", reason, ())
        figures.append(figure)
    print(_table(figures))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(_report(figures, args.quick), indent=2) + "\n")
    print(f"\nwritten to {args.output}")
    return 1 if crashed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results.json",
                        metavar="PATH", help="where to write the JSON results")
    parser.add_argument("--only", action="append", choices=list(FIGURES), metavar="NAME",
                        help=f"run only this figure (repeatable): {', '.join(FIGURES)}")
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run")
    return parser


def _table(figures: Sequence[Figure]) -> str:
    rows = [COLUMNS, *(_row(figure, ratio) for figure in figures for ratio in figure.ratios),
            *((figure.name, "-", "n/a", "-", "FAILED", "") for figure in figures
              if figure.error and not figure.ratios)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    for figure in figures:
        lines.append(f"\n{figure.name}: {figure.description}\n"
                     f"  {figure.rounds} interleaved rounds; {STATISTIC}")
        if figure.error:
            lines.append(f"  FAILED: {figure.error}")
        lines += [f"  note: {note}" for note in figure.notes]
        lines += [f"  {ratio.baseline}: unavailable: {ratio.note}"
                  for ratio in figure.ratios if ratio.value is None and not ratio.failed]
    return "\n".join(lines)


def _row(figure: Figure, ratio: Ratio) -> tuple[str, ...]:
    result = {True: "pass", False: "FAIL", None: "-" if ratio.value is not None else "n/a"}
    if ratio.failed:
        return (figure.name, f"{ratio.candidate} / {ratio.baseline}", "n/a", ratio.goal or "-",
                "FAILED", "")
    times = ", ".join(f"{name} {_ms(figure.timings[name].median)}"
                      for name in (ratio.candidate, ratio.baseline) if name in figure.timings)
    value = "n/a" if ratio.value is None else f"{ratio.value:.3f}"
    return (figure.name, f"{ratio.candidate} / {ratio.baseline}", value, ratio.goal or "-",
            result[ratio.passed], times)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _report(figures: Sequence[Figure], quick: bool) -> dict[str, Any]:
    from oservices_core import __version__

    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "oservices": __version__,
        "quick": quick,
        "figures": {figure.name: figure.as_json() for figure in figures},
    }


if __name__ == "__main__":
    raise SystemExit(main())
