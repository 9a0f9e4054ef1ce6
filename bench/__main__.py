"""``python -m bench``: run the benchmarks, print a table, write JSON.

Exits 0 whether or not goals are met (the suite reports, it does not gate);
a crash exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import STATISTIC, Figure, Ratio

FIGURES = {"cli_help": "bench.cli_help", "config_resolve": "bench.config_resolve",
           "components_list": "bench.components_list", "build_1000": "bench.build:run_build",
           "rebuild_noop": "bench.build:run_noop", "start_50": "bench.administrator:run_start",
           "stop_50": "bench.administrator:run_stop", "idle_cpu": "bench.administrator:run_idle"}
# A value names a module's run(), or module:function.
COLUMNS = ("figure", "ratio", "value", "goal", "result", "times (median)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = args.only or list(FIGURES)
    figures = []
    for name in names:
        print(f"running {name}...", file=sys.stderr, flush=True)
        module, _, function = FIGURES[name].partition(":")
        figures.append(getattr(importlib.import_module(module), function or "run")(args.quick))
    print(_table(figures))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(_report(figures, args.quick), indent=2) + "\n")
    print(f"\nwritten to {args.output}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results.json",
                        metavar="PATH", help="where to write the JSON results")
    parser.add_argument("--only", action="append", choices=list(FIGURES), metavar="NAME",
                        help=f"run only this figure (repeatable): {', '.join(FIGURES)}")
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run")
    return parser


def _table(figures: Sequence[Figure]) -> str:
    rows = [COLUMNS, *(_row(figure, ratio) for figure in figures for ratio in figure.ratios)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    for figure in figures:
        lines.append(f"\n{figure.name}: {figure.description}\n"
                     f"  {figure.rounds} interleaved rounds; {STATISTIC}")
        lines += [f"  note: {note}" for note in figure.notes]
        lines += [f"  {ratio.baseline}: unavailable: {ratio.note}"
                  for ratio in figure.ratios if ratio.value is None]
    return "\n".join(lines)


def _row(figure: Figure, ratio: Ratio) -> tuple[str, ...]:
    result = {True: "pass", False: "FAIL", None: "-" if ratio.value is not None else "n/a"}
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
