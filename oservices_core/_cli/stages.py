"""The stage commands: ``configure``, ``setup``, ``init`` and ``build``."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from oservices_core._cli.options import overrides_from
from oservices_core._plugins.system import load_system
from oservices_core._workflow.run import StageReport, run_workflow

__all__ = ["stage"]


def stage(args: argparse.Namespace) -> int:
    """Run a stage (and the stages it needs) and report what each wrote."""
    system = load_system()  # --system is the settings' system file (see app.py)
    output = Path(args.output) if args.output else None
    _, reports = run_workflow(
        system,
        (args.stage,),
        output_dir=output,
        dry_run=args.dry_run,
        overrides=overrides_from(args.sets),
        progress=_progress() if not args.json else None,
        out=sys.stderr if args.json else None,  # standard output carries the JSON alone
        force=args.force,
    )
    if args.json:
        print(json.dumps([report.as_dict() for report in reports], indent=2))
    else:
        for report in reports:
            print(_summary(report, dry_run=args.dry_run))
    return 0


def _summary(report: StageReport, *, dry_run: bool) -> str:
    counts = Counter(artifact.status for artifact in report.artifacts)
    changed = {s: n for s, n in counts.items() if s not in ("unchanged", "kept")}
    kept = f", {counts['kept']} kept (changed by a user)" if counts["kept"] else ""
    took = f" in {report.seconds:.2f}s"
    if not report.artifacts:
        return f"{report.name}: done{took}"
    if not changed:
        up_to_date = f"{counts['unchanged']} files up to date{kept}"
        return f"{report.name}: nothing changed ({up_to_date}){took}"
    parts = ", ".join(f"{n} {status}" for status, n in sorted(changed.items()))
    verb = "would write" if dry_run else "wrote"
    return (
        f"{report.name}: {verb} {sum(changed.values())} files ({parts}), "
        f"{counts['unchanged']} unchanged{took}"
    )


def _progress() -> Callable[[str, int, int], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(name: str, done: int, total: int) -> None:
        end = "\n" if done == total else ""
        sys.stderr.write(f"\r{name}: {done}/{total}{end}")
        sys.stderr.flush()

    return show
